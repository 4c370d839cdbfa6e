"""A killed import leaves the store exactly as it was, and consistent."""

from __future__ import annotations

import os

import segtui as segtui_pkg
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import polars as pl

from segtui.importer import import_files

DATA = Path(__file__).parent / "data" / "import"
ROOT = Path(__file__).resolve().parents[1]

DRIVER = textwrap.dedent(
    """
    import sys
    import segtui.importer as m
    m.BATCH_ROWS = 10_000          # many small batches, so "mid-file" is easy to reach
    update = m._Progress.update
    def report(self, rows, final=False):
        print(f"ROWS {rows}", flush=True)
        update(self, rows, final)
    m._Progress.update = report
    from segtui.cli import main
    main(sys.argv[1:])
    """
)


def snapshot(db: Path) -> dict[str, object]:
    conn = sqlite3.connect(db)
    try:
        out: dict[str, object] = {
            t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("accounts", "line_items", "imports", "rejects")
        }
        out["data_version"] = conn.execute("SELECT value FROM meta WHERE key = 'data_version'").fetchone()[0]
        out["indexes"] = sorted(r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'"))
        out["integrity"] = conn.execute("PRAGMA integrity_check").fetchone()[0]
        return out
    finally:
        conn.close()


def test_sigkill_mid_file_leaves_the_store_unchanged(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    import_files(db, "line-items", [DATA / "generic_orders.csv"])
    before = snapshot(db)
    assert before["integrity"] == "ok" and before["line_items"] == 5

    n = 120_000
    big = tmp_path / "big.csv"
    i = pl.int_range(n, eager=True)
    pl.DataFrame(
        {
            "account_id": (i % 5000).cast(pl.String).str.zfill(6),
            "occurred_at": pl.Series([f"2024-{1 + k % 12:02d}-{1 + k % 28:02d}T10:{k % 60:02d}:00" for k in range(n)]),
            "amount": (i % 10_000).cast(pl.String) + ".25",
            "invoice_id": "B" + i.cast(pl.String),
        }
    ).write_csv(big)

    env = dict(os.environ, PYTHONPATH=str(Path(segtui_pkg.__file__).resolve().parents[1]) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(
        [sys.executable, "-c", DRIVER, "--db", str(db), "import", "line-items", str(big), "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    seen = 0
    deadline = time.monotonic() + 120
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("ROWS "):
            seen = int(line.split()[1])
            if seen >= 40_000:
                break
        assert time.monotonic() < deadline
    else:
        proc.wait()
        raise AssertionError(f"the import ended before it could be killed mid-file: {proc.stderr.read() if proc.stderr else ''}")
    assert seen < n, "must be killed mid-file"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    after = snapshot(db)
    assert after == before
    # the store is usable right away, and the killed file imports in full afterwards
    [s] = import_files(db, "line-items", [big])
    assert s.rows_imported == n
    final = snapshot(db)
    assert final["integrity"] == "ok" and final["indexes"] == before["indexes"]
    assert not list(tmp_path.glob(".segtui-import-*"))
