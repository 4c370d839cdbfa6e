"""Crash safety: an import, a scoring run and a series run killed (SIGKILL) at random points
leave a store that passes ``PRAGMA integrity_check``, holds exactly the rows of the imports that
committed, and whose last complete snapshot is intact; interrupting with ctrl+c (SIGINT) exits
with 130 and one line, ``interrupted``.

Each operation runs once to the end first (its duration sets the range of the kill points, its
result is the reference), then ``SEGTUI_CRASH_ITERATIONS`` times (default 2) killed after a
random delay. ``SEGTUI_CRASH_SEED`` fixes the delays (the seed is printed on failure).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from datetime import date
from pathlib import Path

import pytest

import segtui as segtui_pkg
from segtui.importer import import_files
from segtui.scoring import score_dates, score_store

sys.path.insert(0, str(Path(__file__).parent / "hostile"))
import stores  # noqa: E402

sys.path.pop(0)

ROOT = Path(__file__).resolve().parents[1]
ITERATIONS = int(os.environ.get("SEGTUI_CRASH_ITERATIONS", "2"))
SEED = int(os.environ.get("SEGTUI_CRASH_SEED", str(random.randrange(1 << 30))))
BASE_LINES = 80_000
NEW_START, NEW_LINES = 70_000, 50_000  # 10,000 lines overlap the store, 40,000 are new
SERIES = [date(2024, m, 28) for m in range(1, 7)]
OTHER = date(2024, 6, 30)

DRIVER = textwrap.dedent(
    """
    import sys
    from datetime import date
    from pathlib import Path
    op, db = sys.argv[1], Path(sys.argv[2])
    if op == "import":
        import segtui.importer as m
        m.BATCH_ROWS = 5_000  # many batches: a kill lands mid-file
        print("GO", flush=True)
        m.import_files(db, "line-items", [Path(sys.argv[3])])
    elif op == "score":
        from segtui.scoring import score_store
        print("GO", flush=True)
        score_store(db, as_of=date.fromisoformat(sys.argv[3]))
    elif op in ("series", "series_verbose"):
        from segtui.scoring import score_dates
        days = [date.fromisoformat(d) for d in sys.argv[3].split(",")]
        print("GO", flush=True)
        try:
            score_dates(db, days, series="month", quiet=op == "series")
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            sys.exit(130)
    elif op == "cli":
        import segtui.importer, segtui.scoring  # loaded before GO: the signal lands in the work
        from segtui.cli import main
        print("GO", flush=True)
        main(sys.argv[3:])
    print("DONE", flush=True)
    """
)


def env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(Path(segtui_pkg.__file__).resolve().parents[1]))


def start(op: str, db: Path, *args: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", DRIVER, op, str(db), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(),
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line == "GO\n", (line, proc.stderr.read() if proc.stderr else "")
    return proc


def kill_after(op: str, db: Path, delay: float, *args: str) -> bool:
    """Start ``op``, SIGKILL it ``delay`` seconds in; True if it was killed before it ended."""
    proc = start(op, db, *args)
    time.sleep(delay)
    finished = proc.poll() is not None
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    return not finished and proc.returncode == -signal.SIGKILL


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A scored store of 80,000 line items, 20,000 accounts and pooled and direct costs, and
    the reference runs of each operation (in process, timed: their durations set the range of
    the kill points)."""
    d = tmp_path_factory.mktemp("crash")
    db = d / "base.db"
    import_files(db, "line-items", [stores.write_orders(d / "orders.csv", BASE_LINES)])
    import_files(db, "costs", [stores.write_costs(d / "costs.csv", 3_000)])
    info = score_store(db, cache=False)
    new = stores.write_orders(d / "new.csv", NEW_LINES, start=NEW_START)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    out: dict[str, object] = {
        "db": db, "new": new, "as_of": info.as_of, "snapshot": info.id,
        "digest": stores.snapshot_digest(db, info.id), "counts": stores.counts(db),
    }
    ref = d / "ref_import.db"
    shutil.copyfile(db, ref)
    t0 = time.perf_counter()
    import_files(ref, "line-items", [new])
    out["import_s"], out["imported_counts"] = time.perf_counter() - t0, stores.counts(ref)
    ref = d / "ref_score.db"
    shutil.copyfile(db, ref)
    t0 = time.perf_counter()
    other = score_store(ref, as_of=OTHER)
    out["score_s"], out["other_digest"] = time.perf_counter() - t0, stores.snapshot_digest(ref, other.id)
    ref = d / "ref_series.db"
    shutil.copyfile(db, ref)
    t0 = time.perf_counter()
    score_dates(ref, SERIES, series="month")
    out["series_s"] = time.perf_counter() - t0
    out["series_digests"] = {s[1]: stores.snapshot_digest(ref, s[0]) for s in stores.snapshots(ref) if s[2]}
    return out


