"""What the TUI reads from the store, and the small computations it makes over snapshots.

Nothing here imports Textual: every function runs in a worker thread and returns plain values
or polars frames. Each call opens its own read-only connection (cheap), so the TUI can read
while a scoring run writes (the store is in WAL mode).

The whole-snapshot frame (one row per account of a snapshot, joined with the account's key and
firmographics) comes from ``segtui.queries.snapshot_frame`` (read by the Rust core into Arrow
buffers); the overview, segment lists, migration and profitability are polars computations over
it. Loaded frames are kept in a small cache (a snapshot never changes once written; a re-scored
one has a new ``created_at``). Cohorts come from ``segtui.history.cohorts`` (the core).

Money is integer minor units everywhere in this module.
"""

from __future__ import annotations

import datetime as dt
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

from typing import TYPE_CHECKING

from segtui import dates
from segtui.dates import EPOCH, date_to_day  # noqa: F401 - date_to_day re-exported
from segtui.store import readonly_uri

if TYPE_CHECKING:
    import numpy as np
    import polars as pl
else:

    class _OnFirstUse:
        """A module imported when first used: the TUI's first paint (the snapshot list, read with
        sqlite3) needs neither polars nor numpy, which take a third of the start-up to import."""

        def __init__(self, name: str, alias: str) -> None:
            self._name, self._alias = name, alias

        def __getattr__(self, attr: str) -> Any:
            import importlib

            module = importlib.import_module(self._name)
            globals()[self._alias] = module  # later uses find the module itself
            return getattr(module, attr)

    np = _OnFirstUse("numpy", "np")
    pl = _OnFirstUse("polars", "pl")


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

# Columns of the snapshot frame as the screens use them (see ``_normalise``).
LABEL_COLUMNS = ("rfm_segment", "rfm5_segment", "quadrant", "churn_band", "health_band", "lifecycle", "tier",
                 "size_band", "primary_segment", "industry", "region", "plan", "churn_reasons")
INT_COLUMNS = ("account", "employees", "mrr", "seats", "recency_days", "frequency", "monetary", "r_score", "f_score",
               "m_score", "revenue", "direct_cost", "allocated_cost", "margin", "churn_risk", "health")
KEEP = ("account", "account_key", "name") + INT_COLUMNS[1:] + LABEL_COLUMNS + ("margin_pct",)
# What migration compares (``labels``) and what the overview sums (``group_frame``).
LABELS_COLUMNS = ("account", "revenue", "rfm_segment", "rfm5_segment", "primary_segment", "quadrant", "churn_band",
                  "lifecycle")
GROUP_FIGURES = ("revenue", "cost", "margin", "r_score", "f_score", "m_score", "high_risk")


class Cancelled(Exception):
    """The worker asking for this was cancelled; nothing was returned."""


Progress = Callable[[float | None, str], None]
"""progress(fraction or None for unknown, label)."""


def _no_progress(fraction: float | None, label: str) -> None:
    return None


def _never() -> bool:
    return False


