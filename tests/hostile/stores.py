"""Synthetic stores for the crash, concurrency and soak tests: deterministic line-item, cost and
event files of any size, written fast with polars (every value exact decimal text)."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import polars as pl


def orders_frame(n: int, *, start: int = 0, accounts: int = 20_000, days: int = 700) -> pl.DataFrame:
    """``n`` line items numbered from ``start``: row ``i`` belongs to account ``i % accounts``,
    falls on day ``i * 7919 % days`` after 2023-01-01 and is worth ``(i * 37) % 50000 - 2000``
    cents (some refunds). Distinct ``i`` give distinct rows (the invoice is ``I{i}``)."""
    i = pl.int_range(start, start + n, eager=True, dtype=pl.Int64)
    cents = (i * 37) % 50_000 - 2_000
    return pl.DataFrame({"i": i, "cents": cents}).select(
        account_id=pl.lit("C") + (pl.col("i") % accounts).cast(pl.String).str.zfill(6),
        occurred_at=(pl.date(2023, 1, 1) + pl.duration(days=(pl.col("i") * 7919) % days)).cast(pl.String),
        amount=pl.when(pl.col("cents") < 0).then(pl.lit("-")).otherwise(pl.lit(""))
        + (pl.col("cents").abs() // 100).cast(pl.String)
        + "."
        + (pl.col("cents").abs() % 100).cast(pl.String).str.zfill(2),
        invoice_id=pl.lit("I") + pl.col("i").cast(pl.String),
    )


def orders_total(n: int, *, start: int = 0) -> int:
    """The sum in cents of :func:`orders_frame` ``(n, start=start)``."""
    i = pl.int_range(start, start + n, eager=True, dtype=pl.Int64)
    return int(((i * 37) % 50_000 - 2_000).sum())


def write_orders(path: Path, n: int, *, start: int = 0, accounts: int = 20_000) -> Path:
    orders_frame(n, start=start, accounts=accounts).write_csv(path)
    return path


def write_costs(path: Path, n: int, *, accounts: int = 20_000) -> Path:
    i = pl.int_range(0, n, eager=True, dtype=pl.Int64)
    pl.DataFrame({"i": i}).select(
        occurred_at=(pl.date(2023, 1, 1) + pl.duration(days=(pl.col("i") * 31) % 700)).cast(pl.String),
        category=pl.when(pl.col("i") % 3 == 0).then(pl.lit("hosting")).otherwise(pl.lit("support")),
        amount=((pl.col("i") % 900) + 100).cast(pl.String) + ".00",
        # every third cost is pooled (no account)
        account_id=pl.when(pl.col("i") % 3 == 0)
        .then(pl.lit(None, pl.String))
        .otherwise(pl.lit("C") + (pl.col("i") % accounts).cast(pl.String).str.zfill(6)),
    ).write_csv(path)
    return path


def counts(db: Path) -> dict[str, int]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {
            t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0])
            for t in ("accounts", "line_items", "costs", "imports", "rejects", "snapshots", "snapshot_accounts")
        }
    finally:
        conn.close()


def integrity(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("PRAGMA integrity_check").fetchall()
        fk = conn.execute("PRAGMA foreign_key_check").fetchall()
    finally:
        conn.close()
    out = "; ".join(r[0] for r in rows)
    return out if not fk else f"{out}; foreign keys: {fk[:5]}"


SNAPSHOT_FIGURES = (
    "account, recency_days, frequency, monetary, r_score, f_score, m_score, rfm_segment, rfm5_segment, revenue, "
    "direct_cost, allocated_cost, margin, margin_pct, quadrant, churn_risk, churn_band, churn_reasons, health, "
    "health_band, lifecycle, tier, size_band"
)


_TEXT_FIGURES = ("rfm_segment", "rfm5_segment", "quadrant", "churn_band", "churn_reasons", "health_band", "lifecycle", "tier", "size_band")


def snapshot_digest(db: Path, snapshot_id: int) -> str:
    """A digest of every figure of every account of a snapshot (not its id or creation time),
    read in columns through the core and hashed by polars (fast on big snapshots)."""
    from segtui.queries import read_frame

    cols = [c.strip() for c in SNAPSHOT_FIGURES.split(",")]
    kinds = ["text" if c in _TEXT_FIGURES else "real" if c == "margin_pct" else "int" for c in cols]
    df = read_frame(
        db, f"SELECT {SNAPSHOT_FIGURES} FROM snapshot_accounts WHERE snapshot = ? ORDER BY account", [snapshot_id], kinds
    )
    return f"{df.height}:{int(df.hash_rows(seed=7).sum())}"


def snapshots(db: Path) -> list[tuple[int, int, str, int, int]]:
    """(id, as_of_day, series or '', accounts recorded, rows present) of every snapshot."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return [
            (int(i), int(d), s or "", int(n), int(rows))
            for i, d, s, n, rows in conn.execute(
                "SELECT s.id, s.as_of_day, s.series, s.accounts, "
                "(SELECT count(*) FROM snapshot_accounts a WHERE a.snapshot = s.id) FROM snapshots s ORDER BY s.id"
            )
        ]
    finally:
        conn.close()


def incomplete_snapshots(db: Path) -> list[tuple[int, int, str, int, int]]:
    """Snapshots whose rows are not all there (there must never be any)."""
    return [s for s in snapshots(db) if s[3] != s[4]]
