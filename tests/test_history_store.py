"""History on stores scored by the real pipeline: `segtui score --every` against single-date
runs, migration reconciliation on real snapshots, packed columns, account --history."""

from __future__ import annotations

import datetime as dt
import json
import random
import shutil
import sqlite3
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from segtui import history
from segtui.cli import cli
from segtui.errors import DataError
from test_history_support import write_costs, write_line_items

MONTH_ENDS = ["2025-01-31", "2025-02-28", "2025-03-31", "2025-04-30", "2025-05-31", "2025-06-30"]


def random_store(db: Path, seed: int, n_accounts: int = 40, n_invoices: int = 300) -> None:
    rng = random.Random(seed)
    start = dt.date(2024, 6, 1)
    lines = []
    for i in range(n_invoices):
        acc = f"C{rng.randrange(n_accounts):03d}"
        d = start + dt.timedelta(days=rng.randrange(395))
        inv = None if rng.random() < 0.1 else f"INV{i}"
        for _ in range(rng.randint(1, 4)):
            amount = -rng.randint(100, 3000) if rng.random() < 0.08 else rng.randint(100, 9000)
            lines.append((acc, d.isoformat(), amount, inv))
    write_line_items(db, lines)
    costs = []
    for _ in range(n_invoices // 2):
        d = (start + dt.timedelta(days=rng.randrange(395))).isoformat()
        key = None if rng.random() < 0.3 else f"C{rng.randrange(n_accounts):03d}"
        costs.append((key, d, rng.choice(["hosting", "support"]), rng.randint(10, 900)))
    write_costs(db, costs)


def run(db: Path, *args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(cli, ["--db", str(db), "-q", *args], catch_exceptions=False)
    return r.exit_code, r.stdout, r.stderr


SNAP_COLS = (
    "as_of_day, mode, config_fp, accounts, net_revenue, pooled_cost, allocated_cost, unallocated_cost"
)


def snapshot_rows(db: Path, as_of_day: int) -> tuple[tuple, list[tuple], list[tuple]]:
    conn = sqlite3.connect(db)
    try:
        sid, *head = conn.execute(f"SELECT id, {SNAP_COLS} FROM snapshots WHERE as_of_day = ?", (as_of_day,)).fetchone()
        cols = [r[1] for r in conn.execute("PRAGMA table_info(snapshot_accounts)") if r[1] != "snapshot"]
        rows = conn.execute(f"SELECT {', '.join(cols)} FROM snapshot_accounts WHERE snapshot = ? ORDER BY account", (sid,)).fetchall()
        pools = conn.execute("SELECT category, driver, pooled, allocated, unallocated FROM snapshot_pools WHERE snapshot = ? ORDER BY category", (sid,)).fetchall()
        return tuple(head), rows, pools
    finally:
        conn.close()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_series_snapshot_equals_a_single_date_run(tmp_path: Path, seed: int) -> None:
    series_db = tmp_path / "series.db"
    random_store(series_db, seed)
    single_db = tmp_path / "single.db"
    shutil.copy(series_db, single_db)

    code, out, err = run(series_db, "score", "--every", "month", "--since", "2025-01-01", "--until", "2025-06-30", "--format", "json")
    assert code == 0, err
    written = json.loads(out)
    assert [w["as_of"] for w in written] == MONTH_ENDS
    conn = sqlite3.connect(series_db)
    labels = {r[0] for r in conn.execute("SELECT series FROM snapshots")}
    conn.close()
    assert labels == {"every month since 2025-01-01"}

    for d in MONTH_ENDS:
        code, _, err = run(single_db, "score", "--as-of", d)
        assert code == 0, err
        day = (dt.date.fromisoformat(d) - dt.date(1970, 1, 1)).days
        s_head, s_rows, s_pools = snapshot_rows(series_db, day)
        o_head, o_rows, o_pools = snapshot_rows(single_db, day)
        assert s_head == o_head
        assert s_pools == o_pools
        assert len(s_rows) == len(o_rows) > 0
        assert s_rows == o_rows


def test_migration_on_real_snapshots_reconciles(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    random_store(db, 7, n_accounts=60, n_invoices=400)
    code, _, err = run(db, "score", "--every", "month", "--since", "2025-01-01")
    assert code == 0, err
    conn = sqlite3.connect(db)
    snaps = conn.execute("SELECT id, net_revenue, accounts FROM snapshots ORDER BY as_of_day").fetchall()
    sizes = {
        sid: dict(conn.execute("SELECT rfm_segment, count(*) FROM snapshot_accounts WHERE snapshot = ? GROUP BY 1", (sid,)).fetchall())
        for sid, _, _ in snaps
    }
    packed = conn.execute("SELECT count(*) FROM snapshot_columns").fetchone()[0]
    conn.close()
    assert packed == 4 * len(snaps)  # packed by the scoring run itself
    for (a, rev_a, n_a), (b, rev_b, n_b) in zip(snaps, snaps[1:]):
        for map_name in ("rfm11", "rfm5", "quadrant", "lifecycle", "churn"):
            m = history.migration(db, a, b, map=map_name)
            c = m.cells
            assert c["revenue_a"].sum() == rev_a and c["revenue_b"].sum() == rev_b
            assert c["accounts"].sum() == n_b  # nobody is gone when B is later
            assert c.filter(pl.col("to") == "(gone)").height == 0
            if map_name == "rfm11":
                rows = dict(c.group_by("from").agg(pl.col("accounts").sum()).iter_rows())
                new = rows.pop("(new)", 0)
                assert rows == sizes[a] and new == n_b - n_a
    # packed and row reads agree
    last = history.migration(db)
    conn = sqlite3.connect(db)
    conn.execute("DELETE FROM snapshot_columns")
    conn.commit()
    conn.close()
    assert history.migration(db).cells.equals(last.cells)
    v = history.velocity(db, from_=snaps[0][0])
    assert v["from_snapshot"].n_unique() == len(snaps) - 1


def test_account_history_command(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    random_store(db, 3)
    run(db, "score", "--every", "quarter", "--since", "2024-07-01")
    code, out, err = run(db, "account", "C001", "--history", "--format", "json")
    assert code == 0, err
    rows = json.loads(out)
    assert [r["as_of"] for r in rows] == ["2024-09-30", "2024-12-31", "2025-03-31"][-len(rows):]
    assert {"segment", "previous_segment", "days_in_segment", "r_score", "revenue", "cost", "churn_risk"} <= set(rows[0])
    code, out, _ = run(db, "account", "C001", "--history")
    assert code == 0 and out.splitlines()[0].split()[:3] == ["snapshot", "as_of", "segment"]


def test_hysteresis_is_refreshed_by_score(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    random_store(db, 5)
    (tmp_path / "segtui.toml").write_text("hysteresis = 2\n")
    code, _, err = run(db, "score", "--every", "month", "--since", "2025-01-01")
    assert code == 0, err
    conn = sqlite3.connect(db)
    stamped = conn.execute("SELECT count(*), min(k) FROM snapshot_hysteresis").fetchone()
    n = conn.execute("SELECT count(*) FROM snapshots").fetchone()[0]
    conn.close()
    assert stamped == (n, 2)
    assert history.refresh_effective(db)["computed"] == 0


def test_series_option_errors(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    random_store(db, 1)
    from segtui.cli import main

    for args in (["--every", "month"], ["--since", "2025-01-01"], ["--every", "month", "--since", "2025-01-01", "--as-of", "2025-02-01"]):
        with pytest.raises(SystemExit) as e:
            main(["--db", str(db), "score", *args])
        assert e.value.code == 2
    with pytest.raises(DataError, match="no month ends"):
        history.score_series(db, "month", dt.date(2025, 6, 2), dt.date(2025, 6, 20))
    assert history.series_dates(db, "quarter", dt.date(2024, 1, 1)) == [
        dt.date(2024, 3, 31), dt.date(2024, 6, 30), dt.date(2024, 9, 30), dt.date(2024, 12, 31), dt.date(2025, 3, 31),
    ]
