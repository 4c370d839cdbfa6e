"""An independent reference implementation of segtui's per-account figures.

Written from the design's definitions (section 2 and the RFM maps) and, where the design leaves a
choice, from ``docs/scoring.md``; never from the Rust kernel. It is meant to be *obviously* right,
not fast: plain dicts and loops, integer arithmetic for money, :class:`fractions.Fraction` wherever
a ratio is compared. The property tests compare the kernel with it on random small worlds.

A world is given with plain Python values (``None`` for missing), accounts by dense index
``0..n_accounts``, days as days since 1970-01-01 and money as integer minor units. The results use
labels (strings) rather than codes and ``None`` for "no value", so that a comparison never depends on
the kernel's code tables.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

# --- inputs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineItem:
    account: int
    day: int
    amount: int
    #: 64-bit invoice key; 0 = the line has no invoice (a purchase is then an account-day).
    invoice: int = 0


@dataclass(frozen=True)
class Cost:
    #: ``None`` = a pooled cost (no account).
    account: int | None
    day: int
    category: str
    amount: int
    driver_units: int | None = None


@dataclass(frozen=True)
class Event:
    account: int
    day: int
    kind: str


@dataclass(frozen=True)
class Firmo:
    employees: int | None = None
    mrr: int | None = None
    seats: int | None = None
    seat_limit: int | None = None
    signup_day: int | None = None
    renewal_day: int | None = None


@dataclass
class World:
    n_accounts: int
    line_items: list[LineItem] = field(default_factory=list)
    costs: list[Cost] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    #: Firmographics by account index; an account not listed has all values missing.
    firmo: dict[int, Firmo] = field(default_factory=dict)
    #: Category and event-kind name lists (code i = name i). Names used by rows are appended when
    #: missing, so a test only lists them to add names that no row uses.
    cost_categories: list[str] = field(default_factory=list)
    event_kinds: list[str] = field(default_factory=list)

    def categories(self) -> list[str]:
        names = list(self.cost_categories)
        for c in self.costs:
            if c.category not in names:
                names.append(c.category)
        return names

    def kinds(self) -> list[str]:
        names = list(self.event_kinds)
        for e in self.events:
            if e.kind not in names:
                names.append(e.kind)
        return names

    def firmo_of(self, account: int) -> Firmo:
        return self.firmo.get(account, Firmo())


# --- configuration ----------------------------------------------------------------------------

DRIVERS = ("revenue", "line_items", "events", "seats", "driver_units", "equal")


@dataclass
class Driver:
    kind: str = "revenue"
    #: The event kind counted by the ``events`` driver.
    event: str | None = None


@dataclass
class Config:
    mode: str = "transactions"
    #: Window length in days (the last ``window_days`` days up to and including D); None = all history.
    window_days: int | None = None
    #: Pooled-cost drivers per category; categories not listed use ``default_driver``.
    drivers: dict[str, Driver] = field(default_factory=dict)
    default_driver: Driver = field(default_factory=Driver)
    #: Configured quadrant thresholds (minor units); None = the median rule.
    revenue_threshold: int | None = None
    cost_threshold: int | None = None

    def driver_for(self, category: str) -> Driver:
        return self.drivers.get(category, self.default_driver)

    def in_window(self, day: int, as_of: int) -> bool:
        if day > as_of:
            return False
        return self.window_days is None or day > as_of - self.window_days


# --- the RFM maps (RFM_MAPS.md, written out cell by cell) -------------------------------------

NO_PURCHASE = "No Purchase"

#: rfm11 rows by FM (5 first), columns by R = 1..5.
RFM11_GRID: dict[int, tuple[str, str, str, str, str]] = {
    5: ("Can't Lose Them", "At Risk", "Loyal", "Champions", "Champions"),
    4: ("Can't Lose Them", "At Risk", "Loyal", "Champions", "Champions"),
    3: ("At Risk", "At Risk", "Need Attention", "Potential Loyalist", "Potential Loyalist"),
    2: ("Lost", "Hibernating", "About to Sleep", "Potential Loyalist", "Potential Loyalist"),
    1: ("Lost", "Hibernating", "About to Sleep", "Promising", "New Customers"),
}

RFM5_OF: dict[str, str] = {
    "Champions": "Champions",
    "Loyal": "Loyal",
    "Potential Loyalist": "Loyal",
    "New Customers": "Loyal",
    "Promising": "Loyal",
    "At Risk": "At Risk",
    "Can't Lose Them": "At Risk",
    "Need Attention": "At Risk",
    "About to Sleep": "At Risk",
    "Hibernating": "Dormant",
    "Lost": "Lost",
}

RFM11_SEGMENTS = frozenset(RFM5_OF) | {NO_PURCHASE}
RFM5_SEGMENTS = frozenset(RFM5_OF.values()) | {NO_PURCHASE}


def rfm11(r: int, f: int, m: int) -> str:
    fm = (f + m + 1) // 2
    return RFM11_GRID[fm][r - 1]


def rfm5(r: int, f: int, m: int) -> str:
    return RFM5_OF[rfm11(r, f, m)]


# --- the tie rule -----------------------------------------------------------------------------


def tie_rule_scores(values: dict[int, Any], higher_is_better: bool) -> dict[int, int]:
    """Score = 1 + floor(5·r/n), r = the number of accounts strictly worse than this one.

    Accounts with equal values have equal r, so ties always share a score.
    """
    n = len(values)
    ordered = sorted(values.values())
    scores = {}
    for account, v in values.items():
        if higher_is_better:
            worse = bisect.bisect_left(ordered, v)  # values strictly below v
        else:
            worse = n - bisect.bisect_right(ordered, v)  # values strictly above v
        scores[account] = 1 + (5 * worse) // n
    return scores


def tie_rule_scores_by_counting(values: dict[int, Any], higher_is_better: bool) -> dict[int, int]:
    """The same rule by literal pairwise counting (O(n²)); used to check the bisect version."""
    n = len(values)
    out = {}
    for a, v in values.items():
        worse = sum(1 for w in values.values() if (w < v if higher_is_better else w > v))
        out[a] = 1 + (5 * worse) // n
    return out


# --- cost allocation --------------------------------------------------------------------------


def largest_remainder(pool: int, weights: dict[int, int]) -> tuple[dict[int, int], int]:
    """Split ``pool`` minor units by ``weights`` (non-negative integers).

    Each account gets floor(pool·w/W); the units left over go one each to the accounts with the
    largest fractional parts (pool·w mod W, all over the same W), ties to the smaller account id.
    Returns (allocation per account with positive weight, unallocated); when every weight is zero
    the whole pool is unallocated.
    """
    total = sum(weights.values())
    if total == 0:
        return {}, pool
    share = {}
    frac = {}
    for account, w in weights.items():
        if w < 0:
            raise ValueError("negative weight")
        if w == 0:
            continue
        share[account] = (pool * w) // total  # floor, also for a negative pool
        frac[account] = (pool * w) % total
    left = pool - sum(share.values())
    order = sorted(share, key=lambda a: (-frac[a], a))
    assert 0 <= left <= len(order)
    for account in order[:left]:
        share[account] += 1
    return share, 0


# --- results ----------------------------------------------------------------------------------


@dataclass
class AccountResult:
    account: int
    recency_days: int | None = None
    frequency: int = 0
    monetary: int = 0
    r_score: int | None = None
    f_score: int | None = None
    m_score: int | None = None
    rfm_segment: str = NO_PURCHASE
    rfm5_segment: str = NO_PURCHASE
    revenue: int = 0
    direct_cost: int = 0
    allocated_cost: int = 0
    margin: int = 0
    margin_pct: Fraction | None = None
    quadrant: str | None = None
    size_band: str | None = None
    # per-category detail, for reconciliation tests
    direct_by_category: dict[str, int] = field(default_factory=dict)
    allocated_by_category: dict[str, int] = field(default_factory=dict)


@dataclass
class PoolResult:
    category: str
    driver: str
    pooled: int
    allocated: int
    unallocated: int


@dataclass
class Result:
    as_of_day: int
    accounts: dict[int, AccountResult]
    pools: list[PoolResult]


QUADRANTS = {
    (True, False): "high revenue, low cost",
    (True, True): "high revenue, high cost",
    (False, False): "low revenue, low cost",
    (False, True): "low revenue, high cost",
}


def size_band(employees: int | None) -> str | None:
    if employees is None:
        return None
    if employees < 100:
        return "SMB"
    if employees < 1000:
        return "Mid-Market"
    return "Enterprise"


def median(values: list[int]) -> Fraction:
    ordered = sorted(values)
    n = len(ordered)
    if n % 2:
        return Fraction(ordered[n // 2])
    return Fraction(ordered[n // 2 - 1] + ordered[n // 2], 2)


# --- the computation --------------------------------------------------------------------------


def default_as_of(world: World) -> int | None:
    """The design's default as-of date: the day of the latest line item."""
    return max((li.day for li in world.line_items), default=None)


