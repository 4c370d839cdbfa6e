"""Exact money and strict dates, through the core, against Python's own Decimal and datetime."""

from __future__ import annotations

import calendar
import datetime as dt
from decimal import ROUND_HALF_EVEN, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segtui import _core


@given(st.decimals(min_value=Decimal("-1e15"), max_value=Decimal("1e15"), places=2, allow_nan=False, allow_infinity=False))
@settings(max_examples=300, deadline=None)
def test_money_is_exact(d: Decimal) -> None:
    assert _core.parse_money(f"{d:.2f}", 2) == int(d * 100)
    assert _core.parse_money(f"{d:.4f}", 2) == int(d * 100)


@given(st.decimals(min_value=Decimal("-1e9"), max_value=Decimal("1e9"), places=6, allow_nan=False, allow_infinity=False))
@settings(max_examples=300, deadline=None)
def test_rounding_is_half_even(d: Decimal) -> None:
    expected = int((d * 100).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
    assert _core.parse_money(f"{d:.6f}", 2, round=True) == expected


@pytest.mark.parametrize("text", ["1,234.50", "12.505", "$5", "1e3", "", "abc", "12 3", "--1"])
def test_money_refused(text: str) -> None:
    with pytest.raises(ValueError):
        _core.parse_money(text, 2)


def test_money_scales() -> None:
    assert _core.parse_money("1500", 0) == 1500
    assert _core.parse_money("1.234", 3) == 1234
    assert _core.parse_money("(4.20)", 2) == -420
    with pytest.raises(ValueError):
        _core.parse_money("1500.5", 0)


@given(st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2199, 12, 31, 23, 59, 59)))
@settings(max_examples=300, deadline=None)
def test_iso_datetimes_match_python(t: dt.datetime) -> None:
    t = t.replace(microsecond=0)
    day, ts = _core.parse_date(t.isoformat())
    assert ts == calendar.timegm(t.timetuple())
    assert day == (t.date() - dt.date(1970, 1, 1)).days
    # an offset moves ts to UTC and keeps the day as written
    aware = t.replace(tzinfo=dt.timezone(dt.timedelta(hours=-5, minutes=-30)))
    day2, ts2 = _core.parse_date(aware.isoformat())
    assert day2 == day and ts2 == int(aware.timestamp())


@given(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2199, 12, 31)))
@settings(max_examples=200, deadline=None)
def test_explicit_formats(d: dt.date) -> None:
    days = (d - dt.date(1970, 1, 1)).days
    assert _core.parse_date(f"{d.day:02d}/{d.month:02d}/{d.year}", "%d/%m/%Y")[0] == days
    assert _core.parse_date(f"{d.month}/{d.day}/{d.year} 8:26", "mm/dd/yyyy HH:MM") == (days, days * 86400 + 8 * 3600 + 26 * 60)


@pytest.mark.parametrize("text", ["05/03/2024", "12/1/2010 8:26", "20240305", "5.3.2024"])
def test_ambiguous_dates_are_errors(text: str) -> None:
    with pytest.raises(ValueError, match="ambiguous_date"):
        _core.parse_date(text)


@pytest.mark.parametrize("text", ["2023-02-29", "2024-04-31", "2024-03-05T25:00", "0001-01-01", "yesterday", "1709649000000"])
def test_impossible_dates_are_errors(text: str) -> None:
    with pytest.raises(ValueError, match="bad_date"):
        _core.parse_date(text)


def test_date_formats() -> None:
    assert _core.check_date_format("iso") == "auto"
    assert _core.check_date_format("epoch_ms") == "epoch_ms"
    assert _core.check_date_format("%d/%m/%Y") == "%d/%m/%Y"
    for bad in ["%Y-%m", "%Q", "dd/mm", "HH:mm dd/MM/yyyy"]:
        with pytest.raises(_core.ImportUsageError):
            _core.check_date_format(bad)
    assert _core.parse_date("1709649000123", "epoch_ms") == (19787, 1709649000)


def test_invoice_keys_are_stable() -> None:
    assert _core.invoice_key(None) == 0
    assert _core.invoice_key("  ") == 0
    assert _core.invoice_key("536365") == _core.invoice_key(" 536365 ") != _core.invoice_key("C536365")
    # pinned: changing the hash would silently re-key every store
    assert _core.invoice_key("536365") == 214885529551039929
    assert isinstance(_core.invoice_key("x"), int) and -(2**63) <= _core.invoice_key("x") < 2**63
