"""Day numbers: the store and the core count days since 1970-01-01 (the calendar date as written
in the export). A light module, so commands that only need dates import nothing heavy."""

from __future__ import annotations

from datetime import date, timedelta

EPOCH = date(1970, 1, 1)


def day_to_date(day: int) -> date:
    """The calendar date of a day number."""
    return EPOCH + timedelta(days=int(day))


def date_to_day(d: date) -> int:
    """The day number of a calendar date."""
    return (d - EPOCH).days
