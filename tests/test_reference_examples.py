"""Hand-worked examples for the reference implementation.

Every expected number below was worked out by hand from the design's definitions, and the working
is written beside it, so the reference that the kernel is compared with is itself checked.
"""

from __future__ import annotations

from fractions import Fraction

import pytest
from reference import (
    NO_PURCHASE,
    Result,
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
    kernel_available,
    largest_remainder,
    median,
    purchases,
    rfm5,
    rfm11,
    tie_rule_scores,
    tie_rule_scores_by_counting,
)
from reference import score as reference_score


def score(world: World, as_of: int | None = None, cfg: dict | None = None) -> Result:
    """The reference's answer; where the kernel is built, it must give the same answer."""
    res = reference_score(world, as_of=as_of, cfg=cfg)
    if kernel_available() and (as_of is not None or world.line_items):
        assert_kernel_matches(world, res.as_of_day, cfg)
    return res

# --- the tie rule ----------------------------------------------------------------------------


def test_tie_rule_on_heavy_ties() -> None:
    # frequencies 1,1,1,2,3 (n = 5): F=1 has r=0 -> 1; F=2 has r=3 -> 1 + 15//5 = 4; F=3 r=4 -> 5.
    freq = {0: 1, 1: 1, 2: 1, 3: 2, 4: 3}
    assert tie_rule_scores(freq, higher_is_better=True) == {0: 1, 1: 1, 2: 1, 3: 4, 4: 5}


def test_tie_rule_lower_is_better_for_recency() -> None:
    # recency 0, 10, 10, 400 (n = 4): 0 has r=3 -> 1 + 15//4 = 4; 10 has r=1 -> 1 + 5//4 = 2;
    # 400 has r=0 -> 1.
    rec = {7: 10, 8: 0, 9: 400, 10: 10}
    assert tie_rule_scores(rec, higher_is_better=False) == {7: 2, 8: 4, 9: 1, 10: 2}


def test_tie_rule_ten_distinct_values_use_every_score_twice() -> None:
    # n = 10, r = 0..9: 1 + floor(5r/10) = 1,1,2,2,3,3,4,4,5,5.
    vals = {a: a * 7 for a in range(10)}
    assert [tie_rule_scores(vals, True)[a] for a in range(10)] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]


def test_tie_rule_all_equal_and_single() -> None:
    assert tie_rule_scores({0: 3, 1: 3, 2: 3}, True) == {0: 1, 1: 1, 2: 1}
    assert tie_rule_scores({5: -20}, True) == {5: 1}
    assert tie_rule_scores({5: 20}, False) == {5: 1}


def test_tie_rule_bisect_matches_pairwise_counting() -> None:
    vals = {a: (a * 37) % 11 - 5 for a in range(40)}
    for hib in (True, False):
        assert tie_rule_scores(vals, hib) == tie_rule_scores_by_counting(vals, hib)


# --- the maps ---------------------------------------------------------------------------------


def test_every_score_triple_maps_to_exactly_one_segment() -> None:
    seen11 = set()
    for r in range(1, 6):
        for f in range(1, 6):
            for m in range(1, 6):
                seg = rfm11(r, f, m)
                assert seg in RFM11_SEGMENTS and seg != NO_PURCHASE
                assert rfm5(r, f, m) == RFM5_OF[seg] in RFM5_SEGMENTS
                seen11.add(seg)
    assert seen11 == RFM11_SEGMENTS - {NO_PURCHASE}  # every segment is reachable


def test_grid_cells_by_hand() -> None:
    # FM = (F + M + 1) div 2.
    assert rfm11(5, 5, 5) == "Champions"  # FM 5, R 5
    assert rfm11(1, 5, 4) == "Can't Lose Them"  # FM (5+4+1)//2 = 5, R 1
    assert rfm11(2, 4, 3) == "At Risk"  # FM 4, R 2
    assert rfm11(3, 3, 3) == "Need Attention"
    assert rfm11(3, 1, 2) == "About to Sleep"  # FM (1+2+1)//2 = 2
    assert rfm11(4, 1, 1) == "Promising"
    assert rfm11(5, 1, 1) == "New Customers"
    assert rfm11(5, 1, 2) == "Potential Loyalist"  # FM 2
    assert rfm11(3, 5, 4) == "Loyal"
    assert rfm11(2, 1, 2) == "Hibernating"
    assert rfm11(1, 2, 2) == "Lost"
    assert rfm5(2, 1, 1) == "Dormant"
    assert rfm5(4, 1, 1) == "Loyal"


# --- purchases --------------------------------------------------------------------------------


