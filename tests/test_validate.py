"""segtui validate: AUC, horizon outcomes, reconciliation on a demo store, the command line."""

from __future__ import annotations

import io
import json
import sqlite3
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segtui.cli import main
from segtui.demo import build_demo_store
from segtui.errors import ConfigError, DataError
from segtui.validate import ALL, auc, horizon_outcomes, parse_horizon, validate_store

EPOCH = date(1970, 1, 1)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.booleans()), min_size=1, max_size=40))
def test_auc_is_the_share_of_correctly_ordered_pairs(pairs: list[tuple[int, bool]]) -> None:
    scores = np.array([s for s, _ in pairs], dtype=float)
    pos = np.array([p for _, p in pairs])
    got = auc(scores, pos)
    P, N = scores[pos], scores[~pos]
    if len(P) == 0 or len(N) == 0:
        assert got is None
        return
    want = sum((p > n) + 0.5 * (p == n) for p in P for n in N) / (len(P) * len(N))
    assert got == pytest.approx(want, abs=1e-12)


def test_auc_extremes() -> None:
    assert auc(np.array([3.0, 2, 1, 0]), np.array([True, True, False, False])) == 1.0
    assert auc(np.array([0.0, 1, 2, 3]), np.array([True, True, False, False])) == 0.0
    assert auc(np.array([1.0, 1, 1, 1]), np.array([True, False, True, False])) == 0.5


def test_horizon_outcomes_count_purchases_inside_the_horizon_only() -> None:
    d, h = 100, 10
    li = {
        # account, day, amount, invoice_key
        "account": np.array([0, 0, 1, 1, 2, 2, 3, 4, 5, 5], dtype=np.uint32),
        "day": np.array([101, 105, 102, 103, 100, 111, 110, 104, 106, 107], dtype=np.int32),
        "amount": np.array([500, -100, 300, -300, 900, 900, 50, -20, 40, -10], dtype=np.int64),
        "invoice_key": np.array([7, 7, 8, 8, 9, 9, 0, 0, 0, 0], dtype=np.int64),
    }
    out = horizon_outcomes(li, d, h).sort("account")
    # 0: invoice nets 400 > 0; 1: invoice nets 0; 2: lines on D and D+11 are outside;
    # 3: account-day on D+10 (the last day of the horizon); 4: a refund only;
    # 5: two account-days, one positive.
    assert out.rows() == [(0, 400, True), (1, 0, False), (3, 50, True), (4, -20, False), (5, 30, True)]


def test_parse_horizon() -> None:
    assert [parse_horizon(x) for x in ("30d", "30", "4w", "90 days", " 2 weeks ")] == [30, 30, 28, 90, 14]
    for bad in ("0d", "3m", "-1", "x"):
        with pytest.raises(ConfigError):
            parse_horizon(bad)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_demo_store(tmp_path_factory.mktemp("val") / "demo.db", accounts=300, seed=5)


def horizon_sql(db: Path, as_of: date, h: int) -> tuple[int, set[int]]:
    d = (as_of - EPOCH).days
    with sqlite3.connect(db) as c:
        total = c.execute("SELECT coalesce(sum(amount), 0) FROM line_items WHERE day > ? AND day <= ? AND account IN "
                          "(SELECT DISTINCT account FROM line_items WHERE day <= ? UNION SELECT DISTINCT account FROM costs "
                          "WHERE account IS NOT NULL AND day <= ?)", (d, d + h, d, d)).fetchone()[0]
        buyers = {
            r[0] for r in c.execute(
                "SELECT account FROM line_items WHERE day > ? AND day <= ? "
                "GROUP BY account, invoice_key, CASE WHEN invoice_key = 0 THEN day END HAVING sum(amount) > 0",
                (d, d + h),
            )
        }
    return int(total), buyers


