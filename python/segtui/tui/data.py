"""What the TUI reads from the store, and the small computations it makes over snapshots.

Nothing here imports Textual: every function runs in a worker thread and returns plain values
or polars frames. Each call opens its own read-only connection (cheap), so the TUI can read
while a scoring run writes (the store is in WAL mode).

The whole-snapshot frame (one row per account of a snapshot, joined with the account's key and
firmographics) comes from ``segtui.queries.snapshot_frame`` when that module is present (it
reads the store in Rust); otherwise from SQL here, in chunks, with progress. Loaded frames are
kept in a small cache (snapshots never change once written).

Money is integer minor units everywhere in this module.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import math
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

EPOCH = dt.date(1970, 1, 1)

# How the overview can group a snapshot: name -> (column, title).
GROUPINGS: dict[str, tuple[str, str]] = {
    "rfm11": ("rfm_segment", "RFM segment (rfm11)"),
    "rfm5": ("rfm5_segment", "RFM segment (rfm5)"),
    "primary": ("primary_segment", "primary segment"),
    "quadrant": ("quadrant", "profitability quadrant"),
    "risk": ("churn_band", "churn risk band"),
    "stage": ("lifecycle", "lifecycle stage"),
    "health": ("health_band", "health band"),
    "tier": ("tier", "behavioural tier"),
    "size": ("size_band", "size band"),
}
GROUP_ORDER = tuple(GROUPINGS)

# Canonical display order of known labels; unknown labels follow, by revenue.
LABEL_ORDER: dict[str, tuple[str, ...]] = {
    "rfm_segment": ("Champions", "Loyal", "Potential Loyalist", "New Customers", "Promising", "Need Attention",
                    "About to Sleep", "At Risk", "Can't Lose Them", "Hibernating", "Lost", "No Purchase"),
    "rfm5_segment": ("Champions", "Loyal", "At Risk", "Dormant", "Lost", "No Purchase"),
    "quadrant": ("high revenue, low cost", "high revenue, high cost", "low revenue, low cost", "low revenue, high cost"),
    "churn_band": ("high", "medium", "low"),
    "lifecycle": ("onboarding", "active", "expansion-ready", "at-risk", "churned"),
    "health_band": ("green", "yellow", "red"),
    "tier": ("power", "core", "shallow", "disengaged"),
    "size_band": ("Enterprise", "Mid-Market", "SMB"),
}
NONE_LABEL = "(none)"
NEW_LABEL = "(new)"
GONE_LABEL = "(gone)"

QUADRANT_ACTIONS = {
    "high revenue, low cost": "prioritise for expansion and referral",
    "high revenue, high cost": "renegotiate or optimise usage",
    "low revenue, low cost": "automate support, show the upgrade path",
    "low revenue, high cost": "re-price or offboard",
}

# Columns of the snapshot frame (the fallback reader produces exactly these).
TEXT_COLUMNS = ("account_key", "name", "industry", "region", "plan", "churn_reasons")
LABEL_COLUMNS = ("rfm_segment", "rfm5_segment", "quadrant", "churn_band", "health_band", "lifecycle", "tier",
                 "size_band", "primary_segment")
INT_COLUMNS = ("account", "employees", "mrr", "seats", "recency_days", "frequency", "monetary", "r_score", "f_score",
               "m_score", "revenue", "direct_cost", "allocated_cost", "margin", "churn_risk", "health")
FRAME_SCHEMA: dict[str, Any] = {
    "account": pl.Int64, "account_key": pl.String, "name": pl.String, "industry": pl.String, "region": pl.String,
    "plan": pl.String, "employees": pl.Int64, "mrr": pl.Int64, "seats": pl.Int64,
    "recency_days": pl.Int64, "frequency": pl.Int64, "monetary": pl.Int64,
    "r_score": pl.Int64, "f_score": pl.Int64, "m_score": pl.Int64,
    "rfm_segment": pl.String, "rfm5_segment": pl.String,
    "revenue": pl.Int64, "direct_cost": pl.Int64, "allocated_cost": pl.Int64, "margin": pl.Int64,
    "margin_pct": pl.Float64, "quadrant": pl.String, "churn_risk": pl.Int64, "churn_band": pl.String,
    "churn_reasons": pl.String, "health": pl.Int64, "health_band": pl.String, "lifecycle": pl.String,
    "tier": pl.String, "size_band": pl.String, "primary_segment": pl.String,
}
_FRAME_SQL = """
SELECT s.account, a.account_key, a.name, a.industry, a.region, a.plan, a.employees, a.mrr, a.seats,
       s.recency_days, s.frequency, s.monetary, s.r_score, s.f_score, s.m_score, s.rfm_segment, s.rfm5_segment,
       s.revenue, s.direct_cost, s.allocated_cost, s.margin, s.margin_pct, s.quadrant, s.churn_risk, s.churn_band,
       s.churn_reasons, s.health, s.health_band, s.lifecycle, s.tier, s.size_band, s.primary_segment