def test_purchase_is_invoice_with_positive_net_or_account_day() -> None:
    w = World(
        n_accounts=2,
        line_items=[
            LineItem(0, 10, 500, invoice=11),
            LineItem(0, 10, 300, invoice=11),  # same invoice: one purchase of 800
            LineItem(0, 12, 200, invoice=12),
            LineItem(0, 12, -200, invoice=12),  # net 0: not a purchase
            LineItem(0, 12, 50, invoice=13),  # a second invoice the same day: its own purchase
            LineItem(1, 20, 100),
            LineItem(1, 20, -30),  # account-day net 70: a purchase
            LineItem(1, 21, 40),
            LineItem(1, 21, -40),  # account-day net 0: not
            LineItem(1, 22, -5),  # refund only: not
            LineItem(1, 30, 1),  # after D: invisible
        ],
    )
    got = {a: sorted(d) for a, d in purchases(w, as_of=25).items()}
    assert got == {0: [10, 12], 1: [20]}


# --- a whole small world ----------------------------------------------------------------------


def world_small() -> World:
    return World(
        n_accounts=5,
        line_items=[
            # a0: invoice 11 on day 90 nets 800 (a purchase); invoice 12 on day 95 nets 0 (not).
            LineItem(0, 90, 500, 11),
            LineItem(0, 90, 300, 11),
            LineItem(0, 95, 200, 12),
            LineItem(0, 95, -200, 12),
            # a1: no invoices. Day 50 nets 70 (a purchase); day 60 is a refund of 500, larger
            # than everything it bought.
            LineItem(1, 50, 100),
            LineItem(1, 50, -30),
            LineItem(1, 60, -500),
            # a2: only a refund.
            LineItem(2, 70, -100),
            # a3: a line after D only.
            LineItem(3, 101, 999),
        ],
        costs=[
            Cost(3, 99, "support", 40),  # puts a3 in the snapshot with a cost and no revenue
            Cost(4, 200, "support", 7),  # after D: a4 is not in the snapshot
        ],
    )


def test_small_world_by_hand() -> None:
    res = score(world_small(), as_of=100)
    assert sorted(res.accounts) == [0, 1, 2, 3]
    a0, a1, a2, a3 = (res.accounts[i] for i in range(4))
    # Values: a0 recency 100-90 = 10, F 1, M 800; a1 recency 50, F 1, M 100-30-500 = -430.
    assert (a0.recency_days, a0.frequency, a0.monetary) == (10, 1, 800)
    assert (a1.recency_days, a1.frequency, a1.monetary) == (50, 1, -430)
    # Scores over n = 2: the better gets r = 1 -> 1 + 5//2 = 3, the worse 1; F is tied -> 1, 1.
    assert (a0.r_score, a0.f_score, a0.m_score) == (3, 1, 3)
    assert (a1.r_score, a1.f_score, a1.m_score) == (1, 1, 1)
    # a0: R 3, FM (1+3+1)//2 = 2 -> About to Sleep -> At Risk.  a1: R 1, FM 1 -> Lost.
    assert (a0.rfm_segment, a0.rfm5_segment) == ("About to Sleep", "At Risk")
    assert (a1.rfm_segment, a1.rfm5_segment) == ("Lost", "Lost")
    # a2 (refund only) and a3 (cost only): no purchase, no scores, but revenue/cost/margin.
    for r in (a2, a3):
        assert r.recency_days is None and r.frequency == 0
        assert (r.r_score, r.f_score, r.m_score) == (None, None, None)
        assert (r.rfm_segment, r.rfm5_segment) == (NO_PURCHASE, NO_PURCHASE)
    assert (a2.revenue, a2.margin, a2.margin_pct) == (-100, -100, None)
    assert (a3.revenue, a3.direct_cost, a3.margin, a3.margin_pct) == (0, 40, -40, None)
    assert a0.margin_pct == Fraction(1) and a1.margin_pct is None
    # Quadrant: revenues 800, -430, -100, 0 -> median (-100 + 0)/2 = -50: high = a0, a3.
    # Costs 0, 0, 0, 40 -> median 0: every cost is "at or above" 0, so all high cost.
    assert a0.quadrant == "high revenue, high cost"
    assert a3.quadrant == "high revenue, high cost"
    assert a1.quadrant == a2.quadrant == "low revenue, high cost"


def test_one_account_is_scored_one_everywhere() -> None:
    # n = 1: r = 0 on every dimension -> 1, 1, 1 -> FM 1, R 1 -> Lost. The rule, literally.
    w = World(n_accounts=1, line_items=[LineItem(0, 5, 1000)])
    r = score(w).accounts[0]
    assert (r.recency_days, r.frequency, r.monetary) == (0, 1, 1000)
    assert (r.r_score, r.f_score, r.m_score, r.rfm_segment) == (1, 1, 1, "Lost")
    assert r.quadrant == "high revenue, high cost"  # at or above its own medians


