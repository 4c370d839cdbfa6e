"""The TUI's reads and computations over a store: they reconcile with the store's own rows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import polars as pl
import pytest
from tui_fixtures import build_store

from segtui.tui import data
from segtui.tui.data import GROUPINGS, NEW_LABEL, Store


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    return Store(build_store(tmp_path_factory.mktemp("data") / "store.db"))


def q(store: Store, sql: str, *args):  # noqa: ANN201
    with sqlite3.connect(store.path) as conn:
        return conn.execute(sql, args).fetchall()


def test_snapshots_oldest_first_with_series_order(store: Store) -> None:
    snaps = store.snapshots()
    assert [s.as_of.isoformat() for s in snaps] == ["2025-04-30", "2025-05-31", "2025-06-30"]
    assert Store.previous(snaps, snaps[2]) == snaps[1]
    assert Store.previous(snaps, snaps[0]) is None


@pytest.mark.parametrize("by", list(GROUPINGS))
@pytest.mark.parametrize("source", ["frame", "group_frame"])
def test_rollup_matches_sql_over_the_store(store: Store, by: str, source: str) -> None:
    snap = store.snapshots()[-1]
    column = GROUPINGS[by][0]
    store.forget()
    frame = store.frame(snap) if source == "frame" else store.group_frame(snap, column)
    r = data.rollup_frame(frame, by)
    rows = q(store, f"""SELECT coalesce({column}, '(none)'), count(*), sum(revenue), sum(margin), avg(r_score),
                               sum(margin < 0), coalesce(sum(CASE WHEN churn_band = 'high' THEN revenue END), 0)
                        FROM snapshot_accounts WHERE snapshot = ? GROUP BY 1""", snap.id)
    got = {x["group"]: (x["accounts"], x["revenue"], x["margin"], x["mean_r"], x["losing"], x["risk_revenue"])
           for x in r.iter_rows(named=True)}
    assert got == {g: (n, rev, m, pytest.approx(mr) if mr is not None else None, lo, rr) for g, n, rev, m, mr, lo, rr in rows}


def test_rollup_reconciles_with_the_store(store: Store) -> None:
    for snap in store.snapshots():
        r = data.rollup_frame(store.frame(snap), "rfm11")
        f = data.figures(r)
        (net, accounts), = q(store, "SELECT net_revenue, accounts FROM snapshots WHERE id = ?", snap.id)
        assert f["revenue"] == net and f["accounts"] == accounts
        (margin, losing, loss), = q(store, "SELECT sum(margin), sum(margin < 0), sum(CASE WHEN margin < 0 THEN margin ELSE 0 END)"
                                           " FROM snapshot_accounts WHERE snapshot = ?", snap.id)
        assert (f["margin"], f["losing"], f["loss"]) == (margin, losing, loss)
        assert abs(r["account_share"].sum() - 1.0) < 1e-9


def test_change_since_previous(store: Store) -> None:
    snaps = store.snapshots()
    now = data.rollup_frame(store.frame(snaps[2]), "rfm11")
    prev = data.rollup_frame(store.frame(snaps[1]), "rfm11")
    out = data.with_change(now, prev)
    counts_now = dict(q(store, "SELECT rfm_segment, count(*) FROM snapshot_accounts WHERE snapshot=3 GROUP BY 1"))
    counts_prev = dict(q(store, "SELECT rfm_segment, count(*) FROM snapshot_accounts WHERE snapshot=2 GROUP BY 1"))
    for row in out.iter_rows(named=True):
        assert row["change"] == counts_now[row["group"]] - counts_prev.get(row["group"], 0)
    assert data.with_change(now, None)["change"].null_count() == now.height


def test_pareto_share(store: Store) -> None:
    frame = store.frame(store.snapshots()[-1])
    revenues = sorted(frame["revenue"].to_list(), reverse=True)
    top = -(-len(revenues) // 5)
    assert data.pareto_share(frame) == pytest.approx(sum(revenues[:top]) / sum(revenues))


def test_frame_has_one_row_per_account_with_keys(store: Store) -> None:
    snap = store.snapshots()[0]
    frame = store.frame(snap)
    assert frame.height == snap.accounts
    assert frame["account"].is_unique().all()
    acme = frame.filter(pl.col("account_key") == "ACME").row(0, named=True)
    assert acme["name"] == "Acme Corp" and acme["cost"] == acme["direct_cost"] + acme["allocated_cost"]


def test_frame_is_cached_and_cancellable(store: Store) -> None:
    snap = store.snapshots()[1]
    store.forget()
    with pytest.raises(data.Cancelled):
        store.frame(snap, cancelled=lambda: True)
    assert store.cached_frame(snap) is None
    seen = []
    first = store.frame(snap, progress=lambda f, label: seen.append(label))
    assert seen and store.frame(snap) is first


def test_labels_are_the_frames_columns(store: Store) -> None:
    snap = store.snapshots()[0]
    store.forget()
    narrow = store.labels(snap)
    full = store.frame(snap)
    assert narrow.columns == list(data.LABELS_COLUMNS)
    assert narrow.with_columns(pl.all().cast(pl.String)).equals(
        full.select(data.LABELS_COLUMNS).with_columns(pl.all().cast(pl.String)))
    assert store.cached_labels(snap) is not None


def test_migration_agrees_with_the_core(store: Store) -> None:
    from segtui import history

    snaps = store.snapshots()
    for column, map_name in (("rfm_segment", "rfm11"), ("rfm5_segment", "rfm5"), ("quadrant", "quadrant")):
        for x, y in ((snaps[0], snaps[2]), (snaps[2], snaps[0])):  # forwards: (new) rows; backwards: (gone)
            mine = data.migration(store.labels(x), store.labels(y), column)
            core = history.migration(store.path, x.id, y.id, map=map_name).cells
            assert mine.sort("from", "to").equals(core.select(mine.columns).sort("from", "to"))
    backwards = data.migration(store.labels(snaps[2]), store.labels(snaps[0]), "rfm_segment")
    assert backwards.filter(pl.col("to") == data.GONE_LABEL)["accounts"].sum() > 0


def test_migration_matrix_counts_every_account(store: Store) -> None:
    snaps = store.snapshots()
    a, b = store.frame(snaps[0]), store.frame(snaps[2])
    long = data.migration(a, b, "rfm_segment")
    assert long["accounts"].sum() == len(set(a["account"].to_list()) | set(b["account"].to_list()))
    assert long["revenue_b"].sum() == b["revenue"].sum()
    assert long["revenue_a"].sum() == a["revenue"].sum()
    pivot = data.migration_pivot(long, "rfm_segment", "accounts")
    assert pivot["total"].sum() == long["accounts"].sum()
    # an account seen first after A is "(new)"
    new_ids = set(b["account"].to_list()) - set(a["account"].to_list())
    if new_ids:
        assert long.filter(pl.col("from") == NEW_LABEL)["accounts"].sum() == len(new_ids)
    # the accounts of a cell are exactly those that moved, from full frames or label frames alike
    assert data.moved_accounts(store.labels(snaps[0]), b, "rfm_segment", "Champions", "Loyal").equals(
        data.moved_accounts(a, b, "rfm_segment", "Champions", "Loyal"))
    moved = data.moved_accounts(a, b, "rfm_segment", "Champions", "Loyal")
    ids = {r[0] for r in q(store, """SELECT b.account FROM snapshot_accounts b JOIN snapshot_accounts a
                                     ON a.account = b.account AND a.snapshot = 1
                                     WHERE b.snapshot = 3 AND a.rfm_segment = 'Champions' AND b.rfm_segment = 'Loyal'""")}
    assert set(moved["account"].to_list()) == ids


def test_velocity_balances(store: Store) -> None:
    snaps = store.snapshots()
    long = data.migration(store.frame(snaps[1]), store.frame(snaps[2]), "rfm_segment")
    v = data.velocity(long, "rfm_segment")
    for row in v.iter_rows(named=True):
        assert row["accounts_b"] - row["accounts_a"] == row["inflow"] - row["outflow"] == row["net"]
    assert v["inflow"].sum() - v["outflow"].sum() == v["net"].sum()


def test_account_reads(store: Store) -> None:
    snap = store.snapshots()[-1]
    info = store.account_info(2)
    assert info["account_key"] == "GLOBEX"
    scores = store.account_scores(snap, 2)
    costs = store.account_costs(snap, 2)
    assert costs["direct_cost"].sum() == scores["direct_cost"]
    monthly = store.account_monthly(snap, 2)
    (rev,), = q(store, "SELECT sum(amount) FROM line_items WHERE account = 2 AND day >= ? AND day <= ?",
                data.date_to_day(__import__("datetime").date.fromisoformat(monthly["month"][0] + "-01")), snap.as_of_day)
    assert monthly["revenue"].sum() == rev
    assert monthly["month"][-1] == "2025-06"
    history = store.account_history(2)
    assert history.height == 3 and history["as_of"].is_sorted()
    page0, total = store.line_items_page(1, 0, 20)
    page1, _ = store.line_items_page(1, 1, 20)
    (n,), = q(store, "SELECT count(*) FROM line_items WHERE account = 1")
    assert total == n and page0.height == 20
    assert page0["date"].min() >= page1["date"].max()


def test_cost_table_reconciles(store: Store) -> None:
    snap = store.snapshots()[-1]
    t = store.cost_table(snap)
    assert t["pooled"].sum() == snap.pooled_cost
    assert t["allocated"].sum() == snap.allocated_cost
    (direct,), = q(store, "SELECT sum(amount) FROM costs WHERE account IS NOT NULL AND day <= ?", snap.as_of_day)
    assert t["direct"].sum() == direct


def test_cohort_matrix_from_the_core(store: Store) -> None:
    snap = store.snapshots()[-1]
    long = store.cohorts(snap)
    logo = data.cohort_matrix(long, "logo")
    (buyers,), = q(store, "SELECT count(DISTINCT account) FROM line_items WHERE amount > 0 AND day <= ?", snap.as_of_day)
    assert logo["accounts"].sum() == buyers
    assert set(logo["m0"].to_list()) == {1.0}
    first = logo.row(0, named=True)
    assert first["cohort"] == "2024-01" and first["accounts"] == 3
    revenue = data.cohort_matrix(long, "revenue")
    assert revenue["m0"].to_list()[0] == 1.0
    # past the as-of date a cohort has no cell
    assert logo.row(logo.height - 1, named=True)["m1"] is None


def test_the_data_layer_does_not_import_textual(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = "import sys, segtui.tui.data, segtui.tui.query, segtui.tui.fmt; assert 'textual' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_churn_reason_code_has_an_explanation_on_the_account_screen() -> None:
    import json

    from segtui import _core
    from segtui.tui.screens.account import REASONS

    weights = json.loads(_core.default_config_json())["churn"]["weights"]
    assert set(weights) == set(REASONS)