FROM snapshot_accounts s JOIN accounts a ON a.id = s.account
WHERE s.snapshot = ?
ORDER BY s.account
"""
_CHUNK = 50_000


class Cancelled(Exception):
    """The worker asking for this was cancelled; nothing was returned."""


Progress = Callable[[float | None, str], None]
"""progress(fraction or None for unknown, label)."""


def _no_progress(fraction: float | None, label: str) -> None:
    return None


def _never() -> bool:
    return False


def day_to_date(day: int | None) -> dt.date | None:
    return None if day is None else EPOCH + dt.timedelta(days=int(day))


def date_to_day(d: dt.date) -> int:
    return (d - EPOCH).days


@dataclass(frozen=True)
class Snapshot:
    id: int
    as_of_day: int
    mode: str
    config_fp: str
    created_at: str
    accounts: int
    net_revenue: int
    pooled_cost: int
    allocated_cost: int
    unallocated_cost: int
    series: str | None
    config: str

    @property
    def as_of(self) -> dt.date:
        return EPOCH + dt.timedelta(days=self.as_of_day)

    @property
    def label(self) -> str:
        return f"{self.as_of.isoformat()} (#{self.id}, {self.mode})"

    @property
    def window_days(self) -> int | None:
        """The scoring window in days, when the configuration limits it (else all history)."""
        try:
            cfg = json.loads(self.config)
        except (TypeError, ValueError):
            return None
        for key in ("window_days", "window"):
            v = cfg.get(key) if isinstance(cfg, dict) else None
            if isinstance(v, int) and v > 0:
                return v
            if isinstance(v, str) and v.endswith("d") and v[:-1].isdigit():
                return int(v[:-1])
        return None

    @property
    def first_day(self) -> int | None:
        w = self.window_days
        return None if w is None else self.as_of_day - w + 1


class _Loading:
    """A snapshot frame being read: waiters follow its progress."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.state: tuple[float | None, str] = (None, "reading the snapshot")


