"""A small hand-built world for the rule tests: eight accounts with known metrics,
firmographics in a real store, and events placed on and around window boundaries.

The as-of day is 2025-06-30 (D). Ages are days before D (age 0 is D itself; -1 is D+1).
"""

from __future__ import annotations

import sqlite3
from datetime import date, timedelta
from pathlib import Path

import polars as pl

from segtui.store import open_store

D = date(2025, 6, 30)
NAMES = ["A", "B", "C", "D", "E", "F", "G", "H"]
# Store ids: rows are deliberately not in id order; id 9 ("I") has events but is not listed.
IDS = {"A": 8, "B": 7, "C": 6, "D": 5, "E": 4, "F": 3, "G": 2, "H": 1, "I": 9}

METRICS = pl.DataFrame(
    {
        "account": [IDS[n] for n in NAMES],
        "account_key": [f"K-{n}" for n in NAMES],
        "revenue": [150000, 0, -500, 99999, 100000, 5000, 250000, 1000],
        "margin": [50000, -1200, -3000, 0, 10, -1, 100000, None],
        "margin_pct": [33.33, None, None, 0.0, 0.01, -0.02, 40.0, None],
        "rfm_segment": ["Champions", "At Risk", "Lost", "At Risk", "New Customers", "No Purchase", "Champions", "Hibernating"],
        "r_score": [5, 2, 1, 2, 5, None, 4, 1],
        "is_trial": [False, True, None, False, True, False, False, True],
        "last_purchase": [D, D - timedelta(days=40), None, D - timedelta(days=1), D, None, D - timedelta(days=7), D - timedelta(days=300)],
    },
    schema_overrides={"r_score": pl.Int64},
)

FIRMO = {
    # name: (industry, employees, signup age, renewal offset)
    "A": ("fintech", 50, 400, 30),
    "B": ("banking", 500, 10, 31),
    "C": ("retail", 49, None, None),
    "D": (None, 501, 29, 1),
    "E": ("Fintech", None, 30, 0),
    "F": ("saas", 120, 0, 15),
    "G": ("banking", 1000, 2000, -1),
    "H": ("retail", 10, 6, None),
    "I": ("retail", 5, 1, None),
}

KINDS = ["login", "invite_team", "create_task", "api_call", "integration_activated"]


def events() -> list[tuple[str, int, str]]:
    """(account, age, kind)."""
    ev: list[tuple[str, int, str]] = []
    ev += [("A", a, "invite_team") for a in (0, 10, 29)]
    ev += [("A", 14, "create_task")]
    ev += [("A", a, "login") for a in range(20)]
    ev += [("B", a, "invite_team") for a in (30, 5, 6)]
    ev += [("B", 13, "create_task")]
    ev += [("D", -1, "api_call"), ("D", 6, "api_call"), ("D", 7, "integration_activated"), ("D", 100, "login")]
    ev += [("E", 6, "integration_activated"), ("E", 2, "integration_activated"), ("E", 7, "api_call")]
    ev += [("F", 400, "integration_activated"), ("F", 1, "integration_activated"), ("F", 0, "login")]
    ev += [("G", a, "login") for a in range(30)]
    ev += [("G", 100, "create_task")]
    ev += [("H", 3, "invite_team")] * 3
    ev += [("I", 0, "invite_team")] * 5
    return ev


def day(d: date) -> int:
    return (d - date(1970, 1, 1)).days


def build_store(path: Path) -> Path:
    conn = open_store(path, create=True)
    d0 = day(D)
    conn.execute("BEGIN")
    conn.execute(
        "INSERT INTO imports(id, kind, file, fingerprint, options, started_at) VALUES (1, 'events', 'w.csv', 'x', '{}', '2025-07-01')"
    )
    for name, id_ in sorted(IDS.items(), key=lambda kv: kv[1]):
        ind, emp, signup, renewal = FIRMO[name]
        conn.execute(
            "INSERT INTO accounts(id, account_key, industry, employees, signup_day, renewal_day) VALUES (?,?,?,?,?,?)",
            (id_, f"K-{name}", ind, emp, None if signup is None else d0 - signup, None if renewal is None else d0 + renewal),
        )
    # kind ids deliberately not 1..n in list order
    kind_id = {k: 10 + 3 * i for i, k in enumerate(KINDS)}
    for k, i in kind_id.items():
        conn.execute("INSERT INTO event_kinds(id, name) VALUES (?, ?)", (i, k))
    for n, (name, age, kind) in enumerate(events()):
        conn.execute(
            "INSERT INTO events(account, day, ts, kind, import_id, nkey) VALUES (?,?,?,?,1,?)",
            (IDS[name], d0 - age, (d0 - age) * 86400, kind_id[kind], n.to_bytes(16, "big")),
        )
    conn.execute("COMMIT")
    conn.close()
    return path


def connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path)
