"""Property tests: the Rust kernel equals the reference on random small worlds, and invariants hold.

Run time is bounded: each test runs a modest number of examples by default (a few seconds).
``SEGTUI_HYPOTHESIS_PROFILE=long`` multiplies the examples by 25 for a deeper run;
``SEGTUI_HYPOTHESIS_PROFILE=quick`` divides them by 5.
"""

from __future__ import annotations

import os
from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference import (
    DRIVERS,
    NO_PURCHASE,
    RFM5_OF,
    RFM5_SEGMENTS,
    RFM11_SEGMENTS,
    Config,
    Cost,
    Driver,
    Event,
    Firmo,
    LineItem,
    World,
    assert_kernel_matches,
    kernel_or_skip,
    largest_remainder,
    rfm5,
    rfm11,
    score,
    tie_rule_scores,
    tie_rule_scores_by_counting,
)

PROFILE = os.environ.get("SEGTUI_HYPOTHESIS_PROFILE", "ci")
SCALE = {"ci": 1.0, "long": 25.0, "quick": 0.2}.get(PROFILE)
if SCALE is None:
    raise RuntimeError(f"SEGTUI_HYPOTHESIS_PROFILE={PROFILE!r}: expected ci, long or quick")


def bounded(n: int) -> settings:
    """Settings for a test with ``n`` examples in the default (CI) profile."""
    return settings(
        max_examples=max(1, int(n * SCALE)),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        database=None,
    )


CATEGORIES = ["hosting", "support", "success", "licences", "compute", "office"]
KINDS = ["login", "ticket", "invite_team", "create_task", "export"]
FIRST_DAY = 20_000  # 2024-10-04: realistic day numbers
SPAN = 120  # days of data: short enough for many ties in recency


@st.composite
def worlds(draw: st.DrawFn, max_accounts: int = 60) -> World:
    n = draw(st.integers(1, max_accounts))
    account = st.integers(0, n - 1)
    day = st.integers(FIRST_DAY, FIRST_DAY + SPAN)
    # amounts: mostly small purchases, some refunds, some zero, some large
    amount = st.one_of(
        st.integers(1, 5_000),
        st.integers(-5_000, -1),
        st.just(0),
        st.integers(-(10**9), 10**9),
    )
    # invoices: none (account-day purchases) or a small per-account number, so lines share
    # invoices, an invoice can net to zero or below, and one invoice can span several days.
    invoice = st.one_of(st.just(0), st.integers(1, 6))
    raw_lines = draw(st.lists(st.tuples(account, day, amount, invoice), max_size=8 * n + 4))
    line_items = [
        LineItem(a, d, amt, 0 if inv == 0 else (a + 1) * 1_000_003 + inv) for a, d, amt, inv in raw_lines
    ]
    cost_account = st.one_of(st.none(), account)
    units = st.one_of(st.none(), st.integers(0, 20))
    raw_costs = draw(
        st.lists(
            st.tuples(cost_account, day, st.sampled_from(CATEGORIES), st.integers(-500, 20_000), units),
            max_size=3 * n + 4,
        )
    )
    costs = [Cost(a, d, c, amt, u) for a, d, c, amt, u in raw_costs]
    raw_events = draw(st.lists(st.tuples(account, day, st.sampled_from(KINDS)), max_size=6 * n))
    events = [Event(a, d, k) for a, d, k in raw_events]
    maybe = lambda s: st.one_of(st.none(), s)  # noqa: E731
    firmo_strategy = st.builds(
        Firmo,
        employees=maybe(st.integers(0, 5000)),
        mrr=maybe(st.integers(0, 100_000)),
        seats=maybe(st.integers(0, 50)),
        seat_limit=maybe(st.integers(1, 60)),
        signup_day=maybe(st.integers(FIRST_DAY - 200, FIRST_DAY + SPAN)),
        renewal_day=maybe(st.integers(FIRST_DAY, FIRST_DAY + SPAN + 90)),
    )
    firmo = draw(st.dictionaries(account, firmo_strategy, max_size=n))
    # category and kind lists sometimes name entries no row uses
    return World(
        n_accounts=n,
        line_items=line_items,
        costs=costs,
        events=events,
        firmo=firmo,
        cost_categories=draw(st.lists(st.sampled_from(CATEGORIES), unique=True, max_size=2)),
        event_kinds=draw(st.lists(st.sampled_from(KINDS), unique=True, max_size=2)),
    )


@st.composite
def as_of_days(draw: st.DrawFn, world: World) -> int:
    days = [li.day for li in world.line_items] + [c.day for c in world.costs]
    if not days:
        return draw(st.integers(FIRST_DAY, FIRST_DAY + SPAN))
    lo, hi = min(days), max(days)
    return draw(
        st.one_of(
            st.just(hi),  # at the end of the data
            st.integers(lo, hi),  # inside
            st.just(lo - 1),  # before everything
            st.integers(hi + 1, hi + 400),  # after
        )
    )


drivers = st.one_of(
    st.builds(Driver, st.sampled_from([d for d in DRIVERS if d != "events"])),
    st.builds(Driver, st.just("events"), st.sampled_from(KINDS)),
)

configs = st.builds(
    Config,
    window_days=st.one_of(st.none(), st.integers(1, 90), st.just(365)),
    drivers=st.dictionaries(st.sampled_from(CATEGORIES), drivers, max_size=len(CATEGORIES)),
    default_driver=st.one_of(st.just(Driver()), drivers),
    revenue_threshold=st.one_of(st.none(), st.none(), st.integers(-1000, 20_000)),
    cost_threshold=st.one_of(st.none(), st.none(), st.integers(-1000, 20_000)),
)