class Store:
    """Read access to one store file, with a cache of snapshot frames."""

    def __init__(self, path: Path, *, frame_cache: int = 2) -> None:
        self.path = Path(path)
        self._frames: OrderedDict[tuple[int, str], pl.DataFrame] = OrderedDict()
        self._frame_cache = frame_cache
        self._lock = threading.Lock()
        self._loading: dict[tuple[int, str], _Loading] = {}

    # --- connections ------------------------------------------------------------------------

    @contextmanager
    def read(self, cancelled: Callable[[], bool] = _never) -> Iterator[sqlite3.Connection]:
        """A read-only connection for one unit of work; ``cancelled()`` interrupts its queries."""
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout = 5000")
            conn.set_progress_handler(lambda: 1 if cancelled() else 0, 20_000)
            try:
                yield conn
            except sqlite3.OperationalError as e:
                if "interrupted" in str(e) and cancelled():
                    raise Cancelled() from None
                raise
        finally:
            conn.close()

    def data_version(self) -> int:
        with self.read() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'data_version'").fetchone()
        return int(row[0]) if row else 0

    # --- snapshots ----------------------------------------------------------------------------

    def snapshots(self) -> list[Snapshot]:
        """All snapshots, oldest first (by as-of date, then id)."""
        with self.read() as conn:
            rows = conn.execute(
                "SELECT id, as_of_day, mode, config_fp, created_at, accounts, net_revenue, pooled_cost, allocated_cost,"
                " unallocated_cost, series, config FROM snapshots ORDER BY as_of_day, id"
            ).fetchall()
        return [Snapshot(*r) for r in rows]

    def store_counts(self) -> dict[str, int]:
        with self.read() as conn:
            return {
                "accounts": conn.execute("SELECT count(*) FROM accounts").fetchone()[0],
                "line_items": conn.execute("SELECT max(id) FROM line_items").fetchone()[0] or 0,
            }

    @staticmethod
    def previous(snapshots: list[Snapshot], snap: Snapshot) -> Snapshot | None:
        """The snapshot before ``snap`` in the same series: same mode and configuration, earlier date."""
        earlier = [s for s in snapshots if s.mode == snap.mode and s.config_fp == snap.config_fp and s.as_of_day < snap.as_of_day]
        if not earlier:
            earlier = [s for s in snapshots if s.mode == snap.mode and s.as_of_day < snap.as_of_day]
        return earlier[-1] if earlier else None

    # --- the snapshot frame -----------------------------------------------------------------

    def cached_frame(self, snap: Snapshot) -> pl.DataFrame | None:
        with self._lock:
            return self._frames.get((snap.id, snap.created_at))

    def frame(self, snap: Snapshot, progress: Progress = _no_progress, cancelled: Callable[[], bool] = _never) -> pl.DataFrame:
        """Every account of ``snap`` with its firmographics (cached; see the module docs)."""
        key = (snap.id, snap.created_at)
        while True:
            with self._lock:
                if key in self._frames:
                    self._frames.move_to_end(key)
                    return self._frames[key]
                loading = self._loading.get(key)
                if loading is None:
                    loading = self._loading[key] = _Loading()
                    break
            # another worker is reading the same snapshot: follow its progress rather than read twice
            seen = None
            while not loading.done.wait(0.05):
                if cancelled():
                    raise Cancelled()
                if loading.state != seen:
                    seen = loading.state
                    progress(*seen)
        def forward(fraction: float | None, label: str) -> None:
            loading.state = (fraction, label)
            progress(fraction, label)

        try:
            frame = _normalise(self._load_frame(snap, forward, cancelled))
            with self._lock:
                self._frames[key] = frame
                while len(self._frames) > self._frame_cache:
                    self._frames.popitem(last=False)
            return frame
        finally:
            with self._lock:
                self._loading.pop(key).done.set()

    def _load_frame(self, snap: Snapshot, progress: Progress, cancelled: Callable[[], bool]) -> pl.DataFrame:
        try:
            queries = importlib.import_module("segtui.queries")
        except ModuleNotFoundError:
            queries = None
        if queries is not None and hasattr(queries, "snapshot_frame"):
            progress(None, f"reading snapshot {snap.as_of}")
            return queries.snapshot_frame(self.path, snap.id)
        total = max(snap.accounts, 1)
        parts: list[pl.DataFrame] = []
        done = 0
        with self.read(cancelled) as conn:
            cur = conn.execute(_FRAME_SQL, (snap.id,))
            while True:
                if cancelled():
                    raise Cancelled()
                rows = cur.fetchmany(_CHUNK)
                if not rows:
                    break
                parts.append(pl.DataFrame(rows, schema=FRAME_SCHEMA, orient="row"))
                done += len(rows)
                progress(min(done / total, 1.0), f"reading snapshot {snap.as_of}")
        if not parts:
            return pl.DataFrame(schema=FRAME_SCHEMA)
        return pl.concat(parts, rechunk=True)

    # --- overview -------------------------------------------------------------------------------

    def rollup(self, snap: Snapshot, by: str, cancelled: Callable[[], bool] = _never) -> pl.DataFrame:
        """Per-group figures of a snapshot (see :func:`rollup_frame`), from the cached frame when there is
        one, else by SQL over the store (the two agree; a test holds them to it)."""
        frame = self.cached_frame(snap)
        if frame is not None:
            return rollup_frame(frame, by)
        column = GROUPINGS[by][0]
        sql = f"""
            SELECT coalesce({column}, ?) AS grp, count(*), sum(revenue), sum(direct_cost + allocated_cost), sum(margin),
                   avg(r_score), avg(f_score), avg(m_score), sum(margin < 0), coalesce(sum(CASE WHEN margin < 0 THEN margin END), 0),
                   coalesce(sum(CASE WHEN churn_band = 'high' THEN revenue END), 0)
            FROM snapshot_accounts WHERE snapshot = ? GROUP BY grp"""
        with self.read(cancelled) as conn:
            rows = conn.execute(sql, (NONE_LABEL, snap.id)).fetchall()
        df = pl.DataFrame(
            rows,
            schema={"group": pl.String, "accounts": pl.Int64, "revenue": pl.Int64, "cost": pl.Int64, "margin": pl.Int64,
                    "mean_r": pl.Float64, "mean_f": pl.Float64, "mean_m": pl.Float64, "losing": pl.Int64,
                    "loss": pl.Int64, "risk_revenue": pl.Int64},
            orient="row",
        )
        return _finish_rollup(df, column)

    def pareto_share(self, snap: Snapshot, cancelled: Callable[[], bool] = _never) -> float | None:
        """Share of net revenue earned by the top 20 % of the snapshot's accounts."""
        frame = self.cached_frame(snap)
        if frame is not None:
            return pareto_share(frame)
        n = snap.accounts
        if n == 0:
            return None
        top = math.ceil(n * 0.2)
        with self.read(cancelled) as conn:
            total, = conn.execute("SELECT sum(revenue) FROM snapshot_accounts WHERE snapshot = ?", (snap.id,)).fetchone()
            part, = conn.execute(
                "SELECT sum(revenue) FROM (SELECT revenue FROM snapshot_accounts WHERE snapshot = ? ORDER BY revenue DESC LIMIT ?)",
                (snap.id, top),
            ).fetchone()
        if not total or total <= 0:
            return None
        return part / total

    # --- one account ------------------------------------------------------------------------------

    def account_info(self, account: int) -> dict[str, Any] | None:
        with self.read() as conn:
            conn.row_factory = sqlite3.Row
            row = conn.execute("SELECT * FROM accounts WHERE id = ?", (account,)).fetchone()
        return dict(row) if row else None

    def account_scores(self, snap: Snapshot, account: int) -> dict[str, Any] | None:
        with self.read() as conn:
            conn.row_factory = sqlite3.Row
            row = conn.execute(
                "SELECT * FROM snapshot_accounts WHERE snapshot = ? AND account = ?", (snap.id, account)
            ).fetchone()
        return dict(row) if row else None

    def account_history(self, account: int) -> pl.DataFrame:
        """The account's row in every snapshot, oldest first."""
        with self.read() as conn:
            rows = conn.execute(
                """SELECT s.id, s.as_of_day, s.mode, sa.rfm_segment, sa.rfm5_segment, sa.primary_segment, sa.r_score,
                          sa.f_score, sa.m_score, sa.revenue, sa.margin, sa.churn_risk, sa.churn_band, sa.health,
                          sa.lifecycle
                   FROM snapshots s JOIN snapshot_accounts sa ON sa.snapshot = s.id AND sa.account = ?
                   ORDER BY s.as_of_day, s.id""",
                (account,),
            ).fetchall()
        df = pl.DataFrame(
            rows,
            schema={"snapshot": pl.Int64, "as_of_day": pl.Int64, "mode": pl.String, "rfm_segment": pl.String,
                    "rfm5_segment": pl.String, "primary_segment": pl.String, "r_score": pl.Int64, "f_score": pl.Int64,
                    "m_score": pl.Int64, "revenue": pl.Int64, "margin": pl.Int64, "churn_risk": pl.Int64,
                    "churn_band": pl.String, "health": pl.Int64, "lifecycle": pl.String},
            orient="row",
        )
        return df.with_columns((pl.lit(EPOCH) + pl.duration(days=pl.col("as_of_day"))).cast(pl.Date).alias("as_of")).select(
            "as_of", pl.exclude("as_of", "as_of_day")
        )

    def account_costs(self, snap: Snapshot, account: int) -> pl.DataFrame:
        """Direct cost of the account by category within the snapshot's window."""
        lo = snap.first_day if snap.first_day is not None else -(1 << 40)
        with self.read() as conn:
            rows = conn.execute(
                """SELECT cc.name, sum(c.amount), count(*) FROM costs c JOIN cost_categories cc ON cc.id = c.category
                   WHERE c.account = ? AND c.day BETWEEN ? AND ? GROUP BY cc.name ORDER BY sum(c.amount) DESC""",
                (account, lo, snap.as_of_day),
            ).fetchall()
        return pl.DataFrame(rows, schema={"category": pl.String, "direct_cost": pl.Int64, "rows": pl.Int64}, orient="row")

    def account_monthly(self, snap: Snapshot, account: int, months: int = 24) -> pl.DataFrame:
        """Net revenue and direct cost per calendar month, the last ``months`` months up to the as-of date."""
        end = snap.as_of
        end_month = dt.date(end.year, end.month, 1)
        start_month = _add_months(end_month, -(months - 1))
        with self.read() as conn:
            first, = conn.execute(
                "SELECT min(d) FROM (SELECT min(day) AS d FROM line_items WHERE account = ?"
                " UNION ALL SELECT min(day) FROM costs WHERE account = ?)", (account, account)
            ).fetchone()
            if first is not None and first <= snap.as_of_day:
                f = day_to_date(first)
                # from the first activity (at least six months shown), at most ``months`` back
                start_month = max(start_month, min(dt.date(f.year, f.month, 1), _add_months(end_month, -5)))
            months = (end_month.year - start_month.year) * 12 + end_month.month - start_month.month + 1
            lo = date_to_day(start_month)
            li = conn.execute(
                "SELECT day, amount FROM line_items WHERE account = ? AND day BETWEEN ? AND ?", (account, lo, snap.as_of_day)
            ).fetchall()
            co = conn.execute(
                "SELECT day, amount FROM costs WHERE account = ? AND day BETWEEN ? AND ?", (account, lo, snap.as_of_day)
            ).fetchall()
        month_keys = [_add_months(start_month, i) for i in range(months)]
        rev = dict.fromkeys(month_keys, 0)
        cost = dict.fromkeys(month_keys, 0)
        for day, amount in li:
            d = day_to_date(day)
            rev[dt.date(d.year, d.month, 1)] += amount
        for day, amount in co:
            d = day_to_date(day)
            cost[dt.date(d.year, d.month, 1)] += amount
        return pl.DataFrame(
            {"month": [m.strftime("%Y-%m") for m in month_keys], "revenue": [rev[m] for m in month_keys],
             "direct_cost": [cost[m] for m in month_keys]},
            schema={"month": pl.String, "revenue": pl.Int64, "direct_cost": pl.Int64},
        )

    def line_items_page(self, account: int, page: int, page_size: int = 50) -> tuple[pl.DataFrame, int]:
        """One page of the account's line items, newest first, and how many there are in all."""
        with self.read() as conn:
            total, = conn.execute("SELECT count(*) FROM line_items WHERE account = ?", (account,)).fetchone()
            rows = conn.execute(
                """SELECT day, invoice, sku, description, quantity, unit_price, amount, is_cancel FROM line_items
                   WHERE account = ? ORDER BY day DESC, id DESC LIMIT ? OFFSET ?""",
                (account, page_size, page * page_size),
            ).fetchall()
        df = pl.DataFrame(
            rows,
            schema={"day": pl.Int64, "invoice": pl.String, "sku": pl.String, "description": pl.String,
                    "quantity": pl.String, "unit_price": pl.Int64, "amount": pl.Int64, "is_cancel": pl.Int64},
            orient="row",
        )
        df = df.with_columns(
            (pl.lit(EPOCH) + pl.duration(days=pl.col("day"))).cast(pl.Date).alias("date"),
            (pl.col("is_cancel") == 1).alias("cancel"),
        ).select("date", "invoice", "sku", "description", "quantity", "unit_price", "amount", "cancel")
        return df, int(total)

    # --- profitability ------------------------------------------------------------------------------

    def cost_table(self, snap: Snapshot, cancelled: Callable[[], bool] = _never) -> pl.DataFrame:
        """Cost by category in the snapshot's window: direct (all accounts), pooled, allocated, unallocated."""
        lo = snap.first_day if snap.first_day is not None else -(1 << 40)
        with self.read(cancelled) as conn:
            direct = conn.execute(
                """SELECT cc.name, sum(c.amount) FROM costs c JOIN cost_categories cc ON cc.id = c.category
                   WHERE c.account IS NOT NULL AND c.day BETWEEN ? AND ? GROUP BY cc.name""",
                (lo, snap.as_of_day),
            ).fetchall()
            pools = conn.execute(
                "SELECT category, driver, pooled, allocated, unallocated FROM snapshot_pools WHERE snapshot = ?", (snap.id,)
            ).fetchall()
        d = pl.DataFrame(direct, schema={"category": pl.String, "direct": pl.Int64}, orient="row")
        p = pl.DataFrame(
            pools,
            schema={"category": pl.String, "driver": pl.String, "pooled": pl.Int64, "allocated": pl.Int64,
                    "unallocated": pl.Int64},
            orient="row",
        )
        out = d.join(p, on="category", how="full", coalesce=True).with_columns(
            pl.col("direct", "pooled", "allocated", "unallocated").fill_null(0)
        )
        out = out.with_columns((pl.col("direct") + pl.col("pooled")).alias("total"))
        return out.select("category", "direct", "pooled", "driver", "allocated", "unallocated", "total").sort(
            "total", descending=True
        )

    # --- cohorts --------------------------------------------------------------------------------------

    def cohorts(self, snap: Snapshot, progress: Progress = _no_progress, cancelled: Callable[[], bool] = _never) -> pl.DataFrame:
        """Per-account monthly activity up to the as-of date, for :func:`cohort_matrix`."""
        progress(None, "reading line items by month")
        sql = """
            SELECT account,
                   CAST(strftime('%Y', day * 86400, 'unixepoch') AS INTEGER) * 12
                     + CAST(strftime('%m', day * 86400, 'unixepoch') AS INTEGER) - 1 AS month,
                   sum(amount), max(amount > 0)
            FROM line_items WHERE day <= ? GROUP BY account, month"""
        with self.read(cancelled) as conn:
            rows = conn.execute(sql, (snap.as_of_day,)).fetchall()
        return pl.DataFrame(
            rows, schema={"account": pl.Int64, "month": pl.Int64, "net": pl.Int64, "bought": pl.Int64}, orient="row"
        )