def test_default_as_of_is_latest_line_item() -> None:
    w = World(
        n_accounts=2,
        line_items=[LineItem(0, 5, 10), LineItem(1, 9, 10)],
        costs=[Cost(0, 50, "x", 3)],  # costs do not move the default date
    )
    res = score(w)
    assert res.as_of_day == 9
    assert res.accounts[0].recency_days == 4 and res.accounts[0].direct_cost == 0


def test_all_equal_frequencies() -> None:
    w = World(
        n_accounts=4,
        line_items=[LineItem(a, 10 + a, 100 * (a + 1)) for a in range(4)],
    )
    res = score(w, as_of=20)
    assert [res.accounts[a].f_score for a in range(4)] == [1, 1, 1, 1]
    # recency 10, 9, 8, 7 -> r 0,1,2,3 of n=4 -> 1, 2, 3, 4 ; monetary the same order.
    assert [res.accounts[a].r_score for a in range(4)] == [1, 2, 3, 4]
    assert [res.accounts[a].m_score for a in range(4)] == [1, 2, 3, 4]


def test_window_limits_frequency_monetary_and_costs_not_recency() -> None:
    cfg = config({"rfm.window_days": 10})  # D = 100: days 91..100
    w = World(
        n_accounts=2,
        line_items=[
            LineItem(0, 50, 1000),  # outside the window
            LineItem(0, 91, 10),  # first day inside
            LineItem(0, 95, -3),
            LineItem(1, 90, 500),  # last day outside: an empty window for a1
        ],
        costs=[Cost(0, 90, "ops", 7), Cost(0, 91, "ops", 11), Cost(None, 90, "ops", 100)],
    )
    res = score(w, as_of=100, cfg=cfg)
    a0, a1 = res.accounts[0], res.accounts[1]
    assert (a0.recency_days, a0.frequency, a0.monetary, a0.direct_cost) == (9, 1, 7, 11)
    # a1 has a purchase by D (so it is scored) but nothing in the window.
    assert (a1.recency_days, a1.frequency, a1.monetary, a1.revenue) == (10, 0, 0, 0)
    assert a1.f_score == 1 and a0.f_score == 3  # F: 1 vs 0 over n=2
    assert res.pools == []  # the only pooled cost is outside the window


# --- cost allocation --------------------------------------------------------------------------


def test_largest_remainder_by_hand() -> None:
    # 100 over three equal weights: 33 each, remainders 1/3 each, one unit left -> smallest id.
    assert largest_remainder(100, {2: 1, 0: 1, 1: 1}) == ({0: 34, 1: 33, 2: 33}, 0)
    # 7 over weights 1, 1, 2 (W 4): floors 1, 1, 3 (fractions 3/4, 3/4, 2/4): two units left go
    # to the two 3/4 accounts.
    assert largest_remainder(7, {5: 1, 2: 1, 9: 2}) == ({2: 2, 5: 2, 9: 3}, 0)
    # 1 unit between two equal weights: to the smaller id.
    assert largest_remainder(1, {3: 1, 1: 1}) == ({1: 1, 3: 0}, 0)
    # A credit (negative pool) of -7 over two is split as 7 (4 to the smaller id, 3) and negated.
    assert largest_remainder(-7, {0: 1, 1: 1}) == ({0: -4, 1: -3}, 0)
    # Zero weights get nothing, and a zero driver everywhere leaves the pool unallocated.
    assert largest_remainder(10, {0: 0, 1: 3}) == ({1: 10}, 0)
    assert largest_remainder(10, {0: 0, 1: 0}) == ({}, 10)
    assert largest_remainder(0, {0: 1, 1: 2}) == ({0: 0, 1: 0}, 0)