def day_to_date(day: int | None) -> dt.date | None:
    """The date of a day number; None stays None."""
    return None if day is None else dates.day_to_date(day)


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
        return dates.day_to_date(self.as_of_day)

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
    """Read access to one store file, with caches of snapshot frames.

    Three shapes of a snapshot are read, each as narrow as its use allows (a million accounts):

    - ``frame``: every column the account lists show, joined with the accounts' keys and
      firmographics (``queries.snapshot_frame``); one kept in memory;
    - ``labels``: account, revenue and the labels migration compares; three kept;
    - ``group_frame``: one label column and the figures the overview sums (not kept: read when
      neither of the others is in memory).
    """

    def __init__(self, path: Path, *, frames: int = 1, labels: int = 3) -> None:
        self.path = Path(path)
        self._caches: dict[str, OrderedDict[tuple[int, str], pl.DataFrame]] = {"frame": OrderedDict(), "labels": OrderedDict()}
        self._limits = {"frame": frames, "labels": labels}
        self._lock = threading.Lock()
        self._loading: dict[tuple[str, int, str], _Loading] = {}
        self._memo: OrderedDict[tuple[Any, ...], Any] = OrderedDict()

    @property
    def _frames(self) -> OrderedDict[tuple[int, str], pl.DataFrame]:
        return self._caches["frame"]

    def forget(self) -> None:
        """Drop every cached frame and result (``ctrl+r``; a store that changed underneath)."""
        with self._lock:
            for cache in self._caches.values():
                cache.clear()
            self._memo.clear()

    def memo(self, key: tuple[Any, ...], compute: Callable[[], Any], *, keep: int = 48) -> Any:
        """``compute()`` once per ``key`` (which must name the snapshots it depends on, by id and
        creation time): results the background read prepares so screens open without computing."""
        with self._lock:
            if key in self._memo:
                self._memo.move_to_end(key)
                return self._memo[key]
        value = compute()
        with self._lock:
            self._memo[key] = value
            while len(self._memo) > keep:
                self._memo.popitem(last=False)
        return value

    def has_memo(self, key: tuple[Any, ...]) -> bool:
        with self._lock:
            return key in self._memo

    @staticmethod
    def key(snap: Snapshot) -> tuple[int, str]:
        return (snap.id, snap.created_at)

    # --- connections ------------------------------------------------------------------------

    @contextmanager
    def read(self, cancelled: Callable[[], bool] = _never) -> Iterator[sqlite3.Connection]:
        """A read-only connection for one unit of work; ``cancelled()`` interrupts its queries."""
        conn = sqlite3.connect(readonly_uri(self.path), uri=True, check_same_thread=False)
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

    # --- snapshot frames --------------------------------------------------------------------

    def cached_frame(self, snap: Snapshot) -> pl.DataFrame | None:
        with self._lock:
            return self._caches["frame"].get((snap.id, snap.created_at))

    def cached_labels(self, snap: Snapshot) -> pl.DataFrame | None:
        with self._lock:
            key = (snap.id, snap.created_at)
            frame = self._caches["frame"].get(key)
            if frame is not None:
                return frame.select(LABELS_COLUMNS)
            return self._caches["labels"].get(key)

    def frame(self, snap: Snapshot, progress: Progress = _no_progress, cancelled: Callable[[], bool] = _never) -> pl.DataFrame:
        """Every account of ``snap`` with its firmographics (cached; see the class docs)."""
        return self._cached("frame", snap, self._load_frame, progress, cancelled)

    def labels(self, snap: Snapshot, progress: Progress = _no_progress, cancelled: Callable[[], bool] = _never) -> pl.DataFrame:
        """``account``, ``revenue`` and the label columns of ``snap`` (the full frame's when it is in memory)."""
        cached = self.cached_labels(snap)
        if cached is not None:
            return cached
        return self._cached("labels", snap, self._load_labels, progress, cancelled)

    def frame_on_disk(self, snap: Snapshot) -> bool:
        """Whether ``queries.snapshot_frame`` keeps a copy of ``snap``'s frame beside the store (then
        reading the whole frame, memory-mapped, is quicker than a narrow read of the rows)."""
        from segtui import queries

        folder = queries.frame_cache_dir(self.path)
        try:
            return any(folder.glob(f"snapshot-{snap.id}-*.arrow"))
        except OSError:
            return False

    def group_frame(self, snap: Snapshot, column: str, progress: Progress = _no_progress,
                    cancelled: Callable[[], bool] = _never) -> pl.DataFrame:
        """What :func:`rollup_frame` needs for one grouping: from memory when possible, else from the
        whole frame when a copy of it is kept beside the store (the background read needs it next
        anyway), else one narrow read of the rows."""
        with self._lock:
            frame = self._caches["frame"].get((snap.id, snap.created_at))
        if frame is None and self.frame_on_disk(snap):
            frame = self.frame(snap, progress, cancelled)
        if frame is not None:
            return frame.select(column, *GROUP_FIGURES)
        from segtui import queries

        progress(None, f"reading {snap.as_of} by {column}")
        sql = (f"SELECT {column}, revenue, direct_cost + allocated_cost, margin, r_score, f_score, m_score,"
               " churn_band = 'high' FROM snapshot_accounts WHERE snapshot = ?1")
        df = queries.read_frame(self.path, sql, [snap.id], ["text"] + ["int"] * 7, capacity=snap.accounts)
        if cancelled():
            raise Cancelled()
        df.columns = [column, *GROUP_FIGURES]
        return df.with_columns(pl.col("high_risk").cast(pl.Boolean))

    def cached_group(self, snap: Snapshot, column: str) -> pl.DataFrame | None:
        """``column`` of ``snap`` if it is in memory already (for counts), else None."""
        frame = self.cached_frame(snap)
        if frame is not None:
            return frame.select(column)
        labels = self.cached_labels(snap)
        return labels.select(column) if labels is not None and column in labels.columns else None

    def _cached(self, kind: str, snap: Snapshot, load: Callable[..., pl.DataFrame], progress: Progress,
                cancelled: Callable[[], bool]) -> pl.DataFrame:
        key = (snap.id, snap.created_at)
        cache = self._caches[kind]
        while True:
            with self._lock:
                if key in cache:
                    cache.move_to_end(key)
                    return cache[key]
                loading = self._loading.get((kind, *key))
                if loading is None:
                    loading = self._loading[(kind, *key)] = _Loading()
                    # make room first: the peak is the frames kept plus the one being read
                    while len(cache) >= self._limits[kind]:
                        cache.popitem(last=False)
                    break
            # another worker is reading the same thing: follow its progress rather than read twice
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
            frame = load(snap, forward, cancelled)
            with self._lock:
                cache[key] = frame
                if kind == "frame":  # the labels are a selection of it from now on
                    self._caches["labels"].pop(key, None)
            return frame
        finally:
            with self._lock:
                self._loading.pop((kind, *key)).done.set()

    def _load_frame(self, snap: Snapshot, progress: Progress, cancelled: Callable[[], bool]) -> pl.DataFrame:
        from segtui import queries

        progress(None, f"reading the accounts of {snap.as_of}")
        if cancelled():
            raise Cancelled()
        frame = queries.snapshot_frame(self.path, snap.id)
        if cancelled():
            raise Cancelled()
        return _normalise(frame.rename({"account_id": "account_key"}).with_columns(pl.col("margin_pct") / 100))

    def _load_labels(self, snap: Snapshot, progress: Progress, cancelled: Callable[[], bool]) -> pl.DataFrame:
        from segtui import queries

        progress(None, f"reading the segments of {snap.as_of}")
        labels = [c for c in LABELS_COLUMNS if c not in ("account", "revenue")]
        sql = f"SELECT account, revenue, {', '.join(labels)} FROM snapshot_accounts WHERE snapshot = ?1 ORDER BY account"
        df = queries.read_frame(self.path, sql, [snap.id], ["int", "int"] + ["text"] * len(labels), capacity=snap.accounts)
        if cancelled():
            raise Cancelled()
        return df.with_columns(pl.col(c).cast(pl.Categorical) for c in labels).select(LABELS_COLUMNS)

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
        """The account's row in every snapshot, oldest first (the stored segments, as every screen shows).

        ``CROSS JOIN`` keeps SQLite looping over the few snapshots and looking the account up by
        primary key in each, instead of scanning every snapshot row for the account."""
        with self.read() as conn:
            rows = conn.execute(
                """SELECT s.id, s.as_of_day, s.mode, sa.rfm_segment, sa.rfm5_segment, sa.primary_segment, sa.r_score,
                          sa.f_score, sa.m_score, sa.revenue, sa.margin, sa.churn_risk, sa.churn_band, sa.health,
                          sa.lifecycle
                   FROM snapshots s CROSS JOIN snapshot_accounts sa ON sa.snapshot = s.id AND sa.account = ?
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

    def account_pool_shares(self, snap: Snapshot, account: int) -> list[tuple[str, int]]:
        """The account's share of each pooled category, as kept with the snapshot (empty for
        snapshots written before the store kept shares)."""
        from segtui import _core

        return _core.account_pool_shares(str(self.path), snap.id, account)

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
        """First-purchase cohorts up to the snapshot's as-of date (``segtui.history.cohorts``, long form)."""
        from segtui import history

        progress(None, "reading line items by month")
        long, _summary = history.cohorts(self.path, by="month", as_of=snap.as_of.isoformat())
        return long


