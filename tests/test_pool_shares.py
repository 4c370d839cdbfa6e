"""Each account's share of each pooled cost is kept with its snapshot (schema v5): the account
view explains allocated cost by category, the shares match the reference, and they reconcile."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from reference import assert_snapshot_matches_reference, world_from_store

from segtui import _core, queries
from segtui.cli import cli


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("shares") / "demo.db"
    r = CliRunner().invoke(cli, ["--db", str(db), "-q", "demo", "--no-open", "--accounts", "150", "--seed", "3"])
    assert r.exit_code == 0, r.output
    return db


def latest(db: Path) -> int:
    snap = queries.latest_snapshot(db)
    assert snap is not None
    return snap.id


def test_shares_reconcile_per_account_and_per_pool(demo: Path) -> None:
    sid = latest(demo)
    conn = sqlite3.connect(demo)
    rows = conn.execute(
        "SELECT s.account, a.account_key, s.allocated_cost FROM snapshot_accounts s JOIN accounts a ON a.id = s.account "
        "WHERE s.snapshot = ? ORDER BY s.account",
        (sid,),
    ).fetchall()
    pools = dict(conn.execute("SELECT category, allocated FROM snapshot_pools WHERE snapshot = ?", (sid,)).fetchall())
    assert len(pools) >= 2, "the demo has several pools"
    by_pool = dict.fromkeys(pools, 0)
    for account, _key, allocated in rows:
        shares = _core.account_pool_shares(str(demo), sid, account)
        assert sorted(c for c, _ in shares) == sorted(pools), "every pool"
        assert sum(v for _, v in shares) == allocated
        for c, v in shares:
            by_pool[c] += v
    assert by_pool == pools
    # the account view shows them
    account, key, allocated = rows[len(rows) // 2]
    detail = queries.account_detail(demo, key, sid)
    assert detail.pools.get_column("account_allocated").sum() == allocated
    assert detail.pools.get_column("account_allocated").null_count() == 0
    # an account that is not in the snapshot has no shares
    assert _core.account_pool_shares(str(demo), sid, 10**9) == []


def test_shares_match_the_reference_and_a_damaged_one_is_caught(demo: Path) -> None:
    conn = sqlite3.connect(demo)
    sid = latest(demo)
    world = world_from_store(conn)
    assert_snapshot_matches_reference(conn, sid, world)
    category, data = conn.execute(
        "SELECT category, data FROM snapshot_pool_shares WHERE snapshot = ? ORDER BY id LIMIT 1", (sid,)
    ).fetchone()
    values = bytearray(data)
    values[0] ^= 1  # one account's share off by one minor unit
    conn.execute("UPDATE snapshot_pool_shares SET data = ? WHERE snapshot = ? AND category = ?", (bytes(values), sid, category))
    with pytest.raises(AssertionError, match=f"share of pool {category}"):
        assert_snapshot_matches_reference(conn, sid, world)
    conn.rollback()
