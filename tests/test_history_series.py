"""Snapshot series: every series snapshot equals the single-date run for its date.

At the binding level here (random worlds through ``_core.score_series_columns`` against
``_core.score_columns``); the Rust tests do the same on the engine's structs for every mode,
window and cost driver, and the store-level test checks ``segtui score --every``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segtui import _core

DAY0 = 20_000
KINDS = ["login", "create_task", "support_ticket", "payment_failed"]
CATS = ["hosting", "support"]


def world(seed: int, n: int, lines: int) -> tuple:
    rng = np.random.default_rng(seed)
    inv = rng.integers(0, max(1, lines // 3), lines)
    li = {
        "account": rng.integers(0, n, lines).astype(np.uint32),
        "day": (DAY0 + rng.integers(0, 400, lines)).astype(np.int32),
        "amount": np.where(rng.random(lines) < 0.1, -rng.integers(1, 3000, lines), rng.integers(0, 5000, lines)).astype(np.int64),
        "invoice_key": np.where(rng.random(lines) < 0.1, 0, inv + 1).astype(np.int64),
    }
    # invoices keep their lines on one account and mostly on one day, as exports do
    first = {}
    for i, k in enumerate(inv):
        if k in first and rng.random() < 0.85:
            li["account"][i], li["day"][i] = li["account"][first[k]], li["day"][first[k]]
        first.setdefault(k, i)
    nc = lines // 3
    co = {
        "account": np.where(rng.random(nc) < 0.3, -1, rng.integers(0, n, nc)).astype(np.int64),
        "day": (DAY0 + rng.integers(0, 400, nc)).astype(np.int32),
        "category": rng.integers(0, len(CATS), nc).astype(np.uint32),
        "amount": rng.integers(0, 900, nc).astype(np.int64),
    }
    ne = lines // 2
    ev = {
        "account": rng.integers(0, n, ne).astype(np.uint32),
        "day": (DAY0 + rng.integers(0, 400, ne)).astype(np.int32),
        "kind": rng.integers(0, len(KINDS), ne).astype(np.uint32),
    }
    ac = {
        "mrr": np.where(rng.random(n) < 0.5, np.iinfo(np.int64).min, rng.integers(0, 90_000, n)).astype(np.int64),
        "renewal_day": (DAY0 + rng.integers(0, 450, n)).astype(np.int32),
    }
    return li, co, ev, ac, n, CATS, KINDS


def same(a: dict, b: dict) -> None:
    assert a["as_of_day"] == b["as_of_day"]
    assert a["pools"] == b["pools"]
    assert a["labels"] == b["labels"]
    for name, col in a["columns"].items():
        x = np.frombuffer(col, dtype=col.dtype)
        y = np.frombuffer(b["columns"][name], dtype=col.dtype)
        if col.dtype == "float64":
            assert np.array_equal(x, y, equal_nan=True), name
        else:
            assert np.array_equal(x, y), name


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 60),
    lines=st.integers(0, 600),
    config=st.sampled_from(
        [
            {},
            {"rfm": {"window_days": 90}},
            {"mode": "saas"},
            {"costs": {"default_driver": "line_items"}},
            {"costs": {"drivers": {"support": "events:support_ticket"}}},
        ]
    ),
    days=st.lists(st.integers(DAY0 - 20, DAY0 + 450), min_size=1, max_size=8, unique=True).map(sorted),
)
def test_series_equals_single_runs(seed: int, n: int, lines: int, config: dict, days: list[int]) -> None:
    w = world(seed, n, lines)
    cfg = json.dumps(config)
    got = _core.score_series_columns(*w, days, cfg)
    assert [r["as_of_day"] for r in got] == days
    for r, d in zip(got, days):
        same(r, _core.score_columns(*w, d, cfg))


def test_callback_receives_each_result_in_order() -> None:
    w = world(1, 20, 200)
    seen: list[int] = []
    out = _core.score_series_columns(*w, [DAY0 + 10, DAY0 + 40, DAY0 + 70], "{}", lambda r: seen.append(r["as_of_day"]))
    assert out == [] and seen == [DAY0 + 10, DAY0 + 40, DAY0 + 70]


def test_bad_input_is_the_engines_error() -> None:
    li, co, ev, ac, n, cats, kinds = world(2, 10, 50)
    with pytest.raises(ValueError, match="ascending"):
        _core.score_series_columns(li, co, ev, ac, n, cats, kinds, [DAY0 + 5, DAY0], "{}")
    with pytest.raises(_core.ScoreConfigError):
        _core.score_series_columns(li, co, ev, ac, n, cats, kinds, [DAY0], '{"rfm": {"window_days": -1}}')
    with pytest.raises(_core.ScoreInputError, match="unknown column"):
        _core.score_series_columns({**li, "price": li["amount"]}, co, ev, ac, n, cats, kinds, [DAY0], "{}")
    li["account"][0] = 99
    with pytest.raises(_core.ScoreInputError, match="out of range"):
        _core.score_series_columns(li, co, ev, ac, n, cats, kinds, [DAY0 + 500], "{}")