@st.composite
def scenarios(draw: st.DrawFn, max_accounts: int = 60) -> tuple[World, int, Config]:
    world = draw(worlds(max_accounts))
    return world, draw(as_of_days(world)), draw(configs)


# --- kernel == reference ----------------------------------------------------------------------


@bounded(150)
@given(scenarios())
def test_kernel_equals_reference(scenario: tuple[World, int, Config]) -> None:
    kernel_or_skip()
    world, as_of, config = scenario
    assert_kernel_matches(world, as_of, config)


@bounded(60)
@given(scenarios(max_accounts=3))
def test_kernel_equals_reference_tiny_worlds(scenario: tuple[World, int, Config]) -> None:
    """One to three accounts: the corners (n = 1, everyone tied, nobody scored)."""
    kernel_or_skip()
    world, as_of, config = scenario
    assert_kernel_matches(world, as_of, config)


# --- invariants (on the reference; the kernel equals it, so they hold for both) ---------------


@bounded(150)
@given(scenarios())
def test_invariants(scenario: tuple[World, int, Config]) -> None:
    world, as_of, config = scenario
    res = score(world, as_of=as_of, config=config)
    accounts = res.accounts
    # snapshot: exactly the accounts with a line item or an account cost on or before D
    members = {li.account for li in world.line_items if li.day <= as_of}
    members |= {c.account for c in world.costs if c.account is not None and c.day <= as_of}
    assert set(accounts) == members
    # revenue reconciles with the store's net revenue in the window
    assert sum(r.revenue for r in accounts.values()) == sum(
        li.amount for li in world.line_items if config.in_window(li.day, as_of)
    )
    # pools: allocated + unallocated == pooled, per category and in total, exactly
    pooled: dict[str, int] = {}
    for c in world.costs:
        if c.account is None and config.in_window(c.day, as_of):
            pooled[c.category] = pooled.get(c.category, 0) + c.amount
    assert {p.category: p.pooled for p in res.pools} == pooled
    for p in res.pools:
        assert p.allocated + p.unallocated == p.pooled
        assert p.unallocated in (0, p.pooled)
        assert sum(r.allocated_by_category.get(p.category, 0) for r in accounts.values()) == p.allocated
    assert sum(r.allocated_cost for r in accounts.values()) == sum(p.allocated for p in res.pools)
    scored = [r for r in accounts.values() if r.recency_days is not None]
    for r in accounts.values():
        assert r.margin == r.revenue - r.direct_cost - r.allocated_cost
        assert r.rfm_segment in RFM11_SEGMENTS and r.rfm5_segment in RFM5_SEGMENTS
        if r.recency_days is None:
            assert (r.r_score, r.f_score, r.m_score) == (None, None, None)
            assert r.rfm_segment == r.rfm5_segment == NO_PURCHASE
            assert r.frequency == 0
        else:
            assert r.recency_days >= 0
            assert all(s in range(1, 6) for s in (r.r_score, r.f_score, r.m_score))
            assert r.rfm_segment == rfm11(r.r_score, r.f_score, r.m_score)
            assert r.rfm5_segment == RFM5_OF[r.rfm_segment]
        if r.revenue > 0:
            assert r.margin_pct == Fraction(r.margin, r.revenue)
        else:
            assert r.margin_pct is None
    # ties share a score; a strictly better value never gets a lower score
    for dim, key in (("r_score", lambda r: -r.recency_days), ("f_score", lambda r: r.frequency), ("m_score", lambda r: r.monetary)):
        for x in scored:
            for y in scored:
                if key(x) == key(y):
                    assert getattr(x, dim) == getattr(y, dim)
                elif key(x) > key(y):
                    assert getattr(x, dim) >= getattr(y, dim)
    # the best account on a dimension scores 5 unless it is tied with more than a fifth of them
    if scored:
        n = len(scored)
        best = max(scored, key=lambda r: r.frequency)
        tied = sum(1 for r in scored if r.frequency == best.frequency)
        assert best.f_score == 1 + (5 * (n - tied)) // n


@bounded(200)
@given(
    st.dictionaries(st.integers(0, 200), st.integers(-5, 5), min_size=1, max_size=80),
    st.booleans(),
)
def test_tie_rule_gives_tied_accounts_identical_scores(values: dict[int, int], higher: bool) -> None:
    scores = tie_rule_scores(values, higher)
    assert scores == tie_rule_scores_by_counting(values, higher)
    by_value: dict[int, set[int]] = {}
    for a, v in values.items():
        by_value.setdefault(v, set()).add(scores[a])
    assert all(len(s) == 1 for s in by_value.values())
    assert set(scores.values()) <= {1, 2, 3, 4, 5}


@bounded(200)
@given(
    st.integers(-(10**12), 10**12),
    st.dictionaries(st.integers(0, 100), st.integers(0, 10**6), max_size=40),
)
def test_largest_remainder_is_exact_and_fair(pool: int, weights: dict[int, int]) -> None:
    share, unallocated = largest_remainder(pool, weights)
    total = sum(weights.values())
    if total == 0:
        assert (share, unallocated) == ({}, pool)
        return
    assert unallocated == 0 and sum(share.values()) == pool
    for a, w in weights.items():
        exact = Fraction(pool * w, total)
        # every account is within one unit of its exact share, and never below its floor
        assert exact - 1 < share.get(a, 0) <= exact + 1 or w == 0
        if w:
            assert share[a] - (pool * w) // total in (0, 1)


def test_all_125_triples_map_once() -> None:
    cells = {(r, f, m): (rfm11(r, f, m), rfm5(r, f, m)) for r in range(1, 6) for f in range(1, 6) for m in range(1, 6)}
    assert len(cells) == 125
    assert all(a in RFM11_SEGMENTS and b in RFM5_SEGMENTS and a != NO_PURCHASE for a, b in cells.values())