def test_pooled_costs_by_each_driver() -> None:
    w = World(
        n_accounts=4,
        line_items=[
            LineItem(0, 10, 300),
            LineItem(1, 10, 100),
            LineItem(1, 11, 100),
            LineItem(2, 10, -50),  # negative revenue counts as weight 0
        ],
        costs=[
            Cost(None, 12, "hosting", 1001),  # by revenue: weights 300, 200, 0
            Cost(None, 12, "support", 10),  # by line items: 1, 2, 1
            Cost(None, 12, "success", 9),  # by events "ticket": a2 x2, a0 x1 ; a3 not in snapshot
            Cost(None, 12, "licences", 5),  # by seats: a0 3, a1 missing, a2 2
            Cost(None, 12, "compute", 8),  # by driver units on the category's direct rows
            Cost(0, 12, "compute", 0, driver_units=1),
            Cost(2, 12, "compute", 0, driver_units=3),
            Cost(None, 12, "office", 10),  # equally
            Cost(None, 12, "marketing", 77),  # by an event kind nobody has: unallocated
        ],
        events=[Event(2, 5, "ticket"), Event(2, 6, "ticket"), Event(0, 6, "ticket"), Event(3, 6, "ticket")],
        firmo={0: Firmo(seats=3), 2: Firmo(seats=2), 3: Firmo(seats=100)},
    )
    cfg = config(
        {
            "costs.drivers": {
                "support": "line_items",
                "success": "events:ticket",
                "licences": "seats",
                "compute": "driver_units",
                "office": "equal",
                "marketing": "events:demo_booked",
            }
        }
    )
    res = score(w, as_of=20, cfg=cfg)
    assert sorted(res.accounts) == [0, 1, 2]
    by = {a: res.accounts[a].allocated_by_category for a in res.accounts}
    # hosting 1001 by 300:200 -> 600.6 / 400.4 -> floors 600, 400, one unit to a0 (.6 > .4).
    assert (by[0]["hosting"], by[1]["hosting"]) == (601, 400) and "hosting" not in by[2]
    # support 10 by 1:2:1 -> 2.5, 5, 2.5 -> floors 2, 5, 2, one unit left, tie .5/.5 -> a0.
    assert (by[0]["support"], by[1]["support"], by[2]["support"]) == (3, 5, 2)
    # success 9 by tickets 1:0:2 (a3 has events but is not in the snapshot) -> 3, 6.
    assert (by[0]["success"], by[2]["success"]) == (3, 6)
    # licences 5 by seats 3:0:2 -> 3, 2.
    assert (by[0]["licences"], by[2]["licences"]) == (3, 2)
    # compute 8 by units 1:3 -> 2, 6.
    assert (by[0]["compute"], by[2]["compute"]) == (2, 6)
    # office 10 equally over three -> 3.33 each, one unit to a0.
    assert (by[0]["office"], by[1]["office"], by[2]["office"]) == (4, 3, 3)
    pools = {p.category: p for p in res.pools}
    assert (pools["marketing"].allocated, pools["marketing"].unallocated) == (0, 77)
    for p in res.pools:
        assert p.allocated + p.unallocated == p.pooled
    assert sum(r.allocated_cost for r in res.accounts.values()) == sum(p.allocated for p in res.pools)
    a0 = res.accounts[0]
    assert a0.allocated_cost == 601 + 3 + 3 + 3 + 2 + 4
    assert a0.margin == 300 - 0 - a0.allocated_cost


# --- quadrant ---------------------------------------------------------------------------------


def test_median_even_and_odd() -> None:
    assert median([3, 1, 2]) == 2
    assert median([0, 100, 200, 300]) == 150
    assert median([-1, 0]) == Fraction(-1, 2)


def test_quadrant_by_median_and_by_threshold() -> None:
    # revenues 0, 100, 200, 300 -> median 150; costs 10, 10, 10, 50 -> median 10.
    w = World(
        n_accounts=4,
        line_items=[LineItem(a, 1, 100 * a) for a in range(4)],
        costs=[Cost(0, 1, "c", 10), Cost(1, 1, "c", 10), Cost(2, 1, "c", 10), Cost(3, 1, "c", 50)],
    )
    res = score(w, as_of=1)
    q = [res.accounts[a].quadrant for a in range(4)]
    assert q == ["low revenue, high cost", "low revenue, high cost", "high revenue, high cost", "high revenue, high cost"]
    res = score(w, as_of=1, cfg=config({"quadrant.revenue_threshold": 100, "quadrant.cost_threshold": 11}))
    q = [res.accounts[a].quadrant for a in range(4)]
    assert q == ["low revenue, low cost", "high revenue, low cost", "high revenue, low cost", "high revenue, high cost"]


def test_size_bands() -> None:
    w = World(
        n_accounts=4,
        line_items=[LineItem(a, 1, 1) for a in range(4)],
        firmo={0: Firmo(employees=99), 1: Firmo(employees=100), 2: Firmo(employees=1000)},
    )
    res = score(w)
    assert [res.accounts[a].size_band for a in range(4)] == ["SMB", "Mid-Market", "Enterprise", None]


@pytest.mark.parametrize("as_of", [0, 4])
def test_as_of_before_any_data_is_an_empty_snapshot(as_of: int) -> None:
    w = World(n_accounts=1, line_items=[LineItem(0, 5, 10)], costs=[Cost(None, 1, "x", 5)])
    res = score(w, as_of=as_of)
    assert res.accounts == {}
    # a pool with nobody to carry it is unallocated (when it is on or before D)
    assert [(p.pooled, p.unallocated) for p in res.pools] == ([(5, 5)] if as_of >= 1 else [])