# --- pure computations over frames ------------------------------------------------------------------


def _normalise(frame: pl.DataFrame) -> pl.DataFrame:
    """The columns the screens use: integers as Int64, labels categorical (a million rows of a dozen
    labels take 4 bytes a row, not a string each), ``margin_pct`` a fraction, plus ``cost``."""
    missing = [c for c in KEEP if c not in frame.columns]
    if missing:
        raise ValueError(f"the snapshot frame lacks columns {', '.join(missing)}")
    frame = frame.select(KEEP).with_columns(
        [pl.col(c).cast(pl.Int64) for c in INT_COLUMNS]
        + [pl.col(c).cast(pl.String).cast(pl.Categorical) for c in LABEL_COLUMNS]
        + [pl.col("margin_pct").cast(pl.Float64)]
    )
    return frame.with_columns(
        (pl.col("direct_cost") + pl.col("allocated_cost")).alias("cost"),
        (pl.col("churn_band").cast(pl.String) == "high").fill_null(False).alias("high_risk"),
    )


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
    revenue at high churn risk. ``frame``: a snapshot frame or a ``group_frame``."""
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
            pl.col("revenue").filter(pl.col("high_risk")).sum().alias("risk_revenue"),
        )
    )
    return _finish_rollup(df, column)


def group_counts(frame: pl.DataFrame, by: str) -> pl.DataFrame:
    """``group``, ``accounts`` of a frame holding the grouping's column."""
    column = GROUPINGS[by][0]
    return frame.group_by(pl.col(column).cast(pl.String).fill_null(NONE_LABEL).alias("group")).agg(
        pl.len().cast(pl.Int64).alias("accounts")
    )