def test_validation_reconciles_with_the_store(store: Path) -> None:
    as_of = date(2025, 9, 30)
    v = validate_store(store, as_of=as_of, horizon="30d")
    seg = v.segments
    body = seg.filter(pl.col("segment") != ALL)
    all_row = seg.filter(pl.col("segment") == ALL).row(0, named=True)
    # rfm11 segments partition the accounts
    assert body.get_column("accounts").sum() == all_row["accounts"]
    assert body.get_column("revenue").sum() == all_row["revenue"]
    assert body.get_column("horizon_revenue").sum() == all_row["horizon_revenue"]
    assert all_row["size_share"] == 100.0 and all_row["revenue_share"] == 100.0
    total, buyers = horizon_sql(store, as_of, 30)
    assert all_row["horizon_revenue"] == total
    with sqlite3.connect(store) as c:
        members = {r[0] - 1 for r in c.execute(
            "SELECT DISTINCT account FROM line_items WHERE day <= ? UNION SELECT DISTINCT account FROM costs "
            "WHERE account IS NOT NULL AND day <= ?", ((as_of - EPOCH).days,) * 2)}
    kept = len({b - 1 for b in buyers} & members)
    assert all_row["retention"] == round(100 * kept / all_row["accounts"], 1)
    # churn figures are consistent with each other
    c = v.churn
    assert 0 < c.went_quiet < c.accounts <= all_row["accounts"]
    assert c.auc is not None and 0.0 <= c.auc <= 1.0
    assert v.bands.get_column("accounts").sum() == c.accounts
    assert v.bands.get_column("went_quiet").sum() == c.went_quiet
    high = v.bands.filter(pl.col("churn_band") == "high")
    assert c.high == (high.get_column("accounts").sum() if high.height else 0)
    assert v.horizon_end == as_of + timedelta(days=30)


@pytest.mark.parametrize("map_name", ["rfm5", "quadrant", "risk", "lifecycle", "primary"])
def test_every_map(store: Path, map_name: str) -> None:
    v = validate_store(store, as_of=date(2025, 9, 30), horizon="60d", map_name=map_name)
    body = v.segments.filter(pl.col("segment") != ALL)
    all_row = v.segments.filter(pl.col("segment") == ALL).row(0, named=True)
    if map_name != "quadrant":  # not every account has a quadrant
        assert body.get_column("accounts").sum() == all_row["accounts"]
    assert body.height >= 2


def test_custom_map_needs_custom_segments(store: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.toml"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(ConfigError, match="defines no"):
        validate_store(store, as_of=date(2025, 9, 30), map_name="custom", config_path=empty)
    cfg = tmp_path / "segtui.toml"
    cfg.write_text("[segments.Quiet]\nrule = 'not did \"login\" in 30d'\n[segments.Big]\nrule = 'revenue > 1000'\n",
                   encoding="utf-8")
    v = validate_store(store, as_of=date(2025, 9, 30), map_name="custom", config_path=cfg)
    assert v.segments.get_column("segment").to_list() == ["Quiet", "Big", ALL]


def test_a_horizon_past_the_data_is_refused(store: Path) -> None:
    with pytest.raises(DataError, match="runs past the last line item"):
        validate_store(store, as_of=date(2025, 12, 15), horizon="30d")
    v = validate_store(store, horizon="30d")  # default: the latest date with a full horizon
    assert v.as_of == v.last_day - timedelta(days=30)


def test_command_line_table_json_and_csv(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def run(*args: str) -> tuple[str, str]:
        with pytest.raises(SystemExit) as e:
            main(["--db", str(store), "validate", "--as-of", "2025-09-30", *args])
        assert e.value.code == 0
        out = capsys.readouterr()
        return out.out, out.err

    out, _ = run()
    assert "AUC of the churn-risk score:" in out and "high band:" in out and "(all accounts)" in out
    out, _ = run("--format", "json")
    doc = json.loads(out)
    assert set(doc) == {"as_of", "horizon_days", "last_line_item", "map", "churn", "bands", "segments"}
    assert doc["churn"]["auc"] is not None and doc["segments"][-1]["segment"] == ALL
    out, err = run("--format", "csv", "--horizon", "8w")
    assert "AUC" in err and pl.read_csv(io.StringIO(out)).columns[:3] == ["segment", "accounts", "size_share"]