# --- fixed thresholds -------------------------------------------------------------------------


def test_fixed_thresholds_replace_the_tie_rule() -> None:
    # recency [365, 180, 90, 30]: 30 days is <= all four -> 5; 31 days <= three -> 4.
    # frequency [2, 3, 5, 10]: F 1 reaches none -> 1; F 5 reaches 2, 3, 5 -> 4.
    w = World(
        n_accounts=2,
        line_items=[LineItem(0, 70, 10)] + [LineItem(1, 60 + i, 10) for i in range(5)],
    )
    cfg = config({"rfm.thresholds.recency": [365, 180, 90, 30], "rfm.thresholds.frequency": [2, 3, 5, 10]})
    res = score(w, as_of=100, cfg=cfg)
    a0, a1 = res.accounts[0], res.accounts[1]
    assert (a0.recency_days, a0.r_score, a0.frequency, a0.f_score) == (30, 5, 1, 1)
    assert (a1.recency_days, a1.r_score, a1.frequency, a1.f_score) == (36, 4, 5, 4)
    # monetary still by the tie rule: 10 vs 50 over n = 2 -> 1 and 3
    assert (a0.m_score, a1.m_score) == (1, 3)


# --- churn risk, health, lifecycle, tier (defaults: R = 30 recent days, P = 90 prior days) -----

D = 1000


def test_lapsed_regular_buyer() -> None:
    # Purchases on D-60, D-50, D-40: k = 3 >= gap_min_purchases, usual gap (L - F)/(k - 1) = 10
    # days, silent for s = 40 >= 14 days and 40 > 200 % of 10 -> inactive_beyond_usual_gap; 40 is
    # not more than 400 % of 10 -> the first level, 40 div 2 = 20 points.
    # No events: the activity days are the purchase days in the last 120: ages 60, 50, 40, all
    # prior -> recent 0, prior 3 >= 3 and 0/30 < 50 % of 3/90: dropped, and stopped (recent 0)
    # -> activity_drop with its full 40. Risk 60 -> high.
    w = World(n_accounts=1, line_items=[LineItem(0, D - g, 100) for g in (60, 50, 40)])
    r = score(w, as_of=D).accounts[0]
    assert (r.recent, r.prior) == (0, 3)
    assert (r.churn_risk, r.churn_band) == (60, "high")
    assert r.churn_reasons == "inactive_beyond_usual_gap,activity_drop"
    # Health: one scored account scores 1,1,1 -> components 0, 0, 0; trend 0 (no recent days);
    # margin 100 % of revenue -> capped 100; risk 100 - 60 = 40.
    # (10 x 100 + 20 x 40) / 100 = 18.0 -> 18, red.
    assert (r.trend, r.health, r.health_band) == (0, 18, "red")
    # Seen 40 days ago (< 180), first purchase 60 days ago (>= 30), band high -> at-risk.
    assert r.lifecycle == "at-risk"
    assert r.tier is None  # no events anywhere


def test_inactivity_levels_at_the_boundaries() -> None:
    # Usual gap 10 days (purchases 10 days apart). Silent for s days: the signal needs s >= 14 and
    # s > 20 (200 %) for half the weight, s > 40 (400 %) for all of it. One purchase-day activity
    # in the recent 30 days keeps activity_drop out of the way (checked below).
    def risk(s: int) -> tuple[int, str]:
        w = World(n_accounts=1, line_items=[LineItem(0, D - s - g, 100) for g in (0, 10, 20)])
        r = score(w, as_of=D).accounts[0]
        return r.churn_risk, r.churn_reasons

    assert risk(20) == (0, "")  # exactly 200 %: not beyond
    assert risk(21) == (20, "inactive_beyond_usual_gap")  # recent 1 (age 21), prior 2 < 3
    assert risk(40)[0] == 20 + 40  # exactly 400 %: still the first level; ages 40..60 -> stopped
    assert risk(41)[0] == 40 + 40  # beyond 400 %: the full weight
    # gap_min_days: a gap of 2 days (k = 3 purchases 2 days apart), silent 13 days (> 400 %) -> no.
    w = World(n_accounts=1, line_items=[LineItem(0, D - 13 - g, 100) for g in (0, 2, 4)])
    assert score(w, as_of=D).accounts[0].churn_reasons == ""
    w = World(n_accounts=1, line_items=[LineItem(0, D - 14 - g, 100) for g in (0, 2, 4)])
    r = score(w, as_of=D).accounts[0]
    assert (r.churn_risk, r.churn_reasons) == (40, "inactive_beyond_usual_gap")