def purchases(world: World, as_of: int) -> dict[int, list[int]]:
    """Purchase days per account, on or before D.

    A purchase is a distinct invoice with positive net amount; lines without an invoice form one
    candidate purchase per account-day. The day of an invoice is the day of its latest line.
    """
    net: dict[tuple, int] = defaultdict(int)
    day: dict[tuple, int] = {}
    for li in world.line_items:
        if li.day > as_of:
            continue
        key = (li.account, "invoice", li.invoice) if li.invoice else (li.account, "day", li.day)
        net[key] += li.amount
        day[key] = max(day.get(key, li.day), li.day)
    out: dict[int, list[int]] = defaultdict(list)
    for key, amount in net.items():
        if amount > 0:
            out[key[0]].append(day[key])
    return out


def score(world: World, as_of: int | None = None, config: Config | None = None) -> Result:
    """Every figure of one scoring run, for every account in the snapshot."""
    config = config or Config()
    if as_of is None:
        as_of = default_as_of(world)
        if as_of is None:
            return Result(as_of_day=0, accounts={}, pools=[])
    D = as_of

    # Snapshot membership: any line item or cost carrying the account, on or before D.
    members = set()
    for li in world.line_items:
        if li.day <= D:
            members.add(li.account)
    for c in world.costs:
        if c.account is not None and c.day <= D:
            members.add(c.account)
    res = {a: AccountResult(account=a) for a in sorted(members)}

    # Revenue (= monetary in transactions mode): net of every line in the window.
    line_count: dict[int, int] = defaultdict(int)
    for li in world.line_items:
        if config.in_window(li.day, D):
            res[li.account].revenue += li.amount
            line_count[li.account] += 1

    # RFM values.
    bought = purchases(world, D)
    for a, days in bought.items():
        r = res[a]
        r.recency_days = D - max(days)
        r.frequency = sum(1 for d in days if config.in_window(d, D))
    for r in res.values():
        r.monetary = r.revenue

    # Scores over the accounts with at least one purchase by D.
    scored = sorted(bought)
    if scored:
        rs = tie_rule_scores({a: res[a].recency_days for a in scored}, higher_is_better=False)
        fs = tie_rule_scores({a: res[a].frequency for a in scored}, higher_is_better=True)
        ms = tie_rule_scores({a: res[a].monetary for a in scored}, higher_is_better=True)
        for a in scored:
            r = res[a]
            r.r_score, r.f_score, r.m_score = rs[a], fs[a], ms[a]
            r.rfm_segment = rfm11(rs[a], fs[a], ms[a])
            r.rfm5_segment = rfm5(rs[a], fs[a], ms[a])

    # Direct cost and pools, within the window.
    pooled: dict[str, int] = defaultdict(int)
    units: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for c in world.costs:
        if not config.in_window(c.day, D):
            continue
        if c.account is None:
            pooled[c.category] += c.amount
        else:
            r = res[c.account]
            r.direct_cost += c.amount
            r.direct_by_category[c.category] = r.direct_by_category.get(c.category, 0) + c.amount
            if c.driver_units is not None:
                units[c.category][c.account] += c.driver_units

    event_count: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for e in world.events:
        if config.in_window(e.day, D):
            event_count[e.kind][e.account] += 1

    pools = []
    for category in world.categories():
        if category not in pooled:
            continue
        driver = config.driver_for(category)
        weights: dict[int, int] = {}
        for a in res:
            if driver.kind == "revenue":
                w = max(0, res[a].revenue)
            elif driver.kind == "line_items":
                w = line_count[a]
            elif driver.kind == "events":
                w = event_count[driver.event or ""][a]
            elif driver.kind == "seats":
                w = max(0, world.firmo_of(a).seats or 0)
            elif driver.kind == "driver_units":
                w = max(0, units[category][a])
            elif driver.kind == "equal":
                w = 1
            else:
                raise ValueError(f"unknown driver {driver.kind!r}")
            weights[a] = w
        share, unallocated = largest_remainder(pooled[category], weights)
        for a, amount in share.items():
            res[a].allocated_cost += amount
            res[a].allocated_by_category[category] = amount
        pools.append(
            PoolResult(
                category=category,
                driver=driver.kind,
                pooled=pooled[category],
                allocated=pooled[category] - unallocated,
                unallocated=unallocated,
            )
        )

    # Margin.
    for r in res.values():
        r.margin = r.revenue - r.direct_cost - r.allocated_cost
        r.margin_pct = Fraction(r.margin, r.revenue) if r.revenue > 0 else None

    # Quadrant over accounts with revenue or cost in the window.
    active = [
        a
        for a in res
        if any(config.in_window(li.day, D) for li in world.line_items if li.account == a)
        or any(config.in_window(c.day, D) for c in world.costs if c.account == a)
        or res[a].allocated_cost != 0
    ]
    if active:
        rev_cut = (
            Fraction(config.revenue_threshold)
            if config.revenue_threshold is not None
            else median([res[a].revenue for a in active])
        )
        cost_cut = (
            Fraction(config.cost_threshold)
            if config.cost_threshold is not None
            else median([res[a].direct_cost + res[a].allocated_cost for a in active])
        )
        for a in active:
            r = res[a]
            r.quadrant = QUADRANTS[(r.revenue >= rev_cut, r.direct_cost + r.allocated_cost >= cost_cut)]

    for a, r in res.items():
        r.size_band = size_band(world.firmo_of(a).employees)

    return Result(as_of_day=D, accounts=res, pools=pools)


