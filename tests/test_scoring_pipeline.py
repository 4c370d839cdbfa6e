"""`segtui score` end to end: store → core → snapshot, the column cache, atomic replacement,
reconciliation of the stored figures with the store."""

from __future__ import annotations

import io
import json
import sqlite3
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from test_store_io import add_rows, small_world

from segtui import _core, queries
from segtui.cli import cli
from segtui.errors import ConfigError, DataError, SegtuiError, StoreError
from segtui.scoring import score_dates, score_store


def _q(db: Path, sql: str, *args: object) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def test_score_writes_a_snapshot_as_of_the_latest_line_item(db_path: Path) -> None:
    small_world(db_path)
    info = score_store(db_path)
    assert info.as_of == date(2025, 6, 30)
    assert info.mode == "transactions"
    assert info.accounts == 6
    assert info.data_version == 1
    assert info.cache == "rebuilt"
    assert info.rows == {"line_items": 11, "costs": 5, "events": 3, "accounts": 6}
    assert set(info.timings) == {"load", "score", "write", "cache_write", "total"}
    row = _q(db_path, "SELECT as_of_day, mode, config_fp, accounts, net_revenue, data_version, seconds FROM snapshots")
    assert len(row) == 1
    as_of_day, mode, fp, accounts, net, dv, seconds = row[0]
    assert (as_of_day, mode, fp, accounts, net, dv) == (queries.date_to_day(info.as_of), "transactions", info.config_fp, 6, info.net_revenue, 1)
    assert seconds > 0
    assert _q(db_path, "SELECT count(*) FROM snapshot_accounts WHERE snapshot = ?", info.id)[0][0] == 6


def test_reconciliation_segments_revenue_and_costs(db_path: Path) -> None:
    small_world(db_path)
    info = score_store(db_path)
    store_net = queries.store_net_revenue(db_path, info.as_of)
    assert info.net_revenue == store_net
    for map_name in queries.MAPS:
        seg = queries.segment_summary(db_path, info.id, map_name)
        assert seg.get_column("revenue").sum() == store_net, map_name
        assert seg.get_column("accounts").sum() == info.accounts, map_name
    # allocated == pooled (+ unallocated reported), per pool and per account
    pools = _q(db_path, "SELECT category, pooled, allocated, unallocated FROM snapshot_pools WHERE snapshot = ?", info.id)
    assert pools == [("hosting", 15001, 15001, 0)]
    pooled_in_store = _q(db_path, "SELECT sum(amount) FROM costs WHERE account IS NULL")[0][0]
    assert info.pooled_cost == pooled_in_store == info.allocated_cost + info.unallocated_cost
    frame = queries.snapshot_frame(db_path, info.id)
    assert frame.get_column("allocated_cost").sum() == info.allocated_cost
    direct = _q(db_path, "SELECT sum(amount) FROM costs WHERE account IS NOT NULL")[0][0]
    assert frame.get_column("direct_cost").sum() == direct
    assert (frame["margin"] == frame["revenue"] - frame["direct_cost"] - frame["allocated_cost"]).all()


def test_a_pool_without_driver_is_reported_unallocated(db_path: Path) -> None:
    small_world(db_path)
    (db_path.parent / "segtui.toml").write_text('[scoring.costs.drivers]\nhosting = "events:nonexistent"\n')
    info = score_store(db_path)
    assert (info.pooled_cost, info.allocated_cost, info.unallocated_cost) == (15001, 0, 15001)
    assert queries.snapshot_frame(db_path, info.id).get_column("allocated_cost").sum() == 0


def test_same_as_of_and_config_replaces_atomically(db_path: Path) -> None:
    small_world(db_path)
    a = score_store(db_path)
    b = score_store(db_path)
    assert b.replaced == (a.id,)
    assert b.id > a.id
    assert _q(db_path, "SELECT count(*) FROM snapshots")[0][0] == 1
    assert _q(db_path, "SELECT count(*) FROM snapshot_accounts")[0][0] == 6
    # another date, another mode: other snapshots
    c = score_store(db_path, as_of=date(2025, 3, 31))
    d = score_store(db_path, mode="saas")
    assert c.replaced == () and d.replaced == ()
    assert d.mode == "saas" and d.config_fp != b.config_fp
    assert _q(db_path, "SELECT count(*) FROM snapshots")[0][0] == 3


def test_an_earlier_as_of_sees_only_earlier_rows(db_path: Path) -> None:
    small_world(db_path)
    info = score_store(db_path, as_of=date(2025, 2, 28))
    # accounts with a line item or cost on or before the date: A1, B2, C3
    frame = queries.snapshot_frame(db_path, info.id)
    assert frame.get_column("account_id").to_list() == ["A1", "B2", "C3"]
    assert info.net_revenue == queries.store_net_revenue(db_path, date(2025, 2, 28)) == 12000 + 3050 + 50000 + 1999
    assert info.pooled_cost == 0