def test_too_little_history_uses_the_default_gap() -> None:
    # Two purchase days (k = 2 < gap_min_purchases = 3): the usual gap is gap_default_days = 90,
    # not the single observed gap of 5 days. Silent 100 days: 100 > 14 but not > 180 -> no signal
    # (with an own gap of 5 days it would be far beyond 400 %).
    w = World(n_accounts=1, line_items=[LineItem(0, D - 105, 100), LineItem(0, D - 100, 100)])
    r = score(w, as_of=D).accounts[0]
    assert r.churn_reasons == "" and r.churn_risk == 0  # prior 2 < 3: no drop either
    # Silent 181 days: > 180 (200 % of 90) -> 20 points; 361 days: > 360 (400 %) -> 40.
    w = World(n_accounts=1, line_items=[LineItem(0, D - 186, 100), LineItem(0, D - 181, 100)])
    assert score(w, as_of=D).accounts[0].churn_risk == 20
    w = World(n_accounts=1, line_items=[LineItem(0, D - 366, 100), LineItem(0, D - 361, 100)])
    assert score(w, as_of=D).accounts[0].churn_risk == 40
    # With gap_min_purchases = 2 the single gap counts: 100 > 400 % of 5 -> 40 points.
    w = World(n_accounts=1, line_items=[LineItem(0, D - 105, 100), LineItem(0, D - 100, 100)])
    r = score(w, as_of=D, cfg=config({"churn.gap_min_purchases": 2})).accounts[0]
    assert (r.churn_risk, r.churn_reasons) == (40, "inactive_beyond_usual_gap")


def test_product_use_is_the_activity_when_there_is_any() -> None:
    # Purchases every 10 days up to D-2 (k = 12, nothing overdue); product use on 7 days in the
    # prior 90 days, none in the last 30. Activity days are the use days only: recent 0, prior 7
    # -> dropped and stopped: activity_drop, full 40 -> medium (one kind of evidence).
    lines = [LineItem(0, D - 2 - 10 * i, 100) for i in range(12)]
    events = [Event(0, D - g, "create_task") for g in (35, 40, 50, 60, 80, 100, 110)]
    w = World(n_accounts=1, line_items=lines, events=events)
    r = score(w, as_of=D).accounts[0]
    assert (r.recent, r.prior) == (0, 7)
    assert (r.churn_risk, r.churn_band, r.churn_reasons) == (40, "medium", "activity_drop")
    # Use that only fell (1 recent day vs 7 prior: 1/30 < 50 % of 7/90) -> dropped, half: 20.
    # (With 6 prior days 1/30 equals 50 % of 6/90: not below, no signal.)
    w = World(n_accounts=1, line_items=lines, events=events + [Event(0, D - 3, "login")])
    r = score(w, as_of=D).accounts[0]
    assert (r.recent, r.prior, r.churn_risk, r.churn_band) == (1, 7, 20, "low")
    w = World(n_accounts=1, line_items=lines, events=events[:-1] + [Event(0, D - 3, "login")])
    assert score(w, as_of=D).accounts[0].churn_risk == 0
    # A product user with no use at all in the last 120 days still counts as stopped...
    w = World(n_accounts=1, line_items=lines, events=[Event(0, D - 200, "login")])
    r = score(w, as_of=D).accounts[0]
    assert (r.recent, r.prior, r.churn_risk) == (0, 0, 40)
    # ...but an account without any product use is judged on its purchase days: recent 3
    # (D-2, D-12, D-22), prior 9 -> 3/30 is not below 50 % of 9/90 -> no drop.
    w = World(n_accounts=1, line_items=lines)
    r = score(w, as_of=D).accounts[0]
    assert (r.recent, r.prior, r.churn_risk) == (3, 9, 0)


def test_health_halves_round_up() -> None:
    # Same account with an activity_drop weight of 35: risk 20 + 35 = 55; health weights recency 1
    # and risk 1 only: (1 x 0 + 1 x 45) / 2 = 22.5 -> 23.
    w = World(n_accounts=1, line_items=[LineItem(0, D - g, 100) for g in (60, 50, 40)])
    weights = {"recency": 1, "frequency": 0, "monetary": 0, "trend": 0, "margin": 0, "risk": 1}
    r = score(w, as_of=D, cfg=config({"health.weights": weights, "churn.weights.activity_drop": 35})).accounts[0]
    assert (r.churn_risk, r.health) == (55, 23)


