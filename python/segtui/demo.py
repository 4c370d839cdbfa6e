"""The demo world and the demo store.

``generate_world`` makes a deterministic, realistic data set for a B2B SaaS company over the two
years that end on a fixed date: firmographics, invoices with line items and credit notes, direct
and pooled costs, and product events. Everything is vectorised with numpy over chunks of accounts,
so a million accounts with ten million line items take about a minute on a laptop-class machine.

The world is made of customer *trajectories*, so the scoring has something real to find:

- ``steady``, ``grow`` and ``shrink`` accounts buy at a rate that stays, rises or falls over the
  two years (seats follow the same curve, so growers end near their plan's seat limit);
- ``churn`` accounts go quiet at a churn date after a decline of 45-120 days: product use falls
  first and furthest, purchases fall less (the base subscription goes on to the end), and support
  tickets, failed payments and refunds rise on the way out. A few of them are about to churn at a
  renewal just after the end date: well into the decline, still buying;
- ``return`` accounts pause for two to eight months, then come back;
- ``never`` accounts signed up, were onboarded (a direct cost) and used the product for a while,
  but never bought anything.

Purchase activity is Pareto-skewed (a per-account purchase weight with a heavy tail, times seats
that follow the heavy-tailed employee counts), has weekly seasonality (weekdays busy, weekends
quiet) and annual seasonality (a year-end budget peak, an August dip).

``build_demo_store`` writes the world to files in the importer's ``generic`` column names and
imports them, exactly as a user would, into a store marked as a demo store.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import sqlite3
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from segtui.dates import date_to_day

__all__ = [
    "END",
    "DEMO_DENSITY",
    "World",
    "generate_world",
    "write_world",
    "build_demo_store",
    "demo_params",
    "demo_store_params",
    "ensure_demo_store",
    "DemoBuild",
]

#: The last day of the default demo world (fixed, so the demo is reproducible).
END = dt.date(2025, 12, 31)
#: Bumped whenever the generator's output changes for the same parameters.
GENERATOR_VERSION = 3
#: Accounts are generated in chunks of this many (fixed, so the output never depends on memory).
ACCOUNT_CHUNK = 1 << 16
CURRENCY = "USD"
#: Per-account densities of the demo store and of the bundled files in ``data/demo``: richer than
#: the generator's defaults (which are the benchmark shape), so that every screen has material.
DEMO_DENSITY: dict[str, float] = {"lines_per_account": 24.0, "events_per_account": 100.0, "cost_rows_per_account": 3.0}

_FAR = 10**7  # "never" as a day number

# ----------------------------------------------------------------------------------------------
# Catalogues
# ----------------------------------------------------------------------------------------------

TRAJECTORIES = ["steady", "grow", "shrink", "churn", "return", "never"]
_STEADY, _GROW, _SHRINK, _CHURN, _RETURN, _NEVER = range(6)
_TRAJECTORY_P = [0.38, 0.15, 0.12, 0.22, 0.10, 0.03]

INDUSTRIES = [
    ("Software", 18), ("Professional Services", 12), ("Financial Services", 10), ("Manufacturing", 10),
    ("Healthcare", 9), ("Retail", 9), ("Education", 7), ("Media", 6), ("Logistics", 6),
    ("Real Estate", 5), ("Non-profit", 4), ("Public Sector", 4),
]
REGIONS = [("North America", 40), ("EMEA", 32), ("APAC", 18), ("LATAM", 10)]
PLANS = ["starter", "team", "business", "enterprise"]
_SEAT_LIMIT = np.array([10, 50, 250, 0], dtype=np.int64)  # enterprise: set per account

# (sku, description, list price in cents, quantity kind); the first four are the plans' seats.
SKUS: list[tuple[str, str, int, str]] = [
    ("SEAT-STARTER", "Starter plan, per seat per month", 1200, "seats"),
    ("SEAT-TEAM", "Team plan, per seat per month", 2500, "seats"),
    ("SEAT-BUSINESS", "Business plan, per seat per month", 4500, "seats"),
    ("SEAT-ENTERPRISE", "Enterprise plan, per seat per month", 7000, "seats"),
    ("ADD-STORAGE", "Extra storage, 100 GB block", 2000, "blocks"),
    ("ADD-API", "API calls, 10k block", 800, "blocks"),
    ("INT-CONNECTOR", "Integration connector, monthly", 4900, "one"),
    ("SVC-TRAINING", "Training session, per attendee", 12000, "attendees"),
    ("SVC-HOURS", "Professional services, per hour", 18000, "hours"),
    ("ADD-SSO", "Single sign-on add-on, monthly", 15000, "one"),
    ("ADD-AUDIT", "Audit log add-on, monthly", 9900, "one"),
    ("SUP-PREMIUM", "Premium support, monthly", 30000, "one"),
    ("SVC-ONBOARD", "Onboarding package", 150000, "one"),
]
# add-on weights per plan, over SKUS[4:]
_ADDON_W = np.array([
    [30, 25, 25, 10, 5, 0, 0, 0, 5],
    [22, 22, 20, 12, 8, 6, 4, 2, 4],
    [16, 20, 14, 12, 12, 10, 8, 5, 3],
    [12, 18, 10, 12, 18, 10, 8, 10, 2],
], dtype=np.float64)
_QTY_KIND = np.array([["seats", "blocks", "one", "attendees", "hours"].index(k) for _, _, _, k in SKUS], dtype=np.int8)
_LIST_PRICE = np.array([p for _, _, p, _ in SKUS], dtype=np.int64)

EVENTS = ["login", "create_project", "create_task", "invite_team", "api_call",
          "integration_activated", "support_ticket", "payment_failed"]
CORE_FEATURES = ["create_project", "create_task", "invite_team", "api_call", "integration_activated"]
# rows: the four plans in normal use, then "declining before churn", then "quiet" (after churn, pause).
# A failed payment is a billing matter, not a usage one: rare in normal use, whatever the volume.
_EVENT_W = np.array([
    [50, 8, 30, 4, 2, 1.5, 3, 0.3],
    [44, 7, 30, 5, 7, 1.5, 3.5, 0.3],
    [38, 6, 28, 5, 16, 2, 4, 0.3],
    [34, 5, 25, 5, 24, 2, 4.5, 0.3],
    [58, 4, 22, 1, 8, 0.5, 6, 0.5],
    [80, 1, 6, 0, 3, 0, 6, 4],
], dtype=np.float64)
_EV_DECLINING, _EV_QUIET = 4, 5
_QUIET_RATE = 0.03  # product use during a pause, or just after a churn, relative to normal
# On the way out (the last `lead` days before a churn), with x falling from 1 to _USE_END: product
# use is x of normal; "distress" events (support tickets, failed payments) come on top at
# _DISTRESS * (1 - x) of the normal use rate, so they rise in absolute numbers as the churn
# nears; and purchases fall to _BUY_FLOOR + (1 - _BUY_FLOOR) * x of normal (add-ons and extra
# seats stop first, the base subscription goes on until the end).
_USE_END = 0.06
_DISTRESS = 0.5
_DISTRESS_TICKET = 0.65  # the rest are failed payments
_BUY_FLOOR = 0.2
_AFTER_CHURN_DAYS = 14  # a churned account logs in a little more (exporting its data), then never

COST_CATEGORIES = ["onboarding", "support", "compute", "storage"]
_POOLED_SHARE = {"compute": 0.07, "storage": 0.04, "support": 0.03}  # of net revenue

_NAME_A = [
    "Acme", "Apex", "Arc", "Aster", "Atlas", "Aurora", "Beacon", "Birch", "Blue", "Bright", "Cedar",
    "Cobalt", "Copper", "Crest", "Delta", "Ember", "Evergreen", "Falcon", "Fern", "Flint", "Granite",
    "Harbor", "Helix", "Horizon", "Indigo", "Iron", "Juniper", "Keystone", "Lark", "Lumen", "Maple",
    "Meridian", "Nimbus", "North", "Nova", "Oak", "Onyx", "Orbit", "Pine", "Pioneer", "Prism",
    "Quartz", "Raven", "Redwood", "River", "Sable", "Sage", "Silver", "Slate", "Spruce", "Summit",
    "Tidal", "True", "Vector", "Vertex", "Willow", "Zenith",
]
_NAME_B = [
    "Analytics", "Bio", "Cloud", "Data", "Dynamics", "Energy", "Foods", "Freight", "Health", "Home",
    "Insights", "Labs", "Learning", "Logic", "Media", "Metrics", "Motion", "Networks", "Outdoor",
    "Pay", "Point", "Robotics", "Security", "Signal", "Software", "Studio", "Supply", "Systems",
    "Tech", "Thread", "Works", "",
]
_NAME_C = ["Inc", "Ltd", "GmbH", "LLC", "Group", "Co", "SA", "BV", "AB", "Pty Ltd", "Partners", "Holdings"]

# random streams (the seed entropy is [seed, stream, chunk])
_S_ACCOUNTS, _S_PURCHASES, _S_EVENTS, _S_SUPPORT, _S_LINES, _S_EVENT_KINDS, _S_COSTS = range(1, 8)


@dataclass(frozen=True)
class World:
    """A generated world: four polars DataFrames in the importer's ``generic`` column names.

    Money columns are ``Decimal(18, 2)`` (exact; written as ``"12.50"``), line item and event times
    ``Datetime("us")``, cost days and account dates ``Date``. ``profiles`` is the ground truth
    behind the data (trajectory, churn and pause dates per account); it is not written to files.
    """

    accounts: pl.DataFrame
    line_items: pl.DataFrame
    costs: pl.DataFrame
    events: pl.DataFrame
    profiles: pl.DataFrame
    start: dt.date
    end: dt.date
    params: dict[str, Any] = field(default_factory=dict)


def _rng(seed: int, stream: int, chunk: int = 0) -> np.random.Generator:
    return np.random.default_rng([seed, stream, chunk])


def _cdf(weights: np.ndarray) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64)
    c = np.cumsum(w, axis=-1)
    return c / c[..., -1:]


def _pick(rng: np.random.Generator, weights: np.ndarray | list[float], size: int) -> np.ndarray:
    """Categorical draws by inverse CDF (much faster than ``rng.choice`` with ``p``)."""
    return np.searchsorted(_cdf(np.asarray(weights)), rng.random(size), side="right").astype(np.int64)


_PICK_BUCKETS = 1 << 16


def _pick_rows(rng: np.random.Generator, cdfs: np.ndarray, row: np.ndarray) -> np.ndarray:
    """Categorical draws where draw ``i`` uses the CDF ``cdfs[row[i]]``.

    A lookup table over 2**16 buckets of the unit interval gives the category at each bucket's
    start; since every category with a non-zero probability is wider than a bucket, at most one
    boundary falls inside a bucket, and one comparison finishes the draw exactly.
    """
    rows, k = cdfs.shape
    probs = np.diff(cdfs, axis=1, prepend=0.0)
    if ((probs > 0) & (probs <= 1.0 / _PICK_BUCKETS)).any():
        raise ValueError("category probabilities must be 0 or above 2**-16")
    starts = np.arange(_PICK_BUCKETS) / _PICK_BUCKETS
    table = np.stack([np.searchsorted(cdfs[r], starts, side="right") for r in range(rows)]).ravel()
    # the next category with a non-zero probability after each one
    nxt = np.empty((rows, k), dtype=np.int64)
    for r in range(rows):
        following = k - 1
        for i in range(k - 1, -1, -1):
            nxt[r, i] = following
            if probs[r, i] > 0:
                following = i
    u = rng.random(row.size)
    base = table[row * _PICK_BUCKETS + (u * _PICK_BUCKETS).astype(np.int64)]
    flat = row * k + base
    return np.where(u >= cdfs.ravel()[flat], nxt.ravel()[flat], base)


def _order(key: np.ndarray) -> np.ndarray:
    """Stable ascending order of an int64 key (ties keep their generation order)."""
    return pl.DataFrame({"k": key}).with_row_index("r").sort("k", maintain_order=True)["r"].to_numpy()


def _decimal(cents: np.ndarray, name: str) -> pl.Series:
    """Integer minor units -> an exact ``Decimal(18, 2)`` series, without going through floats."""
    c = np.ascontiguousarray(cents, dtype=np.int64)
    buf = np.empty(2 * c.size, dtype=np.int64)
    buf[0::2] = c
    buf[1::2] = np.where(c < 0, -1, 0)
    arr = pa.Array.from_buffers(pa.decimal128(18, 2), c.size, [None, pa.py_buffer(buf)])
    return pl.Series(name, arr)


def _dates(days: np.ndarray, epoch_day: int, name: str) -> pl.Series:
    return pl.Series(name, (np.asarray(days, dtype=np.int64) + epoch_day).astype(np.int32)).cast(pl.Date)


def _add_years(days: np.ndarray, years: np.ndarray, epoch_day: int) -> np.ndarray:
    """Day numbers (relative to ``epoch_day``) moved by whole calendar years (29 Feb -> 28 Feb)."""
    frame = pl.DataFrame({"d": _dates(days, epoch_day, "d"), "k": pl.Series(np.asarray(years, dtype=np.int64))})
    moved = frame.select(pl.col("d").dt.offset_by(pl.format("{}y", pl.col("k"))).cast(pl.Int32))["d"].to_numpy()
    return moved.astype(np.int64) - epoch_day


def _next_anniversary(signup: np.ndarray, target: np.ndarray, epoch_day: int) -> np.ndarray:
    """The first anniversary of ``signup`` (one year or more after it) on or after ``target``."""
    k = np.maximum(np.floor((target - signup) / 365.25).astype(np.int64), 1)
    first = _add_years(signup, k, epoch_day)
    return np.where(first < target, _add_years(signup, k + 1, epoch_day), first)


def _window(end: dt.date) -> tuple[dt.date, int]:
    """The two years that end on ``end``: (first day, number of days)."""
    try:
        first = end.replace(year=end.year - 2) + dt.timedelta(days=1)
    except ValueError:  # 29 February
        first = end - dt.timedelta(days=730)
    return first, (end - first).days + 1


# ----------------------------------------------------------------------------------------------
# Accounts and their trajectories
# ----------------------------------------------------------------------------------------------


@dataclass
class _Accounts:
    n: int
    kind: np.ndarray          # trajectory code
    s: np.ndarray             # signup day (negative: before the window)
    a: np.ndarray             # first active day in the window
    b: np.ndarray             # purchases stop (exclusive)
    c: np.ndarray             # churn day (product use stops), _FAR if none
    lead: np.ndarray          # days of declining use before c
    p0: np.ndarray            # pause [p0, p1), empty when p0 == p1
    p1: np.ndarray
    g: np.ndarray             # growth per year (log scale)
    w: np.ndarray             # purchase weight (Pareto)
    v: np.ndarray             # product-use weight
    h: np.ndarray             # support weight
    employees: np.ndarray
    plan: np.ndarray
    seats: np.ndarray         # seats at the end of the window (or at churn)
    seat_limit: np.ndarray
    discount: np.ndarray      # percent off list price
    industry: np.ndarray
    region: np.ndarray
    high_touch: np.ndarray


def _make_accounts(n: int, seed: int, days: int, epoch_day: int) -> _Accounts:
    rng = _rng(seed, _S_ACCOUNTS)
    D = days
    kind = _pick(rng, _TRAJECTORY_P, n)
    new = (rng.random(n) < 0.42) | (kind == _NEVER)  # the never-converted signed up recently
    s = np.where(new, rng.integers(0, max(D - 21, 1), n), -rng.integers(1, 5 * 365, n))
    a = np.maximum(s, 0)
    u = rng.random((n, 4))

    c = np.full(n, _FAR, dtype=np.int64)
    churn = kind == _CHURN
    # most churners go quiet inside the window; a few are about to, at a renewal just after it
    soon = churn & (s < 0) & (u[:, 0] < 0.12)
    room = (D - 1) - (a + 60)
    inside = a + 60 + np.floor(u[:, 1] * np.maximum(room, 0)).astype(np.int64)
    late = a + rng.integers(60, 121, n)
    c = np.where(churn, np.where(room > 0, inside, late), c)
    # those churn at their renewal: the signup is an exact number of years before it
    c_soon = D + rng.integers(3, 41, n)
    c = np.where(soon, c_soon, c)
    s = np.where(soon, _add_years(c, -rng.integers(3, 9, n), epoch_day), s)
    never = kind == _NEVER
    c = np.where(never, a + rng.integers(30, 151, n), c)
    lead = rng.integers(45, 121, n)
    # those about to churn are well into their decline by the end of the window
    lead = np.where(soon, (c - D) + rng.integers(45, 91, n), lead)

    p0 = np.full(n, D, dtype=np.int64)
    p1 = np.full(n, D, dtype=np.int64)
    ret = kind == _RETURN
    can = ret & (a + 45 < D - 150)
    kind = np.where(ret & ~can, _STEADY, kind)
    p0c = a + 45 + np.floor(u[:, 2] * np.maximum(D - 150 - (a + 45), 0)).astype(np.int64)
    p1c = np.minimum(p0c + rng.integers(60, 241, n), D - 30)
    p0 = np.where(can, p0c, p0)
    p1 = np.where(can, p1c, p1)

    b = np.where(churn, np.minimum(c, D), D)
    b = np.where(never, a, b)

    g = rng.normal(0.0, 0.08, n)
    g = np.where(kind == _GROW, rng.uniform(0.4, 1.0, n), g)
    g = np.where(kind == _SHRINK, rng.uniform(-1.0, -0.4, n), g)

    employees = np.clip(np.rint(10 ** rng.normal(1.3, 1.0, n)), 1, 250_000).astype(np.int64)
    z = np.log10(employees) + rng.normal(0.0, 0.35, n)
    plan = np.searchsorted(np.array([1.15, 2.1, 3.0]), z, side="right").astype(np.int64)
    adoption = rng.uniform(0.2, 0.9, n)
    adoption = np.where((kind == _GROW) & (u[:, 3] < 0.7), rng.uniform(0.85, 1.0, n), adoption)
    seats = np.maximum(np.rint(adoption * employees**0.6 * 1.5), 1).astype(np.int64)
    seats = np.minimum(seats, employees)
    limit = _SEAT_LIMIT[plan]
    limit = np.where(plan == 3, (np.ceil(seats * 1.3 / 50) * 50).astype(np.int64), limit)
    seats = np.minimum(seats, limit)
    seats = np.where(never, rng.integers(1, 4, n), seats)
    discount = np.select(
        [plan == 0, plan == 1, plan == 2],
        [np.zeros(n, np.int64), rng.integers(0, 11, n), rng.integers(5, 21, n)],
        rng.integers(10, 36, n),
    )

    w = np.minimum(rng.pareto(1.8, n) + 1.0, 20.0)
    w = np.where(never, 0.0, w)
    v = (1.0 + seats.astype(np.float64)) ** 0.45 * rng.lognormal(0.0, 0.4, n)
    high_touch = rng.random(n) < np.where(plan <= 1, 0.08, 0.04)
    h = (1.0 + seats.astype(np.float64) ** 0.3) * np.where(high_touch, 10.0, 1.0)

    return _Accounts(
        n=n, kind=kind, s=s, a=a, b=b, c=c, lead=lead, p0=p0, p1=p1, g=g, w=w, v=v, h=h,
        employees=employees, plan=plan, seats=seats, seat_limit=limit, discount=discount,
        industry=_pick(rng, [x for _, x in INDUSTRIES], n), region=_pick(rng, [x for _, x in REGIONS], n),
        high_touch=high_touch,
    )


# ----------------------------------------------------------------------------------------------
# Activity over time: weekly intensity grids, sampled by inverse CDF
# ----------------------------------------------------------------------------------------------


class _Calendar:
    def __init__(self, start: dt.date, days: int) -> None:
        self.start = start
        self.days = days
        self.epoch_day = date_to_day(start)
        self.weeks = -(-days // 7)
        lo = np.arange(self.weeks, dtype=np.int64) * 7
        self.lo = lo
        self.hi = np.minimum(lo + 7, days)
        mid = (lo + self.hi) / 2.0
        doy = np.array([(start + dt.timedelta(days=float(m))).timetuple().tm_yday for m in mid], dtype=np.float64)
        august = np.exp(-(((doy - 222.0) / 14.0) ** 2))
        self.season_buy = 1.0 + 0.25 * np.cos(2 * np.pi * (doy - 335.0) / 365.25) - 0.25 * august
        self.season_use = 1.0 + 0.06 * np.cos(2 * np.pi * (doy - 300.0) / 365.25) - 0.2 * august
        self.mid = mid
        # weekday weights, Monday first; offsets inside a week start on the window's first weekday
        dow0 = start.weekday()
        buy = np.array([1.0, 1.1, 1.1, 1.05, 0.95, 0.2, 0.15])
        use = np.array([1.0, 1.05, 1.05, 1.0, 0.9, 0.3, 0.25])
        order = (dow0 + np.arange(7)) % 7
        self.weekday_buy = _cdf(buy[order])
        self.weekday_use = _cdf(use[order])
        # hour of day: business hours with a lunch dip, a little at night
        hours = np.array([1, 1, 1, 1, 1, 2, 4, 10, 22, 30, 32, 28, 20, 26, 30, 28, 22, 14, 8, 5, 4, 3, 2, 1], dtype=np.float64)
        self.hour_cdf = _cdf(hours)


def _overlap(lo: np.ndarray, hi: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Days of [lo, hi) inside [a, b), broadcast (accounts as column vectors, weeks as a row)."""
    out = np.maximum(lo, a)  # a is per account, so this has the full shape
    np.subtract(np.minimum(hi, b), out, out=out)
    return np.maximum(out, 0, out=out)


