"""Migration matrices: cells, (new)/(gone), reconciliation, cell listings, the command."""

from __future__ import annotations

import json
import random
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from segtui import history
from segtui.cli import cli
from segtui.errors import ConfigError, DataError
from test_history_support import write_snapshot

SEGS = ["Champions", "Loyal", "At Risk", "Lost", "No Purchase"]


@pytest.fixture
def store(db_path: Path) -> Path:
    write_snapshot(db_path, "2025-01-31", {"a": ("Champions", 1000), "b": ("Loyal", 500), "c": ("Loyal", 300), "d": ("Lost", 0)})
    write_snapshot(
        db_path, "2025-02-28",
        {"a": ("Champions", 1200), "b": ("At Risk", 100), "c": ("Loyal", 350), "d": ("Lost", -20), "e": ("New Customers", 90)},
    )
    return db_path


def test_default_pair_is_the_two_latest(store: Path) -> None:
    m = history.migration(store)
    assert (m.a.as_of.isoformat(), m.b.as_of.isoformat()) == ("2025-01-31", "2025-02-28")
    got = {(f, t): (n, ra, rb, ch) for f, t, n, ra, rb, ch in m.cells.iter_rows()}
    assert got == {
        ("Champions", "Champions"): (1, 1000, 1200, 200),
        ("Loyal", "Loyal"): (1, 300, 350, 50),
        ("Loyal", "At Risk"): (1, 500, 100, -400),
        ("Lost", "Lost"): (1, 0, -20, -20),
        ("(new)", "New Customers"): (1, 0, 90, 90),
    }
    assert m.rows == ["Champions", "Loyal", "Lost", "(new)"]
    assert m.cols == ["Champions", "Loyal", "New Customers", "At Risk", "Lost"]


def test_matrix_layout_rows_sum_to_segment_sizes(store: Path) -> None:
    m = history.migration(store)
    mat = m.matrix("accounts")
    sizes = dict(zip(mat["from"], mat["total"]))
    assert sizes == {"Champions": 1, "Loyal": 2, "Lost": 1, "(new)": 1, "total": 5}
    assert mat.row(-1) == ("total", 1, 1, 1, 1, 1, 5)  # B's segment sizes
    rev = m.matrix("revenue_b")
    assert rev["total"][-1] == 1200 + 100 + 350 - 20 + 90
    with pytest.raises(ConfigError):
        m.matrix("nope")


def test_gone_column_when_b_lacks_accounts(db_path: Path) -> None:
    write_snapshot(db_path, "2025-01-31", {"a": ("Loyal", 10), "b": ("Lost", 5)})
    write_snapshot(db_path, "2025-02-28", {"a": ("Loyal", 12)})
    m = history.migration(db_path)
    assert ("Lost", "(gone)", 1, 5, 0, -5) in list(m.cells.iter_rows())
    assert m.cols[-1] == "(gone)"


