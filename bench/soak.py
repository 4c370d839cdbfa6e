"""Soak: import / score / kill cycles on a big store, counting lost rows and integrity failures.

    python bench/soak.py                 # 50 cycles on a 1,000,000-line store (minutes)
    python bench/soak.py --smoke         # 2 cycles on 20,000 lines (seconds, for CI)
    python bench/soak.py --cycles 10 --lines 200000 --seed 7

Setup: a store of ``--lines`` line items (20,000 accounts per 100,000 lines, costs too),
imported and scored once. Then each cycle:

1. writes the next export: ``--chunk`` new line items plus a tenth of the previous export again
   (an overlapping export, whose repeated rows must not double);
2. runs ``segtui import`` on it in a child process and SIGKILLs it at a random moment of its run
   (the moment is drawn over the time a run has been taking); if the import did not commit, it
   is run again to the end, as a user would;
3. runs ``segtui score`` in a child process and SIGKILLs it the same way (even cycles re-score
   the latest date, replacing its snapshot; odd ones score a new date);
4. checks the store: ``PRAGMA integrity_check`` and ``foreign_key_check``; line items equal to the
   rows of every export that committed (fewer = lost rows, more = phantom rows); every
   snapshot whole (its row count equals its recorded accounts); the snapshot of the previous
   cycle's date still there.

It prints one line per cycle and ends with ``N cycles: ...; L lost rows, I integrity failures``
(exit status 1 when either is not 0). Work files go to a temporary folder (``--dir`` to choose,
``--keep`` to keep it).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]

DRIVER = textwrap.dedent(
    """
    import sys
    import segtui.importer, segtui.scoring  # loaded before GO: the kill lands in the work
    from segtui.cli import main
    print("GO", flush=True)
    main(sys.argv[1:])
    """
)
FIRST_DAY = date(2023, 1, 1)


def orders(n: int, start: int, accounts: int, days: int) -> pl.DataFrame:
    """Line items ``start .. start + n``: row i is account i % accounts, day i * 7919 % days,
    (i * 37) % 50000 - 2000 cents, invoice I{i}. Distinct i, distinct rows."""
    i = pl.int_range(start, start + n, eager=True, dtype=pl.Int64)
    cents = (i * 37) % 50_000 - 2_000
    return pl.DataFrame({"i": i, "c": cents}).select(
        account_id=pl.lit("C") + (pl.col("i") % accounts).cast(pl.String).str.zfill(7),
        occurred_at=(pl.lit(FIRST_DAY) + pl.duration(days=(pl.col("i") * 7919) % days)).cast(pl.String),
        amount=pl.when(pl.col("c") < 0).then(pl.lit("-")).otherwise(pl.lit(""))
        + (pl.col("c").abs() // 100).cast(pl.String)
        + "."
        + (pl.col("c").abs() % 100).cast(pl.String).str.zfill(2),
        invoice_id=pl.lit("I") + pl.col("i").cast(pl.String),
    )


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class Tally:
    cycles: int = 0
    imports_killed: int = 0
    scores_killed: int = 0
    lost_rows: int = 0
    phantom_rows: int = 0
    integrity_failures: int = 0
    broken_snapshots: int = 0
    lost_snapshots: int = 0
    notes: list[str] = field(default_factory=list)


class Soak:
    def __init__(self, work: Path, lines: int, chunk: int, seed: int, quiet: bool) -> None:
        self.work, self.lines, self.chunk = work, lines, chunk
        self.db = work / "soak.db"
        self.rng = random.Random(seed)
        self.accounts = max(1_000, lines // 5)
        self.days = 900
        self.quiet = quiet
        import segtui as segtui_pkg

        # children import the same segtui as this process (the installed one in CI)
        self.env = dict(os.environ, PYTHONPATH=str(Path(segtui_pkg.__file__).resolve().parents[1]))
        self.expected_lines = 0
        self.t = Tally()
        self.took = {"import": 1.0, "score": 1.0}

    # --- the store -----------------------------------------------------------------------

    def q(self, sql: str, *args: object) -> list[tuple[object, ...]]:
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        try:
            return conn.execute(sql, args).fetchall()
        finally:
            conn.close()

    def setup(self) -> None:
        from segtui.importer import import_files
        from segtui.scoring import score_store

        t0 = time.perf_counter()
        base = self.work / "base.csv"
        orders(self.lines, 0, self.accounts, self.days).write_csv(base)
        costs = self.work / "costs.csv"
        n = max(100, self.lines // 50)
        i = pl.int_range(0, n, eager=True)
        pl.DataFrame({"i": i}).select(
            occurred_at=(pl.lit(FIRST_DAY) + pl.duration(days=(pl.col("i") * 31) % self.days)).cast(pl.String),
            category=pl.when(pl.col("i") % 3 == 0).then(pl.lit("hosting")).otherwise(pl.lit("support")),
            amount=((pl.col("i") % 900) + 100).cast(pl.String) + ".00",
            account_id=pl.when(pl.col("i") % 3 == 0)
            .then(pl.lit(None, pl.String))
            .otherwise(pl.lit("C") + (pl.col("i") % self.accounts).cast(pl.String).str.zfill(7)),
        ).write_csv(costs)
        t1 = time.perf_counter()
        [s] = import_files(self.db, "line-items", [base])
        self.took["import"] = (time.perf_counter() - t1) * self.chunk / self.lines + 0.3
        import_files(self.db, "costs", [costs])
        t2 = time.perf_counter()
        info = score_store(self.db)
        self.took["score"] = time.perf_counter() - t2
        self.expected_lines = s.rows_imported
        self.as_of = info.as_of
        # one scoring run in a child process, to the end: how long a run takes there
        self.took["score"] = 10.0
        killed, _ = self.run_killed("score", "score", "--as-of", info.as_of.isoformat(), _never=True)
        assert not killed
        self.say(
            f"setup: {self.lines:,} line items, {self.accounts:,} accounts in {t2 - t0:.1f} s "
            f"(import {s.rows_per_second:,.0f} rows/s), a scoring run takes {self.took['score']:.2f} s"
        )

    def say(self, msg: str) -> None:
        if not self.quiet:
            print(msg, flush=True)

    # --- one child process, killed -----------------------------------------------------------

    def run_killed(self, what: str, *argv: str, _never: bool = False) -> tuple[bool, float]:
        """Run ``segtui ARGV``, SIGKILL it after a random delay; (killed mid-run, delay)."""
        delay = 3600.0 if _never else self.rng.uniform(0.0, self.took[what] * 1.3)
        proc = subprocess.Popen(
            [sys.executable, "-c", DRIVER, "--db", str(self.db), "-q", *argv],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env,
        )
        assert proc.stdout is not None
        if proc.stdout.readline() != "GO\n":
            proc.kill()
            raise RuntimeError(f"{what}: the child did not start: {proc.communicate()[1]}")
        t0 = time.perf_counter()
        deadline = t0 + delay
        while time.perf_counter() < deadline and proc.poll() is None:
            time.sleep(0.005)
        killed = proc.poll() is None
        if killed:
            proc.send_signal(signal.SIGKILL)
            # still running at `delay`: a run takes at least that long
            self.took[what] = max(self.took[what], delay * 1.1)
        _, err = proc.communicate(timeout=600)
        if not killed:
            # it ended by itself: learn how long a run takes
            took = time.perf_counter() - t0
            self.took[what] = took if _never else 0.5 * self.took[what] + 0.5 * took
            if proc.returncode not in (0, 1):
                self.t.notes.append(f"{what} exited {proc.returncode}: {err.strip()[-300:]}")
        return killed, delay

    # --- checks --------------------------------------------------------------------------

    def check(self, cycle: int, keep_snapshot: tuple[int, str] | None) -> None:
        conn = sqlite3.connect(self.db)
        try:
            res = [r[0] for r in conn.execute("PRAGMA integrity_check").fetchall()]
            fk = conn.execute("PRAGMA foreign_key_check").fetchall()
        finally:
            conn.close()
        if res != ["ok"] or fk:
            self.t.integrity_failures += 1
            self.t.notes.append(f"cycle {cycle}: integrity {res[:3]} foreign keys {fk[:3]}")
        (actual,) = self.q("SELECT count(*) FROM line_items")[0]
        assert isinstance(actual, int)
        if actual < self.expected_lines:
            self.t.lost_rows += self.expected_lines - actual
            self.t.notes.append(f"cycle {cycle}: {self.expected_lines - actual} line items lost")
        elif actual > self.expected_lines:
            self.t.phantom_rows += actual - self.expected_lines
            self.t.notes.append(f"cycle {cycle}: {actual - self.expected_lines} line items too many")
        self.expected_lines = actual  # count each loss once
        for sid, n, rows in self.q(
            "SELECT s.id, s.accounts, (SELECT count(*) FROM snapshot_accounts a WHERE a.snapshot = s.id) FROM snapshots s"
        ):
            if n != rows:
                self.t.broken_snapshots += 1
                self.t.notes.append(f"cycle {cycle}: snapshot {sid} has {rows} of its {n} rows")
        if keep_snapshot is not None:
            day, fp = keep_snapshot
            if not self.q("SELECT id FROM snapshots WHERE as_of_day = ? AND config_fp = ?", day, fp):
                self.t.lost_snapshots += 1
                self.t.notes.append(f"cycle {cycle}: the snapshot as of day {day} is gone")

    # --- a cycle -------------------------------------------------------------------------

    def cycle(self, k: int) -> None:
        from segtui.importer import import_files

        start = self.lines + k * self.chunk
        overlap = self.chunk // 10
        f = self.work / f"export{k:03d}.csv"
        pl.concat(
            [orders(overlap, start - overlap, self.accounts, self.days), orders(self.chunk, start, self.accounts, self.days)]
        ).write_csv(f)
        fp = sha256(f)
        killed_i, delay_i = self.run_killed("import", "import", "line-items", str(f))
        committed = bool(self.q("SELECT 1 FROM imports WHERE fingerprint = ?", fp))
        if killed_i and not committed:
            self.t.imports_killed += 1
        if committed:
            self.expected_lines += self.chunk
        self.check(k, None)
        if not committed:
            # the user runs it again: it must import in full
            [s] = import_files(self.db, "line-items", [f])
            if s.rows_imported != self.chunk or s.rows_duplicate != overlap:
                self.t.notes.append(
                    f"cycle {k}: re-import added {s.rows_imported} rows, {s.rows_duplicate} duplicates "
                    f"(expected {self.chunk}, {overlap})"
                )
            self.expected_lines += self.chunk

        latest = self.q("SELECT as_of_day, config_fp FROM snapshots ORDER BY id DESC LIMIT 1")
        keep = (int(latest[0][0]), str(latest[0][1])) if latest else None  # type: ignore[arg-type]
        as_of = self.as_of if k % 2 == 0 else self.as_of - timedelta(days=30 * (1 + k % 12))
        killed_s, delay_s = self.run_killed("score", "score", "--as-of", as_of.isoformat())
        if killed_s:
            self.t.scores_killed += 1
        self.check(k, keep)
        self.t.cycles += 1
        self.say(
            f"cycle {k + 1}: import {'killed' if killed_i and not committed else 'ended'} at {delay_i:.2f} s, "
            f"score {'killed' if killed_s else 'ended'} at {delay_s:.2f} s; {self.expected_lines:,} line items; "
            f"lost {self.t.lost_rows}, integrity failures {self.t.integrity_failures}"
        )

    def finish(self) -> None:
        """Every export once more: all recognised; the line items are exactly every row made."""
        from segtui.importer import import_files

        files = sorted(self.work.glob("export*.csv"))
        if files:
            for s in import_files(self.db, "line-items", files):
                if s.status != "already_imported":
                    self.t.notes.append(f"{s.file} was not recognised as imported ({s.status}, {s.rows_imported} rows)")
        made = self.lines + len(files) * self.chunk
        (actual,) = self.q("SELECT count(*) FROM line_items")[0]
        assert isinstance(actual, int)
        if actual != made:
            self.t.notes.append(f"at the end: {actual:,} line items where {made:,} were made")
            if actual < made:
                self.t.lost_rows += made - actual
        self.check(self.t.cycles, None)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000, help="line items in the store (default 1,000,000)")
    ap.add_argument("--cycles", type=int, default=50)
    ap.add_argument("--chunk", type=int, default=20_000, help="new line items per export")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--smoke", action="store_true", help="2 cycles on 20,000 lines: seconds")
    ap.add_argument("--dir", type=Path, default=None, help="work folder (default: a temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("-q", "--quiet", action="store_true", help="only the final line")
    args = ap.parse_args(argv)
    if args.smoke:
        args.lines, args.cycles, args.chunk = 20_000, 2, 2_000
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    work = args.dir or Path(tempfile.mkdtemp(prefix="segtui-soak-"))
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    soak = Soak(work, args.lines, args.chunk, seed, args.quiet)
    try:
        soak.say(f"soak: {args.cycles} cycles on {args.lines:,} lines, {args.chunk:,} new per export, seed {seed}, in {work}")
        soak.setup()
        for k in range(args.cycles):
            soak.cycle(k)
        soak.finish()
    finally:
        if not args.keep and args.dir is None:
            shutil.rmtree(work, ignore_errors=True)
    t = soak.t
    for note in t.notes:
        print(f"  {note}")
    print(
        f"{t.cycles} cycles in {time.perf_counter() - t0:.0f} s ({t.imports_killed} imports and {t.scores_killed} "
        f"scoring runs killed mid-run; {t.broken_snapshots} broken and {t.lost_snapshots} lost snapshots, "
        f"{t.phantom_rows} phantom rows): {t.lost_rows} lost rows, {t.integrity_failures} integrity failures"
    )
    bad = t.lost_rows or t.integrity_failures or t.broken_snapshots or t.lost_snapshots or t.phantom_rows
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
