"""An independent reference implementation of segtui's per-account figures.

Written from the design's definitions (section 2 and the RFM maps) and, where the design leaves a
choice, from ``docs/scoring.md`` (the section numbers below are that file's); never from the Rust
kernel. It is meant to be *obviously* right, not fast: plain dicts and loops, integer arithmetic
for money, :class:`fractions.Fraction` wherever a ratio is compared. The property tests compare
the kernel with it on random small worlds.

A world is given with plain Python values (``None`` for missing), accounts by dense index
``0..n_accounts``, days as days since 1970-01-01 and money as integer minor units. The results use
labels (strings) rather than codes and ``None`` for "no value", so that a comparison never depends on
the kernel's code tables.

The configuration is the same nested mapping as the engine's JSON (``docs/scoring.md`` 10.1);
:func:`config` builds one from the defaults written out below and dotted-key overrides. Without a
``maps`` key the design's grids (written out below) are used; with one, its cell specs are read.
"""

from __future__ import annotations

import bisect
import copy
import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

NULL_I64 = -(2**63)
NULL_DAY = -(2**31)
POOLED = -1

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
    #: missing, so a test only lists them to add names that no row uses or to fix the order.
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


# --- configuration (docs/scoring.md 10.1, written out) ----------------------------------------

DEFAULTS: dict[str, Any] = {
    "mode": "transactions",
    "rfm": {"window_days": None, "thresholds": {"recency": None, "frequency": None, "monetary": None}},
    "saas": {"window_days": 90, "high_signal_events": None, "frequency": "events", "revenue_months": 3},
    "events": {
        "passive_kinds": ["login", "logout", "session_start", "page_view"],
        "ticket_kinds": ["support_ticket", "ticket"],
        "failed_payment_kinds": ["payment_failed", "failed_payment"],
    },
    "costs": {"default_driver": "revenue", "drivers": {}},
    "quadrant": {"revenue_threshold": None, "cost_threshold": None},
    "churn": {
        "recent_days": 30,
        "prior_days": 90,
        "gap_min_purchases": 3,
        "gap_default_days": 90,
        "gap_factor_pct": 200,
        "gap_long_factor_pct": 400,
        "gap_min_days": 14,
        "drop_below_pct": 50,
        "drop_min_prior_days": 3,
        "renewal_within_days": 30,
        "refund_min_share_pct": 20,
        "refund_spike_factor_pct": 200,
        "ticket_min": 3,
        "ticket_spike_factor_pct": 200,
        "weights": {
            "inactive_beyond_usual_gap": 40,
            "activity_drop": 40,
            "renewal_declining": 15,
            "refund_spike": 10,
            "ticket_spike": 10,
            "failed_payment": 15,
        },
        "bands": {"medium_from": 25, "high_from": 50},
    },
    "health": {
        "margin_full_pct": 50,
        "weights": {"recency": 25, "frequency": 15, "monetary": 15, "trend": 15, "margin": 10, "risk": 20},
        "bands": {"yellow_from": 40, "green_from": 70},
    },
    "lifecycle": {"churn_horizon_days": 180, "onboarding_days": 30, "growth_pct": 120, "seat_limit_pct": 90},
    "tier": {
        "window_days": 30,
        "core_features": None,
        "power_active_days": 20,
        "power_core_features": 3,
        "core_active_days": 4,
        "core_core_features": 1,
    },
    "size_bands": {"mid_market_from": 100, "enterprise_from": 1000},
}

Config = dict  # the nested configuration mapping


