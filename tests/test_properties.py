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
    NO_PURCHASE,
    RFM5_OF,
    RFM5_SEGMENTS,
    RFM11_SEGMENTS,
    Cost,
    Event,
    Firmo,
    LineItem,
    World,
    assert_kernel_matches,
    config,
    config_json,
    in_window,
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
        print_blob=True,  # a failure prints the @reproduce_failure line that replays it
    )


CATEGORIES = ["hosting", "support", "success", "licences", "compute", "office"]
KINDS = ["login", "page_view", "ticket", "payment_failed", "invite_team", "create_task", "export"]
#: Event kinds as rows draw them: tickets and a core feature more often, to make spikes and tiers.
EVENT_MIX = KINDS + ["ticket", "ticket", "create_task", "login"]
FIRST_DAY = 20_000  # 2024-10-04: realistic day numbers
SPAN = 120  # days of data: short enough for many ties in recency


def unpack(x: int, *sizes: int) -> list[int]:
    """Split one drawn integer into fields (the low digits first), so that a row costs one draw
    (several times faster to generate than a tuple of strategies) and shrinking towards 0 still
    shrinks every field towards its simplest value."""
    out = []
    for size in sizes:
        x, r = divmod(x, size)
        out.append(r)
    return out


def rows(min_size: int = 0, max_size: int = 0) -> st.SearchStrategy[list[int]]:
    """Lists of row codes (128 bits: more than the product of any row's field sizes)."""
    return st.lists(st.integers(0, 2**128 - 1), min_size=min_size, max_size=max_size)


def row_day(mode: int, uniform: int, recent: int) -> int:
    """Uniform over the span, or (one row in three) within 40 days of its end."""
    return FIRST_DAY + SPAN - recent if mode == 2 else FIRST_DAY + uniform


def recent_day(mode: int, uniform: int, recent: int) -> int:
    """Within 40 days of the span's end (two rows in three), else uniform."""
    return FIRST_DAY + uniform if mode == 2 else FIRST_DAY + SPAN - recent


def row_amount(kind: int, magnitude: int) -> int:
    """Mostly purchases, some refunds, some zero amounts, some huge values of either sign."""
    if kind <= 4:
        return 1 + magnitude % 5_000
    if kind == 5:
        return -(1 + magnitude % 5_000)
    if kind == 6:
        return 0
    return magnitude % (2 * 10**9 + 1) - 10**9


def optional(flag: int, value: int) -> int | None:
    return None if flag == 1 else value