# --- pure computations over frames ------------------------------------------------------------------


def _normalise(frame: pl.DataFrame) -> pl.DataFrame:
    """The columns the screens use, typed alike whatever read the snapshot; label columns categorical."""
    missing = [c for c in FRAME_SCHEMA if c not in frame.columns]
    if missing:
        frame = frame.with_columns(pl.lit(None, dtype=FRAME_SCHEMA[c]).alias(c) for c in missing)
    frame = frame.with_columns(
        [pl.col(c).cast(pl.Int64) for c in INT_COLUMNS]
        + [pl.col(c).cast(pl.String).cast(pl.Categorical) for c in LABEL_COLUMNS]
        + [pl.col("margin_pct").cast(pl.Float64)]
    )
    return frame.with_columns((pl.col("direct_cost") + pl.col("allocated_cost")).alias("cost"))


def _finish_rollup(df: pl.DataFrame, column: str) -> pl.DataFrame:
    total_accounts = df["accounts"].sum() or 0
    total_revenue = df["revenue"].sum() or 0
    order = LABEL_ORDER.get(column, ())
    rank = {label: i for i, label in enumerate(order)}
    df = df.with_columns(
        (pl.col("accounts") / total_accounts if total_accounts else pl.lit(None, pl.Float64)).alias("account_share"),
        (pl.col("revenue") / total_revenue if total_revenue > 0 else pl.lit(None, pl.Float64)).alias("revenue_share"),
        pl.col("group").replace_strict(rank, default=len(order), return_dtype=pl.Int64).alias("_rank"),
    )
    return df.sort(["_rank", "revenue", "group"], descending=[False, True, False]).drop("_rank").select(
        "group", "accounts", "account_share", "revenue", "revenue_share", "cost", "margin", "mean_r", "mean_f", "mean_m",
        "losing", "loss", "risk_revenue",
    )