def test_a_window_limits_revenue_and_reconciles(db_path: Path) -> None:
    small_world(db_path)
    (db_path.parent / "segtui.toml").write_text("[scoring.rfm]\nwindow_days = 60\n")
    info = score_store(db_path)
    since = info.as_of - timedelta(days=59)
    assert info.net_revenue == queries.store_net_revenue(db_path, info.as_of, since)
    assert queries.segment_summary(db_path, info.id).get_column("revenue").sum() == info.net_revenue


def test_stale_cache_is_rebuilt_and_the_result_changes(db_path: Path) -> None:
    small_world(db_path)
    a = score_store(db_path)
    assert a.cache == "rebuilt"
    assert score_store(db_path).cache == "hit"
    add_rows(db_path, lines=[("A1", "2025-06-30", 100000, "INV-BIG")])
    c = score_store(db_path)
    assert c.cache == "appended"
    assert c.data_version == 2
    assert c.net_revenue == a.net_revenue + 100000
    a1 = queries.snapshot_frame(db_path, c.id).filter(pl.col("account_id") == "A1")
    assert a1.get_column("revenue").item() == 21050 + 100000
    # the same snapshot as one scored straight from SQLite
    d = score_store(db_path, cache=False)
    assert d.replaced == (c.id,) and d.net_revenue == c.net_revenue
    # an edited old row (no import): the cache is read again in full
    conn = sqlite3.connect(db_path)
    conn.execute("UPDATE line_items SET amount = amount + 1")
    conn.commit()
    e = score_store(db_path)
    assert e.cache == "rebuilt" and e.net_revenue == c.net_revenue + 12


def test_a_foreign_or_damaged_cache_never_changes_the_result(tmp_path: Path) -> None:
    one, two = tmp_path / "one" / "s.db", tmp_path / "two" / "s.db"
    one.parent.mkdir()
    two.parent.mkdir()
    small_world(one)
    small_world(two)
    add_rows(two, lines=[("B2", "2025-06-30", 5, "INV-X")])
    score_store(one)
    score_store(two)
    # put store one's cache beside store two: same shape, other store
    Path(_core.cache_path(str(two))).write_bytes(Path(_core.cache_path(str(one))).read_bytes())
    info = score_store(two)
    assert info.cache == "rebuilt"
    uncached = score_store(two, cache=False, as_of=info.as_of)
    assert uncached.net_revenue == info.net_revenue == queries.store_net_revenue(two, info.as_of)
    from_sqlite = queries.snapshot_frame(two, uncached.id).drop("as_of")
    # damaged cache: detected by its checksums
    cache = Path(_core.cache_path(str(two)))
    raw = bytearray(cache.read_bytes())
    raw[-3] ^= 0xFF
    cache.write_bytes(bytes(raw))
    again = score_store(two)
    assert again.cache == "rebuilt" and "damaged" in (again.cache_reason or "")
    assert again.net_revenue == info.net_revenue
    assert queries.snapshot_frame(two, again.id).drop("as_of").equals(from_sqlite)


def test_a_failed_write_leaves_the_previous_snapshot(db_path: Path) -> None:
    small_world(db_path)
    first = score_store(db_path)
    conn = sqlite3.connect(db_path)
    conn.execute(
        "CREATE TRIGGER fail_midway BEFORE INSERT ON snapshot_accounts WHEN NEW.account = 4 "
        "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
    )
    conn.commit()
    with pytest.raises(SegtuiError, match="injected failure"):
        score_store(db_path)
    assert _q(db_path, "SELECT id FROM snapshots") == [(first.id,)]
    assert _q(db_path, "SELECT count(*) FROM snapshot_accounts WHERE snapshot = ?", first.id)[0][0] == 6


def test_series_from_one_load(db_path: Path) -> None:
    small_world(db_path)
    infos = score_dates(db_path, [date(2025, 3, 31), date(2025, 6, 30)], series="monthly")
    assert [i.as_of for i in infos] == [date(2025, 3, 31), date(2025, 6, 30)]
    assert infos[0].timings["load"] > 0 and infos[1].timings["load"] == 0
    assert _q(db_path, "SELECT series FROM snapshots ORDER BY id") == [("monthly",), ("monthly",)]


def test_nothing_to_score_and_bad_config_are_clear(db_path: Path, tmp_path: Path) -> None:
    add_rows(db_path, accounts=[{"key": "Z"}])
    with pytest.raises(DataError, match="no line items"):
        score_store(db_path)
    small_world(db_path)
    bad = tmp_path / "bad.toml"
    bad.write_text("[scoring.rfm]\nwindow_days = -3\n")
    with pytest.raises(ConfigError, match="rfm.window_days"):
        score_store(db_path, config_path=bad)
    with pytest.raises(StoreError, match="no store"):
        score_store(tmp_path / "missing.db")


