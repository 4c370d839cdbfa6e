"""Concurrent use: readers (the queries the TUI and the listings use) keep answering, with whole
and unchanged snapshots, while a scoring series writes; two writers at once never corrupt the
store, and the one that cannot get in says "store is busy" (exit 1, one line, no traceback)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import polars as pl
import pytest

import segtui as segtui_pkg
from segtui import queries
from segtui.importer import import_files
from segtui.scoring import score_store

sys.path.insert(0, str(Path(__file__).parent / "hostile"))
import stores  # noqa: E402

sys.path.pop(0)

ROOT = Path(__file__).resolve().parents[1]
SERIES = ",".join(date(2024, m, 28).isoformat() for m in range(1, 9))


def env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(Path(segtui_pkg.__file__).resolve().parents[1]))


def segtui(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "segtui.cli", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env()
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    d = tmp_path_factory.mktemp("concurrency")
    db = d / "store.db"
    import_files(db, "line-items", [stores.write_orders(d / "orders.csv", 60_000)])
    import_files(db, "costs", [stores.write_costs(d / "costs.csv", 2_000)])
    info = score_store(db)
    frame = queries.snapshot_frame(db, info.id)
    return {"db": db, "dir": d, "snapshot": info.id, "accounts": info.accounts, "hash": frame_hash(frame)}


def frame_hash(df: pl.DataFrame) -> int:
    return int(df.hash_rows(seed=1).sum())


def test_readers_keep_answering_while_a_scoring_series_writes(store: dict[str, object]) -> None:
    db = store["db"]
    assert isinstance(db, Path)
    from segtui.tui.data import Store as TuiStore

    tui = TuiStore(db)
    writer = subprocess.Popen(
        [sys.executable, "-c",
         "import sys; from datetime import date; from segtui.scoring import score_dates; "
         "print('GO', flush=True); "
         "score_dates(sys.argv[1], [date.fromisoformat(d) for d in sys.argv[2].split(',')], series='month')",
         str(db), SERIES],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(),
    )
    assert writer.stdout is not None and writer.stdout.readline() == "GO\n"
    reads, worst, seen_during = 0, 0.0, set()
    try:
        while writer.poll() is None:
            t0 = time.perf_counter()
            frame = queries.snapshot_frame(db, int(store["snapshot"]))  # type: ignore[call-overload]
            assert frame.height == store["accounts"] and frame_hash(frame) == store["hash"]
            listed = queries.list_snapshots(db)
            seg = queries.segment_summary(db, int(store["snapshot"]))  # type: ignore[call-overload]
            assert int(seg["accounts"].sum()) == store["accounts"]
            # every snapshot a reader can see is whole
            for snap in tui.snapshots():
                seen_during.add(snap.id)
                assert tui.store_counts()["line_items"] == 60_000
            for sid, n in zip(listed["id"], listed["accounts"]):
                conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
                rows = conn.execute("SELECT count(*) FROM snapshot_accounts WHERE snapshot = ?", (sid,)).fetchone()[0]
                conn.close()
                assert rows == n, f"snapshot {sid} seen with {rows} of its {n} rows"
            worst = max(worst, time.perf_counter() - t0)
            reads += 1
    finally:
        out, err = writer.communicate(timeout=300)
    assert writer.returncode == 0, err
    assert reads >= 2, "the series ended before the readers could overlap it"
    assert worst < 5.0, f"a read took {worst:.2f} s while the writer ran (it must never wait for it)"
    assert len(seen_during) > 1, "no snapshot of the series became visible while reading"
    assert stores.integrity(db) == "ok" and stores.incomplete_snapshots(db) == []


def test_a_second_writer_is_told_the_store_is_busy(store: dict[str, object], tmp_path: Path) -> None:
    db = tmp_path / "busy.db"
    src = store["db"]
    assert isinstance(src, Path)
    conn = sqlite3.connect(src)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    db.write_bytes(src.read_bytes())
    more = stores.write_orders(tmp_path / "more.csv", 1_000, start=500_000)
    before = stores.counts(db)
    # another writer holds the store for longer than segtui waits (a long import, say)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("PRAGMA journal_mode = WAL")
    holder.execute("BEGIN IMMEDIATE")
    try:
        procs = {
            "import": segtui("--db", str(db), "-q", "import", "line-items", str(more)),
            "score": segtui("--db", str(db), "-q", "score", "--as-of", "2024-03-31"),
        }
        results = {name: (p.wait(timeout=120), p.communicate()) for name, p in procs.items()}
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    for name, (code, (out, err)) in results.items():
        assert code == 1, (name, out, err)
        lines = [x for x in err.splitlines() if x.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: ") and "store is busy" in lines[0], (name, err)
        assert "Traceback" not in err
    assert stores.counts(db) == before
    assert stores.integrity(db) == "ok"
    # once the other writer is gone, the same commands go through
    assert segtui("--db", str(db), "-q", "import", "line-items", str(more)).wait(timeout=120) == 0
    assert stores.counts(db)["line_items"] == before["line_items"] + 1_000


def test_writers_at_once_serialise_or_give_way_never_corrupt(store: dict[str, object], tmp_path: Path) -> None:
    db = tmp_path / "race.db"
    src = store["db"]
    assert isinstance(src, Path)
    db.write_bytes(src.read_bytes())
    files = [stores.write_orders(tmp_path / f"part{k}.csv", 5_000, start=1_000_000 + k * 5_000) for k in range(2)]
    before = stores.counts(db)
    procs = [segtui("--db", str(db), "-q", "import", "line-items", str(f)) for f in files]
    procs.append(segtui("--db", str(db), "-q", "score", "--as-of", "2024-05-31"))
    results = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    imported = 0
    for k, (code, out, err) in enumerate(results):
        assert code in (0, 1), (k, err)
        assert "Traceback" not in err
        if code == 1:
            assert "store is busy" in err, (k, err)
        elif k < len(files):
            imported += 5_000
    assert stores.integrity(db) == "ok" and stores.incomplete_snapshots(db) == []
    assert stores.counts(db)["line_items"] == before["line_items"] + imported