def rollup_frame(frame: pl.DataFrame, by: str) -> pl.DataFrame:
    """Per group: accounts, share, revenue, share, cost, margin, mean R/F/M, losing accounts and their loss,
    revenue at high churn risk."""
    column = GROUPINGS[by][0]
    df = (
        frame.group_by(pl.col(column).cast(pl.String).fill_null(NONE_LABEL).alias("group"))
        .agg(
            pl.len().cast(pl.Int64).alias("accounts"),
            pl.col("revenue").sum().alias("revenue"),
            pl.col("cost").sum().alias("cost"),
            pl.col("margin").sum().alias("margin"),
            pl.col("r_score").mean().alias("mean_r"),
            pl.col("f_score").mean().alias("mean_f"),
            pl.col("m_score").mean().alias("mean_m"),
            (pl.col("margin") < 0).sum().cast(pl.Int64).alias("losing"),
            pl.col("margin").filter(pl.col("margin") < 0).sum().alias("loss"),
            pl.col("revenue").filter(pl.col("churn_band").cast(pl.String) == "high").sum().alias("risk_revenue"),
        )
    )
    return _finish_rollup(df, column)


def with_change(rollup: pl.DataFrame, previous: pl.DataFrame | None) -> pl.DataFrame:
    """Add ``change``: accounts now minus accounts in the previous snapshot (null without one)."""
    if previous is None:
        return rollup.with_columns(pl.lit(None, pl.Int64).alias("change"))
    prev = previous.select("group", pl.col("accounts").alias("_prev"))
    out = rollup.join(prev, on="group", how="left", maintain_order="left")
    return out.with_columns((pl.col("accounts") - pl.col("_prev").fill_null(0)).alias("change")).drop("_prev")


