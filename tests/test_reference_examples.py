"""Hand-worked examples for the reference implementation.

Every expected number below was worked out by hand from the design's definitions, and the working
is written beside it, so the reference that the kernel is compared with is itself checked.
"""

from __future__ import annotations

from fractions import Fraction

import pytest
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
    config,
    largest_remainder,
    median,
    purchases,
    rfm5,
    rfm11,
    score,
    tie_rule_scores,
    tie_rule_scores_by_counting,
)

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