def _random_world(db: Path, rng: random.Random, n: int) -> tuple[dict, dict]:
    a = {f"k{i}": (rng.choice(SEGS), rng.randint(-500, 10_000)) for i in range(n) if rng.random() < 0.8}
    b = {f"k{i}": (rng.choice(SEGS), rng.randint(-500, 10_000)) for i in range(n) if rng.random() < 0.8}
    write_snapshot(db, "2024-12-31", a)
    write_snapshot(db, "2025-03-31", b)
    return a, b


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(0, 60))
def test_rows_sum_to_a_sizes_plus_new_and_revenue_reconciles(tmp_path_factory: pytest.TempPathFactory, seed: int, n: int) -> None:
    db = tmp_path_factory.mktemp("w") / "s.db"
    rng = random.Random(seed)
    a, b = _random_world(db, rng, n)
    if not a and not b:
        return
    m = history.migration(db, "2024-12-31", "2025-03-31")
    c = m.cells
    # every row: A's segment size; (new): accounts in B but not in A
    by_from = dict(c.group_by("from").agg(pl.col("accounts").sum()).iter_rows())
    for seg in SEGS:
        assert by_from.get(seg, 0) == sum(1 for s, _ in a.values() if s == seg)
    assert by_from.get("(new)", 0) == len(set(b) - set(a))
    by_to = dict(c.group_by("to").agg(pl.col("accounts").sum()).iter_rows())
    for seg in SEGS:
        assert by_to.get(seg, 0) == sum(1 for s, _ in b.values() if s == seg)
    assert by_to.get("(gone)", 0) == len(set(a) - set(b))
    # revenue columns reconcile to each snapshot's stored total
    assert c["revenue_a"].sum() == m.a.net_revenue == sum(r for _, r in a.values())
    assert c["revenue_b"].sum() == m.b.net_revenue == sum(r for _, r in b.values())
    assert c["change"].sum() == m.b.net_revenue - m.a.net_revenue
    # and each cell is exactly the accounts that moved that way
    for f, t, n_acc, ra, rb, _ in c.iter_rows():
        moved = [k for k in set(a) | set(b) if a.get(k, ("(new)",))[0] == f and b.get(k, ("(gone)",))[0] == t]
        assert n_acc == len(moved)
        assert ra == sum(a[k][1] for k in moved if k in a)
        assert rb == sum(b[k][1] for k in moved if k in b)
    # the matrix layout's rows sum to the same sizes
    mat = m.matrix()
    assert dict(zip(mat["from"], mat["total"])) == {**by_from, "total": len(set(a) | set(b))}


def test_cell_lists_accounts_by_revenue(store: Path) -> None:
    res = history.migration_accounts(store, "loyal->at risk")
    assert (res.from_label, res.to_label) == ("Loyal", "At Risk")
    assert res.accounts.select("account_id", "revenue_a", "revenue_b", "change").rows() == [("b", 500, 100, -400)]
    new = history.migration_accounts(store, "(new)->New Customers").accounts
    assert new["account_id"].to_list() == ["e"]
    assert new["name"].to_list() == ["Acct e"]
    empty = history.migration_accounts(store, "Champions->Lost").accounts
    assert empty.height == 0


def test_bad_cells_and_maps_are_clear_errors(store: Path) -> None:
    with pytest.raises(ConfigError, match="FROM->TO"):
        history.migration_accounts(store, "Loyal")
    with pytest.raises(ConfigError, match="not a rfm11 segment"):
        history.migration_accounts(store, "Loyall->Lost")
    with pytest.raises(ConfigError, match="unknown segment map"):
        history.migration(store, map="rfm7")


def test_snapshot_references(store: Path) -> None:
    m = history.migration(store, "2025-02-28", "1")
    assert (m.a.id, m.b.id) == (2, 1)
    with pytest.raises(DataError, match="no snapshot as of 2025-05-01"):
        history.migration(store, "2025-05-01")
    with pytest.raises(DataError, match="no snapshot with id 9"):
        history.migration(store, to="9")
    with pytest.raises(ConfigError, match="not a date"):
        history.migration(store, "yesterday")
    with pytest.raises(DataError, match="latest of its configuration"):
        history.migration(store, "2025-02-28")


def test_needs_two_comparable_snapshots(db_path: Path) -> None:
    write_snapshot(db_path, "2025-01-31", {"a": ("Loyal", 1)})
    write_snapshot(db_path, "2025-02-28", {"a": ("Loyal", 1)}, config_fp="other")
    with pytest.raises(DataError, match="two comparable snapshots"):
        history.migration(db_path)
    m = history.migration(db_path, "2025-01-31", "2025-02-28")  # explicit: allowed, flagged
    assert not m.comparable and "different configurations" in m.describe()


def test_no_snapshots(db_path: Path) -> None:
    from segtui.store import open_store

    open_store(db_path, create=True).close()
    with pytest.raises(DataError, match="no snapshots yet"):
        history.migration(db_path)