def config(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The default configuration with ``{"dotted.key": value}`` overrides applied."""
    cfg = copy.deepcopy(DEFAULTS)
    for key, value in (overrides or {}).items():
        node = cfg
        *path, last = key.split(".")
        for part in path:
            node = node[part]
        if last not in node:
            raise KeyError(key)
        node[last] = copy.deepcopy(value)
    return cfg


def config_json(cfg: dict[str, Any]) -> str:
    return json.dumps(cfg, sort_keys=True)


def age(day: int, as_of: int) -> int:
    return as_of - day


def in_window(day: int, as_of: int, window: int | None) -> bool:
    """On or before D, and within the last ``window`` days (age < window) when there is one."""
    return day <= as_of and (window is None or as_of - day < window)


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


def cell_matches(spec: str, r: int, f: int, m: int) -> bool:
    """Does the cell spec (terms ``r<a>``, ``f<a>``, ``m<a>``, ``fm<a>``, each a score or a range
    ``<a>-<b>``; docs/scoring.md 10.2) cover the triple?"""
    values = {"r": r, "f": f, "m": m, "fm": (f + m + 1) // 2}
    for term in spec.split():
        name = "fm" if term.startswith("fm") else term[0]
        low, _, high = term[len(name) :].partition("-")
        if not int(low) <= values[name] <= int(high or low):
            return False
    return True


def map_lookup(maps: dict[str, Any]) -> dict[tuple[int, int, int], tuple[str, str]]:
    """(R, F, M) -> (rfm11 segment, rfm5 segment) for configured maps; each triple must be covered
    exactly once (the kernel rejects other maps, so a test never gives one)."""
    triples = [(r, f, m) for r in range(1, 6) for f in range(1, 6) for m in range(1, 6)]
    out = {}
    for t in triples:
        seg11 = [s["name"] for s in maps["rfm11"] if any(cell_matches(c, *t) for c in s.get("cells", []))]
        assert len(seg11) == 1, (t, seg11)
        seg5 = [
            s["name"]
            for s in maps["rfm5"]
            if any(cell_matches(c, *t) for c in s.get("cells", [])) or seg11[0] in s.get("rfm11", [])
        ]
        assert len(seg5) == 1, (t, seg5)
        out[t] = (seg11[0], seg5[0])
    return out


# --- the tie rule and fixed thresholds --------------------------------------------------------


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


def threshold_scores(values: dict[int, int], thresholds: list[int], higher_is_better: bool) -> dict[int, int]:
    """Fixed thresholds: recency 1 + #{t : v ≤ t}; frequency/monetary 1 + #{t : v ≥ t}."""
    if higher_is_better:
        return {a: 1 + sum(1 for t in thresholds if v >= t) for a, v in values.items()}
    return {a: 1 + sum(1 for t in thresholds if v <= t) for a, v in values.items()}


# --- cost allocation --------------------------------------------------------------------------


def largest_remainder(pool: int, weights: dict[int, int]) -> tuple[dict[int, int], int]:
    """Split ``pool`` minor units by ``weights`` (non-negative integers).

    Each account gets floor(|pool|·w/W); the units left over go one each to the accounts with
    the largest fractional parts (|pool|·w mod W, all over the same W), ties to the smaller account
    id; a negative pool (a credit) is split as |pool| and every share negated. Returns (share per
    account with a positive weight, unallocated); when every weight is zero the whole pool is
    unallocated.
    """
    if any(w < 0 for w in weights.values()):
        raise ValueError("negative weight")
    total = sum(weights.values())
    if total == 0:
        return {}, pool
    sign = -1 if pool < 0 else 1
    p = abs(pool)
    share = {a: (p * w) // total for a, w in weights.items() if w > 0}
    frac = {a: (p * w) % total for a, w in weights.items() if w > 0}
    left = p - sum(share.values())
    order = sorted(share, key=lambda a: (-frac[a], a))
    assert 0 <= left <= len(order)
    for account in order[:left]:
        share[account] += 1
    return {a: sign * s for a, s in share.items()}, 0


# --- results ----------------------------------------------------------------------------------

REASONS = (
    "inactive_beyond_usual_gap",
    "activity_drop",
    "renewal_declining",
    "refund_spike",
    "ticket_spike",
    "failed_payment",
)


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
    churn_risk: int = 0
    churn_band: str = "low"
    churn_reasons: str = ""
    health: int = 0
    health_band: str = "red"
    lifecycle: str = "active"
    tier: str | None = None
    size_band: str | None = None
    # detail, for the reconciliation tests and for explaining a difference
    direct_by_category: dict[str, int] = field(default_factory=dict)
    allocated_by_category: dict[str, int] = field(default_factory=dict)
    recent: int = 0
    prior: int = 0
    trend: int = 0


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


def size_band(employees: int | None, cfg: dict[str, Any]) -> str | None:
    if employees is None or employees < 0:
        return None
    if employees < cfg["size_bands"]["mid_market_from"]:
        return "SMB"
    if employees < cfg["size_bands"]["enterprise_from"]:
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


def purchase_units(world: World, as_of: int) -> dict[int, list[tuple[int, int]]]:
    """Per account, its units on or before D as (day, net): one per invoice, one per day of
    lines without an invoice; a unit's day is its earliest line's day."""
    net: dict[tuple, int] = defaultdict(int)
    first: dict[tuple, int] = {}
    for li in world.line_items:
        if li.day > as_of:
            continue
        key = (li.account, "invoice", li.invoice) if li.invoice != 0 else (li.account, "day", li.day)
        net[key] += li.amount
        first[key] = min(first.get(key, li.day), li.day)
    out: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for key in net:
        out[key[0]].append((first[key], net[key]))
    return out


def purchases(world: World, as_of: int) -> dict[int, list[int]]:
    """Purchase days per account (one entry per purchase): units with a positive net."""
    out: dict[int, list[int]] = {}
    for a, units in purchase_units(world, as_of).items():
        days = [d for d, n in units if n > 0]
        if days:
            out[a] = days
    return out


def event_roles(kinds: list[str], cfg: dict[str, Any]) -> dict[str, set[str]]:
    ev = cfg["events"]
    ticket = {k for k in kinds if k in ev["ticket_kinds"]}
    failed = {k for k in kinds if k in ev["failed_payment_kinds"]}
    activity = {k for k in kinds if k not in ticket and k not in failed}
    feature = {k for k in activity if k not in ev["passive_kinds"]}
    return {"ticket": ticket, "failed": failed, "activity": activity, "feature": feature}


def score(world: World, as_of: int | None = None, cfg: dict[str, Any] | None = None) -> Result:
    """Every figure of one scoring run, for every account in the snapshot."""
    cfg = cfg if cfg is not None else config()
    if as_of is None:
        as_of = default_as_of(world)
        if as_of is None:
            return Result(as_of_day=0, accounts={}, pools=[])
    D = as_of
    saas = cfg["mode"] == "saas"
    W = cfg["rfm"]["window_days"]
    kinds = world.kinds()
    roles = event_roles(kinds, cfg)
    events = [e for e in world.events if e.day <= D]
    # each account's own rows on or before D (the per-account figures below read only these)
    lines_of: dict[int, list[LineItem]] = defaultdict(list)
    for li in world.line_items:
        if li.day <= D:
            lines_of[li.account].append(li)
    events_of: dict[int, list[Event]] = defaultdict(list)
    for e in events:
        events_of[e.account].append(e)

    # 2. Members: a line item or an account cost on or before D (saas: or any event).
    members = {li.account for li in world.line_items if li.day <= D}
    members |= {c.account for c in world.costs if c.account is not None and c.day <= D}
    if saas:
        members |= {e.account for e in events}
    res = {a: AccountResult(account=a) for a in sorted(members)}

    # 3. Active in the window: a line item or a direct cost row in the window.
    active = {li.account for li in world.line_items if in_window(li.day, D, W)}
    active |= {c.account for c in world.costs if c.account is not None and in_window(c.day, D, W)}

    # 4. Revenue and purchases.
    line_count: dict[int, int] = defaultdict(int)
    for li in world.line_items:
        if in_window(li.day, D, W):
            res[li.account].revenue += li.amount
            line_count[li.account] += 1
    bought = purchases(world, D)
    purchase_days = {a: sorted(set(days)) for a, days in bought.items()}

    # 5. RFM values.
    if saas:
        s = cfg["saas"]
        high = set(s["high_signal_events"]) if s["high_signal_events"] is not None else roles["feature"]
        signal_days: dict[int, list[int]] = defaultdict(list)
        for e in events:
            if e.kind in high:
                signal_days[e.account].append(e.day)
        has_purchase = sorted(a for a in res if signal_days.get(a))
        for a in has_purchase:
            r = res[a]
            r.recency_days = D - max(signal_days[a])
            recent_signals = [d for d in signal_days[a] if D - d < s["window_days"]]
            r.frequency = len(set(recent_signals)) if s["frequency"] == "active_days" else len(recent_signals)
        months = s["revenue_months"]
        for a, r in res.items():
            mrr = world.firmo_of(a).mrr
            if mrr is not None:
                r.monetary = mrr
            else:
                total = sum(li.amount for li in lines_of[a] if D - li.day < 30 * months)
                r.monetary = total // months
        basis_days = {a: sorted(set(days)) for a, days in signal_days.items()}
    else:
        has_purchase = sorted(bought)
        for a in has_purchase:
            r = res[a]
            r.recency_days = D - max(bought[a])
            r.frequency = sum(1 for d in bought[a] if in_window(d, D, W))
        for r in res.values():
            r.monetary = r.revenue
        basis_days = purchase_days

    # 5. Scores over the members with a purchase.
    if has_purchase:
        th = cfg["rfm"]["thresholds"]
        dims = {
            "r": ({a: res[a].recency_days for a in has_purchase}, False, th["recency"]),
            "f": ({a: res[a].frequency for a in has_purchase}, True, th["frequency"]),
            "m": ({a: res[a].monetary for a in has_purchase}, True, th["monetary"]),
        }
        sc = {}
        for dim, (values, higher, fixed) in dims.items():
            if fixed is None:
                sc[dim] = tie_rule_scores(values, higher)
            else:
                sc[dim] = threshold_scores(values, fixed, higher)
        lookup = map_lookup(cfg["maps"]) if "maps" in cfg else None
        for a in has_purchase:
            r = res[a]
            r.r_score, r.f_score, r.m_score = sc["r"][a], sc["f"][a], sc["m"][a]
            if lookup is not None:
                r.rfm_segment, r.rfm5_segment = lookup[(r.r_score, r.f_score, r.m_score)]
            else:
                r.rfm_segment = rfm11(r.r_score, r.f_score, r.m_score)
                r.rfm5_segment = rfm5(r.r_score, r.f_score, r.m_score)

    # 6. Direct cost and pools, within the window.
    pooled: dict[str, int] = {}
    units: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for c in world.costs:
        if not in_window(c.day, D, W):
            continue
        if c.account is None:
            pooled[c.category] = pooled.get(c.category, 0) + c.amount
        else:
            r = res[c.account]
            r.direct_cost += c.amount
            r.direct_by_category[c.category] = r.direct_by_category.get(c.category, 0) + c.amount
            if c.driver_units is not None:
                units[c.category][c.account] += c.driver_units
    event_count: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for e in events:
        if in_window(e.day, D, W):
            event_count[e.kind][e.account] += 1

    pools = []
    for category in world.categories():
        if category not in pooled:
            continue
        driver = cfg["costs"]["drivers"].get(category, cfg["costs"]["default_driver"])
        weights: dict[int, int] = {}
        for a in sorted(active):
            if driver == "revenue":
                w = max(0, res[a].revenue)
            elif driver == "line_items":
                w = line_count[a]
            elif driver.startswith("events:"):
                w = event_count[driver[len("events:") :]][a]
            elif driver == "seats":
                w = max(0, world.firmo_of(a).seats or 0)
            elif driver == "driver_units":
                w = max(0, units[category][a])
            elif driver == "equal":
                w = 1
            else:
                raise ValueError(f"unknown driver {driver!r}")
            weights[a] = w
        share, unallocated = largest_remainder(pooled[category], weights)
        for a, amount in share.items():
            res[a].allocated_cost += amount
            res[a].allocated_by_category[category] = amount
        pools.append(PoolResult(category, driver, pooled[category], pooled[category] - unallocated, unallocated))

    # 6. Margin and quadrant (over the accounts active in the window).
    for r in res.values():
        r.margin = r.revenue - r.direct_cost - r.allocated_cost
        r.margin_pct = Fraction(r.margin, r.revenue) if r.revenue > 0 else None
    population = sorted(active)
    if population:
        q = cfg["quadrant"]
        rev_cut = (
            Fraction(q["revenue_threshold"])
            if q["revenue_threshold"] is not None
            else median([res[a].revenue for a in population])
        )
        cost_cut = (
            Fraction(q["cost_threshold"])
            if q["cost_threshold"] is not None
            else median([res[a].direct_cost + res[a].allocated_cost for a in population])
        )
        for a in population:
            r = res[a]
            r.quadrant = QUADRANTS[(r.revenue >= rev_cut, r.direct_cost + r.allocated_cost >= cost_cut)]

    # 7. Activity: the days of product use (activity-kind events) in the last R + P; an account
    #    with no product use at all uses its purchase days instead.
    ch = cfg["churn"]
    R, P = ch["recent_days"], ch["prior_days"]
    uses_product: dict[int, bool] = {}
    for a, r in res.items():
        use_days = [e.day for e in events_of[a] if e.kind in roles["activity"]]
        uses_product[a] = bool(use_days)
        source = use_days if use_days else purchase_days.get(a, [])
        days = {d for d in source if D - d < R + P}
        r.recent = sum(1 for d in days if D - d < R)
        r.prior = sum(1 for d in days if R <= D - d < R + P)

    # 8. Churn risk: each signal that fires is a reason and adds points.
    weights = ch["weights"]
    for a, r in res.items():
        fired = []
        points: dict[str, int] = {}
        # inactive beyond the usual gap: the mean gap between basis days with enough of them,
        # else the default gap; half the weight beyond gap_factor_pct %, all of it beyond
        # gap_long_factor_pct %
        bd = basis_days.get(a, [])
        if bd:
            k, first_d, last_d = len(bd), bd[0], bd[-1]
            usual = Fraction(last_d - first_d, k - 1) if k >= ch["gap_min_purchases"] else Fraction(ch["gap_default_days"])
            s_gap = D - last_d
            if s_gap >= ch["gap_min_days"] and s_gap > Fraction(ch["gap_factor_pct"], 100) * usual:
                fired.append("inactive_beyond_usual_gap")
                long = s_gap > Fraction(ch["gap_long_factor_pct"], 100) * usual
                points["inactive_beyond_usual_gap"] = weights["inactive_beyond_usual_gap"] // (1 if long else 2)
        # activity drop: recent rate below drop_below_pct % of the prior rate ("dropped"); the
        # full weight when activity stopped (none in the last R days), for a product user even
        # when the prior days were quiet too
        dropped = r.prior >= ch["drop_min_prior_days"] and Fraction(r.recent, R) < Fraction(ch["drop_below_pct"], 100) * Fraction(r.prior, P)
        if r.recent == 0 and (dropped or uses_product[a]):
            fired.append("activity_drop")
            points["activity_drop"] = weights["activity_drop"]
        elif dropped:
            fired.append("activity_drop")
            points["activity_drop"] = weights["activity_drop"] // 2
        # renewal within the next days with declining activity
        renewal = world.firmo_of(a).renewal_day
        if renewal is not None and 0 <= renewal - D < ch["renewal_within_days"] and Fraction(r.recent, R) < Fraction(r.prior, P):
            fired.append("renewal_declining")
        # refund share spike
        rref = rgross = pref = pgross = 0
        for li in lines_of[a]:
            g = D - li.day
            if g < R:
                rref, rgross = (rref - li.amount, rgross) if li.amount < 0 else (rref, rgross + li.amount)
            elif g < R + P:
                pref, pgross = (pref - li.amount, pgross) if li.amount < 0 else (pref, pgross + li.amount)
        if (
            rref > 0
            and 100 * rref >= ch["refund_min_share_pct"] * rgross
            and 100 * rref * pgross >= ch["refund_spike_factor_pct"] * pref * rgross
        ):
            fired.append("refund_spike")
        # support-ticket spike
        rt = sum(1 for e in events_of[a] if e.kind in roles["ticket"] and D - e.day < R)
        pt = sum(1 for e in events_of[a] if e.kind in roles["ticket"] and R <= D - e.day < R + P)
        if rt >= ch["ticket_min"] and Fraction(rt, R) >= Fraction(ch["ticket_spike_factor_pct"], 100) * Fraction(pt, P):
            fired.append("ticket_spike")
        # failed payment in the recent days
        if any(e.kind in roles["failed"] and D - e.day < R for e in events_of[a]):
            fired.append("failed_payment")
        r.churn_risk = min(100, sum(points.get(f, weights[f]) for f in fired))
        bands = ch["bands"]
        r.churn_band = "high" if r.churn_risk >= bands["high_from"] else "medium" if r.churn_risk >= bands["medium_from"] else "low"
        r.churn_reasons = ",".join(f for f in REASONS if f in fired)

    # 9. Trend and health.
    h = cfg["health"]
    for r in res.values():
        if r.prior == 0:
            r.trend = 100 if r.recent > 0 else 0
        else:
            # 50 = the same daily rate as before; 100 = twice it or more
            r.trend = min(100, math.floor(50 * Fraction(r.recent, R) / Fraction(r.prior, P)))
        comp = {
            "recency": 0 if r.r_score is None else 25 * (r.r_score - 1),
            "frequency": 0 if r.f_score is None else 25 * (r.f_score - 1),
            "monetary": 0 if r.m_score is None else 25 * (r.m_score - 1),
            "trend": r.trend,
            "margin": 0
            if r.revenue <= 0
            else max(0, min(100, math.floor(100 * Fraction(r.margin, r.revenue) / Fraction(h["margin_full_pct"], 100)))),
            "risk": 100 - r.churn_risk,
        }
        wsum = sum(h["weights"].values())
        mean = Fraction(sum(h["weights"][k] * c for k, c in comp.items()), wsum)
        r.health = math.floor(mean + Fraction(1, 2))  # halves rounded up
        hb = h["bands"]
        r.health_band = "green" if r.health >= hb["green_from"] else "yellow" if r.health >= hb["yellow_from"] else "red"

    # 9. Lifecycle, first match wins.
    lc = cfg["lifecycle"]
    for a, r in res.items():
        f = world.firmo_of(a)
        signup = f.signup_day if f.signup_day is not None and f.signup_day <= D else None
        seen = list(purchase_days.get(a, []))
        seen += [e.day for e in events_of[a] if e.kind in roles["activity"]]
        if signup is not None:
            seen.append(signup)
        if saas:
            seen += basis_days.get(a, [])
        last_seen = max(seen, default=None)
        first_purchase = min(purchase_days[a]) if a in purchase_days else None
        growing = r.recent >= 1 and Fraction(r.recent, R) >= Fraction(lc["growth_pct"], 100) * Fraction(r.prior, P)
        near_limit = (
            f.seats is not None
            and f.seat_limit is not None
            and f.seat_limit > 0
            and 100 * f.seats >= lc["seat_limit_pct"] * f.seat_limit
        )
        if last_seen is None or D - last_seen >= lc["churn_horizon_days"]:
            r.lifecycle = "churned"
        elif (first_purchase is not None and D - first_purchase < lc["onboarding_days"]) or (
            signup is not None and D - signup < lc["onboarding_days"]
        ):
            r.lifecycle = "onboarding"
        elif r.churn_band == "high":
            r.lifecycle = "at-risk"
        elif r.health_band == "green" and (growing or near_limit):
            r.lifecycle = "expansion-ready"
        else:
            r.lifecycle = "active"

    # 9. Behavioural tier: only when the input has an event on or before D.
    if events:
        t = cfg["tier"]
        T = t["window_days"]
        core = set(t["core_features"]) if t["core_features"] is not None else roles["feature"]
        for a, r in res.items():
            recent_events = [e for e in events_of[a] if D - e.day < T]
            active_days = len({e.day for e in recent_events if e.kind in roles["activity"]})
            features = len({e.kind for e in recent_events if e.kind in core})
            if active_days >= max(1, t["power_active_days"]) and features >= t["power_core_features"]:
                r.tier = "power"
            elif active_days >= max(1, t["core_active_days"]) and features >= t["core_core_features"]:
                r.tier = "core"
            elif active_days >= 1:
                r.tier = "shallow"
            else:
                r.tier = "disengaged"

    for a, r in res.items():
        r.size_band = size_band(world.firmo_of(a).employees, cfg)

    return Result(as_of_day=D, accounts=res, pools=pools)


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
    "churn_risk",
    "churn_band",
    "churn_reasons",
    "health",
    "health_band",
    "lifecycle",
    "tier",
    "size_band",
)


def _core() -> Any:
    from segtui import _core as core

    return core


def kernel_available() -> bool:
    return hasattr(_core(), "score_columns")


def kernel_or_skip() -> None:
    import pytest

    if not kernel_available():
        pytest.skip("segtui._core.score_columns is not built into this checkout yet")


def core_arguments(world: World, as_of: int, cfg: dict[str, Any]) -> tuple:
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
    return (line_items, costs, events, accounts, world.n_accounts, cats, kinds, as_of, config_json(cfg))


def run_kernel(world: World, as_of: int, cfg: dict[str, Any]) -> tuple[dict[int, dict[str, Any]], list[dict]]:
    """The kernel's answer as ``({account: {field: value}}, pools)`` in the reference's terms."""
    import numpy as np

    out = _core().score_columns(*core_arguments(world, as_of, cfg))
    assert out["as_of_day"] == as_of
    cols = {k: np.frombuffer(v, dtype=v.dtype) for k, v in out["columns"].items()}
    labels = out["labels"]

    def label(f: str, code: int) -> str | None:
        return labels[f][code] or None

    rows: dict[int, dict[str, Any]] = {}
    for i, a in enumerate(cols["account"].tolist()):
        row: dict[str, Any] = {}
        rec = int(cols["recency_days"][i])
        row["recency_days"] = None if rec == NULL_I64 else rec
        for f in ("frequency", "monetary", "revenue", "direct_cost", "allocated_cost", "margin", "churn_risk", "health"):
            row[f] = int(cols[f][i])
        for f in ("r_score", "f_score", "m_score"):
            s = int(cols[f][i])
            row[f] = None if s == 0 else s
        for f in ("rfm_segment", "rfm5_segment", "quadrant", "churn_band", "health_band", "lifecycle", "tier", "size_band"):
            row[f] = label(f, int(cols[f][i]))
        pct = float(cols["margin_pct"][i])
        row["margin_pct"] = None if math.isnan(pct) else pct
        bits = int(cols["churn_reasons"][i])
        row["churn_reasons"] = ",".join(c for b, c in enumerate(labels["churn_reasons"]) if bits >> b & 1)
        rows[a] = row
    return rows, list(out["pools"])


def reference_rows(result: Result) -> dict[int, dict[str, Any]]:
    rows = {}
    for a, r in result.accounts.items():
        row = {f: getattr(r, f) for f in FIELDS}
        row["margin_pct"] = None if r.margin_pct is None else float(r.margin_pct)
        rows[a] = row
    return rows


def assert_kernel_matches(world: World, as_of: int, cfg: dict[str, Any] | None = None) -> Result:
    """Assert the kernel equals the reference on every account, every field and every pool;
    returns the reference's result."""
    cfg = cfg if cfg is not None else config()
    ref = score(world, as_of=as_of, cfg=cfg)
    want = reference_rows(ref)
    got, pools = run_kernel(world, as_of, cfg)
    assert sorted(got) == sorted(want), f"snapshot accounts: kernel {sorted(got)} reference {sorted(want)}"
    diffs = []
    for a in sorted(want):
        for f in FIELDS:
            if got[a][f] != want[a][f]:
                diffs.append(f"account {a} {f}: kernel {got[a][f]!r} reference {want[a][f]!r}")
    want_pools = [vars(p) for p in ref.pools]
    if pools != want_pools:
        diffs.append(f"pools: kernel {pools} reference {want_pools}")
    assert not diffs, "\n".join(diffs[:20]) + (f"\n... {len(diffs)} differences" if len(diffs) > 20 else "")
    return ref


# --- reading a store (plain sqlite3, for the end-to-end tests) --------------------------------


def world_from_store(conn: Any) -> World:
    """The store's rows as a World (dense index = accounts.id - 1), read with plain SQL."""
    n = conn.execute("SELECT coalesce(max(id), 0) FROM accounts").fetchone()[0]
    cats = [r[0] for r in conn.execute("SELECT name FROM cost_categories ORDER BY id")]
    kinds = [r[0] for r in conn.execute("SELECT name FROM event_kinds ORDER BY id")]
    w = World(n_accounts=n, cost_categories=cats, event_kinds=kinds)
    for a, day, amount, key in conn.execute("SELECT account, day, amount, invoice_key FROM line_items"):
        w.line_items.append(LineItem(a - 1, day, amount, key))
    for a, day, cat, amount, units in conn.execute(
        "SELECT c.account, c.day, k.name, c.amount, c.driver_units FROM costs c JOIN cost_categories k ON k.id = c.category"
    ):
        w.costs.append(Cost(None if a is None else a - 1, day, cat, amount, units))
    for a, day, kind in conn.execute("SELECT e.account, e.day, k.name FROM events e JOIN event_kinds k ON k.id = e.kind"):
        w.events.append(Event(a - 1, day, kind))
    for row in conn.execute("SELECT id, employees, mrr, seats, seat_limit, signup_day, renewal_day FROM accounts"):
        if any(v is not None for v in row[1:]):
            w.firmo[row[0] - 1] = Firmo(*row[1:])
    return w


def assert_snapshot_matches_reference(conn: Any, snapshot: int, world: World | None = None) -> Result:
    """Every stored row of ``snapshot`` equals the reference computed from the store's rows."""
    as_of, mode, cfg_text = conn.execute("SELECT as_of_day, mode, config FROM snapshots WHERE id = ?", (snapshot,)).fetchone()
    cfg = json.loads(cfg_text)
    assert cfg["mode"] == mode
    world = world if world is not None else world_from_store(conn)
    ref = score(world, as_of=as_of, cfg=cfg)
    want = reference_rows(ref)
    cols = ", ".join(FIELDS)
    got = {
        row[0] - 1: dict(zip(FIELDS, row[1:]))
        for row in conn.execute(f"SELECT account, {cols} FROM snapshot_accounts WHERE snapshot = ?", (snapshot,))
    }
    assert sorted(got) == sorted(want), "different accounts in the snapshot"
    diffs = [
        f"account id {a + 1} {f}: stored {got[a][f]!r} reference {want[a][f]!r}"
        for a in sorted(want)
        for f in FIELDS
        if got[a][f] != want[a][f]
    ]
    stored_pools = {
        r[0]: {"category": r[0], "driver": r[1], "pooled": r[2], "allocated": r[3], "unallocated": r[4]}
        for r in conn.execute(
            "SELECT category, driver, pooled, allocated, unallocated FROM snapshot_pools WHERE snapshot = ?", (snapshot,)
        )
    }
    if stored_pools != {p.category: vars(p) for p in ref.pools}:
        diffs.append(f"pools: stored {stored_pools} reference {[vars(p) for p in ref.pools]}")
    # each account's share of each pool (schema v5): little-endian i64, in account order
    has_shares = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'snapshot_pool_shares'").fetchone()
    if has_shares:
        order = sorted(got)
        shares = dict(
            conn.execute("SELECT category, data FROM snapshot_pool_shares WHERE snapshot = ?", (snapshot,)).fetchall()
        )
        # stored: every pool with an allocation, never an unallocated one (a zero pool may go either way)
        must = {p.category for p in ref.pools if p.allocated != 0}
        may = {p.category for p in ref.pools if p.unallocated == 0}
        if not must <= set(shares) <= may:
            diffs.append(f"pool shares stored for {sorted(shares)}; allocated pools {sorted(must)}")
        for category, data in shares.items():
            values = [int.from_bytes(data[8 * i : 8 * i + 8], "little", signed=True) for i in range(len(data) // 8)]
            if len(values) != len(order):
                diffs.append(f"pool {category}: {len(values)} shares for {len(order)} accounts")
                continue
            for a, v in zip(order, values, strict=True):
                expect = ref.accounts[a].allocated_by_category.get(category, 0)
                if v != expect:
                    diffs.append(f"account id {a + 1} share of pool {category}: stored {v} reference {expect}")
    assert not diffs, "\n".join(diffs[:20]) + (f"\n... {len(diffs)} differences" if len(diffs) > 20 else "")
    return ref