def test_refund_spike_and_trend() -> None:
    # Prior: +1000 on D-50. Recent: +100 on D-5 and -50 on D-3. rref 50 > 0; 100 x 50 >= 20 x 100
    # (refunds >= 20 % of recent gross); 100 x 50 x 1000 >= 200 x 0 x 100 (no prior refunds).
    w = World(n_accounts=1, line_items=[LineItem(0, D - 50, 1000), LineItem(0, D - 5, 100), LineItem(0, D - 3, -50)])
    r = score(w, as_of=D).accounts[0]
    assert r.churn_reasons == "refund_spike" and (r.churn_risk, r.churn_band) == (10, "low")
    # Activity days: purchases on D-50 (prior) and D-5 (recent); D-3 nets -50, not a purchase.
    # Trend = min(100, (100 x 1 x 90) div (2 x 1 x 30)) = min(100, 150) = 100.
    assert (r.recent, r.prior, r.trend) == (1, 1, 100)


def test_tickets_failed_payment_and_renewal() -> None:
    w = World(
        n_accounts=1,
        line_items=[LineItem(0, D - 100, 500)],  # a purchase, prior (age 100 < 120)
        events=[
            Event(0, D - 40, "login"),  # activity (passive, but activity), prior
            Event(0, D - 50, "login"),
            Event(0, D - 60, "login"),
            Event(0, D - 1, "ticket"),  # three tickets in the last 30 days, none before
            Event(0, D - 2, "support_ticket"),
            Event(0, D - 20, "ticket"),
            Event(0, D - 2, "payment_failed"),
        ],
        firmo={0: Firmo(renewal_day=D + 10)},
    )
    r = score(w, as_of=D).accounts[0]
    # The account uses the product (logins are activity): activity days are D-40, D-50, D-60
    # (the purchase on D-100 does not count, tickets and failed payments are not activity):
    # prior 3, recent 0 -> dropped and stopped, activity_drop 40. One purchase day (k = 1 < 3):
    # usual gap 90, silent 100 days, not more than 180 -> no inactivity. Renewal in 10 days with
    # 0/30 < 3/90 -> renewal_declining 15; rt 3 >= 3, pt 0 -> ticket_spike 10; failed payment 15.
    assert (r.recent, r.prior) == (0, 3)
    assert r.churn_reasons == "activity_drop,renewal_declining,ticket_spike,failed_payment"
    assert (r.churn_risk, r.churn_band) == (80, "high")
    # Last seen D-40: not churned; first purchase D-100: not onboarding; high risk -> at-risk.
    assert r.lifecycle == "at-risk"
    # Events exist; activity-kind events in the last 30 days: none -> disengaged.
    assert r.tier == "disengaged"
    # The same renewal 30 days out is outside the 30-day renewal window.
    w.firmo[0] = Firmo(renewal_day=D + 30)
    assert "renewal_declining" not in score(w, as_of=D).accounts[0].churn_reasons


def test_champion_power_user_is_expansion_ready() -> None:
    events = [Event(4, D - g, "create_task") for g in range(20)]  # 20 distinct active days
    events += [Event(4, D - 5, "invite_team"), Event(4, D - 6, "export"), Event(4, D - 7, "login")]
    w = World(
        n_accounts=5,
        line_items=[LineItem(a, D - 100, 100) for a in range(4)]
        + [LineItem(4, D - 200, 1000)]
        + [LineItem(4, D - g, 1000) for g in (1, 2, 3)],
        events=events,
    )
    res = score(w, as_of=D)
    best = res.accounts[4]
    # n = 5; a4 is strictly better than the four tied others on R, F and M: r = 4 -> 5.
    assert (best.r_score, best.f_score, best.m_score, best.rfm_segment) == (5, 5, 5, "Champions")
    # Activity days in the last 120: its product use, create_task D-0..D-19 (the other events fall
    # on those days) -> recent 20, prior 0 -> trend 100. No signal fires (k = 4 purchase days, silent 1 day).
    assert (best.recent, best.prior, best.trend, best.churn_risk) == (20, 0, 100, 0)
    # Health: 25 x 100 + 15 x 100 + 15 x 100 + 15 x 100 + 10 x 100 + 20 x 100 = 10000 -> 100.
    assert (best.health, best.health_band) == (100, "green")
    # First purchase D-200 (not onboarding), green and growing (prior 0) -> expansion-ready.
    assert best.lifecycle == "expansion-ready"
    # 20 active days, 3 feature kinds (create_task, invite_team, export; login is passive) -> power.
    assert best.tier == "power"
    for a in range(4):
        r = res.accounts[a]
        assert (r.r_score, r.f_score, r.m_score, r.rfm_segment) == (1, 1, 1, "Lost")
        # trend 0 (one prior day, no recent), margin 100, risk 100: (1000 + 2000)/100 = 30 -> red
        assert (r.health, r.health_band, r.lifecycle, r.tier) == (30, "red", "active", "disengaged")