def figures(rollup: pl.DataFrame) -> dict[str, int]:
    """The overview's key figures, summed from a rollup (so they reconcile with its rows)."""
    return {
        "accounts": int(rollup["accounts"].sum() or 0),
        "revenue": int(rollup["revenue"].sum() or 0),
        "cost": int(rollup["cost"].sum() or 0),
        "margin": int(rollup["margin"].sum() or 0),
        "losing": int(rollup["losing"].sum() or 0),
        "loss": int(rollup["loss"].sum() or 0),
        "risk_revenue": int(rollup["risk_revenue"].sum() or 0),
    }


def pareto_share(frame: pl.DataFrame) -> float | None:
    n = frame.height
    total = frame["revenue"].sum() if n else 0
    if n == 0 or not total or total <= 0:
        return None
    top = math.ceil(n * 0.2)
    return float(frame["revenue"].top_k(top).sum()) / total


def group_accounts(frame: pl.DataFrame, by: str, value: str) -> pl.DataFrame:
    column = GROUPINGS[by][0]
    if value == NONE_LABEL:
        return frame.filter(pl.col(column).is_null())
    return frame.filter(pl.col(column).cast(pl.String) == value)


def migration(a: pl.DataFrame, b: pl.DataFrame, column: str) -> pl.DataFrame:
    """Long form of the migration matrix from snapshot A to B over ``column``: one row per (from, to)
    with accounts, revenue in A and revenue in B. Accounts absent from A come ``(new)``; accounts absent
    from B go to ``(gone)``."""
    left = a.select("account", pl.col(column).cast(pl.String).alias("from"), pl.col("revenue").alias("revenue_a"))
    right = b.select("account", pl.col(column).cast(pl.String).alias("to"), pl.col("revenue").alias("revenue_b"))
    j = left.join(right, on="account", how="full", coalesce=True)
    j = j.with_columns(
        pl.col("from").fill_null(NEW_LABEL),
        pl.col("to").fill_null(GONE_LABEL),
        pl.col("revenue_a").fill_null(0),
        pl.col("revenue_b").fill_null(0),
    )
    return j.group_by("from", "to").agg(
        pl.len().cast(pl.Int64).alias("accounts"), pl.col("revenue_a").sum(), pl.col("revenue_b").sum()
    ).sort("from", "to")


