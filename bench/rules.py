"""Benchmark: 20 custom-segment rules over 1 M accounts and 20 M events, in one pass.

The columns are generated with numpy (seeded) and cached under bench/.cache/. The timed part
is ``segtui.rules.evaluate_rules``: converting the frame's columns, compiling the 20 rules,
one pass over the events and the evaluation of every rule over every account. Target: <= 3 s.

    python bench/rules.py            # 1 M accounts, 20 M events
    python bench/rules.py --smoke    # 10 k accounts, 200 k events (seconds; used by CI)

A few rules are also computed independently with numpy and compared, so a fast wrong answer
cannot pass.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl


from segtui.rules import EventColumns, evaluate_rules  # noqa: E402

CACHE = Path(__file__).resolve().parent / ".cache"
AS_OF = 20_269  # 2025-06-30
TARGET_S = 3.0

KINDS = [
    "login", "api_call", "report_view", "invite_team", "create_task",
    "export", "support_ticket", "seat_added", "integration_activated", "payment_failed",
]
KIND_WEIGHTS = np.array([40, 25, 12, 4, 8, 3, 2, 1, 1, 4], dtype=np.float64)
INDUSTRIES = ["fintech", "banking", "retail", "saas", "health", "media", "logistics", "education"]
REGIONS = ["EU", "US", "APAC", "LATAM"]
SEGMENTS = [
    "Champions", "Loyal", "Potential Loyalist", "New Customers", "Promising", "Need Attention",
    "About to Sleep", "At Risk", "Can't Lose Them", "Hibernating", "Lost",
]

RULES = {
    "loss makers": "margin < 0",
    "fin mid-market": 'industry in ("fintech", "banking") and employees between 50 and 500',
    "profitable at risk": 'rfm_segment = "At Risk" and margin > 0',
    "team but no tasks": 'did "invite_team" >= 3 times in 30d and not did "create_task" in 14d',
    "api this week": 'did "api_call" in 7d',
    "power users": "active_days in 30d >= 20",
    "new integrations": 'first "integration_activated" in 7d',
    "silent payers": 'not did "login" in 30d and revenue > 1000',
    "risky and idle": 'active_days "login" in 90d < 5 and churn_risk >= 70',
    "reporters": 'did "export" >= 5 times in 90d or did "report_view" >= 10 times in 30d',
    "quiet best": '(rfm_segment in ("Champions", "Loyal") and not did "login" in 14d) or health < 40',
    "renewal cold": "renewal_day in next 30d and active_days in 30d < 4",
    "new no integration": 'signup_day in 30d and not did "integration_activated" ever',
    "support heavy thin margin": 'did "support_ticket" >= 3 times in 30d and margin_pct < 10%',
    "enterprise growing": 'employees >= 1000 and did "seat_added" in 60d',
    "slowing down": 'did "login" >= 20 times in 30d and did "login" < 5 times in 7d',
    "no margin known": "margin_pct is null or revenue <= 0",
    "api heavy outside retail and EU": 'not (industry = "retail" or region = "EU") and did "api_call" >= 15 times in 30d',
    "activated teams": 'first "create_task" in 30d and did "invite_team" in 30d',
    "gone quiet": "active_days in 7d = 0 and active_days in 30d >= 10",
}


def generate(n_accounts: int, n_events: int, seed: int = 7) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = n_accounts
    revenue = rng.lognormal(10, 1.5, n).astype(np.int64) - rng.integers(0, 5000, n)
    cost = rng.lognormal(9.5, 1.2, n).astype(np.int64)
    margin = revenue - cost
    margin_pct = np.where(revenue > 0, margin / np.maximum(revenue, 1), np.nan)
    employees = rng.lognormal(4, 1.6, n).astype(np.int64)
    employees_valid = rng.random(n) > 0.1
    industry = rng.integers(0, len(INDUSTRIES) + 1, n).astype(np.int8)  # last code = missing
    region = rng.integers(0, len(REGIONS), n).astype(np.int8)
    rfm = rng.integers(0, len(SEGMENTS), n).astype(np.int8)
    churn = rng.integers(0, 101, n).astype(np.int64)
    health = rng.integers(0, 101, n).astype(np.int64)
    signup = (AS_OF - rng.integers(0, 1500, n)).astype(np.int32)
    renewal = (AS_OF + rng.integers(-30, 365, n)).astype(np.int32)
    # Events: active accounts get more; ages mostly recent; a few in the future.
    weights = rng.pareto(1.5, n) + 0.05
    ev_account = rng.choice(n, n_events, p=weights / weights.sum()).astype(np.uint32)
    age = np.minimum(rng.exponential(60, n_events), 720).astype(np.int32) - (rng.random(n_events) < 0.005)
    ev_day = (AS_OF - age).astype(np.int32)
    ev_kind = rng.choice(len(KINDS), n_events, p=KIND_WEIGHTS / KIND_WEIGHTS.sum()).astype(np.uint8)
    return {
        "revenue": revenue, "margin": margin, "margin_pct": margin_pct, "employees": employees,
        "employees_valid": employees_valid, "industry": industry, "region": region, "rfm": rfm,
        "churn": churn, "health": health, "signup": signup, "renewal": renewal,
        "ev_account": ev_account, "ev_day": ev_day, "ev_kind": ev_kind,
    }


def load(n_accounts: int, n_events: int) -> dict[str, np.ndarray]:
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"rules_{n_accounts}_{n_events}.npz"
    if path.exists():
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    data = generate(n_accounts, n_events)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **data)
    tmp.replace(path)
    return data


def frame(d: dict[str, np.ndarray]) -> pl.DataFrame:
    n = len(d["revenue"])
    industry = pl.Series("industry", np.array(INDUSTRIES + [None], dtype=object)[d["industry"]], dtype=pl.String)
    return pl.DataFrame(
        [
            pl.Series("account", np.arange(1, n + 1, dtype=np.int64)),
            pl.Series("revenue", d["revenue"]),
            pl.Series("margin", d["margin"]),
            pl.Series("margin_pct", d["margin_pct"], nan_to_null=True),
            pl.Series("employees", d["employees"]).set(pl.Series(~d["employees_valid"]), None),
            industry,
            pl.Series("region", np.array(REGIONS, dtype=object)[d["region"]], dtype=pl.String),
            pl.Series("rfm_segment", np.array(SEGMENTS, dtype=object)[d["rfm"]], dtype=pl.String),
            pl.Series("churn_risk", d["churn"]),
            pl.Series("health", d["health"]),
            pl.Series("signup_day", d["signup"]),
            pl.Series("renewal_day", d["renewal"]),
        ]
    )


def check(df: pl.DataFrame, d: dict[str, np.ndarray], got: pl.DataFrame) -> None:
    """A few rules recomputed with numpy, independently of the core."""
    n = df.height
    acc, day, kind = d["ev_account"], d["ev_day"], d["ev_kind"]
    age = AS_OF - day.astype(np.int64)
    seen = age >= 0

    def count(k: str, window: int | None) -> np.ndarray:
        sel = seen & (kind == KINDS.index(k))
        if window is not None:
            sel &= age < window
        return np.bincount(acc[sel], minlength=n)

    def active(window: int) -> np.ndarray:
        sel = seen & (age < window)
        pairs = np.unique(acc[sel].astype(np.int64) * 1024 + age[sel])
        return np.bincount((pairs // 1024).astype(np.int64), minlength=n)

    expect = {
        "loss makers": d["margin"] < 0,
        "api this week": count("api_call", 7) >= 1,
        "team but no tasks": (count("invite_team", 30) >= 3) & (count("create_task", 14) == 0),
        "power users": active(30) >= 20,
        "gone quiet": (active(7) == 0) & (active(30) >= 10),
        "slowing down": (count("login", 30) >= 20) & (count("login", 7) < 5),
        "silent payers": (count("login", 30) == 0) & (d["revenue"] > 100_000),
    }
    first = np.full(n, np.iinfo(np.int64).max)
    sel = seen & (kind == KINDS.index("integration_activated"))
    np.minimum.at(first, acc[sel], day[sel].astype(np.int64))
    expect["new integrations"] = (first != np.iinfo(np.int64).max) & (AS_OF - first < 7)
    for name, want in expect.items():
        have = got.get_column(name).to_numpy()
        if not np.array_equal(have, want):
            raise SystemExit(f"MISMATCH {name}: core {int(have.sum())}, numpy {int(want.sum())}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny run for CI")
    ap.add_argument("--accounts", type=int, default=1_000_000)
    ap.add_argument("--events", type=int, default=20_000_000)
    ap.add_argument("--repeat", type=int, default=3, help="timed runs (best is reported)")
    args = ap.parse_args()
    if args.smoke:
        args.accounts, args.events, args.repeat = 10_000, 200_000, 1

    t0 = time.perf_counter()
    d = load(args.accounts, args.events)
    df = frame(d)
    ev = EventColumns(d["ev_account"], d["ev_day"], d["ev_kind"].astype(np.uint32), KINDS)
    prep = time.perf_counter() - t0

    times = []
    got = pl.DataFrame()
    for _ in range(args.repeat):
        t = time.perf_counter()
        got = evaluate_rules(df, RULES, as_of=AS_OF, events=ev, warn=lambda w: None)
        times.append(time.perf_counter() - t)
    best = min(times)
    check(df, d, got)

    print(f"rules benchmark: {len(RULES)} rules, {df.height:,} accounts, {len(ev):,} events (data ready in {prep:.1f} s)")
    width = max(len(k) for k in RULES)
    for name in RULES:
        print(f"  {name:<{width}}  {int(got.get_column(name).sum()):>10,} accounts")
    verdict = "within" if best <= TARGET_S else "OVER"
    runs = ", ".join(f"{t:.2f}" for t in times)
    print(f"evaluate_rules: best {best:.2f} s of {args.repeat} ({runs}); target {TARGET_S:.0f} s: {verdict}")
    print("checked against numpy: 8 rules agree")
    if not args.smoke and best > TARGET_S:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