def _grids(acc: _Accounts, cal: _Calendar, sl: slice) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weekly intensity (accounts x weeks) of purchases, product use and support work (float32)."""
    f4 = np.float32
    col = lambda x: x[sl, None].astype(f4)  # noqa: E731
    lo, hi, mid = cal.lo[None, :].astype(f4), cal.hi[None, :].astype(f4), cal.mid[None, :].astype(f4)
    a, b, c, p0, p1, lead = col(acc.a), col(acc.b), col(acc.c), col(acc.p0), col(acc.p1), col(acc.lead)
    days = f4(cal.days)
    # activity follows half the growth curve (centred on the window), seats the other half
    level = np.exp(col(acc.g * (0.5 / 365.0)) * (mid - days / 2))

    buy = _overlap(lo, hi, a, b)
    buy -= _overlap(lo, hi, np.maximum(a, p0), np.minimum(b, p1))
    buy *= level
    buy *= cal.season_buy[None, :].astype(f4)

    use_end = np.minimum(c, days)
    paused = _overlap(lo, hi, np.maximum(a, p0), np.minimum(use_end, p1))
    live = _overlap(lo, hi, a, use_end)
    live -= paused
    quiet = _overlap(lo, hi, np.maximum(a, c), np.minimum(c + _AFTER_CHURN_DAYS, days))
    quiet += paused
    quiet *= f4(_QUIET_RATE)
    to_churn = c - mid  # days until the churn date (huge when none)
    support = (to_churn <= lead) & (to_churn > 0)  # declining: more support work
    support = support.astype(f4)
    support *= 3
    support += 1
    support *= live
    support *= np.sqrt(level)
    to_churn /= lead
    np.clip(to_churn, f4(_USE_END), f4(1.0), out=to_churn)  # x: 1, falling to _USE_END at the churn
    buy *= f4(_BUY_FLOOR) + f4(1.0 - _BUY_FLOOR) * to_churn
    distress = f4(1.0) - to_churn
    distress *= f4(_DISTRESS)
    distress *= live
    use = live
    use *= to_churn
    use += distress
    use += quiet
    del distress
    use *= level
    use *= cal.season_use[None, :].astype(f4)
    return buy, use, support


def _sample_weeks(rng: np.random.Generator, grid: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each account row, ``counts[row]`` week indices drawn in proportion to its grid row."""
    m, k = grid.shape
    rows = np.repeat(np.arange(m, dtype=np.int64), counts)
    if rows.size == 0:
        return rows, rows
    cum = np.cumsum(grid, axis=1, dtype=np.float64)
    tot = cum[:, -1:].copy()
    tot[tot <= 0] = 1.0
    cum /= tot
    cum += np.arange(m, dtype=np.float64)[:, None]
    u = rows + rng.random(rows.size)
    week = np.searchsorted(cum.ravel(), u, side="right") - rows * k
    return rows, np.clip(week, 0, k - 1)


