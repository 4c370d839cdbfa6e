"""The scoring kernel through its binding: polars in, polars out, errors, GIL, reconciliation."""

from __future__ import annotations

import datetime as dt
import threading
import time

import numpy as np
import polars as pl
import pytest

from segtui import _core
from segtui.config import config_from_mapping
from segtui.engine import NULL_I64, date_to_day, day_to_date, score
from segtui.errors import ConfigError, DataError


def small_world():
    li = pl.DataFrame(
        {
            "account": [0, 0, 0, 1, 2, 2, 3],
            "day": [10, 10, 15, 12, 14, 16, 30],
            "amount": [500, 300, 200, -90, 100, 400, 999],
            "invoice_key": [7, 7, 8, 9, None, None, 11],
        }
    )
    costs = pl.DataFrame(
        {
            "account": [None, 1, 4, None],
            "day": [11, 11, 12, 13],
            "category": [0, 1, 1, 1],
            "amount": [101, 40, 25, 0],
        }
    )
    return li, costs


def test_small_world_decoded():
    li, costs = small_world()
    out = score(li, costs, n_accounts=5, as_of=20, cost_categories=["support", "hosting"])
    a = out.accounts
    assert out.as_of_day == 20
    assert a["account"].to_list() == [0, 1, 2, 4]  # account 3 only after the as-of date
    assert a["frequency"].to_list() == [2, 0, 2, 0]
    assert a["recency_days"].to_list() == [5, None, 4, None]
    assert a["monetary"].to_list() == [1000, -90, 500, 0]
    assert a["revenue"].to_list() == [1000, -90, 500, 0]
    assert a["rfm_segment"].to_list()[1] == "No Purchase"
    assert a["rfm5_segment"].to_list()[3] == "No Purchase"
    assert a["r_score"].to_list() == [1, None, 3, None]
    assert a["direct_cost"].to_list() == [0, 40, 0, 25]
    # 101 by revenue 1000 : 500 -> 67.33, 33.67 -> 67, 34 (largest remainder to account 2).
    assert a["allocated_cost"].to_list() == [67, 0, 34, 0]
    assert a["margin"].to_list() == [933, -130, 466, -25]
    assert a["margin_pct"].to_list()[1] is None
    assert a["margin_pct"].to_list()[0] == pytest.approx(0.933)
    assert set(a["quadrant"].to_list()) <= {
        "high revenue, low cost",
        "high revenue, high cost",
        "low revenue, low cost",
        "low revenue, high cost",
    }
    assert a["tier"].null_count() == a.height  # no events: tier not computed
    assert a["size_band"].null_count() == a.height
    assert a["churn_band"].to_list()[0] in ("low", "medium", "high")
    assert a["churn_reasons"].dtype == pl.String
    pools = out.pools.to_dicts()
    assert pools == [
        {"category": "support", "driver": "revenue", "pooled": 101, "allocated": 101, "unallocated": 0},
        {"category": "hosting", "driver": "revenue", "pooled": 0, "allocated": 0, "unallocated": 0},
    ]


def test_dates_and_days():
    assert date_to_day(dt.date(1970, 1, 2)) == 1
    assert day_to_date(20000) == dt.date(2024, 10, 4)
    li = pl.DataFrame({"account": [0], "day": [dt.date(2024, 1, 1)], "amount": [5]})
    out = score(li, n_accounts=1, as_of=dt.date(2024, 1, 31))
    assert out.accounts["recency_days"].to_list() == [30]
    assert out.as_of == dt.date(2024, 1, 31)


def test_events_and_firmographics():
    li = pl.DataFrame({"account": [0, 1], "day": [100, 100], "amount": [100, 100]})
    kinds = ["login", "report", "export", "share", "support_ticket", "payment_failed"]
    days = list(range(75, 101))  # 26 active days in the last 30
    ev = pl.DataFrame(
        {
            "account": [0] * (len(days) * 3) + [1, 1],
            "day": days * 3 + [99, 100],
            "kind": [1] * len(days) + [2] * len(days) + [3] * len(days) + [5, 0],
        }
    )
    accounts = pl.DataFrame({"employees": [50, 5000], "renewal_day": [None, 110], "mrr": [None, 2500]})
    out = score(li, None, ev, accounts, n_accounts=2, as_of=100, event_kinds=kinds)
    a = out.accounts
    assert a["tier"].to_list() == ["power", "shallow"]
    assert a["size_band"].to_list() == ["SMB", "Enterprise"]
    assert a["churn_reasons"].to_list() == ["", "failed_payment"]