def test_seats_near_the_limit_make_a_green_account_expansion_ready() -> None:
    # As above but a4 is steady, not growing: the same number of active days before as now.
    w = World(
        n_accounts=5,
        line_items=[LineItem(a, D - 100, 100) for a in range(4)] + [LineItem(4, D - g, 1000) for g in (1, 31, 61, 91, 200)],
        firmo={4: Firmo(seats=9, seat_limit=10)},
    )
    r = score(w, as_of=D).accounts[4]
    # recent 1 (D-1), prior 3 (D-31, D-61, D-91): 1/30 < 1.2 x 3/90, not growing; trend
    # (100 x 1 x 90) div (2 x 3 x 30) = 50. Health (25+15+15) x 100 + 15 x 50 + 10 x 100 + 20 x 100
    # = 9250 -> 92.5 -> 93, green. 100 x 9 >= 90 x 10: near the seat limit -> expansion-ready.
    assert (r.recent, r.prior, r.trend, r.churn_risk) == (1, 3, 50, 0)
    assert (r.health, r.health_band, r.lifecycle) == (93, "green", "expansion-ready")
    w.firmo[4] = Firmo(seats=8, seat_limit=10)  # 800 < 900
    assert score(w, as_of=D).accounts[4].lifecycle == "active"


def test_churned_unless_signed_up_recently() -> None:
    w = World(n_accounts=1, line_items=[LineItem(0, D - 180, 100)])
    assert score(w, as_of=D).accounts[0].lifecycle == "churned"  # last seen 180 days ago
    w.firmo[0] = Firmo(signup_day=D - 10)  # seen at signup 10 days ago: onboarding
    assert score(w, as_of=D).accounts[0].lifecycle == "onboarding"
    w.firmo[0] = Firmo(signup_day=D + 5)  # a signup after D does not count
    assert score(w, as_of=D).accounts[0].lifecycle == "churned"
    # a first purchase within 30 days: onboarding
    w2 = World(n_accounts=1, line_items=[LineItem(0, D - 29, 100)])
    assert score(w2, as_of=D).accounts[0].lifecycle == "onboarding"
    w2 = World(n_accounts=1, line_items=[LineItem(0, D - 30, 100)])
    assert score(w2, as_of=D).accounts[0].lifecycle == "active"


# --- saas mode --------------------------------------------------------------------------------


def test_saas_mode_by_hand() -> None:
    w = World(
        n_accounts=4,
        line_items=[
            LineItem(2, D - 10, 1000),
            LineItem(2, D - 40, 500),
            LineItem(2, D - 100, 999),  # older than 90 days: not in the MRR estimate
            LineItem(3, D - 5, -1000),
        ],
        events=[
            Event(0, D - 3, "report_created"),
            Event(0, D - 3, "report_created"),
            Event(0, D - 10, "report_created"),
            Event(0, D - 95, "report_created"),  # outside the 90-day saas window
            Event(0, D - 1, "login"),  # passive: not high-signal
            Event(1, D - 2, "login"),
        ],
        firmo={0: Firmo(mrr=5000)},
    )
    res = score(w, as_of=D, cfg=config({"mode": "saas"}))
    # Members: a0 and a1 only by events (saas), a2 and a3 by line items.
    assert sorted(res.accounts) == [0, 1, 2, 3]
    a0, a1, a2, a3 = (res.accounts[a] for a in range(4))
    # a0: high-signal = feature kinds = report_created; last D-3; 3 events in the last 90 days.
    assert (a0.recency_days, a0.frequency, a0.monetary) == (3, 3, 5000)
    assert (a0.r_score, a0.f_score, a0.m_score, a0.rfm_segment) == (1, 1, 1, "Lost")
    # a1: logins only -> no purchase; no MRR and no lines -> 0.
    assert (a1.recency_days, a1.rfm_segment, a1.monetary) == (None, NO_PURCHASE, 0)
    # a2: no events -> no purchase; MRR estimate (1000 + 500) div 3 = 500; revenue all history.
    assert (a2.rfm_segment, a2.monetary, a2.revenue) == (NO_PURCHASE, 500, 2499)
    # a3: -1000 div 3 = -334 (floor division).
    assert a3.monetary == -334
    # distinct active days instead of events: D-3 and D-10 -> 2
    res = score(w, as_of=D, cfg=config({"mode": "saas", "saas.frequency": "active_days"}))
    assert res.accounts[0].frequency == 2
    # in transactions mode a0 and a1 are not in the snapshot (no line item, no cost)
    assert sorted(score(w, as_of=D).accounts) == [2, 3]