def margin_pct_float(r: AccountResult) -> float:
    return math.nan if r.margin_pct is None else float(r.margin_pct)


# --- running the kernel on a World and comparing ----------------------------------------------
# Only plumbing lives here: it turns a World into the binding's columns and the binding's columns
# back into per-account label dicts. No figure is computed here.

FIELDS = (
    "recency_days",
    "frequency",
    "monetary",
    "r_score",
    "f_score",
    "m_score",
    "rfm_segment",
    "rfm5_segment",
    "revenue",
    "direct_cost",
    "allocated_cost",
    "margin",
    "margin_pct",
    "quadrant",
    "size_band",
)


def _core():
    from segtui import _core as core

    return core


def kernel_available() -> bool:
    return hasattr(_core(), "score_columns")


def kernel_or_skip() -> None:
    import pytest

    if not kernel_available():
        pytest.skip("segtui._core.score_columns is not built into this checkout yet")


def config_json(config: Config) -> str:
    import json

    def driver(d: Driver) -> dict:
        out: dict[str, Any] = {"kind": d.kind}
        if d.event is not None:
            out["event"] = d.event
        return out

    doc: dict[str, Any] = {"mode": config.mode}
    if config.window_days is not None:
        doc["window_days"] = config.window_days
    if config.drivers:
        doc["drivers"] = {k: driver(v) for k, v in config.drivers.items()}
    doc["default_driver"] = driver(config.default_driver)
    if config.revenue_threshold is not None:
        doc["revenue_threshold"] = config.revenue_threshold
    if config.cost_threshold is not None:
        doc["cost_threshold"] = config.cost_threshold
    return json.dumps(doc)


