"""Cohorts: first-purchase cohorts × periods since, computed in the core, checked against a
plain-Python reference on random worlds."""

from __future__ import annotations

import datetime as dt
import json
import random
from collections import defaultdict
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from segtui import _core, history
from segtui.cli import cli
from segtui.errors import ConfigError
from test_history_support import day, write_line_items


def reference(lines: list[tuple[int, int, int, int]], as_of: int, by: str) -> dict:
    """(account, day, amount, invoice_key) -> {(cohort label, period): (size, active, revenue)}."""

    def pidx(d: int) -> tuple[int, str]:
        date = dt.date(1970, 1, 1) + dt.timedelta(days=d)
        if by == "month":
            return date.year * 12 + date.month - 1, f"{date.year:04d}-{date.month:02d}"
        q = (date.month - 1) // 3
        return date.year * 4 + q, f"{date.year:04d}-Q{q + 1}"

    groups: dict[tuple, list] = defaultdict(list)
    for acc, d, amount, inv in lines:
        if d <= as_of:
            groups[(acc, inv if inv else ("day", d))].append((d, amount))
    purchases: dict[int, list[int]] = defaultdict(list)
    for (acc, _), rows in groups.items():
        if sum(a for _, a in rows) > 0:
            purchases[acc].append(min(d for d, _ in rows))
    cohort = {acc: pidx(min(ds)) for acc, ds in purchases.items()}
    size: dict[str, int] = defaultdict(int)
    for c in cohort.values():
        size[c[1]] += 1
    active: dict[tuple, set] = defaultdict(set)
    for acc, ds in purchases.items():
        for d in ds:
            active[(cohort[acc][1], pidx(d)[0] - cohort[acc][0])].add(acc)
    revenue: dict[tuple, int] = defaultdict(int)
    for acc, d, amount, _ in lines:
        if d <= as_of and acc in cohort and pidx(d)[0] >= cohort[acc][0]:
            revenue[(cohort[acc][1], pidx(d)[0] - cohort[acc][0])] += amount
    out = {}
    last = pidx(as_of)[0]
    for acc, (ci, label) in cohort.items():
        for p in range(last - ci + 1):
            out[(label, p)] = (size[label], len(active.get((label, p), ())), revenue.get((label, p), 0))
    return out


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 100_000),
    n_lines=st.integers(0, 200),
    by=st.sampled_from(["month", "quarter"]),
)
def test_core_matches_reference(seed: int, n_lines: int, by: str) -> None:
    rng = random.Random(seed)
    n_acc = 15
    start = day("2024-01-01")
    lines = [
        (
            rng.randrange(n_acc),
            start + rng.randrange(500),
            rng.choice([rng.randint(1, 5000), -rng.randint(1, 3000), 0]),
            rng.choice([0, 0, rng.randint(1, 30)]),
        )
        for _ in range(n_lines)
    ]
    as_of = start + rng.randrange(550)
    cols = list(zip(*lines)) if lines else [(), (), (), ()]
    r = _core.cohorts_columns(
        np.array(cols[0], dtype=np.uint32), np.array(cols[1], dtype=np.int32),
        np.array(cols[2], dtype=np.int64), np.array(cols[3], dtype=np.int64), n_acc, as_of, by,
    )
    got = {}
    period = np.frombuffer(r["period"], dtype=np.int32)
    accounts = np.frombuffer(r["accounts"], dtype=np.int64)
    active = np.frombuffer(r["active"], dtype=np.int64)
    revenue = np.frombuffer(r["revenue"], dtype=np.int64)
    for i, c in enumerate(r["cohort"]):
        got[(c, int(period[i]))] = (int(accounts[i]), int(active[i]), int(revenue[i]))
    assert got == reference(lines, as_of, by)


def test_store_cohorts_and_command(db_path: Path) -> None:
    write_line_items(
        db_path,
        [
            ("a", "2025-01-05", 1000, "INV1"),
            ("a", "2025-01-05", 500, "INV1"),
            ("a", "2025-03-02", 300, "INV2"),
            ("b", "2025-01-20", 800, None),
            ("b", "2025-02-03", 400, None),
            ("c", "2025-02-01", 200, "INV3"),
            ("c", "2025-02-10", -200, "INV3"),  # fully refunded: no purchase
            ("d", "2025-02-11", 50, None),
        ],
    )
    df, summary = history.cohorts(db_path)
    assert summary["as_of"] == dt.date(2025, 3, 2) and summary["no_purchase_accounts"] == 1
    jan = df.filter(df["cohort"] == "2025-01")
    assert jan["period"].to_list() == [0, 1, 2]
    assert jan["accounts"].to_list() == [2, 2, 2]
    assert jan["active"].to_list() == [2, 1, 1]
    assert jan["logo_retention"].to_list() == [1.0, 0.5, 0.5]
    assert jan["revenue"].to_list() == [2300, 400, 300]
    assert jan["revenue_retention"].to_list() == [1.0, 400 / 2300, 300 / 2300]
    assert jan["complete"].to_list() == [True, True, False]
    feb = history.cohorts(db_path, as_of="2025-02-28")[0].filter(pl.col("cohort") == "2025-02")
    assert feb.select("period", "accounts", "active", "revenue").rows() == [(0, 1, 1, 50)]

    mat = history.cohort_matrix(df, "logo")
    assert mat.columns == ["cohort", "accounts", "0", "1", "2"]
    assert mat.row(0) == ("2025-01", 2, 100.0, 50.0, 50.0)
    assert mat.row(1) == ("2025-02", 1, 100.0, 0.0, None)
    rev = history.cohort_matrix(df, "revenue")
    assert rev.row(0) == ("2025-01", 2, 100.0, 17.4, 13.0)

    r = CliRunner().invoke(cli, ["--db", str(db_path), "cohorts", "--format", "json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert rows[0] == {
        "cohort": "2025-01", "period": 0, "complete": True, "accounts": 2, "active": 2,
        "logo_retention": 1.0, "revenue": 23.0, "revenue_retention": 1.0,
    }
    r = CliRunner().invoke(cli, ["--db", str(db_path), "cohorts", "--by", "quarter"])
    assert r.exit_code == 0
    assert r.stdout.splitlines()[0].split() == ["cohort", "accounts", "0"]
    assert "2025-Q1" in r.stdout
    assert "cohorts by quarter as of 2025-03-02" in r.stderr


def test_empty_store_and_bad_options(db_path: Path) -> None:
    from segtui.store import open_store

    open_store(db_path, create=True).close()
    df, summary = history.cohorts(db_path)
    assert df.height == 0
    assert history.cohort_matrix(df).height == 0
    with pytest.raises(ConfigError):
        history.cohorts(db_path, by="year")
    with pytest.raises(ConfigError):
        history.cohorts(db_path, as_of="31/12/2025")