@st.composite
def worlds(draw: st.DrawFn, max_accounts: int = 60, activity: bool = False) -> World:
    """Random worlds; ``activity=True`` makes few accounts with dense, recent activity, tickets,
    failed payments and renewals near the end of the data, where the churn signals, trend,
    lifecycle stages and tiers are decided."""
    n = draw(st.integers(1, max_accounts))
    density = draw(st.sampled_from([8, 16, 30] if activity else [1, 3, 8]))  # rows per account
    day_of = recent_day if activity else row_day
    line_items = []
    for x in draw(rows(n * density // 2, n * density + 4)):
        a, mode, uniform, recent, kind, magnitude, inv = unpack(x, n, 3, SPAN + 1, 41, 8, 2**31, 10)
        # invoices: none (account-day purchases), one of a few per account (so lines share
        # invoices, an invoice can net to zero or below, and one invoice can span several days),
        # or a key that several accounts' lines carry (negative, as half of all 64-bit hashes are):
        # each account's lines with that key are that account's own invoice.
        invoice = 0 if inv == 0 else (a + 1) * 1_000_003 + inv if inv <= 6 else -inv * 1_000_000_007
        line_items.append(LineItem(a, day_of(mode, uniform, recent), row_amount(kind, magnitude), invoice))
    costs = []
    for x in draw(rows(0, n * density // 2 + 4)):
        pooled, a, mode, uniform, recent, cat, amount, has_units, units = unpack(
            x, 3, n, 3, SPAN + 1, 41, len(CATEGORIES), 20_501, 2, 21
        )
        costs.append(
            Cost(
                None if pooled == 0 else a,
                day_of(mode, uniform, recent),
                CATEGORIES[cat],
                amount - 500,
                units if has_units else None,
            )
        )
    events = []
    for x in draw(rows(n * density if activity else 0, n * density * 2)):
        a, mode, uniform, recent, kind = unpack(x, n, 3, SPAN + 1, 41, len(EVENT_MIX))
        events.append(Event(a, day_of(mode, uniform, recent), EVENT_MIX[kind]))
    firmo = {}
    for x in draw(rows(0, n)):
        a, *f = unpack(x, n, 2, 5002, 2, 100_001, 2, 52, 2, 61, 2, SPAN + 231, 2, SPAN + 91)
        firmo[a] = Firmo(
            employees=optional(f[0], f[1] - 1),
            mrr=optional(f[2], f[3]),
            seats=optional(f[4], f[5] - 1),
            seat_limit=optional(f[6], f[7]),
            signup_day=optional(f[8], FIRST_DAY - 200 + f[9]),
            renewal_day=optional(f[10], FIRST_DAY + (SPAN - 10 + f[11] % 50 if activity else f[11])),
        )
    # category and kind lists sometimes name entries no row uses, and fix the code order
    return World(
        n_accounts=n,
        line_items=line_items,
        costs=costs,
        events=events,
        firmo=firmo,
        cost_categories=draw(st.lists(st.sampled_from(CATEGORIES), unique=True, max_size=3)),
        event_kinds=draw(st.lists(st.sampled_from(KINDS), unique=True, max_size=3)),
    )


@st.composite
def as_of_days(draw: st.DrawFn, world: World) -> int:
    days = [li.day for li in world.line_items] + [c.day for c in world.costs]
    if not days:
        return draw(st.integers(FIRST_DAY, FIRST_DAY + SPAN))
    lo, hi = min(days), max(days)
    return draw(
        st.one_of(
            st.just(hi),  # at the end of the data (the design's default)
            st.just(hi),
            st.integers(lo, hi),  # inside
            st.integers(hi + 1, hi + 40),  # a little after
            st.just(lo - 1),  # before everything
            st.integers(hi + 41, hi + 400),  # long after
        )
    )


DRIVERS = ["revenue", "line_items", "seats", "driver_units", "equal"] + [f"events:{k}" for k in KINDS + ["demo_booked"]]


@st.composite
def configs(draw: st.DrawFn) -> dict:
    """Configurations: windows, drivers, thresholds, saas mode and a few churn/tier settings."""
    overrides: dict = {
        "mode": draw(st.sampled_from(["transactions", "transactions", "saas"])),
        "rfm.window_days": draw(st.one_of(st.none(), st.integers(1, 90), st.just(365))),
        "costs.default_driver": draw(st.sampled_from(DRIVERS)),
        "costs.drivers": draw(st.dictionaries(st.sampled_from(CATEGORIES), st.sampled_from(DRIVERS), max_size=len(CATEGORIES))),
    }
    if draw(st.integers(0, 3)) == 0:
        overrides["quadrant.revenue_threshold"] = draw(st.integers(-1000, 20_000))
    if draw(st.integers(0, 3)) == 0:
        overrides["quadrant.cost_threshold"] = draw(st.integers(-1000, 20_000))
    if draw(st.integers(0, 4)) == 0:
        overrides["rfm.thresholds.recency"] = sorted(draw(st.lists(st.integers(0, 200), min_size=4, max_size=4, unique=True)), reverse=True)
    if draw(st.integers(0, 4)) == 0:
        overrides["rfm.thresholds.frequency"] = sorted(draw(st.lists(st.integers(0, 12), min_size=4, max_size=4, unique=True)))
    if draw(st.integers(0, 4)) == 0:
        overrides["rfm.thresholds.monetary"] = sorted(draw(st.lists(st.integers(-1000, 20_000), min_size=4, max_size=4, unique=True)))
    if draw(st.booleans()):
        overrides["saas.window_days"] = draw(st.integers(1, 120))
        overrides["saas.frequency"] = draw(st.sampled_from(["events", "active_days"]))
        overrides["saas.revenue_months"] = draw(st.integers(1, 4))
        overrides["saas.high_signal_events"] = draw(st.one_of(st.none(), st.lists(st.sampled_from(KINDS), unique=True, min_size=1, max_size=3)))
    if draw(st.booleans()):
        # short churn windows so the signals fire on 120-day worlds
        overrides["churn.recent_days"] = draw(st.integers(1, 30))
        overrides["churn.prior_days"] = draw(st.integers(1, 60))
        overrides["churn.gap_min_days"] = draw(st.integers(1, 20))
        overrides["churn.ticket_min"] = draw(st.integers(1, 3))
        overrides["churn.drop_min_prior_days"] = draw(st.integers(1, 3))
        # the usual gap: own with 2-4 basis days or more, else a short default; both levels
        overrides["churn.gap_min_purchases"] = draw(st.integers(2, 4))
        overrides["churn.gap_default_days"] = draw(st.integers(1, 40))
        factor = draw(st.integers(50, 300))
        overrides["churn.gap_factor_pct"] = factor
        overrides["churn.gap_long_factor_pct"] = factor + draw(st.integers(0, 300))
        # any weights, odd ones too ("half the weight" rounds down)
        overrides["churn.weights.inactive_beyond_usual_gap"] = draw(st.integers(0, 45))
        overrides["churn.weights.activity_drop"] = draw(st.integers(0, 45))
        overrides["lifecycle.churn_horizon_days"] = draw(st.integers(1, 120))
        overrides["lifecycle.onboarding_days"] = draw(st.integers(1, 40))
    if draw(st.booleans()):
        overrides["tier.window_days"] = draw(st.integers(1, 60))
        overrides["tier.power_active_days"] = draw(st.integers(0, 6))
        overrides["tier.power_core_features"] = draw(st.integers(0, 3))
        overrides["tier.core_active_days"] = draw(st.integers(0, 3))
        overrides["tier.core_features"] = draw(st.one_of(st.none(), st.lists(st.sampled_from(KINDS), unique=True, max_size=3)))
    return config(overrides)


@st.composite
def scenarios(draw: st.DrawFn, max_accounts: int = 60, activity: bool = False) -> tuple[World, int, dict]:
    world = draw(worlds(max_accounts, activity))
    return world, draw(as_of_days(world)), draw(configs())


# --- kernel == reference ----------------------------------------------------------------------


@bounded(120)
@given(scenarios())
def test_kernel_equals_reference(scenario: tuple[World, int, dict]) -> None:
    kernel_or_skip()
    world, as_of, cfg = scenario
    assert_kernel_matches(world, as_of, cfg)


@bounded(60)
@given(scenarios(max_accounts=3))
def test_kernel_equals_reference_tiny_worlds(scenario: tuple[World, int, dict]) -> None:
    """One to three accounts: the corners (n = 1, everyone tied, nobody scored)."""
    kernel_or_skip()
    world, as_of, cfg = scenario
    assert_kernel_matches(world, as_of, cfg)


@bounded(60)
@given(scenarios(max_accounts=8, activity=True))
def test_kernel_equals_reference_dense_activity(scenario: tuple[World, int, dict]) -> None:
    """Few accounts with dense recent activity: churn signals, trend, stages and tiers."""
    kernel_or_skip()
    world, as_of, cfg = scenario
    assert_kernel_matches(world, as_of, cfg)


# --- invariants (on the reference; the kernel equals it, so they hold for both) ---------------


@bounded(100)
@given(scenarios())
def test_invariants(scenario: tuple[World, int, dict]) -> None:
    world, as_of, cfg = scenario
    res = score(world, as_of=as_of, cfg=cfg)
    accounts = res.accounts
    # snapshot: exactly the accounts with a line item or an account cost on or before D
    members = {li.account for li in world.line_items if li.day <= as_of}
    members |= {c.account for c in world.costs if c.account is not None and c.day <= as_of}
    if cfg["mode"] == "saas":
        members |= {e.account for e in world.events if e.day <= as_of}
    assert set(accounts) == members
    # revenue reconciles with the store's net revenue in the window
    assert sum(r.revenue for r in accounts.values()) == sum(
        li.amount for li in world.line_items if in_window(li.day, as_of, cfg["rfm"]["window_days"])
    )
    # pools: allocated + unallocated == pooled, per category and in total, exactly
    pooled: dict[str, int] = {}
    for c in world.costs:
        if c.account is None and in_window(c.day, as_of, cfg["rfm"]["window_days"]):
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
        ordered = sorted(scored, key=key)
        for x, y in zip(ordered, ordered[1:]):  # key(x) <= key(y)
            if key(x) == key(y):
                assert getattr(x, dim) == getattr(y, dim)
            else:
                assert getattr(x, dim) <= getattr(y, dim)
    # the best account on a dimension scores 5 unless it is tied with more than a fifth of them
    if scored and cfg["rfm"]["thresholds"]["frequency"] is None:
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


def test_reference_defaults_are_the_kernels() -> None:
    """The defaults written out in the reference (from docs/scoring.md) are the kernel's."""
    import json

    kernel_or_skip()
    from segtui import _core

    kernel = json.loads(_core.default_config_json())
    kernel.pop("maps")
    assert kernel == config()
    # and the kernel accepts the reference's configuration JSON as complete and canonical
    assert json.loads(_core.canonical_config_json(config_json(config()))) == {**config(), "maps": json.loads(_core.default_config_json())["maps"]}


# --- end to end on the demo store -------------------------------------------------------------

DEMO_CONFIG = """\
[scoring.rfm]
window_days = 365

[scoring.costs.drivers]
support = "events:support_ticket"
compute = "driver_units"
storage = "seats"
onboarding = "equal"
"""


def test_demo_store_snapshots_match_the_reference(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`segtui demo` + `segtui score` (both modes, two dates, default and custom configuration):
    every stored snapshot row and pool equals the reference computed from the store's rows."""
    import sqlite3

    from click.testing import CliRunner
    from reference import assert_snapshot_matches_reference, world_from_store
    from segtui.cli import all_commands, cli

    missing = [c for c in ("demo", "score") if c not in all_commands()]
    if missing:
        import pytest

        pytest.skip(f"`segtui {' / '.join(missing)}` is not in this build yet")
    db = str(tmp_path / "demo.db")
    toml = tmp_path / "custom.toml"
    toml.write_text(DEMO_CONFIG)
    runner = CliRunner()
    runs = [
        ["demo", "--no-open", "--accounts", "300", "--seed", "7"],
        ["score"],
        ["score", "--mode", "saas"],
        ["score", "--as-of", "2025-06-30", "--config", str(toml)],
        ["score", "--as-of", "2025-06-30", "--mode", "saas", "--config", str(toml), "--no-cache"],
    ]
    for args in runs:
        result = runner.invoke(cli, ["--db", db, "-q", *args], catch_exceptions=False)
        assert result.exit_code == 0, f"segtui {' '.join(args)}: {result.output}"
    conn = sqlite3.connect(db)
    world = world_from_store(conn)
    assert world.costs and world.events and world.firmo
    snapshots = [r[0] for r in conn.execute("SELECT id FROM snapshots ORDER BY id")]
    # the demo's 13 month-end snapshots; `score` replaces the one as of the last day (same
    # configuration), the other three runs add one each
    assert len(snapshots) == 16
    for snapshot in snapshots[:2] + snapshots[-4:]:
        assert_snapshot_matches_reference(conn, snapshot, world)
    conn.close()


# --- segment maps are data --------------------------------------------------------------------


def test_kernel_default_maps_are_the_design_grids() -> None:
    import json

    from reference import map_lookup

    kernel_or_skip()
    from segtui import _core

    maps = json.loads(_core.default_config_json())["maps"]
    lookup = map_lookup(maps)
    assert lookup == {t: (rfm11(*t), rfm5(*t)) for t in lookup} and len(lookup) == 125


SEGMENT_NAMES = ["Alpha", "Beta", "Gamma", "Delta", "Epsilon", "Zeta", "Eta"]


@st.composite
def custom_maps(draw: st.DrawFn) -> dict:
    """A random total map: each triple gets one of a few names (one cell spec per triple, or one
    spec per segment where it covers a whole FM row); rfm5 groups the rfm11 names."""
    names = SEGMENT_NAMES[: draw(st.integers(1, len(SEGMENT_NAMES)))]
    by_fm_row = draw(st.booleans())
    cells: dict[str, list[str]] = {n: [] for n in names}
    if by_fm_row:
        for r in range(1, 6):
            for fm in range(1, 6):
                cells[draw(st.sampled_from(names))].append(f"r{r} fm{fm}")
    else:
        for r in range(1, 6):
            for f in range(1, 6):
                for m in range(1, 6):
                    cells[draw(st.sampled_from(names))].append(f"r{r} f{f} m{m}")
    rfm11_map = [{"name": n, "cells": c, "action": ""} for n, c in cells.items() if c]
    groups: dict[str, list[str]] = {}
    for seg in rfm11_map:
        groups.setdefault(draw(st.sampled_from(["Top", "Middle", "Bottom"])), []).append(seg["name"])
    rfm5_map = [{"name": g, "rfm11": members, "cells": [], "action": ""} for g, members in groups.items()]
    return {"rfm11": rfm11_map, "rfm5": rfm5_map}


@bounded(40)
@given(worlds(max_accounts=30), custom_maps())
def test_kernel_equals_reference_with_custom_maps(world: World, maps: dict) -> None:
    kernel_or_skip()
    cfg = config()
    cfg["maps"] = maps
    as_of = max((li.day for li in world.line_items), default=FIRST_DAY)
    assert_kernel_matches(world, as_of, cfg)