def core_arguments(world: World, as_of: int, config: Config) -> tuple:
    import numpy as np

    cats = world.categories()
    kinds = world.kinds()

    def arr(values: list, dtype: Any) -> Any:
        return np.ascontiguousarray(np.array(values, dtype=dtype))

    def opt(v: int | None, null: int) -> int:
        return null if v is None else v

    li = world.line_items
    line_items = {
        "account": arr([x.account for x in li], np.uint32),
        "day": arr([x.day for x in li], np.int32),
        "amount": arr([x.amount for x in li], np.int64),
        "invoice_key": arr([x.invoice for x in li], np.int64),
    }
    co = world.costs
    costs = {
        "account": arr([POOLED if c.account is None else c.account for c in co], np.int64),
        "day": arr([c.day for c in co], np.int32),
        "category": arr([cats.index(c.category) for c in co], np.uint32),
        "amount": arr([c.amount for c in co], np.int64),
        "driver_units": arr([opt(c.driver_units, NULL_I64) for c in co], np.int64),
    }
    ev = world.events
    events = {
        "account": arr([e.account for e in ev], np.uint32),
        "day": arr([e.day for e in ev], np.int32),
        "kind": arr([kinds.index(e.kind) for e in ev], np.uint32),
    }
    firmo = [world.firmo_of(a) for a in range(world.n_accounts)]
    accounts = {
        "employees": arr([opt(f.employees, NULL_I64) for f in firmo], np.int64),
        "mrr": arr([opt(f.mrr, NULL_I64) for f in firmo], np.int64),
        "seats": arr([opt(f.seats, NULL_I64) for f in firmo], np.int64),
        "seat_limit": arr([opt(f.seat_limit, NULL_I64) for f in firmo], np.int64),
        "signup_day": arr([opt(f.signup_day, NULL_DAY) for f in firmo], np.int32),
        "renewal_day": arr([opt(f.renewal_day, NULL_DAY) for f in firmo], np.int32),
    }
    return (line_items, costs, events, accounts, world.n_accounts, cats, kinds, as_of, config_json(config))


