"""How figures look on screen: exact money, percentages, signed changes, text bars.

Money arrives as integer minor units and is formatted with integer arithmetic (never through a
float), with thousands separators on screen and without them when copied. Nothing depends on the
locale. Signs are always written out (a figure never relies on colour alone).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

MINUS = "-"


def money(v: int | None, *, sep: bool = True, scale: int = 2) -> str:
    """``1234550`` -> ``12,345.50`` (``sep=False``: ``12345.50``); None -> ``""``."""
    if v is None:
        return ""
    v = int(v)
    unit = 10**scale
    q, r = divmod(abs(v), unit)
    whole = f"{q:,}" if sep else str(q)
    sign = MINUS if v < 0 else ""
    return f"{sign}{whole}.{r:0{scale}d}" if scale else f"{sign}{whole}"


def money_short(v: int | None, scale: int = 2) -> str:
    """Compact money for tight places: ``12.3k``, ``4.56M`` (display only, never exported)."""
    if v is None:
        return ""
    x = abs(int(v)) / 10**scale
    sign = MINUS if v < 0 else ""
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if x >= limit:
            return f"{sign}{x / limit:.3g}{suffix}"
    return f"{sign}{x:.2f}"


def integer(v: int | None) -> str:
    return "" if v is None else f"{int(v):,}"


def signed(v: int | None) -> str:
    if v is None:
        return ""
    v = int(v)
    return f"+{v:,}" if v > 0 else f"{MINUS}{-v:,}" if v < 0 else "0"


def signed_money(v: int | None) -> str:
    if v is None:
        return ""
    return ("+" if v > 0 else "") + money(v)


def pct(fraction: float | None, digits: int = 1) -> str:
    """``0.1234`` -> ``12.3 %``; None or NaN -> ``""``."""
    if fraction is None or (isinstance(fraction, float) and math.isnan(fraction)):
        return ""
    text = f"{fraction * 100:.{digits}f}"
    if text.startswith("-") and not text.strip("-0."):
        text = text[1:]  # a tiny negative share is not "-0.0 %"
    return f"{text} %"


def mean(v: float | None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return f"{v:.1f}"


def date(v: dt.date | int | None) -> str:
    if v is None:
        return ""
    if isinstance(v, int):
        v = dt.date(1970, 1, 1) + dt.timedelta(days=v)
    return v.isoformat()


def bar(fraction: float | None, width: int) -> str:
    """A horizontal bar of ``width`` cells for a fraction in [0, 1], in eighths of a cell."""
    if fraction is None or width <= 0 or fraction <= 0:
        return ""
    eighths = round(min(fraction, 1.0) * width * 8)
    full, part = divmod(eighths, 8)
    return "█" * full + ("", "▏", "▎", "▍", "▌", "▋", "▊", "▉")[part]


# kind -> (formatter for the screen, right-aligned?)
KINDS: dict[str, tuple[Any, bool]] = {
    "text": (lambda v: "" if v is None else str(v), False),
    "int": (integer, True),
    "money": (money, True),
    "signed": (signed, True),
    "signed_money": (signed_money, True),
    "pct": (pct, True),
    "pct0": (lambda v: pct(v, 0).replace(" ", ""), True),
    "mean": (mean, True),
    "date": (date, True),
    "bool": (lambda v: "yes" if v else "", False),
    "plain_int": (lambda v: "" if v is None else str(v), True),
}


def plain(v: Any, kind: str) -> str:
    """A cell's value as copied (``y``): no separators, exact money, ISO dates."""
    if v is None:
        return ""
    if kind in ("money", "signed_money"):
        return money(v, sep=False)
    if kind in ("pct", "pct0"):
        return pct(v, 2).replace(" ", "")
    if kind == "date":
        return date(v)
    if kind == "bool":
        return "true" if v else "false"
    return str(v)