def with_change(rollup: pl.DataFrame, previous: pl.DataFrame | None) -> pl.DataFrame:
    """Add ``change``: accounts now minus accounts in the previous snapshot (null without one).
    ``previous`` holds ``group`` and ``accounts`` (a rollup or :func:`group_counts`)."""
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


def group_mask(frame: pl.DataFrame, by: str, value: str) -> np.ndarray:
    """For each row of ``frame``, whether it is in the group ``value`` of grouping ``by``."""
    col = frame.get_column(GROUPINGS[by][0])
    hit = col.is_null() if value == NONE_LABEL else (col == value).fill_null(False)
    return hit.to_numpy()


def descending_order(frame: pl.DataFrame, column: str) -> np.ndarray:
    """Positions of ``frame``'s rows sorted by ``column``, largest first, nulls last, ties in frame
    order (the order the account lists open in, computed once per snapshot)."""
    return (
        frame.select(pl.col(column).alias("k")).with_row_index("_i")
        .sort("k", descending=True, nulls_last=True, maintain_order=True)
        .get_column("_i").to_numpy().astype(np.int64)
    )


def group_positions(store: Store, snap: Snapshot, frame: pl.DataFrame, by: str, value: str) -> tuple[np.ndarray, np.ndarray]:
    """The group's rows in ``frame`` (the snapshot's frame): their positions in frame order, and the
    same by revenue, largest first (from the snapshot's revenue order: no sort per group)."""
    mask = group_mask(frame, by, value)
    order = store.memo(("revenue-order", *Store.key(snap)), lambda: descending_order(frame, "revenue"))
    return np.flatnonzero(mask), order[mask[order]]