def _label_key(column: str) -> Callable[[str], tuple[int, str]]:
    order = LABEL_ORDER.get(column, ())
    rank = {label: i for i, label in enumerate(order)}

    def key(label: str) -> tuple[int, str]:
        if label == NEW_LABEL:
            return (len(order) + 2, label)
        if label == GONE_LABEL:
            return (len(order) + 3, label)
        return (rank.get(label, len(order)), label)

    return key


def migration_order(long: pl.DataFrame, column: str) -> tuple[list[str], list[str]]:
    """Row (from) and column (to) labels in display order."""
    key = _label_key(column)
    froms = sorted(set(long["from"].to_list()), key=key)
    tos = sorted(set(long["to"].to_list()), key=key)
    return froms, tos


def migration_pivot(long: pl.DataFrame, column: str, value: str) -> pl.DataFrame:
    """The matrix: one row per from-label, one column per to-label, plus ``total``; ``value`` is
    ``accounts``, ``revenue_a`` or ``revenue_b``."""
    froms, tos = migration_order(long, column)
    cells = {(r["from"], r["to"]): r[value] for r in long.iter_rows(named=True)}
    data: dict[str, list[Any]] = {"from": froms}
    for t in tos:
        data[t] = [cells.get((f, t), 0) for f in froms]
    data["total"] = [sum(cells.get((f, t), 0) for t in tos) for f in froms]
    return pl.DataFrame(data, schema={"from": pl.String, **{t: pl.Int64 for t in tos}, "total": pl.Int64})


def velocity(long: pl.DataFrame, column: str) -> pl.DataFrame:
    """Per segment: accounts in A and B, inflow (arrived from elsewhere), outflow (left), net change."""
    froms, tos = migration_order(long, column)
    labels = sorted({x for x in froms + tos if x not in (NEW_LABEL, GONE_LABEL)}, key=_label_key(column))
    rows = []
    for s in labels:
        in_a = long.filter(pl.col("from") == s)["accounts"].sum()
        in_b = long.filter(pl.col("to") == s)["accounts"].sum()
        stay = long.filter((pl.col("from") == s) & (pl.col("to") == s))["accounts"].sum()
        rev_a = long.filter(pl.col("from") == s)["revenue_a"].sum()
        rev_b = long.filter(pl.col("to") == s)["revenue_b"].sum()
        rows.append((s, in_a, in_b, in_b - stay, in_a - stay, in_b - in_a, rev_a, rev_b, rev_b - rev_a))
    return pl.DataFrame(
        rows,
        schema={"segment": pl.String, "accounts_a": pl.Int64, "accounts_b": pl.Int64, "inflow": pl.Int64,
                "outflow": pl.Int64, "net": pl.Int64, "revenue_a": pl.Int64, "revenue_b": pl.Int64,
                "revenue_change": pl.Int64},
        orient="row",
    )