def fresh(base: dict[str, object], tmp_path: Path, name: str) -> Path:
    db = tmp_path / f"{name}.db"
    shutil.copyfile(base["db"], db)  # type: ignore[arg-type]
    return db


def assert_consistent(db: Path, base: dict[str, object], context: str) -> None:
    assert stores.integrity(db) == "ok", context
    assert stores.incomplete_snapshots(db) == [], context
    # the base snapshot (or its replacement, which must equal it) is there, once, intact
    as_of_day = (base["as_of"] - date(1970, 1, 1)).days  # type: ignore[operator]
    same_day = [s for s in stores.snapshots(db) if s[1] == as_of_day and s[2] == ""]
    assert len(same_day) == 1, (context, same_day)
    assert stores.snapshot_digest(db, same_day[0][0]) == base["digest"], context


def context(what: str, k: int, delay: float, killed: bool) -> str:
    return f"{what} #{k}: killed {delay:.3f} s in ({'mid-run' if killed else 'after it ended'}), SEGTUI_CRASH_SEED={SEED}"


def test_sigkill_during_an_import(base: dict[str, object], tmp_path: Path) -> None:
    rng = random.Random(SEED)
    before, full = base["counts"], base["imported_counts"]
    assert isinstance(full, dict) and full["line_items"] == BASE_LINES + NEW_LINES - (BASE_LINES - NEW_START)
    for k in range(ITERATIONS):
        db = fresh(base, tmp_path, f"import{k}")
        delay = rng.uniform(0.0, float(base["import_s"]) * 1.2)  # type: ignore[arg-type]
        killed = kill_after("import", db, delay, str(base["new"]))
        ctx = context("import", k, delay, killed)
        assert_consistent(db, base, ctx)
        after = stores.counts(db)
        # all of the file or none of it: never a part
        assert after in (before, full), (ctx, after)
        # the store takes the file again (or recognises it) and ends like the uninterrupted run
        [s] = import_files(db, "line-items", [base["new"]])  # type: ignore[list-item]
        assert stores.counts(db) == full, ctx
        assert s.status == ("already_imported" if after == full else "imported"), ctx
        assert not list(tmp_path.glob(".segtui-import-*")), ctx


def test_sigkill_during_a_scoring_run(base: dict[str, object], tmp_path: Path) -> None:
    rng = random.Random(SEED + 1)
    other_day = (OTHER - date(1970, 1, 1)).days
    for k in range(ITERATIONS):
        db = fresh(base, tmp_path, f"score{k}")
        # even runs replace the latest snapshot (same date, same configuration), odd ones add one
        as_of = base["as_of"] if k % 2 == 0 else OTHER
        delay = rng.uniform(0.0, float(base["score_s"]) * 1.5 + 0.2)  # type: ignore[arg-type]
        killed = kill_after("score", db, delay, as_of.isoformat())  # type: ignore[union-attr]
        ctx = context("score", k, delay, killed)
        assert_consistent(db, base, ctx)
        assert stores.counts(db)["line_items"] == BASE_LINES, ctx
        added = [s for s in stores.snapshots(db) if s[1] == other_day]
        assert len(added) <= 1, ctx
        for s in added:
            assert stores.snapshot_digest(db, s[0]) == base["other_digest"], ctx
        # scoring again works (column cache left half-written or stale included) and agrees
        info = score_store(db, as_of=OTHER)
        assert stores.snapshot_digest(db, info.id) == base["other_digest"], ctx
        assert_consistent(db, base, ctx)