def _days_in_weeks(
    rng: np.random.Generator, week: np.ndarray, weekday_cdf: np.ndarray, seg_lo: np.ndarray, seg_hi: np.ndarray
) -> np.ndarray:
    """A day in each week with weekday seasonality, kept inside the allowed days [seg_lo, seg_hi)."""
    off = np.searchsorted(weekday_cdf, rng.random(week.size), side="right")
    day = week * 7 + np.minimum(off, 6)
    bad = (day < seg_lo) | (day >= seg_hi)
    if bad.any():
        width = np.maximum(seg_hi - seg_lo, 1)
        day = np.where(bad, seg_lo + np.floor(rng.random(week.size) * width).astype(np.int64), day)
    return day


def _seconds(rng: np.random.Generator, cal: _Calendar, n: int) -> np.ndarray:
    hour = np.searchsorted(cal.hour_cdf, rng.random(n), side="right")
    return np.minimum(hour, 23) * 3600 + rng.integers(0, 3600, n)


def _activity(acc: _Accounts, cal: _Calendar, seed: int, targets: tuple[float, float, float]):
    """Invoice, event and support-cost days per account, in two passes over account chunks.

    Pass one measures each account's total intensity, so that the expected totals hit the
    requested sizes; pass two draws the counts (Poisson) and the days.
    """
    n, D = acc.n, cal.days
    chunks = [slice(i, min(i + ACCOUNT_CHUNK, n)) for i in range(0, n, ACCOUNT_CHUNK)]
    mass = np.zeros((3, n))
    for sl in chunks:
        for j, grid in enumerate(_grids(acc, cal, sl)):
            mass[j, sl] = grid.sum(axis=1, dtype=np.float64)
    weights = mass * np.vstack([acc.w, acc.v, acc.h])
    lam = np.zeros_like(weights)
    for j in range(3):
        total = weights[j].sum()
        if total > 0 and targets[j] > 0:
            lam[j] = weights[j] * (targets[j] / total)

    out: list[list[tuple[np.ndarray, np.ndarray]]] = [[], [], []]
    for ci, sl in enumerate(chunks):
        grids = _grids(acc, cal, sl)
        base = sl.start
        for j, (grid, stream) in enumerate(zip(grids, (_S_PURCHASES, _S_EVENTS, _S_SUPPORT), strict=True)):
            rng = _rng(seed, stream, ci)
            counts = rng.poisson(lam[j, sl])
            rows, week = _sample_weeks(rng, grid, counts)
            if rows.size == 0:
                continue
            i = rows + base
            wlo, whi = week * 7, np.minimum(week * 7 + 7, D)
            if j == 0:  # purchases: only on active, unpaused days
                lo = np.maximum(wlo, acc.a[i])
                hi = np.minimum(whi, acc.b[i])
                p0, p1 = acc.p0[i], acc.p1[i]
                cut = (p0 < hi) & (p1 > lo)
                head = cut & (p0 <= lo)
                lo = np.where(head, np.maximum(lo, p1), lo)
                hi = np.where(cut & ~head, np.minimum(hi, p0), hi)
                cdf = cal.weekday_buy
            else:
                lo = np.maximum(wlo, acc.a[i])
                hi = whi
                if j == 1:  # product use ends a little after a churn
                    hi = np.minimum(hi, np.maximum(acc.c[i] + _AFTER_CHURN_DAYS, lo + 1))
                if j == 2:  # support work stops with the account
                    hi = np.minimum(hi, np.maximum(acc.c[i], lo + 1))
                cdf = cal.weekday_use
            day = _days_in_weeks(rng, week, cdf, lo, hi)
            out[j].append((i.astype(np.int32), day.astype(np.int32)))

    def cat(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
        if not parts:
            return np.zeros(0, np.int32), np.zeros(0, np.int32)
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    return cat(out[0]), cat(out[1]), cat(out[2])


# ----------------------------------------------------------------------------------------------
# The four tables
# ----------------------------------------------------------------------------------------------


def _account_ids(n: int) -> pl.Series:
    width = max(6, len(str(n)))
    return pl.select(
        pl.concat_str(pl.lit("AC"), pl.int_range(1, n + 1, dtype=pl.Int64).cast(pl.String).str.zfill(width)).alias("account_id")
    ).to_series()


def _mean_lines_per_invoice(extra_mean: float, cap: int) -> float:
    p = [math.exp(-extra_mean) * extra_mean**k / math.factorial(k) for k in range(cap)]
    return 1.0 + sum(k * pk for k, pk in enumerate(p)) + cap * (1.0 - sum(p))


_EXTRA_LINES, _EXTRA_CAP = 1.6, 7
_REFUND_BASE, _REFUND_SHRINK, _REFUND_CHURN, _REFUND_FULL = 0.03, 0.05, 0.15, 0.35


def _line_items(acc: _Accounts, cal: _Calendar, ids: pl.Series, inv_acc: np.ndarray, inv_day: np.ndarray, seed: int) -> pl.DataFrame:
    rng = _rng(seed, _S_LINES)
    D = cal.days
    I = inv_acc.size
    inv_acc = inv_acc.astype(np.int64)
    inv_day = inv_day.astype(np.int64)
    inv_sec = _seconds(rng, cal, I)
    nl = 1 + np.minimum(rng.poisson(_EXTRA_LINES, I), _EXTRA_CAP)
    off = np.zeros(I + 1, dtype=np.int64)
    np.cumsum(nl, out=off[1:])
    total = int(off[-1])
    li_inv = np.repeat(np.arange(I, dtype=np.int64), nl)
    li_no = np.arange(total, dtype=np.int64) - off[li_inv]
    li_acc = inv_acc[li_inv]
    plan = acc.plan[li_acc]

    addon = 4 + _pick_rows(rng, _cdf(_ADDON_W), plan)
    sku = np.where(li_no == 0, plan, addon)
    kind = _QTY_KIND[sku]
    day = inv_day[li_inv]
    seats_t = np.rint(acc.seats[li_acc] * np.exp(0.5 * acc.g[li_acc] * (day - (D - 1)) / 365.0))
    seats_t = np.clip(seats_t, 1, acc.seat_limit[li_acc]).astype(np.int64)
    qty = np.where(kind == 0, seats_t, 1)
    sel = np.flatnonzero(kind == 1)  # blocks
    qty[sel] = 1 + np.minimum(np.floor(rng.lognormal(0.8, 0.9, sel.size)), 199).astype(np.int64)
    sel = np.flatnonzero(kind == 3)  # attendees
    qty[sel] = 1 + np.floor(rng.random(sel.size) * np.minimum(seats_t[sel], 25)).astype(np.int64)
    sel = np.flatnonzero(kind == 4)  # hours
    qty[sel] = 1 + np.minimum(np.floor(rng.lognormal(2.0, 0.8, sel.size)), 159).astype(np.int64)
    del seats_t, kind
    unit = _LIST_PRICE[sku] * (100 - acc.discount[li_acc]) // 100

    # credit notes: a share of invoices is refunded later, wholly or one line in part
    k_inv = acc.kind[inv_acc]
    c_inv = acc.c[inv_acc]
    p_ref = np.full(I, _REFUND_BASE)
    p_ref = np.where(k_inv == _SHRINK, _REFUND_SHRINK, p_ref)
    p_ref = np.where((k_inv == _CHURN) & (inv_day >= c_inv - 90), _REFUND_CHURN, p_ref)
    cn_day = inv_day + rng.integers(1, 46, I)
    refunded = (rng.random(I) < p_ref) & (cn_day < D)
    full = rng.random(I) < _REFUND_FULL
    part_line = off[:-1] + np.floor(rng.random(I) * nl).astype(np.int64)
    r_inv = np.flatnonzero(refunded)
    r_full = r_inv[full[r_inv]]
    r_part = r_inv[~full[r_inv]]
    full_mask = np.zeros(I, dtype=bool)
    full_mask[r_full] = True
    src_full = np.flatnonzero(full_mask[li_inv])
    src_part = part_line[r_part]
    cn_src = np.concatenate([src_full, src_part])
    order = np.argsort(li_inv[cn_src] * 16 + li_no[cn_src], kind="stable")
    cn_src = cn_src[order]
    cn_qty = qty[cn_src].copy()
    is_part = np.concatenate([np.zeros(src_full.size, bool), np.ones(src_part.size, bool)])[order]
    cn_qty = np.where(is_part, 1 + np.floor(rng.random(cn_src.size) * cn_qty).astype(np.int64), cn_qty)
    cn_inv = li_inv[cn_src]
    # one credit note per refunded invoice
    cn_docs = np.unique(cn_inv)
    R = cn_docs.size
    cn_doc_of_line = np.searchsorted(cn_docs, cn_inv)
    cn_doc_sec = _seconds(rng, cal, R)

    # documents (invoices, then credit notes) ordered by time; numbered in that order per kind
    doc_acc = np.concatenate([inv_acc, inv_acc[cn_docs]])
    doc_day = np.concatenate([inv_day, cn_day[cn_docs]])
    doc_sec = np.concatenate([inv_sec, cn_doc_sec])
    doc_cn = np.concatenate([np.zeros(I, np.int8), np.ones(R, np.int8)])
    doc_nl = np.concatenate([nl, np.bincount(cn_doc_of_line, minlength=R)])
    doc_ts = doc_day * 86400 + doc_sec
    doc_order = _order((doc_ts * 2 + doc_cn) * acc.n + doc_acc)
    number = np.zeros(I + R, dtype=np.int64)
    for flag in (0, 1):
        sel = doc_order[doc_cn[doc_order] == flag]
        number[sel] = np.arange(1, sel.size + 1)

    # all lines (invoice lines, then credit-note lines), gathered in document order
    all_qty = np.concatenate([qty, -cn_qty])
    all_unit = np.concatenate([unit, unit[cn_src]])
    all_sku = np.concatenate([sku, sku[cn_src]])
    doc_off = np.zeros(I + R + 1, dtype=np.int64)
    np.cumsum(doc_nl, out=doc_off[1:])
    counts = doc_nl[doc_order]
    starts = doc_off[doc_order]
    first = np.zeros(doc_order.size + 1, dtype=np.int64)
    np.cumsum(counts, out=first[1:])
    pos = np.repeat(starts - first[:-1], counts) + np.arange(int(first[-1]), dtype=np.int64)
    line_doc = np.repeat(doc_order, counts)

    ts = doc_ts[line_doc] + cal.epoch_day * 86400
    q = all_qty[pos]
    u_ = all_unit[pos]
    s_ = all_sku[pos]
    cn = doc_cn[line_doc]
    sku_names = pl.Series([x[0] for x in SKUS])
    descriptions = pl.Series([x[1] for x in SKUS] + ["Credit: " + x[1] for x in SKUS])
    frame = pl.DataFrame(
        {
            "account_id": ids.gather(doc_acc[line_doc]),
            "occurred_at": pl.Series(ts * 1_000_000).cast(pl.Datetime("us")),
            "invoice_id": pl.Series(number[line_doc]),
            "cn": pl.Series(cn.astype(bool)),
            "sku": sku_names.gather(s_),
            "description": descriptions.gather(s_ + len(SKUS) * cn.astype(np.int64)),
            "quantity": pl.Series(q),
            "unit_price": _decimal(u_, "unit_price"),
            "amount": _decimal(q * u_, "amount"),
        }
    )
    width = max(8, len(str(max(I, 1))))
    frame = frame.with_columns(
        pl.concat_str(
            pl.when(pl.col("cn")).then(pl.lit("CN-")).otherwise(pl.lit("INV-")),
            pl.col("invoice_id").cast(pl.String).str.zfill(width),
        ).alias("invoice_id"),
        pl.lit(CURRENCY).alias("currency"),
    ).drop("cn")
    return frame


def _events(acc: _Accounts, cal: _Calendar, ids: pl.Series, ev_acc: np.ndarray, ev_day: np.ndarray, seed: int) -> tuple[pl.DataFrame, np.ndarray]:
    rng = _rng(seed, _S_EVENT_KINDS)
    n = ev_acc.size
    i = ev_acc.astype(np.int64)
    day = ev_day.astype(np.int64)
    c = acc.c[i]
    state = acc.plan[i].copy()
    state = np.where((day >= c - acc.lead[i]) & (day < c), _EV_DECLINING, state)
    state = np.where((day >= c) | ((day >= acc.p0[i]) & (day < acc.p1[i])), _EV_QUIET, state)
    kind = _pick_rows(rng, _cdf(_EVENT_W), state)
    # on the way out, a rising share of the events are distress: support tickets, failed payments
    x = np.clip((c - day) / np.maximum(acc.lead[i], 1), _USE_END, 1.0)
    p_distress = np.where(state == _EV_DECLINING, _DISTRESS * (1 - x) / (x + _DISTRESS * (1 - x)), 0.0)
    u = rng.random((2, n))
    kind = np.where(
        u[0] < p_distress,
        np.where(u[1] < _DISTRESS_TICKET, EVENTS.index("support_ticket"), EVENTS.index("payment_failed")),
        kind,
    )
    del x, p_distress, u
    sec = _seconds(rng, cal, n)
    value = np.full(n, np.nan)
    sel = np.flatnonzero(kind == EVENTS.index("login"))  # session minutes
    value[sel] = np.round(rng.lognormal(2.3, 0.7, sel.size), 1)
    sel = np.flatnonzero(kind == EVENTS.index("api_call"))  # calls in the batch
    value[sel] = np.maximum(np.rint(rng.lognormal(3.5, 1.3, sel.size)), 1.0)
    del sel
    rel = day * 86400 + sec
    order = _order((rel * acc.n + i) * len(EVENTS) + kind)
    ts = rel + cal.epoch_day * 86400
    del rel, sec
    frame = pl.DataFrame(
        {
            "account_id": ids.gather(i[order]),
            "occurred_at": pl.Series(ts[order] * 1_000_000).cast(pl.Datetime("us")),
            "event": pl.Series(EVENTS).gather(kind[order]),
            "value": pl.Series(value[order]).fill_nan(None),
        }
    )
    return frame, np.bincount(day[kind == EVENTS.index("support_ticket")] // 7, minlength=cal.weeks)


def _costs(
    acc: _Accounts, cal: _Calendar, ids: pl.Series, sup_acc: np.ndarray, sup_day: np.ndarray,
    events_per_week: np.ndarray, tickets_per_week: np.ndarray, net_revenue: int, seed: int,
) -> pl.DataFrame:
    rng = _rng(seed, _S_COSTS)
    D = cal.days
    # onboarding: every account that signed up inside the window, scaled by plan
    onb = np.flatnonzero(acc.s >= 0)
    onb_day = np.minimum(acc.s[onb] + rng.integers(0, 15, onb.size), D - 1)
    base = np.array([8000, 35000, 150000, 600000], dtype=np.float64)[acc.plan[onb]]
    onb_amt = np.rint(base * rng.lognormal(0.0, 0.35, onb.size)).astype(np.int64)
    onb_units = np.maximum(np.rint(onb_amt / 6000), 1).astype(np.int64)
    # direct support: tickets handled, priced per ticket; high-touch accounts cost more per ticket
    i = sup_acc.astype(np.int64)
    tickets = 1 + rng.poisson(0.5, i.size)
    per = rng.lognormal(8.2, 0.6, i.size) * np.where(acc.high_touch[i], 2.5, 1.0)
    sup_amt = np.rint(tickets * per).astype(np.int64)

    # pooled: weekly compute and storage bills, monthly shared support
    weeks = np.arange(cal.weeks)
    week_last = np.minimum(weeks * 7 + 6, D - 1)
    compute_w = events_per_week.astype(np.float64)
    storage_w = np.cumsum(events_per_week).astype(np.float64) + 1.0
    months: list[tuple[int, int]] = []
    d = cal.start
    while (d - cal.start).days < D:
        nxt = (d.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        months.append(((d - cal.start).days, min((nxt - cal.start).days, D) - 1))
        d = nxt
    month_of_week = np.searchsorted(np.array([m[0] for m in months]), weeks * 7, side="right") - 1
    support_w = np.bincount(month_of_week, weights=tickets_per_week + 1.0, minlength=len(months))
    pooled_day: list[np.ndarray] = []
    pooled_cat: list[np.ndarray] = []
    pooled_amt: list[np.ndarray] = []
    pooled_units: list[np.ndarray] = []
    revenue = max(net_revenue, 0)
    for cat, wts, days_, unit_cost in (
        ("compute", compute_w, week_last, 4),
        ("storage", storage_w, week_last, 2),
        ("support", support_w, np.array([m[1] for m in months]), 4500),
    ):
        total = revenue * _POOLED_SHARE[cat]
        amt = np.floor(total * wts / max(wts.sum(), 1.0) * rng.lognormal(0.0, 0.05, wts.size)).astype(np.int64)
        pooled_day.append(days_)
        pooled_cat.append(np.full(wts.size, COST_CATEGORIES.index(cat)))
        pooled_amt.append(amt)
        pooled_units.append(np.maximum(amt // unit_cost, 0))

    n_onb, n_sup = onb.size, i.size
    P = sum(x.size for x in pooled_day)
    day = np.concatenate([onb_day, sup_day.astype(np.int64), *pooled_day])
    cat = np.concatenate([np.zeros(n_onb, np.int64), np.ones(n_sup, np.int64), *pooled_cat])
    who = np.concatenate([onb, i, np.full(P, -1, np.int64)])
    amount = np.concatenate([onb_amt, sup_amt, *pooled_amt])
    units = np.concatenate([onb_units, tickets, *pooled_units])
    order = _order((day * len(COST_CATEGORIES) + cat) * (acc.n + 1) + who + 1)
    who = who[order]
    account = ids.gather(np.maximum(who, 0))
    account = pl.select(pl.when(pl.Series(who >= 0)).then(account).otherwise(None)).to_series().alias("account_id")
    return pl.DataFrame(
        {
            "occurred_at": _dates(day[order], cal.epoch_day, "occurred_at"),
            "category": pl.Series(COST_CATEGORIES).gather(cat[order]),
            "amount": _decimal(amount[order], "amount"),
            "account_id": account,
            "driver_units": pl.Series(units[order]),
        }
    )


def _accounts_frame(acc: _Accounts, cal: _Calendar, ids: pl.Series, seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = _rng(seed, _S_ACCOUNTS, 1)
    n, D = acc.n, cal.days
    names = pl.DataFrame(
        {
            "a": pl.Series(_NAME_A).gather(rng.integers(0, len(_NAME_A), n)),
            "b": pl.Series(_NAME_B).gather(rng.integers(0, len(_NAME_B), n)),
            "c": pl.Series(_NAME_C).gather(rng.integers(0, len(_NAME_C), n)),
        }
    ).select(
        pl.when(pl.col("b") == "")
        .then(pl.concat_str("a", "c", separator=" "))
        .otherwise(pl.concat_str(pl.col("a"), pl.col("b").str.to_lowercase(), pl.lit(" "), pl.col("c")))
        .alias("name")
    )["name"]
    churned = acc.c < D  # includes "never" accounts, whose use stopped
    never = acc.kind == _NEVER
    lapsed = (acc.kind == _CHURN) & churned
    # yearly terms from the signup: the renewal after the end, or the one a churned account let lapse
    term_end = _next_anniversary(acc.s, np.where(lapsed, acc.c, D), cal.epoch_day)
    seats = np.where(lapsed, 0, acc.seats)
    seat_price = _LIST_PRICE[acc.plan] * (100 - acc.discount) // 100
    mrr = np.where(lapsed | never, 0, seats * seat_price)
    renewal = _dates(term_end, cal.epoch_day, "renewal_at")
    frame = pl.DataFrame(
        {
            "account_id": ids,
            "name": names,
            "industry": pl.Series([x for x, _ in INDUSTRIES]).gather(acc.industry),
            "employees": pl.Series(acc.employees),
            "region": pl.Series([x for x, _ in REGIONS]).gather(acc.region),
            "plan": pl.Series(PLANS).gather(acc.plan),
            "signup_at": _dates(acc.s, cal.epoch_day, "signup_at"),
            "renewal_at": pl.select(pl.when(pl.Series(never)).then(None).otherwise(renewal)).to_series().alias("renewal_at"),
            "mrr": _decimal(mrr, "mrr"),
            "seats": pl.Series(seats),
            "seat_limit": pl.Series(acc.seat_limit),
        }
    )
    has_pause = acc.p0 < acc.p1
    has_churn = acc.c < _FAR

    def opt_date(days: np.ndarray, ok: np.ndarray, name: str) -> pl.Series:
        return pl.select(pl.when(pl.Series(ok)).then(_dates(np.where(ok, days, 0), cal.epoch_day, name)).otherwise(None)).to_series().alias(name)

    profiles = pl.DataFrame(
        {
            "account_id": ids,
            "trajectory": pl.Series(TRAJECTORIES).gather(acc.kind),
            "churn_at": opt_date(acc.c, has_churn, "churn_at"),
            "decline_from": opt_date(acc.c - acc.lead, has_churn, "decline_from"),
            "pause_from": opt_date(acc.p0, has_pause, "pause_from"),
            "pause_to": opt_date(acc.p1, has_pause, "pause_to"),
            "growth": pl.Series(acc.g),
            "purchase_weight": pl.Series(acc.w),
            "high_touch": pl.Series(acc.high_touch),
        }
    )
    return frame, profiles


def generate_world(
    n_accounts: int,
    seed: int = 7,
    *,
    lines_per_account: float = 10.0,
    events_per_account: float = 20.0,
    cost_rows_per_account: float = 2.0,
    end: dt.date = END,
) -> World:
    """Generate a world of ``n_accounts`` accounts over the two years ending on ``end``.

    The same arguments always give identical frames. Sizes are expectations: line items come to
    about ``lines_per_account * n_accounts`` (invoice lines plus credit-note lines), events to
    about ``events_per_account * n_accounts``, and cost rows to about
    ``cost_rows_per_account * n_accounts`` (a few hundred pooled rows included, so small worlds
    carry relatively more of them).
    """
    if n_accounts < 1:
        raise ValueError("n_accounts must be at least 1")
    if seed < 0:
        raise ValueError("seed must be a non-negative integer")
    for name, val in (("lines_per_account", lines_per_account), ("events_per_account", events_per_account),
                      ("cost_rows_per_account", cost_rows_per_account)):
        if not (val >= 0 and math.isfinite(val)):
            raise ValueError(f"{name} must be a non-negative number")
    start, days = _window(end)
    cal = _Calendar(start, days)
    acc = _make_accounts(n_accounts, seed, days, cal.epoch_day)
    ids = _account_ids(n_accounts)

    refund_lines = 0.035 * (_REFUND_FULL * _mean_lines_per_invoice(_EXTRA_LINES, _EXTRA_CAP) + (1 - _REFUND_FULL))
    invoices_target = lines_per_account * n_accounts / (_mean_lines_per_invoice(_EXTRA_LINES, _EXTRA_CAP) + refund_lines)
    onboarded = int((acc.s >= 0).sum())
    pooled_rows = 2 * cal.weeks + 25
    support_target = max(cost_rows_per_account * n_accounts - onboarded - pooled_rows, 0.0)
    (inv_acc, inv_day), (ev_acc, ev_day), (sup_acc, sup_day) = _activity(
        acc, cal, seed, (invoices_target, events_per_account * n_accounts, support_target)
    )

    line_items = _line_items(acc, cal, ids, inv_acc, inv_day, seed)
    events, tickets_per_week = _events(acc, cal, ids, ev_acc, ev_day, seed)
    events_per_week = np.bincount(ev_day.astype(np.int64) // 7, minlength=cal.weeks)
    net_revenue = int(line_items["amount"].sum() * 100) if line_items.height else 0
    costs = _costs(acc, cal, ids, sup_acc, sup_day, events_per_week, tickets_per_week, net_revenue, seed)
    accounts, profiles = _accounts_frame(acc, cal, ids, seed)
    params = {
        "generator": GENERATOR_VERSION,
        "accounts": n_accounts,
        "seed": seed,
        "lines_per_account": lines_per_account,
        "events_per_account": events_per_account,
        "cost_rows_per_account": cost_rows_per_account,
        "end": end.isoformat(),
    }
    return World(accounts=accounts, line_items=line_items, costs=costs, events=events, profiles=profiles,
                 start=start, end=end, params=params)


# ----------------------------------------------------------------------------------------------
# Files
# ----------------------------------------------------------------------------------------------

#: import kind -> file stem, in the order the files must be imported (accounts first)
FILES = {"accounts": "accounts", "line-items": "line_items", "costs": "costs", "events": "events"}


def write_world(world: World, out_dir: Path, fmt: str = "csv") -> dict[str, Path]:
    """Write the four tables to ``out_dir`` as ``csv`` or ``parquet``; returns kind -> path.

    CSV: UTF-8, header row, ISO dates (``2025-03-14``) and times (``2025-03-14T10:23:00``),
    money as exact decimal text with two decimals, empty cells for missing values. Parquet keeps
    the frames' types (money as ``decimal128(18, 2)``).
    """
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"unknown format {fmt!r}: use csv or parquet")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    frames = {"accounts": world.accounts, "line-items": world.line_items, "costs": world.costs, "events": world.events}
    paths: dict[str, Path] = {}
    for kind, stem in FILES.items():
        path = out_dir / f"{stem}.{fmt}"
        df = frames[kind]
        if fmt == "csv":
            df.write_csv(path, date_format="%Y-%m-%d", datetime_format="%Y-%m-%dT%H:%M:%S", null_value="")
        else:
            df.write_parquet(path, compression="zstd")
        paths[kind] = path
    return paths


# ----------------------------------------------------------------------------------------------
# The demo store
# ----------------------------------------------------------------------------------------------

#: meta key that marks a store as a demo store; its value is the JSON of ``demo_params``
DEMO_META_KEY = "demo"
#: store tables holding each import kind's rows
_TABLES = {"accounts": "accounts", "line-items": "line_items", "costs": "costs", "events": "events"}


def demo_params(accounts: int = 2000, seed: int = 7) -> dict[str, Any]:
    """Everything that decides a demo store's content (stored in its ``demo`` meta key)."""
    return {
        "generator": GENERATOR_VERSION,
        "accounts": int(accounts),
        "seed": int(seed),
        **DEMO_DENSITY,
        "end": END.isoformat(),
        "snapshots": f"month-ends x{DEMO_SNAPSHOT_MONTHS}",
    }


DEMO_SNAPSHOT_MONTHS = 13


def demo_snapshot_dates(end: dt.date = END, months: int = DEMO_SNAPSHOT_MONTHS) -> list[dt.date]:
    """Month-ends of the last ``months`` months up to ``end`` (oldest first), ``end`` included:
    enough history for migration, velocity and account history out of the box."""
    dates: list[dt.date] = []
    first = end.replace(day=1)
    for k in range(months - 1, -1, -1):
        y, m = divmod(first.year * 12 + first.month - 1 - k, 12)
        nxt = dt.date(y + (m + 1) // 12, (m + 1) % 12 + 1, 1)
        dates.append(min(end, nxt - dt.timedelta(days=1)))
    return dates


def score_demo_store(db_path: Path, *, quiet: bool = True) -> None:
    """Score the demo store at every month-end of its last year (one load, one snapshot per date)."""
    from segtui.scoring import score_dates

    score_dates(db_path, demo_snapshot_dates(), series="month", quiet=quiet)


@dataclass(frozen=True)
class DemoBuild:
    """What ``ensure_demo_store`` did: built a new store or reused one, and what is in it."""

    db_path: Path
    params: dict[str, Any]
    reused: bool
    counts: dict[str, int]      # store rows per import kind, and "snapshots"
    net_revenue_cents: int
    seconds: float              # generation + import (0 when reused)
    generate_seconds: float = 0.0


def demo_store_params(db_path: Path) -> dict[str, Any] | None:
    """The parameters a demo store was built with; ``None`` when ``db_path`` is not a demo store.

    Reads without migrating or writing (opened read-write only so that SQLite tidies its WAL
    side files on close). A file that is not a SQLite database, or a store without the demo
    mark, is "not a demo store".
    """
    try:
        conn = sqlite3.connect(Path(db_path).resolve().as_uri() + "?mode=rw", uri=True)
    except sqlite3.Error:
        return None
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (DEMO_META_KEY,)).fetchone()
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    if not row:
        return None
    try:
        value = json.loads(row[0])
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _store_contents(db_path: Path) -> tuple[dict[str, int], int]:
    """Rows per import kind (and ``snapshots``), and the net revenue in minor units."""
    conn = sqlite3.connect(Path(db_path).resolve().as_uri() + "?mode=rw", uri=True)
    try:
        tables = {**_TABLES, "snapshots": "snapshots"}
        counts = {kind: int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]) for kind, table in tables.items()}
        revenue = int(conn.execute("SELECT coalesce(sum(amount), 0) FROM line_items").fetchone()[0])
    finally:
        conn.close()
    return counts, revenue


def import_demo_files(db_path: Path, paths: dict[str, Path], *, quiet: bool = True) -> None:
    """Import the generated files into ``db_path`` with the importer's ``generic`` preset,
    accounts first, exactly as a user would; every row must arrive (the data is clean)."""
    from segtui.errors import DataError
    from segtui.importer import import_files

    for kind in FILES:
        import_files(db_path, kind, [paths[kind]], preset="generic", quiet=quiet)
    counts, _ = _store_contents(db_path)
    expected = {kind: _data_rows(paths[kind]) for kind in FILES}
    lost = {k: (expected[k], counts[k]) for k in FILES if counts[k] != expected[k]}
    if lost:
        detail = ", ".join(f"{k}: {want} rows in the file, {got} in the store" for k, (want, got) in lost.items())
        raise DataError(f"the demo data did not import completely ({detail}); see `segtui import` for the rejects")


def _data_rows(path: Path) -> int:
    if path.suffix == ".parquet":
        return pl.scan_parquet(path).select(pl.len()).collect().item()
    return pl.scan_csv(path, infer_schema=False).select(pl.len()).collect().item()


def mark_demo_store(db_path: Path, params: dict[str, Any]) -> None:
    """Record ``params`` in the store's meta table: this store is a demo store built with them."""
    from segtui.store import open_store, transaction

    conn = open_store(db_path)
    try:
        with transaction(conn):
            conn.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (DEMO_META_KEY, json.dumps(params, sort_keys=True)),
            )
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def _cache_path(db_path: Path) -> Path:
    """The scoring column cache kept beside a store (``<store>.cols``)."""
    return db_path.with_name(db_path.name + ".cols")


def _store_files(path: Path, pid: int) -> list[Path]:
    """A store's file and everything SQLite and the scoring cache keep beside it."""
    return [
        path,
        *(path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal")),
        _cache_path(path),
        path.with_name(f".{_cache_path(path).name}.tmp-{pid}"),
    ]


def _remove_store_files(path: Path, pid: int) -> None:
    for p in _store_files(path, pid):
        p.unlink(missing_ok=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_abandoned_builds(db_path: Path) -> None:
    """Remove what builds killed before they could clean up left beside ``db_path``."""
    prefixes = (f".{db_path.name}.building-", f"..{db_path.name}.building-")
    for p in db_path.parent.iterdir():
        prefix = next((x for x in prefixes if p.name.startswith(x)), None)
        if prefix is None:
            continue
        digits = re.match(r"\d+", p.name[len(prefix):])
        if digits and not _pid_alive(int(digits.group())) and p.is_file():
            p.unlink(missing_ok=True)


def ensure_demo_store(db_path: Path, *, accounts: int = 2000, seed: int = 7, quiet: bool = True) -> DemoBuild:
    """Build the demo store at ``db_path``, or reuse the demo store already there.

    - no file at ``db_path``: build it;
    - a demo store built with the same parameters: reuse it as it is;
    - a demo store built with other parameters: replace it;
    - anything else (a store with the user's own data, a foreign file): refuse, never overwrite.

    The store is built beside the target under a temporary name and moved into place only when
    complete, so an interrupted build never leaves a half-built store at ``db_path``.
    """
    from segtui.errors import StoreError
    from segtui.store import open_store

    db_path = Path(db_path)
    if accounts < 1:
        raise ValueError("the demo needs at least one account")
    params = demo_params(accounts, seed)
    if db_path.exists():
        existing = demo_store_params(db_path)
        if existing is None:
            raise StoreError(
                f"{db_path} exists and is not a demo store; refusing to overwrite it. "
                f"Open it with `segtui --db {db_path}`, or build the demo elsewhere: `segtui demo --db demo.db`"
            )
        if existing == params:
            counts, revenue = _store_contents(db_path)
            return DemoBuild(db_path, params, True, counts, revenue, 0.0)

    t0 = time.perf_counter()
    db_path.parent.mkdir(parents=True, exist_ok=True)
    _remove_abandoned_builds(db_path)
    pid = os.getpid()
    building = db_path.with_name(f".{db_path.name}.building-{pid}")
    _remove_store_files(building, pid)
    try:
        with tempfile.TemporaryDirectory(prefix="segtui-demo-") as tmp:
            world = generate_world(accounts, seed, end=END, **DEMO_DENSITY)
            paths = write_world(world, Path(tmp), "csv")
            generated = time.perf_counter() - t0
            del world
            open_store(building, create=True).close()
            import_demo_files(building, paths, quiet=quiet)
        # Scored between the import and the demo mark, so that a store carrying the mark is
        # always complete.
        score_demo_store(building, quiet=quiet)
        mark_demo_store(building, params)
        # the old store's side files must go before the new store takes its name (SQLite would
        # read an old WAL as the new store's); the scoring cache moves with the store
        for suffix in ("-wal", "-shm", "-journal"):
            db_path.with_name(db_path.name + suffix).unlink(missing_ok=True)
            building.with_name(building.name + suffix).unlink(missing_ok=True)
        _cache_path(db_path).unlink(missing_ok=True)
        os.replace(building, db_path)
        if _cache_path(building).exists():
            os.replace(_cache_path(building), _cache_path(db_path))
    except BaseException:
        _remove_store_files(building, pid)
        raise
    counts, revenue = _store_contents(db_path)
    return DemoBuild(db_path, params, False, counts, revenue, time.perf_counter() - t0, generated)


def build_demo_store(db_path: Path, *, accounts: int = 2000, seed: int = 7, quiet: bool = True) -> Path:
    """Build (or reuse) the demo store at ``db_path``; returns its path. See ``ensure_demo_store``."""
    return ensure_demo_store(db_path, accounts=accounts, seed=seed, quiet=quiet).db_path