def moved_accounts(a: pl.DataFrame, b: pl.DataFrame, column: str, src: str, dst: str) -> pl.DataFrame:
    """Accounts that were ``src`` in A and are ``dst`` in B, with B's row and A's segment and revenue."""
    left = a.select("account", pl.col(column).cast(pl.String).alias("from"), pl.col("revenue").alias("revenue_a"))
    if dst == GONE_LABEL:
        gone = left.join(b.select("account"), on="account", how="anti")
        gone = gone.filter(pl.col("from") == src) if src != NEW_LABEL else gone.head(0)
        return a.join(gone.select("account", "from", "revenue_a"), on="account", how="inner")
    rows = b.filter(pl.col(column).cast(pl.String) == dst).join(left, on="account", how="left")
    rows = rows.with_columns(pl.col("from").fill_null(NEW_LABEL), pl.col("revenue_a").fill_null(0))
    return rows.filter(pl.col("from") == src)


def profitability(frame: pl.DataFrame) -> pl.DataFrame:
    """The four quadrants (and accounts with no quadrant) with accounts, revenue, cost, margin and the action."""
    r = rollup_frame(frame, "quadrant")
    return r.with_columns(
        pl.col("group").replace_strict(QUADRANT_ACTIONS, default="", return_dtype=pl.String).alias("action")
    ).select("group", "accounts", "account_share", "revenue", "revenue_share", "cost", "margin", "losing", "loss", "action")


def losing_accounts(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.filter(pl.col("margin") < 0).sort(["margin", "account"])


def cohort_matrix(activity: pl.DataFrame, basis: str, max_months: int = 24) -> pl.DataFrame:
    """Cohorts by first-purchase month. ``basis="logo"``: share of the cohort's accounts that bought in
    month k after their first; ``basis="revenue"``: net revenue in month k over the cohort's net revenue in
    its first month. Columns: cohort (YYYY-MM), accounts, m0..mN (fractions, null beyond the data)."""
    bought = activity.filter(pl.col("bought") == 1)
    first = bought.group_by("account").agg(pl.col("month").min().alias("cohort"))
    if first.height == 0:
        return pl.DataFrame(schema={"cohort": pl.String, "accounts": pl.Int64})
    last_month = int(activity["month"].max())
    j = activity.join(first, on="account", how="inner").with_columns((pl.col("month") - pl.col("cohort")).alias("k"))
    j = j.filter(pl.col("k") >= 0)
    sizes = first.group_by("cohort").agg(pl.len().cast(pl.Int64).alias("accounts"))
    if basis == "logo":
        cells = j.filter(pl.col("bought") == 1).group_by("cohort", "k").agg(pl.col("account").n_unique().alias("v"))
        base = sizes.rename({"accounts": "base"})
    else:
        cells = j.group_by("cohort", "k").agg(pl.col("net").sum().alias("v"))
        base = cells.filter(pl.col("k") == 0).select("cohort", pl.col("v").alias("base"))
    cells = cells.join(base, on="cohort").with_columns(
        pl.when(pl.col("base") > 0).then(pl.col("v") / pl.col("base")).otherwise(None).alias("share")
    )
    cohorts = sorted(sizes["cohort"].to_list())
    n_months = min(max_months, last_month - cohorts[0] + 1)
    lookup = {(r["cohort"], r["k"]): r["share"] for r in cells.iter_rows(named=True)}
    size = dict(zip(sizes["cohort"].to_list(), sizes["accounts"].to_list()))
    data: dict[str, list[Any]] = {"cohort": [f"{c // 12:04d}-{c % 12 + 1:02d}" for c in cohorts],
                                  "accounts": [size[c] for c in cohorts]}
    for k in range(n_months):
        data[f"m{k}"] = [
            (lookup.get((c, k), 0.0) if c + k <= last_month else None) for c in cohorts
        ]
    return pl.DataFrame(data, schema={"cohort": pl.String, "accounts": pl.Int64, **{f"m{k}": pl.Float64 for k in range(n_months)}})


def _add_months(d: dt.date, n: int) -> dt.date:
    m = d.year * 12 + d.month - 1 + n
    return dt.date(m // 12, m % 12 + 1, 1)