def test_sigkill_during_a_series_run(base: dict[str, object], tmp_path: Path) -> None:
    rng = random.Random(SEED + 2)
    days = ",".join(d.isoformat() for d in SERIES)
    want = base["series_digests"]
    assert isinstance(want, dict) and len(want) == len(SERIES)
    for k in range(max(1, ITERATIONS // 2)):  # the longest operation: half the iterations
        db = fresh(base, tmp_path, f"series{k}")
        delay = rng.uniform(0.0, float(base["series_s"]) * 1.2)  # type: ignore[arg-type]
        killed = kill_after("series", db, delay, days)
        ctx = context("series", k, delay, killed)
        assert_consistent(db, base, ctx)
        written = {s[1]: stores.snapshot_digest(db, s[0]) for s in stores.snapshots(db) if s[2]}
        # each date written is complete and right; the ones not written are simply absent
        assert {d: want[d] for d in written} == written, ctx
        infos = score_dates(db, SERIES, series="month")
        assert len(infos) == len(SERIES)
        assert {s[1]: stores.snapshot_digest(db, s[0]) for s in stores.snapshots(db) if s[2]} == want, ctx
        assert_consistent(db, base, ctx)


# --- ctrl+c ----------------------------------------------------------------------------------


def interrupt(db: Path, delay: float, *argv: str) -> tuple[int, str, float]:
    proc = start("cli", db, *argv)
    time.sleep(delay)
    sent = time.perf_counter()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err, time.perf_counter() - sent


def test_ctrl_c_during_an_import_exits_130_with_one_line(base: dict[str, object], tmp_path: Path) -> None:
    rng = random.Random(SEED + 3)
    db = fresh(base, tmp_path, "sigint_import")
    took = float(base["import_s"])  # type: ignore[arg-type]
    delay = rng.uniform(0.1 * took, 0.6 * took)
    code, err, waited = interrupt(db, delay, "--db", str(db), "-q", "import", "line-items", str(base["new"]))
    ctx = f"import interrupted {delay:.3f} s in, SEGTUI_CRASH_SEED={SEED}"
    assert code == 130, (ctx, err)
    # one line (click puts a line break first, so on a terminal it does not follow the ^C)
    assert err.strip() == "interrupted", (ctx, err)
    assert waited < 5.0, ctx
    assert stores.counts(db) == base["counts"], ctx
    assert_consistent(db, base, ctx)


def test_ctrl_c_during_scoring_exits_130_with_one_line(base: dict[str, object], tmp_path: Path) -> None:
    """ctrl+c as soon as the core reports it is reading the store (progress on, no -q). A small
    store scores fast: if the run ended before the signal landed, it is tried again."""
    for attempt in range(4):
        db = fresh(base, tmp_path, f"sigint_score{attempt}")
        proc = start("cli", db, "--db", str(db), "score", "--as-of", "2024-06-30")
        assert proc.stderr is not None
        first = proc.stderr.readline()
        assert first.startswith("reading the store"), first
        sent = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        out, rest = proc.communicate(timeout=120)
        waited = time.perf_counter() - sent
        err = first + rest
        if proc.returncode == 0:
            continue  # finished first: the signal came too late for this run
        ctx = f"score interrupted at its first progress line (attempt {attempt + 1})"
        assert proc.returncode == 130, (ctx, err)
        assert err.splitlines()[-1] == "interrupted" and "Traceback" not in err, (ctx, err)
        assert out == "", ctx
        assert waited < 2.0, (ctx, waited)
        assert_consistent(db, base, ctx)
        return
    pytest.fail("four scoring runs all ended before ctrl+c reached them")


def test_ctrl_c_during_a_series_with_progress_is_not_swallowed(base: dict[str, object], tmp_path: Path) -> None:
    rng = random.Random(SEED + 5)
    db = fresh(base, tmp_path, "sigint_series")
    days = ",".join(d.isoformat() for d in SERIES)
    took = float(base["series_s"])  # type: ignore[arg-type]
    want = base["series_digests"]
    assert isinstance(want, dict)
    delay = rng.uniform(0.2 * took, 0.6 * took)
    proc = start("series_verbose", db, days)
    time.sleep(delay)
    sent = time.perf_counter()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    waited = time.perf_counter() - sent
    ctx = f"series interrupted {delay:.3f} s in (a run takes {took:.2f} s), SEGTUI_CRASH_SEED={SEED}"
    assert proc.returncode == 130 and "DONE" not in out, (ctx, out, err)
    assert err.splitlines()[-1] == "interrupted" and "Traceback" not in err, (ctx, err)
    assert waited < 1.0 + 0.2 * took, (ctx, waited)
    assert_consistent(db, base, ctx)
    written = {s[1]: stores.snapshot_digest(db, s[0]) for s in stores.snapshots(db) if s[2]}
    assert {d: want[d] for d in written} == written, ctx
