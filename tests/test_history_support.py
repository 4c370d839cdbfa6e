"""Helpers for the history tests (no tests here): small stores written row by row.

Snapshots are written straight into the snapshot tables, so the history layer is tested on
exactly the worlds it is given, independent of the scoring engine; the engine-backed tests
(series, reconciliation against real scoring runs) build stores through the scoring pipeline.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import sqlite3
from collections.abc import Mapping
from pathlib import Path

from segtui.store import open_store

EPOCH = dt.date(1970, 1, 1)
_nkeys = itertools.count(1)


def day(text: str) -> int:
    return (dt.date.fromisoformat(text) - EPOCH).days


def account_id(conn: sqlite3.Connection, key: str) -> int:
    row = conn.execute("SELECT id FROM accounts WHERE account_key = ?", (key,)).fetchone()
    if row:
        return int(row[0])
    return int(conn.execute("INSERT INTO accounts(account_key, name) VALUES (?, ?)", (key, f"Acct {key}")).lastrowid)


def write_snapshot(
    db: Path,
    as_of: str,
    rows: Mapping[str, tuple],
    *,
    mode: str = "transactions",
    config_fp: str = "fp-1",
    rfm5: Mapping[str, str] | None = None,
) -> int:
    """A snapshot as of ``as_of`` with ``rows[account_key] = (rfm_segment, revenue[, lifecycle])``.

    rfm5 segments default to a coarsening table for the rfm11 labels used in tests.
    """
    coarse = {
        "Champions": "Champions", "Loyal": "Loyal", "Potential Loyalist": "Loyal", "New Customers": "Loyal",
        "Promising": "Loyal", "At Risk": "At Risk", "Can't Lose Them": "At Risk", "Need Attention": "At Risk",
        "About to Sleep": "At Risk", "Hibernating": "Dormant", "Lost": "Lost", "No Purchase": "No Purchase",
    }
    coarse.update(rfm5 or {})
    conn = open_store(db, create=True)
    try:
        conn.execute("BEGIN")
        total = sum(int(r[1]) for r in rows.values())
        sid = conn.execute(
            "INSERT INTO snapshots(as_of_day, mode, config_fp, config, data_version, created_at, accounts, net_revenue) "
            "VALUES (?, ?, ?, '{}', 0, strftime('%Y-%m-%dT%H:%M:%f', 'now'), ?, ?)",
            (day(as_of), mode, config_fp, len(rows), total),
        ).lastrowid
        for key, r in rows.items():
            seg, revenue = r[0], int(r[1])
            lifecycle = r[2] if len(r) > 2 else "active"
            acc = account_id(conn, key)
            conn.execute(
                "INSERT INTO snapshot_accounts(snapshot, account, recency_days, frequency, monetary, r_score, f_score, "
                "m_score, rfm_segment, rfm5_segment, revenue, direct_cost, allocated_cost, margin, margin_pct, "
                "quadrant, churn_risk, churn_band, churn_reasons, health, health_band, lifecycle) "
                "VALUES (?, ?, 3, 2, ?, 4, 3, 3, ?, ?, ?, 10, 5, ?, NULL, NULL, 20, 'low', '', 70, 'green', ?)",
                (sid, acc, revenue, seg, coarse.get(seg, seg), revenue, revenue - 15, lifecycle),
            )
        conn.execute("COMMIT")
        return int(sid)  # type: ignore[arg-type]
    finally:
        conn.close()


def write_line_items(db: Path, rows: list[tuple[str, str, int, str | None]]) -> None:
    """Line items ``(account_key, date, amount, invoice or None)`` (amounts in minor units)."""
    conn = open_store(db, create=True)
    try:
        conn.execute("BEGIN")
        imp = conn.execute(
            "INSERT INTO imports(kind, file, fingerprint, options, started_at) "
            "VALUES ('line-items', 'test.csv', ?, '{}', 'now')",
            (f"fp{next(_nkeys)}",),
        ).lastrowid
        for key, date, amount, invoice in rows:
            acc = account_id(conn, key)
            ikey = 0 if invoice is None else int.from_bytes(hashlib.blake2b(invoice.encode(), digest_size=7).digest(), "little") + 1
            conn.execute(
                "INSERT INTO line_items(account, day, ts, invoice, invoice_key, amount, import_id, nkey) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (acc, day(date), day(date) * 86400, invoice, ikey, amount, imp, next(_nkeys).to_bytes(16, "little")),
            )
        conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'data_version'")
        conn.execute("COMMIT")
    finally:
        conn.close()


def write_costs(db: Path, rows: list[tuple[str | None, str, str, int]]) -> None:
    """Cost rows ``(account_key or None for pooled, date, category, amount)``."""
    conn = open_store(db, create=True)
    try:
        conn.execute("BEGIN")
        imp = conn.execute(
            "INSERT INTO imports(kind, file, fingerprint, options, started_at) VALUES ('costs', 'c.csv', ?, '{}', 'now')",
            (f"fp{next(_nkeys)}",),
        ).lastrowid
        for key, date, category, amount in rows:
            conn.execute("INSERT OR IGNORE INTO cost_categories(name) VALUES (?)", (category,))
            cat = conn.execute("SELECT id FROM cost_categories WHERE name = ?", (category,)).fetchone()[0]
            acc = None if key is None else account_id(conn, key)
            conn.execute(
                "INSERT INTO costs(account, day, category, amount, import_id, nkey) VALUES (?, ?, ?, ?, ?, ?)",
                (acc, day(date), cat, amount, imp, next(_nkeys).to_bytes(16, "little")),
            )
        conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'data_version'")
        conn.execute("COMMIT")
    finally:
        conn.close()