def test_progress_goes_to_stderr_unless_quiet(db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    small_world(db_path)
    score_store(db_path, quiet=False)
    out = capsys.readouterr()
    assert out.out == ""
    assert "read 11 line items" in out.err and "as of 2025-06-30" in out.err
    score_store(db_path)
    assert capsys.readouterr().err == ""


def test_cli_score_table_and_json(db_path: Path) -> None:
    small_world(db_path)
    r = CliRunner().invoke(cli, ["--db", str(db_path), "-q", "score", "--format", "json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc[0]["accounts"] == 6 and doc[0]["net_revenue"] == 1184.49 and doc[0]["as_of"] == "2025-06-30"
    r = CliRunner().invoke(cli, ["--db", str(db_path), "-q", "score", "--as-of", "2025-03-31"])
    assert r.exit_code == 0, r.output
    assert "as_of             2025-03-31" in r.stdout
    assert "net_revenue       " in r.stdout


def test_cli_score_usage_errors_exit_2(db_path: Path) -> None:
    small_world(db_path)
    for args in (["--as-of", "31/03/2025"], ["--mode", "retail"]):
        p = subprocess.run(
            [sys.executable, "-m", "segtui.cli", "--db", str(db_path), "score", *args], capture_output=True, text=True
        )
        assert p.returncode == 2, p.stderr
        assert p.stdout == ""
    (db_path.parent / "segtui.toml").write_text("[scoring]\nmode = 'retail'\n")
    p = subprocess.run([sys.executable, "-m", "segtui.cli", "--db", str(db_path), "score"], capture_output=True, text=True)
    assert p.returncode == 2 and "scoring.mode" in p.stderr


def test_through_the_real_import_path(tmp_path: Path) -> None:
    """Import files with `segtui import`, score, import an overlapping newer export, score again:
    the cache is brought up to date and the figures follow the store exactly."""
    db = tmp_path / "s.db"
    jan = tmp_path / "jan.csv"
    jan.write_text(
        "account_id,occurred_at,amount,invoice_id\n"
        "C1,2025-01-03,100.00,I1\nC1,2025-01-20,50.50,I2\nC2,2025-01-05,300.00,I3\nC3,2025-01-09,-20.00,R1\n"
    )
    costs = tmp_path / "costs.csv"
    costs.write_text("occurred_at,category,amount,account_id\n2025-01-15,hosting,90.00,\n2025-01-15,support,12.00,C2\n")
    runner = CliRunner()
    for kind, f in (("line-items", jan), ("costs", costs)):
        r = runner.invoke(cli, ["--db", str(db), "-q", "import", kind, str(f)])
        assert r.exit_code == 0, r.output
    a = score_store(db)
    assert a.cache == "rebuilt" and a.accounts == 3
    assert a.net_revenue == 100_00 + 50_50 + 300_00 - 20_00 == queries.store_net_revenue(db, a.as_of)
    assert (a.pooled_cost, a.allocated_cost) == (90_00, 90_00)
    # the February export repeats January's last row (an overlap) and adds new ones
    feb = tmp_path / "feb.csv"
    feb.write_text("account_id,occurred_at,amount,invoice_id\nC3,2025-01-09,-20.00,R1\nC3,2025-02-02,75.25,I4\nC4,2025-02-10,10.00,I5\n")
    r = runner.invoke(cli, ["--db", str(db), "-q", "import", "line-items", str(feb)])
    assert r.exit_code == 0, r.output
    b = score_store(db)
    assert b.cache == "appended" and b.accounts == 4
    assert b.net_revenue == a.net_revenue + 75_25 + 10_00 == queries.store_net_revenue(db, b.as_of)
    for map_name in queries.MAPS:
        assert queries.segment_summary(db, b.id, map_name)["revenue"].sum() == b.net_revenue
    assert score_store(db, cache=False).net_revenue == b.net_revenue


def test_score_every_month_is_the_single_date_results(db_path: Path) -> None:
    small_world(db_path)
    r = CliRunner().invoke(cli, ["--db", str(db_path), "-q", "score", "--every", "month", "--since", "2025-03-15", "--format", "csv"])
    assert r.exit_code == 0, r.output
    rows = pl.read_csv(io.BytesIO(r.stdout_bytes))
    assert rows["as_of"].to_list() == ["2025-03-31", "2025-04-30", "2025-05-31", "2025-06-30"]
    series_ids = rows["snapshot"].to_list()
    assert _q(db_path, "SELECT DISTINCT series FROM snapshots") == [("every month since 2025-03-15",)]
    # each series snapshot equals a single-date run of its date (replacing it)
    for sid, as_of in zip(series_ids, rows["as_of"].to_list()):
        frame = queries.snapshot_frame(db_path, sid, cache=False)
        single = score_store(db_path, as_of=date.fromisoformat(as_of))
        assert single.replaced == (sid,)
        assert queries.snapshot_frame(db_path, single.id, cache=False).equals(frame)
    for args in (["--every", "month"], ["--since", "2025-01-01"], ["--every", "month", "--since", "2025-01-01", "--as-of", "2025-02-01"]):
        r = CliRunner().invoke(cli, ["--db", str(db_path), "-q", "score", *args])
        assert r.exit_code == 2, args
