"""Small, realistic stores for the TUI tests.

``build_store(path)`` writes a store through the real schema (``open_store``): a few dozen
accounts with firmographics, two years of line items (with refunds), direct and pooled costs,
product events, and three monthly snapshots. The snapshot rows are computed here from those
line items by a compact implementation of the design's definitions (RFM ranks, the rfm11 grid,
largest-remainder allocation, median quadrants), so every figure the TUI shows reconciles with
the line items the tests can query themselves.

A handful of accounts are hand-made so tests can name them:

- ``ACME``     Acme Corp: bought every week, the biggest spender (Champions);
- ``GLOBEX``   Globex: steady revenue, very expensive support (loses money);
- ``INITECH``  Initech: a big buyer that went quiet in early 2025;
- ``UMBRELLA`` Umbrella: first purchase (and first anything) in the last month of the data;
- ``HOOLI``    Hooli: only a refund (no purchase: segment "No Purchase").
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
from collections import defaultdict
from pathlib import Path

from segtui.store import open_store

EPOCH = dt.date(1970, 1, 1)
AS_OF = ("2025-04-30", "2025-05-31", "2025-06-30")
FIRST_DAY = dt.date(2024, 1, 1)

RFM11 = {  # FM -> [R1..R5]
    5: ["Can't Lose Them", "At Risk", "Loyal", "Champions", "Champions"],
    4: ["Can't Lose Them", "At Risk", "Loyal", "Champions", "Champions"],
    3: ["At Risk", "At Risk", "Need Attention", "Potential Loyalist", "Potential Loyalist"],
    2: ["Lost", "Hibernating", "About to Sleep", "Potential Loyalist", "Potential Loyalist"],
    1: ["Lost", "Hibernating", "About to Sleep", "Promising", "New Customers"],
}
RFM5 = {
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
    "No Purchase": "No Purchase",
}
QUADRANTS = {
    (True, False): "high revenue, low cost",
    (True, True): "high revenue, high cost",
    (False, False): "low revenue, low cost",
    (False, True): "low revenue, high cost",
}
NAMED = [
    # key, name, industry, employees, region, plan, mrr, seats, seat_limit
    ("ACME", "Acme Corp", "Manufacturing", 2400, "EMEA", "enterprise", 950000, 180, 200),
    ("GLOBEX", "Globex", "Energy", 650, "AMER", "business", 210000, 40, 50),
    ("INITECH", "Initech", "Software", 120, "AMER", "business", 120000, 25, 50),
    ("UMBRELLA", "Umbrella", "Healthcare", 35, "APAC", "starter", 9900, 5, 10),
    ("HOOLI", "Hooli", "Software", 80, "AMER", "starter", None, None, None),
]
INDUSTRIES = ["Retail", "Software", "Healthcare", "Logistics", "Education", "Finance"]
REGIONS = ["EMEA", "AMER", "APAC"]
PLANS = ["starter", "business", "enterprise"]
WORDS = ["North", "Blue", "Quartz", "Delta", "Pine", "Harbor", "Summit", "Orbit", "Maple", "Vertex", "Cobalt", "Lumen"]
SUFFIX = ["Ltd", "GmbH", "Inc", "Labs", "Co", "Partners"]
SKUS = [("SKU-100", "Starter pack", 2500), ("SKU-200", "Refill box", 4900), ("SKU-300", "Pro kit", 12900),
        ("SKU-400", "Service hour", 9000), ("SKU-500", "Cable set", 1200)]


def day_of(text: str) -> int:
    return (dt.date.fromisoformat(text) - EPOCH).days


def date_of(day: int) -> dt.date:
    return EPOCH + dt.timedelta(days=day)


def _nkey(*parts: object) -> bytes:
    return hashlib.sha256(repr(parts).encode()).digest()[:16]


def build_store(path: Path, *, n_accounts: int = 48, seed: int = 5, as_of: tuple[str, ...] = AS_OF) -> Path:
    """Write a store at ``path`` (which must not exist) and return it."""
    rng = random.Random(seed)
    conn = open_store(path, create=True)
    last_day = day_of(as_of[-1])
    first_day = (FIRST_DAY - EPOCH).days
    conn.execute("BEGIN")
    for i, kind in enumerate(("accounts", "line-items", "costs", "events"), start=1):
        conn.execute(
            "INSERT INTO imports(id, kind, file, fingerprint, options, started_at, finished_at) VALUES (?,?,?,?,?,?,?)",
            (i, kind, f"{kind}.csv", f"fp{i}", "{}", "2025-07-01T09:00:00", "2025-07-01T09:00:01"),
        )

    accounts: list[tuple] = list(NAMED)
    for i in range(len(NAMED), n_accounts):
        name = f"{rng.choice(WORDS)} {rng.choice(WORDS)} {rng.choice(SUFFIX)}"
        emp = rng.choice([8, 25, 60, 140, 450, 1200, 3000])
        plan = rng.choice(PLANS)
        accounts.append(
            (f"C{i:04d}", name, rng.choice(INDUSTRIES), emp, rng.choice(REGIONS), plan,
             rng.choice([4900, 19900, 49900, 99900]), rng.randint(2, 60), 60)
        )
    for aid, a in enumerate(accounts, start=1):
        signup = first_day + rng.randint(0, 200) if aid > 4 else first_day + 10
        if a[0] == "UMBRELLA":
            signup = last_day - 25
        conn.execute(
            "INSERT INTO accounts(id, account_key, name, industry, employees, region, plan, signup_day, renewal_day,"
            " mrr, seats, seat_limit, first_import) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,1)",
            (aid, a[0], a[1], a[2], a[3], a[4], a[5], signup, signup + 365 * 2, a[6], a[7], a[8]),
        )

    # --- line items -------------------------------------------------------------------------
    items: list[tuple[int, int, str, str, str, str, int, int, int]] = []  # account, day, invoice, sku, desc, qty, price, amount, cancel
    inv = 1000

    def buy(aid: int, day: int, lines: int, scale: float = 1.0) -> None:
        nonlocal inv
        inv += 1
        for _ in range(lines):
            sku, desc, price = rng.choice(SKUS)
            qty = rng.randint(1, 6)
            price = int(price * scale)
            items.append((aid, day, f"INV{inv}", sku, desc, str(qty), price, qty * price, 0))

    for aid, a in enumerate(accounts, start=1):
        key = a[0]
        if key == "ACME":
            for d in range(first_day + 3, last_day + 1, 7):
                buy(aid, d, 3, 3.0)
        elif key == "GLOBEX":
            for d in range(first_day + 5, last_day + 1, 21):
                buy(aid, d, 2, 1.5)
        elif key == "INITECH":
            for d in range(first_day + 2, day_of("2025-01-15"), 10):
                buy(aid, d, 3, 2.5)
        elif key == "UMBRELLA":
            buy(aid, last_day - 20, 2)
            buy(aid, last_day - 6, 1)
        elif key == "HOOLI":
            inv += 1
            items.append((aid, last_day - 40, f"C{inv}", "SKU-200", "Refill box", "-1", 4900, -4900, 1))
        else:
            start = first_day + rng.randint(0, 420)
            stop = last_day if rng.random() < 0.6 else start + rng.randint(30, 400)
            gap = rng.choice([6, 12, 25, 45, 90])
            scale = rng.choice([0.5, 1.0, 1.0, 2.0, 4.0])
            d = start
            while d <= min(stop, last_day):
                buy(aid, d, rng.randint(1, 3), scale)
                d += max(1, int(rng.gauss(gap, gap / 4)))
            if rng.random() < 0.25 and d > start:  # a refund of part of an earlier order
                inv += 1
                refund_day = min(start + rng.randint(5, 60), last_day)
                items.append((aid, refund_day, f"C{inv}", "SKU-100", "Starter pack", "-1", 2500, -2500, 1))
    occurrences: dict[tuple, int] = defaultdict(int)
    for i, (aid, day, invoice, sku, desc, qty, price, amount, cancel) in enumerate(items, start=1):
        occurrences[(aid, day, invoice, sku, qty, amount)] += 1
        conn.execute(
            "INSERT INTO line_items(id, account, day, ts, invoice, invoice_key, sku, description, quantity, unit_price,"
            " amount, is_cancel, import_id, nkey) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,2,?)",
            (i, aid, day, day * 86400 + 36000, invoice, int.from_bytes(_nkey(invoice)[:7], "little"), sku, desc, qty,
             price, amount, cancel, _nkey("li", aid, day, invoice, sku, qty, amount,
                                           occurrences[(aid, day, invoice, sku, qty, amount)])),
        )

    # --- costs --------------------------------------------------------------------------------
    categories = {"support": 1, "shipping": 2, "hosting": 3, "payment fees": 4}
    for name, cid in categories.items():
        conn.execute("INSERT INTO cost_categories(id, name) VALUES (?, ?)", (cid, name))
    costs: list[tuple[int | None, int, int, int]] = []  # account, day, category, amount
    for aid, day, invoice, *_rest, amount, _c in items:
        if amount > 0 and rng.random() < 0.5:
            costs.append((aid, day, 2, max(50, amount // 20)))  # shipping, direct
    for aid, a in enumerate(accounts, start=1):
        tickets = 40 if a[0] == "GLOBEX" else rng.choice([0, 0, 1, 2, 4, 8])
        if a[0] == "UMBRELLA":  # new in the last month: nothing at all before (a "(new)" account in migration)
            tickets = 0
        for _ in range(tickets):
            day = first_day + rng.randint(0, last_day - first_day)
            costs.append((aid, day, 1, 45000 if a[0] == "GLOBEX" else rng.choice([1500, 3000, 6000])))
    d = FIRST_DAY
    while (d - EPOCH).days <= last_day:
        costs.append((None, (d - EPOCH).days, 3, 80000))  # hosting, pooled monthly
        costs.append((None, (d - EPOCH).days + 14, 4, 12345))  # payment fees, pooled
        d = (d.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    for i, (aid, day, cat, amount) in enumerate(costs, start=1):
        conn.execute(
            "INSERT INTO costs(id, account, day, category, amount, driver_units, import_id, nkey) VALUES (?,?,?,?,?,NULL,3,?)",
            (i, aid, day, cat, amount, _nkey("cost", i)),
        )

    # --- events -------------------------------------------------------------------------------
    kinds = {"login": 1, "create_task": 2, "invite_team": 3, "support_ticket": 4}
    for name, kid in kinds.items():
        conn.execute("INSERT INTO event_kinds(id, name) VALUES (?, ?)", (kid, name))
    eid = 0
    for aid in range(1, len(accounts) + 1):
        for _ in range(rng.randint(0, 30)):
            eid += 1
            day = last_day - rng.randint(0, 120)
            conn.execute(
                "INSERT INTO events(id, account, day, ts, kind, value, import_id, nkey) VALUES (?,?,?,?,?,NULL,4,?)",
                (eid, aid, day, day * 86400, rng.choice(list(kinds.values())), _nkey("ev", eid)),
            )

    conn.execute("UPDATE meta SET value = '4' WHERE key = 'data_version'")
    for snap_id, text in enumerate(as_of, start=1):
        _write_snapshot(conn, snap_id, day_of(text), accounts, items, costs, categories)
    conn.execute("COMMIT")
    conn.close()
    return path


def _write_snapshot(conn, snap_id, as_of, accounts, items, costs, categories) -> None:
    n = len(accounts)
    revenue = [0] * (n + 1)
    refunds = [0] * (n + 1)
    gross = [0] * (n + 1)
    inv_net: dict[tuple[int, str], int] = defaultdict(int)
    inv_day: dict[tuple[int, str], int] = {}
    first_buy: dict[int, int] = {}
    seen = set()
    for aid, day, invoice, _s, _d, _q, _p, amount, _c in items:
        if day > as_of:
            continue
        seen.add(aid)
        revenue[aid] += amount
        if amount < 0:
            refunds[aid] -= amount
        else:
            gross[aid] += amount
        inv_net[(aid, invoice)] += amount
        inv_day[(aid, invoice)] = max(inv_day.get((aid, invoice), day), day)
    last_purchase: dict[int, int] = {}
    freq = defaultdict(int)
    purchase_days: dict[int, list[int]] = defaultdict(list)
    for (aid, invoice), net in inv_net.items():
        if net > 0:
            freq[aid] += 1
            day = inv_day[(aid, invoice)]
            purchase_days[aid].append(day)
            last_purchase[aid] = max(last_purchase.get(aid, day), day)
            first_buy[aid] = min(first_buy.get(aid, day), day)
    direct = [0] * (n + 1)
    direct_cat: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    pooled: dict[int, int] = defaultdict(int)
    tickets_30 = defaultdict(int)
    for aid, day, cat, amount in costs:
        if day > as_of:
            continue
        if aid is None:
            pooled[cat] += amount
        else:
            seen.add(aid)
            direct[aid] += amount
            direct_cat[aid][cat] += amount
            if cat == 1 and day > as_of - 30:
                tickets_30[aid] += 1
    members = sorted(seen)
    buyers = [a for a in members if freq[a] > 0]

    def score(values: dict[int, int], better_low: bool) -> dict[int, int]:
        out = {}
        nb = len(buyers)
        ordered = sorted(values[a] for a in buyers)
        import bisect

        for a in buyers:
            v = values[a]
            worse = nb - bisect.bisect_right(ordered, v) if better_low else bisect.bisect_left(ordered, v)
            out[a] = 1 + (5 * worse) // nb
        return out

    rec = {a: as_of - last_purchase[a] for a in buyers}
    r_s = score(rec, True)
    f_s = score({a: freq[a] for a in buyers}, False)
    m_s = score({a: revenue[a] for a in buyers}, False)

    # pooled allocation by net revenue share, largest remainders, ties to the smaller id
    allocated = defaultdict(int)
    pools = []
    pool_shares: dict[str, dict[int, int]] = {}
    weights = {a: max(revenue[a], 0) for a in members}
    total_w = sum(weights.values())
    for cat, amount in sorted(pooled.items()):
        name = next(k for k, v in categories.items() if v == cat)
        if total_w == 0:
            pools.append((name, "revenue", amount, 0, amount))
            continue
        shares = {a: amount * weights[a] // total_w for a in members}
        rema = {a: amount * weights[a] % total_w for a in members}
        left = amount - sum(shares.values())
        for a in sorted(members, key=lambda a: (-rema[a], a))[:left]:
            shares[a] += 1
        for a in members:
            allocated[a] += shares[a]
        pools.append((name, "revenue", amount, amount, 0))
        pool_shares[name] = shares

    costs_to_serve = {a: direct[a] + allocated[a] for a in members}
    active = [a for a in members if revenue[a] != 0 or costs_to_serve[a] != 0]
    med_rev = _median([revenue[a] for a in active])
    med_cost = _median([costs_to_serve[a] for a in active])

    rows = []
    for a in members:
        key = accounts[a - 1]
        if a in r_s:
            fm = (f_s[a] + m_s[a] + 1) // 2
            seg = RFM11[fm][r_s[a] - 1]
        else:
            seg = "No Purchase"
        margin = revenue[a] - costs_to_serve[a]
        margin_pct = margin / revenue[a] if revenue[a] > 0 else None
        quadrant = QUADRANTS[(revenue[a] >= med_rev, costs_to_serve[a] >= med_cost)] if a in active else None
        reasons = []
        risk = 5
        days = sorted(purchase_days[a])
        if len(days) >= 2:
            usual = (days[-1] - days[0]) / (len(days) - 1)
            if as_of - days[-1] > 2 * usual + 7:
                reasons.append("inactivity")
                risk += 45
        elif a in rec and rec[a] > 90:
            reasons.append("inactivity")
            risk += 35
        if refunds[a] and refunds[a] * 5 > gross[a]:
            reasons.append("refund_spike")
            risk += 20
        if tickets_30[a] >= 2:
            reasons.append("ticket_spike")
            risk += 25
        if margin < 0:
            risk += 10
        risk = min(risk, 100)
        band = "high" if risk >= 60 else "medium" if risk >= 30 else "low"
        rfm_part = ((r_s.get(a, 1) + f_s.get(a, 1) + m_s.get(a, 1)) * 100) // 15
        health = max(0, min(100, (rfm_part * 6 + (20 if margin > 0 else 0) * 2 + (100 - risk) * 2) // 10))
        hband = "red" if health < 40 else "yellow" if health < 70 else "green"
        if a in rec and rec[a] > 180:
            stage = "churned"
        elif a in first_buy and as_of - first_buy[a] <= 30:
            stage = "onboarding"
        elif band == "high":
            stage = "at-risk"
        elif hband == "green" and key[7] and key[8] and key[7] * 10 >= key[8] * 9:
            stage = "expansion-ready"
        else:
            stage = "active"
        emp = key[3]
        size = None if emp is None else "SMB" if emp < 100 else "Mid-Market" if emp < 1000 else "Enterprise"
        rows.append((
            snap_id, a, rec.get(a), freq[a], revenue[a], r_s.get(a), f_s.get(a), m_s.get(a), seg, RFM5[seg],
            revenue[a], direct[a], allocated[a], margin, margin_pct, quadrant, risk, band, ",".join(reasons),
            health, hband, stage, None, size, seg,
        ))
    net = sum(revenue[a] for a in members)
    pooled_total = sum(pooled.values())
    alloc_total = sum(p[3] for p in pools)
    conn.execute(
        "INSERT INTO snapshots(id, as_of_day, mode, config_fp, config, data_version, created_at, seconds, accounts,"
        " net_revenue, pooled_cost, allocated_cost, unallocated_cost, series) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (snap_id, as_of, "transactions", "cfg1", json.dumps({"map": "rfm11"}), 4, f"2025-07-01T10:0{snap_id}:00", 0.01,
         len(members), net, pooled_total, alloc_total, pooled_total - alloc_total, "monthly"),
    )
    for p in pools:
        conn.execute(
            "INSERT INTO snapshot_pools(snapshot, category, driver, pooled, allocated, unallocated) VALUES (?,?,?,?,?,?)",
            (snap_id, *p),
        )
    conn.executemany(f"INSERT INTO snapshot_accounts VALUES ({','.join('?' * 25)})", rows)
    # each account's share of each pool, in account order (as the snapshot writer keeps them)
    for name, shares in pool_shares.items():
        data = b"".join(shares[a].to_bytes(8, "little", signed=True) for a in sorted(members))
        conn.execute("INSERT INTO snapshot_pool_shares(snapshot, category, data) VALUES (?, ?, ?)", (snap_id, name, data))


def _median(values: list[int]) -> float:
    if not values:
        return 0
    s = sorted(values)
    m = len(s) // 2
    return s[m] if len(s) % 2 else (s[m - 1] + s[m]) / 2