def _align(a: pl.DataFrame, b: pl.DataFrame) -> tuple[np.ndarray, np.ndarray] | None:
    """For each row of ``b`` the row of ``a`` with the same account (-1: none), and for each row of
    ``a`` whether ``b`` has it, by indexing on the account id (dense: the store's integer keys).
    None when the ids are too sparse for that (then a hash join is used)."""
    ida = a.get_column("account").to_numpy()
    idb = b.get_column("account").to_numpy()
    if ida.size == 0 or idb.size == 0:
        return None
    top = int(max(ida.max(), idb.max())) + 1
    if top > 4 * (ida.size + idb.size) + 1024 or min(int(ida.min()), int(idb.min())) < 0:
        return None
    pos = np.full(top, -1, dtype=np.int64)
    pos[ida] = np.arange(ida.size)
    in_b = np.zeros(top, dtype=bool)
    in_b[idb] = True
    return pos[idb], in_b[ida]


def migration(a: pl.DataFrame, b: pl.DataFrame, column: str) -> pl.DataFrame:
    """Long form of the migration matrix from snapshot A to B over ``column``: one row per (from, to)
    with accounts, revenue in A and revenue in B. Accounts absent from A come ``(new)``; accounts absent
    from B go to ``(gone)``; an account without a label in that dimension is ``(none)``."""
    aligned = _align(a, b)
    if aligned is None:
        left = a.select("account", pl.col(column).alias("from"), pl.col("revenue").alias("revenue_a"),
                        pl.lit(True).alias("in_a"))
        right = b.select("account", pl.col(column).alias("to"), pl.col("revenue").alias("revenue_b"),
                         pl.lit(True).alias("in_b"))
        rows = left.join(right, on="account", how="full", coalesce=True).drop("account")
    else:
        ia, kept = aligned
        hit = ia >= 0
        take = pl.Series(np.where(hit, ia, 0))
        # B's accounts with what A said of them, then A's accounts that B no longer has
        present = pl.DataFrame({
            "from": a.get_column(column).gather(take),
            "revenue_a": a.get_column("revenue").gather(take),
            "in_a": pl.Series(hit),
            "to": b.get_column(column),
            "revenue_b": b.get_column("revenue"),
            "in_b": pl.Series(np.ones(b.height, dtype=bool)),
        }).with_columns(
            pl.when(pl.col("in_a")).then(pl.col("from")).alias("from"),
            pl.when(pl.col("in_a")).then(pl.col("revenue_a")).alias("revenue_a"),
            pl.when(pl.col("in_a")).then(True).alias("in_a"),
        )
        gone = a.filter(pl.Series(~kept)).select(
            pl.col(column).alias("from"), pl.col("revenue").alias("revenue_a"), pl.lit(True).alias("in_a"),
            pl.lit(None, a.schema[column]).alias("to"), pl.lit(None, pl.Int64).alias("revenue_b"),
            pl.lit(None, pl.Boolean).alias("in_b"),
        )
        rows = pl.concat([present, gone], how="vertical_relaxed")
    cells = rows.group_by("from", "to", "in_a", "in_b").agg(
        pl.len().cast(pl.Int64).alias("accounts"),
        pl.col("revenue_a").sum().cast(pl.Int64),
        pl.col("revenue_b").sum().cast(pl.Int64),
    )
    cells = cells.with_columns(
        pl.when(pl.col("in_a").is_null()).then(pl.lit(NEW_LABEL))
        .otherwise(pl.col("from").cast(pl.String).fill_null(NONE_LABEL)).alias("from"),
        pl.when(pl.col("in_b").is_null()).then(pl.lit(GONE_LABEL))
        .otherwise(pl.col("to").cast(pl.String).fill_null(NONE_LABEL)).alias("to"),
    )
    return cells.group_by("from", "to").agg(pl.col("accounts", "revenue_a", "revenue_b").sum()).sort("from", "to")


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