def test_other_maps(db_path: Path) -> None:
    write_snapshot(db_path, "2025-01-31", {"a": ("Loyal", 1, "onboarding"), "b": ("Potential Loyalist", 2, "active")})
    write_snapshot(db_path, "2025-02-28", {"a": ("Potential Loyalist", 1, "active"), "b": ("At Risk", 2, "active")})
    m5 = history.migration(db_path, map="rfm5")
    assert sorted(m5.cells.select("from", "to", "accounts").rows()) == [("Loyal", "At Risk", 1), ("Loyal", "Loyal", 1)]
    lc = history.migration(db_path, map="lifecycle")
    assert lc.rows == ["onboarding", "active"]
    q = history.migration(db_path, map="quadrant")  # NULL quadrants
    assert q.cells.select("from", "to", "accounts").rows() == [("(none)", "(none)", 2)]


def run(db: Path, *args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(cli, ["--db", str(db), *args], catch_exceptions=False)
    return r.exit_code, r.stdout, r.stderr


def test_command_matrix_long_and_cell(store: Path) -> None:
    code, out, err = run(store, "migration")
    assert code == 0
    assert out.splitlines()[0].split()[:3] == ["from", "Champions", "Loyal"]
    assert "migration 2025-01-31 (snapshot 1) -> 2025-02-28 (snapshot 2), map rfm11, raw segments" in err
    code, out, _ = run(store, "migration", "--format", "json")
    cells = json.loads(out)
    assert {"from": "Loyal", "to": "At Risk", "accounts": 1, "revenue_a": 5.0, "revenue_b": 1.0, "change": -4.0} in cells
    code, out, _ = run(store, "migration", "--format", "csv", "--layout", "matrix", "--value", "change")
    assert out.splitlines()[0] == "from,Champions,Loyal,New Customers,At Risk,Lost,total"
    assert "Loyal,0.00,0.50,0.00,-4.00,0.00,-3.50" in out.splitlines()
    code, out, err = run(store, "migration", "--cell", "Loyal->At Risk", "--format", "csv")
    assert out.splitlines() == ["account_id,name,from,to,revenue_a,revenue_b,change", "b,Acct b,Loyal,At Risk,5.00,1.00,-4.00"]
    assert err.startswith("Loyal -> At Risk: 1 accounts")
    code, out, _ = run(store, "migration", "--list", "--format", "csv")
    assert out.splitlines()[1].startswith("1,2025-01-31,transactions,1,fp-1,")


def test_command_errors_exit_codes(store: Path) -> None:
    from segtui.cli import main

    with pytest.raises(SystemExit) as e:
        main(["--db", str(store), "migration", "--from", "2030-01-01"])
    assert e.value.code == 1
    with pytest.raises(SystemExit) as e:
        main(["--db", str(store), "migration", "--cell", "nonsense"])
    assert e.value.code == 2


def test_packed_snapshots_give_the_same_matrix(store: Path) -> None:
    before = history.migration(store)
    cell = history.migration_accounts(store, "Loyal->At Risk").accounts
    assert history.pack_snapshots(store) == 2
    assert history.pack_snapshots(store) == 0  # fresh: nothing to do
    after = history.migration(store)
    assert after.cells.equals(before.cells) and (after.rows, after.cols) == (before.rows, before.cols)
    assert history.migration_accounts(store, "Loyal->At Risk").accounts.equals(cell)
    # a snapshot written later is packed by after_scoring (what `segtui score` calls)
    sid = write_snapshot(store, "2025-03-31", {"a": ("Loyal", 1), "e": ("Lost", 2)})
    history.after_scoring(store, [sid])
    assert history.pack_snapshots(store) == 0
    m = history.migration(store)
    assert set(m.cells.select("from", "to").rows()) == {("Champions", "Loyal"), ("New Customers", "Lost"), ("Loyal", "(gone)"), ("At Risk", "(gone)"), ("Lost", "(gone)")}