def test_saas_mode_uses_high_signal_events_and_mrr():
    li = pl.DataFrame({"account": [0, 1], "day": [1, 1], "amount": [300, 900]})
    ev = pl.DataFrame({"account": [0, 0, 1], "day": [95, 99, 10], "kind": [0, 0, 1]})
    accounts = pl.DataFrame({"mrr": [None, 5000]})
    cfg = config_from_mapping({"mode": "saas"})
    out = score(li, None, ev, accounts, n_accounts=2, as_of=100, event_kinds=["report", "login"], config=cfg)
    a = out.accounts
    assert a["frequency"].to_list() == [2, 0]  # logins are not high-signal
    assert a["recency_days"].to_list() == [1, None]
    assert a["monetary"].to_list() == [0, 5000]  # no revenue in the last 3 months; MRR wins
    assert a["rfm_segment"].to_list()[1] == "No Purchase"


def test_reconciliation_on_random_data():
    rng = np.random.default_rng(7)
    n_acc, n_li, n_co = 300, 5000, 800
    li = pl.DataFrame(
        {
            "account": rng.integers(0, n_acc, n_li).astype(np.uint32),
            "day": rng.integers(0, 400, n_li).astype(np.int32),
            "amount": rng.integers(-2000, 10000, n_li),
            "invoice_key": rng.integers(0, 1500, n_li),
        }
    )
    acct = rng.integers(-1, n_acc, n_co)
    co = pl.DataFrame(
        {
            "account": acct,
            "day": rng.integers(0, 400, n_co).astype(np.int32),
            "category": rng.integers(0, 3, n_co).astype(np.uint32),
            "amount": rng.integers(0, 5000, n_co),
        }
    )
    for window in (None, 90):
        cfg = config_from_mapping({"rfm": {"window_days": window}} if window else {})
        d = 350
        out = score(li, co, n_accounts=n_acc, as_of=d, cost_categories=["a", "b", "c"], config=cfg)
        a = out.accounts
        lo = d - window + 1 if window else -(2**31)
        in_win = li.filter((pl.col("day") <= d) & (pl.col("day") >= lo))
        assert a["revenue"].sum() == in_win["amount"].sum()
        cw = co.filter((pl.col("day") <= d) & (pl.col("day") >= lo))
        pooled = cw.filter(pl.col("account") == -1)["amount"].sum()
        p = out.pools
        assert p["pooled"].sum() == pooled
        assert (p["allocated"] + p["unallocated"] == p["pooled"]).all()
        assert a["allocated_cost"].sum() == p["allocated"].sum()
        assert a["direct_cost"].sum() == cw.filter(pl.col("account") >= 0)["amount"].sum()
        assert (a["margin"] == a["revenue"] - a["direct_cost"] - a["allocated_cost"]).all()
        members = set(li.filter(pl.col("day") <= d)["account"].to_list()) | set(
            co.filter((pl.col("day") <= d) & (pl.col("account") >= 0))["account"].to_list()
        )
        assert a["account"].to_list() == sorted(members)
        scored = a.filter(pl.col("r_score").is_not_null())
        assert scored.height == a.filter(pl.col("rfm_segment") != "No Purchase").height
        assert scored["r_score"].is_between(1, 5).all()