def _labels(frame: pl.DataFrame, column: str, name: str) -> pl.DataFrame:
    return frame.select("account", pl.col(column).cast(pl.String).fill_null(NONE_LABEL).alias(name),
                        pl.col("revenue").alias(f"revenue_{name}"))


def moved_accounts(a: pl.DataFrame, b: pl.DataFrame, column: str, src: str, dst: str) -> pl.DataFrame:
    """The accounts of one migration cell: B's rows (A's for ``(gone)``) with ``from`` = the label in A."""
    if dst == GONE_LABEL:
        if src == NEW_LABEL:
            return a.head(0).with_columns(pl.lit(None, pl.String).alias("from"))
        gone = _labels(a, column, "from").join(b.select("account"), on="account", how="anti")
        ids = gone.filter(pl.col("from") == src).select("account", "from")
        return a.join(ids, on="account", how="inner")
    rows = b.filter(pl.col(column).is_null()) if dst == NONE_LABEL else b.filter(pl.col(column) == dst)
    aligned = _align(a, rows)
    if aligned is None:
        rows = rows.join(_labels(a, column, "from").select("account", "from"), on="account", how="left")
        rows = rows.with_columns(pl.col("from").fill_null(NEW_LABEL))
    else:
        ia, _kept = aligned
        hit = ia >= 0
        labels = a.get_column(column).gather(pl.Series(np.where(hit, ia, 0))).cast(pl.String).fill_null(NONE_LABEL)
        rows = rows.with_columns(
            pl.when(pl.Series(hit)).then(labels).otherwise(pl.lit(NEW_LABEL)).alias("from")
        )
    return rows.filter(pl.col("from") == src)


def profitability(frame: pl.DataFrame) -> pl.DataFrame:
    """The four quadrants (and accounts with no quadrant) with accounts, revenue, cost, margin and the action."""
    r = rollup_frame(frame, "quadrant")
    return r.with_columns(
        pl.col("group").replace_strict(QUADRANT_ACTIONS, default="", return_dtype=pl.String).alias("action")
    ).select("group", "accounts", "account_share", "revenue", "revenue_share", "cost", "margin", "losing", "loss", "action")


def losing_accounts(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.filter(pl.col("margin") < 0).sort(["margin", "account"])


def cohort_matrix(long: pl.DataFrame, basis: str) -> pl.DataFrame:
    """The retention matrix from ``segtui.history.cohorts``' long form: ``cohort``, ``accounts``, then
    ``m0..mN`` as fractions (logo or revenue retention), null past the as-of date."""
    value = "logo_retention" if basis == "logo" else "revenue_retention"
    if long.height == 0:
        return pl.DataFrame(schema={"cohort": pl.String, "accounts": pl.Int64})
    n = int(long["period"].max()) + 1
    cohorts = long.select("cohort", "accounts").unique(subset="cohort", maintain_order=True).sort("cohort")
    cells = {(c, p): v for c, p, v in long.select("cohort", "period", value).iter_rows()}
    data: dict[str, list[Any]] = {"cohort": cohorts["cohort"].to_list(), "accounts": cohorts["accounts"].to_list()}
    for p in range(n):
        col = []
        for c in data["cohort"]:
            v = cells.get((c, p))
            col.append(None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v))
        data[f"m{p}"] = col
    return pl.DataFrame(data, schema={"cohort": pl.String, "accounts": pl.Int64, **{f"m{p}": pl.Float64 for p in range(n)}})


def _add_months(d: dt.date, n: int) -> dt.date:
    m = d.year * 12 + d.month - 1 + n
    return dt.date(m // 12, m % 12 + 1, 1)
