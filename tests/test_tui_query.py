"""The table filter language, sorting, and how figures are written."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from segtui.tui import fmt
from segtui.tui.query import Col, FilterError, apply, filter_expr, parse_value

COLS = [
    Col("account_key", "account"), Col("name", "name"), Col("rfm_segment", "segment"),
    Col("revenue", "revenue", "money"), Col("margin_pct", "margin %", "pct"), Col("churn_risk", "risk", "int"),
    Col("day", "as of", "date"),
]
FRAME = pl.DataFrame({
    "account_key": ["A1", "A2", "A3", "A4"],
    "name": ["Acme Corp", "Globex", "Initech", None],
    "rfm_segment": ["Champions", "At Risk", "Can't Lose Them", "Lost"],
    "revenue": [1_234_550, -4_900, 0, 99],
    "margin_pct": [0.95, None, -0.114, 0.5],
    "churn_risk": [5, 60, 80, 30],
    "day": [dt.date(2025, 6, 30), dt.date(2025, 1, 1), dt.date(2024, 12, 31), None],
}).with_columns(pl.col("rfm_segment").cast(pl.Categorical))


def keys(text: str, sort=None) -> list[str]:  # noqa: ANN001
    return apply(FRAME, COLS, sort=sort, text=text)["account_key"].to_list()


@pytest.mark.parametrize(("text", "expected"), [
    ("", ["A1", "A2", "A3", "A4"]),
    ("revenue<0", ["A2"]),
    ("revenue>=12345.50", ["A1"]),
    ("revenue>12345.5", []),
    ("revenue=0.99", ["A4"]),
    ("revenue=-49", ["A2"]),
    ("margin_pct<0", ["A3"]),
    ("margin%<10", ["A3"]),
    ("risk>=60", ["A2", "A3"]),
    ("risk>=30 risk<70", ["A2", "A4"]),
    ('segment="can\'t lose them"', ["A3"]),
    ("segment!=lost", ["A1", "A2", "A3"]),
    ("name~CORP", ["A1"]),
    ("acme", ["A1"]),
    ("at", ["A2"]),  # text search: "At Risk"
    ("as_of<2025-01-01", ["A3"]),
    ("Risk>50 tech", ["A3"]),
])
def test_filters(text: str, expected: list[str]) -> None:
    assert keys(text) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("wobble<3", "no column 'wobble'"),
    ("name<b", "name is text; use =, != or ~"),
    ("revenue<abc", "revenue: 'abc' is not a number"),
    ("revenue<1.005", "more than 2 decimals"),
    ("risk>1.5", "not a whole number"),
    ("as_of>yesterday", "is not a date"),
    ("risk>", "nothing after >"),
    ('name="unclosed', "cannot read the filter"),
])
def test_filter_errors_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(FilterError, match=message.replace("(", r"\(")):
        filter_expr(text, COLS, FRAME.schema)


def test_sort_keeps_nulls_last_both_ways() -> None:
    assert keys("", ("margin_pct", True)) == ["A1", "A4", "A3", "A2"]
    assert keys("", ("margin_pct", False)) == ["A3", "A4", "A1", "A2"]
    assert keys("", ("name", False)) == ["A1", "A2", "A3", "A4"]
    assert keys("", ("rfm_segment", False)) == ["A2", "A3", "A1", "A4"]  # categorical sorts as text


def test_parse_money_is_exact() -> None:
    col = Col("m", "m", "money")
    assert parse_value(col, "0.1") == 10 and parse_value(col, "-1,234.56") == -123456
    assert parse_value(col, "92233720368547758.07") == 9223372036854775807


@pytest.mark.parametrize(("minor", "text", "plain"), [
    (0, "0.00", "0.00"), (5, "0.05", "0.05"), (-5, "-0.05", "-0.05"), (123456789, "1,234,567.89", "1234567.89"),
    (-100, "-1.00", "-1.00"), (9223372036854775807, "92,233,720,368,547,758.07", "92233720368547758.07"),
])
def test_money_formatting(minor: int, text: str, plain: str) -> None:
    assert fmt.money(minor) == text
    assert fmt.plain(minor, "money") == plain


def test_other_formats() -> None:
    assert fmt.pct(0.1234) == "12.3 %" and fmt.pct(-0.0001) == "0.0 %" and fmt.pct(None) == ""
    assert fmt.pct(float("nan")) == ""
    assert fmt.signed(3) == "+3" and fmt.signed(-1200) == "-1,200" and fmt.signed(0) == "0"
    assert fmt.bar(0.5, 10) == "█████" and fmt.bar(0.0625, 2) == "▏" and fmt.bar(0.5, 2) == "█" and fmt.bar(0, 10) == ""
    assert fmt.bar(0.55, 10) == "█████▌"
    assert fmt.date(20269) == "2025-06-30"