def run_kernel(world: World, as_of: int, config: Config) -> tuple[dict[int, dict[str, Any]], list[dict]]:
    """The kernel's answer as ``({account: {field: value}}, pools)`` in the reference's terms."""
    import numpy as np

    out = _core().score_columns(*core_arguments(world, as_of, config))
    cols = {k: np.frombuffer(v, dtype=v.dtype) for k, v in out.items() if hasattr(v, "dtype")}

    def label(field: str, code: int) -> str | None:
        labels = out[f"{field}_labels"]
        text = labels[code]
        return text or None

    rows: dict[int, dict[str, Any]] = {}
    for i, a in enumerate(cols["account"].tolist()):
        row: dict[str, Any] = {}
        rec = int(cols["recency_days"][i])
        row["recency_days"] = None if rec == NULL_I64 else rec
        for f in ("frequency", "monetary", "revenue", "direct_cost", "allocated_cost", "margin"):
            row[f] = int(cols[f][i])
        for f in ("r_score", "f_score", "m_score"):
            s = int(cols[f][i])
            row[f] = None if s == 0 else s
        row["rfm_segment"] = label("rfm_segment", int(cols["rfm_segment"][i]))
        row["rfm5_segment"] = label("rfm5_segment", int(cols["rfm5_segment"][i]))
        pct = float(cols["margin_pct"][i])
        row["margin_pct"] = None if math.isnan(pct) else pct
        row["quadrant"] = label("quadrant", int(cols["quadrant"][i]))
        row["size_band"] = label("size_band", int(cols["size_band"][i]))
        rows[a] = row
    return rows, list(out.get("pools", []))


def reference_rows(result: Result) -> dict[int, dict[str, Any]]:
    rows = {}
    for a, r in result.accounts.items():
        row = {f: getattr(r, f) for f in FIELDS}
        row["margin_pct"] = None if r.margin_pct is None else float(r.margin_pct)
        rows[a] = row
    return rows


def assert_kernel_matches(world: World, as_of: int, config: Config) -> Result:
    """Assert the kernel equals the reference on every account and field; returns the reference."""
    ref = score(world, as_of=as_of, config=config)
    want = reference_rows(ref)
    got, pools = run_kernel(world, as_of, config)
    assert sorted(got) == sorted(want), "different accounts in the snapshot"
    diffs = []
    for a in sorted(want):
        for f in FIELDS:
            if got[a][f] != want[a][f]:
                diffs.append(f"account {a} {f}: kernel {got[a][f]!r} reference {want[a][f]!r}")
    assert not diffs, "\n".join(diffs[:20]) + (f"\n... {len(diffs)} differences" if len(diffs) > 20 else "")
    return ref