def test_input_errors_are_data_errors():
    with pytest.raises(DataError, match="line_items: missing column 'day'"):
        score(pl.DataFrame({"account": [0], "amount": [1]}), n_accounts=1, as_of=1)
    with pytest.raises(DataError, match="unknown column"):
        score(pl.DataFrame({"account": [0], "day": [1], "amount": [1], "sku": [1]}), n_accounts=1, as_of=1)
    with pytest.raises(DataError, match="row 1: account index 7 out of range"):
        score(pl.DataFrame({"account": [0, 7], "day": [1, 1], "amount": [1, 1]}), n_accounts=2, as_of=1)
    with pytest.raises(DataError, match="line_items.amount: null at row 0"):
        score(pl.DataFrame({"account": [0], "day": [1], "amount": [None]}, schema_overrides={"amount": pl.Int64}), n_accounts=1, as_of=1)
    with pytest.raises(DataError, match="line_items.amount: expected integers or dates, got Float64"):
        score(pl.DataFrame({"account": [0], "day": [1], "amount": [1.5]}), n_accounts=1, as_of=1)
    with pytest.raises(DataError, match="costs.category, row 0"):
        score(None, pl.DataFrame({"account": [0], "day": [1], "category": [3], "amount": [1]}), n_accounts=1, as_of=1)


def test_config_errors():
    with pytest.raises(ConfigError, match=r"scoring\.rfm\.window_days: expected a positive integer, got -3"):
        score(None, n_accounts=0, as_of=1, config='{"rfm": {"window_days": -3}}')


def test_binding_rejects_wrong_dtypes_and_lengths():
    ok = {"account": np.zeros(2, np.uint32), "day": np.zeros(2, np.int32), "amount": np.zeros(2, np.int64)}
    bad = dict(ok, amount=np.zeros(2, np.float64))
    with pytest.raises(_core.ScoreInputError, match="line_items.amount"):
        _core.score_columns(bad, {}, {}, {}, 1, [], [], 0, "{}")
    short = dict(ok, day=np.zeros(1, np.int32))
    with pytest.raises(_core.ScoreInputError, match="column line_items.day: 1 rows, expected 2"):
        _core.score_columns(short, {}, {}, {}, 1, [], [], 0, "{}")


def test_gil_is_released_during_scoring():
    n = 2_000_000
    rng = np.random.default_rng(1)
    li = {
        "account": rng.integers(0, 200_000, n).astype(np.uint32),
        "day": rng.integers(0, 1000, n).astype(np.int32),
        "amount": rng.integers(-100, 10_000, n),
        "invoice_key": rng.integers(0, 2**62, n),
    }
    counter = [0]
    done = threading.Event()

    def spin():
        while not done.is_set():
            counter[0] += 1

    t = threading.Thread(target=spin)
    t.start()
    try:
        time.sleep(0.05)
        before = counter[0]
        t0 = time.perf_counter()
        _core.score_columns(li, {}, {}, {}, 200_000, [], [], 999, "{}")
        elapsed = time.perf_counter() - t0
        progressed = counter[0] - before
    finally:
        done.set()
        t.join()
    # With the GIL held for the whole call the other thread could not count at all.
    assert elapsed > 0.02
    assert progressed > 1000


def test_result_columns_cover_every_field():
    out = _core.score_columns({}, {}, {}, {}, 0, [], [], 0, "{}")
    assert set(out) == {"as_of_day", "columns", "labels", "pools", "timings"}
    assert list(out["columns"]) == [
        "account", "recency_days", "frequency", "monetary", "r_score", "f_score", "m_score",
        "rfm_segment", "rfm5_segment", "revenue", "direct_cost", "allocated_cost", "margin",
        "margin_pct", "quadrant", "churn_risk", "churn_band", "churn_reasons", "health",
        "health_band", "lifecycle", "tier", "size_band",
    ]  # fmt: skip
    assert out["labels"]["rfm_segment"][0] == "No Purchase"
    assert NULL_I64 == np.iinfo(np.int64).min


def test_scratch_memory_can_be_released():
    n = 300_000
    rng = np.random.default_rng(3)
    li = {
        "account": rng.integers(0, 1000, n).astype(np.uint32),
        "day": rng.integers(0, 100, n).astype(np.int32),
        "amount": rng.integers(1, 100, n),
    }
    _core.score_columns(li, {}, {}, {}, 1000, [], [], 99, "{}")
    assert _core.release_scoring_memory() > 0
    assert _core.release_scoring_memory() == 0
