"""Read-side queries over snapshots: the data behind ``segtui segments|accounts|account|export``
and the TUI.

Every function takes the store's path and opens its own short read-only connection, so it can
run in a worker thread while a scoring run writes (WAL readers never block). Large results
(whole snapshots, line items) are read by the Rust core straight into Arrow buffers
(``_core.read_columns``) and wrapped as polars frames without a Python object per row; small
ones go through ``sqlite3``.

Conventions of every frame returned here:

- money columns are ``Int64`` integer minor units (cents); render them with
  ``segtui.output.emit(..., money=MONEY_COLUMNS)``;
- dates are ``pl.Date`` (``as_of``, ``signup_day``, ``renewal_day``, ``day``);
- ``margin_pct`` is a **percentage** rounded to 0.01 (``23.47`` means 23.47 %), null when the
  account's net revenue is ≤ 0;
- ``recency_days`` and the three scores are null for accounts without a purchase
  (segment ``No Purchase``);
- ``churn_reasons`` is a comma-separated list of reason codes, ``""`` when none.

SQL text is always segtui's own: user-supplied values (segment names, ``--where`` numbers)
travel as bound parameters, and column names are looked up in fixed tables.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.ipc  # noqa: F401 - pa.ipc

from segtui import _core
from segtui.dates import date_to_day, day_to_date  # noqa: F401 - re-exported
from segtui.errors import ConfigError, DataError, StoreError
from segtui.store import open_store


#: The stable, documented column set of ``segtui accounts`` and ``segtui export accounts``.
ACCOUNT_COLUMNS: tuple[str, ...] = (
    "account_id",
    "as_of",
    "recency_days",
    "frequency",
    "monetary",
    "r_score",
    "f_score",
    "m_score",
    "rfm_segment",
    "rfm5_segment",
    "revenue",
    "direct_cost",
    "allocated_cost",
    "margin",
    "margin_pct",
    "quadrant",
    "churn_risk",
    "churn_band",
    "churn_reasons",
    "health",
    "health_band",
    "lifecycle",
    "tier",
    "size_band",
    "industry",
    "region",
)

#: Money columns (integer minor units) of every frame in this module.
MONEY_COLUMNS: tuple[str, ...] = (
    "monetary",
    "revenue",
    "direct_cost",
    "allocated_cost",
    "cost",
    "margin",
    "mrr",
    "amount",
    "unit_price",
    "net_revenue",
    "pooled",
    "allocated",
    "unallocated",
    "pooled_cost",
    "unallocated_cost",
)

#: Groupings ``segment_summary`` (``segtui segments --map``) knows, and their column.
MAPS: dict[str, str] = {
    "rfm11": "rfm_segment",
    "rfm5": "rfm5_segment",
    "quadrant": "quadrant",
    "lifecycle": "lifecycle",
    "churn_band": "churn_band",
}

# Fixed orders of the engine's label sets (segments of the RFM maps come from the snapshot's
# own configuration, see ``_map_order``).
_FIXED_ORDER: dict[str, tuple[str, ...]] = {
    "quadrant": (
        "high revenue, low cost",
        "high revenue, high cost",
        "low revenue, low cost",
        "low revenue, high cost",
    ),
    "lifecycle": ("onboarding", "active", "expansion-ready", "at-risk", "churned"),
    "churn_band": ("low", "medium", "high"),
}
NO_PURCHASE = "No Purchase"




# ------------------------------------------------------------------------------------------
# Reading columns through the core


def _core_call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call the core; its exceptions become segtui errors with the same message."""
    try:
        return fn(*args, **kwargs)
    except FileNotFoundError as e:
        raise StoreError(str(e)) from None
    except TimeoutError as e:
        raise StoreError(str(e)) from None
    except ValueError as e:
        raise DataError(str(e)) from None
    except OSError as e:
        raise StoreError(str(e)) from None


def _columns_to_frame(cols: list[tuple[Any, ...]]) -> pl.DataFrame:
    arrays: list[pa.Array] = []
    names: list[str] = []
    for name, kind, data, offsets, validity, n, nulls in cols:
        vbuf = pa.py_buffer(validity) if validity is not None else None
        if kind == "int":
            arr = pa.Array.from_buffers(pa.int64(), n, [vbuf, pa.py_buffer(data)], null_count=nulls)
        elif kind == "real":
            arr = pa.Array.from_buffers(pa.float64(), n, [vbuf, pa.py_buffer(data)], null_count=nulls)
        else:
            arr = pa.Array.from_buffers(
                pa.large_string(), n, [vbuf, pa.py_buffer(offsets), pa.py_buffer(data)], null_count=nulls
            )
        arrays.append(arr)
        names.append(name)
    if not arrays:
        return pl.DataFrame()
    df = pl.from_arrow(pa.Table.from_arrays(arrays, names=names))
    assert isinstance(df, pl.DataFrame)
    return df


def read_frame(
    db_path: Path, sql: str, params: Sequence[Any], kinds: Sequence[str], *, capacity: int = 0
) -> pl.DataFrame:
    """Run a fixed query in the core and wrap its columns as a polars frame (no per-row objects).

    ``kinds`` gives each result column's type: ``"int"``, ``"real"`` or ``"text"``.
    """
    cols = _core_call(_core.read_columns, str(db_path), sql, list(params), list(kinds), capacity)
    return _columns_to_frame(cols)


def read_frames(db_path: Path, queries: Sequence[tuple[str, Sequence[Any], Sequence[str], int]]) -> list[pl.DataFrame]:
    """Several fixed queries ``(sql, params, kinds, capacity)`` run at once, each on its own
    connection and thread; one frame per query. The queries see the store each at its own
    moment: use it for data that a concurrent write cannot make inconsistent (a snapshot's
    rows never change once written)."""
    specs = [(sql, list(params), list(kinds), int(cap)) for sql, params, kinds, cap in queries]
    results = _core_call(_core.read_columns_many, str(db_path), specs)
    return [_columns_to_frame(cols) for cols in results]


def _connect(db_path: Path) -> sqlite3.Connection:
    return open_store(db_path, readonly=True)


# ------------------------------------------------------------------------------------------
# Snapshots


@dataclass(frozen=True)
class Snapshot:
    """One row of ``snapshots``."""

    id: int
    as_of: date
    mode: str
    config_fp: str
    data_version: int
    created_at: str
    seconds: float | None
    accounts: int
    net_revenue: int
    pooled_cost: int
    allocated_cost: int
    unallocated_cost: int
    series: str | None
    config: str

    @property
    def as_of_day(self) -> int:
        return date_to_day(self.as_of)

    def config_dict(self) -> dict[str, Any]:
        try:
            value = json.loads(self.config)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}


_SNAPSHOT_COLS = (
    "id, as_of_day, mode, config_fp, data_version, created_at, seconds, accounts, net_revenue, "
    "pooled_cost, allocated_cost, unallocated_cost, series, config"
)


def _snapshot(row: Sequence[Any]) -> Snapshot:
    return Snapshot(
        id=int(row[0]),
        as_of=day_to_date(row[1]),
        mode=row[2],
        config_fp=row[3],
        data_version=int(row[4]),
        created_at=row[5],
        seconds=row[6],
        accounts=int(row[7]),
        net_revenue=int(row[8]),
        pooled_cost=int(row[9]),
        allocated_cost=int(row[10]),
        unallocated_cost=int(row[11]),
        series=row[12],
        config=row[13],
    )


def list_snapshots(db_path: Path) -> pl.DataFrame:
    """Every snapshot, oldest as-of first (ties: oldest first).

    Columns: ``id, as_of, mode, config_fp, data_version, created_at, seconds, accounts,
    net_revenue, pooled_cost, allocated_cost, unallocated_cost, series`` (money in minor units).
    """
    conn = _connect(db_path)
    try:
        rows = conn.execute(f"SELECT {_SNAPSHOT_COLS} FROM snapshots ORDER BY as_of_day, id").fetchall()
    finally:
        conn.close()
    snaps = [_snapshot(r) for r in rows]
    schema = {
        "id": pl.Int64,
        "as_of": pl.Date,
        "mode": pl.String,
        "config_fp": pl.String,
        "data_version": pl.Int64,
        "created_at": pl.String,
        "seconds": pl.Float64,
        "accounts": pl.Int64,
        "net_revenue": pl.Int64,
        "pooled_cost": pl.Int64,
        "allocated_cost": pl.Int64,
        "unallocated_cost": pl.Int64,
        "series": pl.String,
    }
    return pl.DataFrame([{k: getattr(s, k) for k in schema} for s in snaps], schema=schema)


def get_snapshot(db_path: Path, snapshot_id: int) -> Snapshot:
    """The snapshot with this id; a clear error when there is none."""
    conn = _connect(db_path)
    try:
        row = conn.execute(f"SELECT {_SNAPSHOT_COLS} FROM snapshots WHERE id = ?", (int(snapshot_id),)).fetchone()
    finally:
        conn.close()
    if row is None:
        raise DataError(f"no snapshot {snapshot_id} in {db_path}: run `segtui score` to make one")
    return _snapshot(row)


def latest_snapshot(db_path: Path) -> Snapshot | None:
    """The snapshot with the latest as-of date (ties: the most recently written), or None."""
    conn = _connect(db_path)
    try:
        row = conn.execute(
            f"SELECT {_SNAPSHOT_COLS} FROM snapshots ORDER BY as_of_day DESC, id DESC LIMIT 1"
        ).fetchone()
    finally:
        conn.close()
    return _snapshot(row) if row else None


_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def resolve_snapshot(db_path: Path, spec: str | int | None) -> Snapshot:
    """``--snapshot ID|DATE`` → a snapshot. None: the latest. A date (YYYY-MM-DD): the snapshot
    as of that day (several configurations: the most recently written). An integer: that id.
    """
    if spec is None or spec == "" or spec == "latest":
        snap = latest_snapshot(db_path)
        if snap is None:
            raise DataError(f"no snapshot in {db_path} yet: run `segtui score` first")
        return snap
    text = str(spec).strip()
    if text.isdigit():
        return get_snapshot(db_path, int(text))
    if _DATE_RE.match(text):
        try:
            d = date.fromisoformat(text)
        except ValueError:
            raise ConfigError(f"--snapshot: {text!r} is not a valid date") from None
        conn = _connect(db_path)
        try:
            row = conn.execute(
                f"SELECT {_SNAPSHOT_COLS} FROM snapshots WHERE as_of_day = ? ORDER BY id DESC LIMIT 1",
                (date_to_day(d),),
            ).fetchone()
        finally:
            conn.close()
        if row is None:
            raise DataError(f"no snapshot as of {d.isoformat()}: run `segtui score --as-of {d.isoformat()}`")
        return _snapshot(row)
    raise ConfigError(f"--snapshot: expected a snapshot id or a date YYYY-MM-DD, got {text!r}")


# ------------------------------------------------------------------------------------------
# Whole snapshots

# (SQL expression, output name, kind) of a snapshot's accounts joined with their firmographics.
_FRAME_SQL_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("a.account_key", "account_id", "text"),
    ("s.recency_days", "recency_days", "int"),
    ("s.frequency", "frequency", "int"),
    ("s.monetary", "monetary", "int"),
    ("s.r_score", "r_score", "int"),
    ("s.f_score", "f_score", "int"),
    ("s.m_score", "m_score", "int"),
    ("s.rfm_segment", "rfm_segment", "text"),
    ("s.rfm5_segment", "rfm5_segment", "text"),
    ("s.revenue", "revenue", "int"),
    ("s.direct_cost", "direct_cost", "int"),
    ("s.allocated_cost", "allocated_cost", "int"),
    ("s.margin", "margin", "int"),
    ("s.margin_pct", "margin_pct", "real"),
    ("s.quadrant", "quadrant", "text"),
    ("s.churn_risk", "churn_risk", "int"),
    ("s.churn_band", "churn_band", "text"),
    ("s.churn_reasons", "churn_reasons", "text"),
    ("s.health", "health", "int"),
    ("s.health_band", "health_band", "text"),
    ("s.lifecycle", "lifecycle", "text"),
    ("s.tier", "tier", "text"),
    ("s.size_band", "size_band", "text"),
    ("a.industry", "industry", "text"),
    ("a.region", "region", "text"),
    ("s.account", "account", "int"),
    ("a.name", "name", "text"),
    ("a.plan", "plan", "text"),
    ("a.employees", "employees", "int"),
    ("a.mrr", "mrr", "int"),
    ("a.seats", "seats", "int"),
    ("a.seat_limit", "seat_limit", "int"),
    ("a.signup_day", "signup_day", "int"),
    ("a.renewal_day", "renewal_day", "int"),
    ("s.primary_segment", "primary_segment", "text"),
)


def _finish_frame(df: pl.DataFrame, snap: Snapshot) -> pl.DataFrame:
    """Derived columns shared by every account frame: as_of, margin_pct in percent, dates."""
    exprs: list[pl.Expr] = [pl.lit(snap.as_of, dtype=pl.Date).alias("as_of")]
    if "margin_pct" in df.columns:
        exprs.append((pl.col("margin_pct") * 100).round(2).alias("margin_pct"))
    for c in ("signup_day", "renewal_day"):
        if c in df.columns:
            exprs.append(pl.col(c).cast(pl.Int32).cast(pl.Date).alias(c))
    return df.with_columns(exprs)


FRAME_CACHE_KEEP = 2
"""How many snapshot frames :func:`snapshot_frame` keeps cached beside the store."""


def frame_cache_dir(db_path: Path) -> Path:
    """Where :func:`snapshot_frame` caches frames: ``<store>.frames/`` beside the store."""
    db_path = Path(db_path)
    return db_path.with_name(db_path.name + ".frames")


def invalidate_frames(db_path: Path) -> None:
    """Forget every cached snapshot frame. Snapshot rows are written once; code that changes
    ``snapshot_accounts`` rows in place afterwards must call this."""
    d = frame_cache_dir(db_path)
    if d.is_dir():
        for f in d.glob("snapshot-*.arrow"):
            f.unlink(missing_ok=True)


def _frame_stamp(db_path: Path, snap: Snapshot) -> str:
    conn = _connect(db_path)
    try:
        meta = dict(conn.execute("SELECT key, value FROM meta WHERE key IN ('store_id', 'data_version')").fetchall())
    finally:
        conn.close()
    text = "|".join(
        [meta.get("store_id", ""), meta.get("data_version", ""), str(snap.id), snap.created_at, str(snap.accounts), "v1"]
    )
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _read_cached_frame(path: Path, height: int) -> pl.DataFrame | None:
    # pyarrow memory-maps the file: no copy, well under 0.5 s for a million accounts. The
    # mapping stays valid while the frame lives (a newer cache replaces the file by rename,
    # never by truncation).
    try:
        table = pa.ipc.open_file(pa.memory_map(str(path))).read_all()
        df = pl.from_arrow(table)
    except (OSError, ValueError, pa.ArrowException):
        return None  # a damaged cache is rebuilt, never trusted
    if not isinstance(df, pl.DataFrame):
        return None
    if df.height != height or df.columns[: len(ACCOUNT_COLUMNS)] != list(ACCOUNT_COLUMNS):
        return None
    return df


def _write_cached_frame(path: Path, df: pl.DataFrame) -> None:
    try:
        path.parent.mkdir(mode=0o700, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        fd = os.open(tmp, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
        with os.fdopen(fd, "wb") as f:
            df.write_ipc(f, compression="uncompressed")
        os.replace(tmp, path)
        # keep the newest few frames (and one per snapshot id)
        snap_id = path.name.split("-")[1]
        files = sorted(path.parent.glob("snapshot-*.arrow"), key=lambda p: p.stat().st_mtime, reverse=True)
        kept = 0
        for f in files:
            if f == path:
                kept += 1
            elif f.name.split("-")[1] == snap_id or kept >= FRAME_CACHE_KEEP:
                f.unlink(missing_ok=True)
            else:
                kept += 1
    except OSError:
        pass  # the cache is an accelerator: an unwritable directory only costs time


def _read_snapshot_frame(db_path: Path, snap: Snapshot) -> pl.DataFrame:
    snap_cols = [t for t in _FRAME_SQL_COLUMNS if t[0].startswith("s.")]
    acc_cols = [t for t in _FRAME_SQL_COLUMNS if t[0].startswith("a.")]
    s_select = ", ".join(f"{expr} AS {name}" for expr, name, _ in snap_cols)
    a_select = ", ".join(f"{expr} AS {name}" for expr, name, _ in acc_cols)
    s_kinds = [k for _, _, k in snap_cols]
    conn = _connect(db_path)
    try:
        lo, hi = conn.execute(
            "SELECT coalesce(min(account), 0), coalesce(max(account), 0) FROM snapshot_accounts WHERE snapshot = ?",
            (snap.id,),
        ).fetchone()
    finally:
        conn.close()
    mid = (lo + hi) // 2
    half = snap.accounts // 2 + 1
    base = f"SELECT {s_select} FROM snapshot_accounts s WHERE s.snapshot = ?1 AND s.account "
    first, second, accounts = read_frames(
        db_path,
        [
            (base + "<= ?2 ORDER BY s.account", [snap.id, mid], s_kinds, half),
            (base + "> ?2 ORDER BY s.account", [snap.id, mid], s_kinds, half),
            (
                f"SELECT a.id AS _id, {a_select} FROM accounts a WHERE a.id BETWEEN ?1 AND ?2 ORDER BY a.id",
                [lo, hi],
                ["int", *(k for _, _, k in acc_cols)],
                hi - lo + 1,
            ),
        ],
    )
    rows = pl.concat([first, second], how="vertical") if second.height else first
    ids = accounts.get_column("_id")
    if accounts.height and ids[0] == lo and ids[-1] == lo + accounts.height - 1:
        # dense ids (the usual case): gather by position instead of a join
        acc = accounts.drop("_id")[(rows.get_column("account") - lo).to_numpy()]
        df = pl.concat([rows, acc], how="horizontal")
    else:
        df = rows.join(accounts, left_on="account", right_on="_id", how="left", maintain_order="left")
    df = _finish_frame(df, snap)
    extra = [c for c in (n for _, n, _ in _FRAME_SQL_COLUMNS) if c not in ACCOUNT_COLUMNS]
    return df.select(*ACCOUNT_COLUMNS, *extra)


def snapshot_frame(db_path: Path, snapshot_id: int, *, cache: bool = True) -> pl.DataFrame:
    """The whole snapshot, one row per account, joined with the account's key and firmographics.

    Columns: the :data:`ACCOUNT_COLUMNS` (in that order) followed by ``account`` (the store's
    integer id), ``name, plan, employees, mrr, seats, seat_limit, signup_day, renewal_day,
    primary_segment``. Rows are in account id order.

    The first read of a snapshot decodes it out of SQLite in the core, on every core (about
    1 s of CPU per million accounts); the frame is then cached beside the store
    (``<store>.frames/``, Arrow IPC, the newest :data:`FRAME_CACHE_KEEP` kept, private to the
    user) and later reads memory-map it (well under 0.5 s for a million accounts). The cache is
    keyed by the store's identity, ``meta.data_version`` (every import bumps it, so
    firmographics are never stale), the snapshot's id and creation time. ``cache=False`` reads
    SQLite and leaves the cache alone.
    """
    snap = get_snapshot(db_path, snapshot_id)
    if not cache:
        return _read_snapshot_frame(db_path, snap)
    path = frame_cache_dir(db_path) / f"snapshot-{snap.id}-{_frame_stamp(db_path, snap)}.arrow"
    if path.exists():
        cached = _read_cached_frame(path, snap.accounts)
        if cached is not None:
            return cached
    df = _read_snapshot_frame(db_path, snap)
    _write_cached_frame(path, df)
    return df


# ------------------------------------------------------------------------------------------
# Segments


def _map_order(snap: Snapshot, map_name: str) -> list[str]:
    """The segments of a map in their configured order (all of them, even empty ones)."""
    if map_name in ("rfm11", "rfm5"):
        maps = snap.config_dict().get("maps")
        defs = maps.get(map_name) if isinstance(maps, dict) else None
        names = [d["name"] for d in defs or [] if isinstance(d, dict) and isinstance(d.get("name"), str)]
        return [*names, NO_PURCHASE] if names else []
    return list(_FIXED_ORDER.get(map_name, ()))


def segment_summary(db_path: Path, snapshot_id: int, map_name: str = "rfm11") -> pl.DataFrame:
    """Per segment of ``map_name`` (rfm11, rfm5, quadrant, lifecycle, churn_band).

    Columns: ``segment, accounts, accounts_pct, revenue, revenue_pct, margin, margin_pct,
    mean_r, mean_f, mean_m, high_risk``. Percentages are of the snapshot's totals (revenue_pct
    is null when the total net revenue is ≤ 0); mean scores are over the segment's accounts
    with a purchase; ``high_risk`` counts accounts in churn band ``high``. Every segment of the
    map is listed, in the map's order, with zeros when empty; accounts without a quadrant
    (no revenue and no cost in the window) form the segment ``(none)``. The sum of ``revenue``
    over the rows is the snapshot's net revenue, exactly.
    """
    if map_name not in MAPS:
        raise ConfigError(f"--map: expected one of {', '.join(MAPS)}, got {map_name!r}")
    snap = get_snapshot(db_path, snapshot_id)
    col = MAPS[map_name]
    sql = (
        f"SELECT {col} AS segment, revenue, margin, r_score, f_score, m_score, churn_band "
        "FROM snapshot_accounts WHERE snapshot = ?1"
    )
    df = read_frame(
        db_path, sql, [snap.id], ["text", "int", "int", "int", "int", "int", "text"], capacity=snap.accounts
    )
    df = df.with_columns(pl.col("segment").fill_null("(none)"))
    g = df.group_by("segment").agg(
        pl.len().cast(pl.Int64).alias("accounts"),
        pl.col("revenue").sum().alias("revenue"),
        pl.col("margin").sum().alias("margin"),
        pl.col("r_score").mean().round(2).alias("mean_r"),
        pl.col("f_score").mean().round(2).alias("mean_f"),
        pl.col("m_score").mean().round(2).alias("mean_m"),
        (pl.col("churn_band") == "high").sum().cast(pl.Int64).alias("high_risk"),
    )
    order = _map_order(snap, map_name)
    present = g.get_column("segment").to_list()
    names = order + sorted(s for s in present if s not in order)
    base = pl.DataFrame({"segment": names, "_order": list(range(len(names)))})
    out = (
        base.join(g, on="segment", how="left")
        .with_columns(
            pl.col("accounts", "revenue", "margin", "high_risk").fill_null(0),
        )
        .sort("_order")
        .drop("_order")
    )
    total_accounts = int(out.get_column("accounts").sum())
    total_revenue = int(out.get_column("revenue").sum())
    out = out.with_columns(
        (pl.col("accounts") * 100 / total_accounts).round(2).alias("accounts_pct")
        if total_accounts
        else pl.lit(None, dtype=pl.Float64).alias("accounts_pct"),
        (pl.col("revenue") * 100 / total_revenue).round(2).alias("revenue_pct")
        if total_revenue > 0
        else pl.lit(None, dtype=pl.Float64).alias("revenue_pct"),
        pl.when(pl.col("revenue") > 0)
        .then((pl.col("margin") * 100 / pl.col("revenue")).round(2))
        .otherwise(None)
        .alias("margin_pct"),
    )
    return out.select(
        "segment",
        "accounts",
        "accounts_pct",
        "revenue",
        "revenue_pct",
        "margin",
        "margin_pct",
        "mean_r",
        "mean_f",
        "mean_m",
        "high_risk",
    )


# ------------------------------------------------------------------------------------------
# Account listings: filters, --where, --sort

# Numeric columns ``--where`` accepts: name → (SQL expression, unit). Units: "int" (a plain
# count or score), "money" (the value is in currency units, converted to minor units exactly),
# "pct" (margin_pct, given in percent like the listing shows it).
WHERE_COLUMNS: dict[str, tuple[str, str]] = {
    "recency_days": ("s.recency_days", "int"),
    "frequency": ("s.frequency", "int"),
    "monetary": ("s.monetary", "money"),
    "r_score": ("s.r_score", "int"),
    "f_score": ("s.f_score", "int"),
    "m_score": ("s.m_score", "int"),
    "revenue": ("s.revenue", "money"),
    "direct_cost": ("s.direct_cost", "money"),
    "allocated_cost": ("s.allocated_cost", "money"),
    "cost": ("(s.direct_cost + s.allocated_cost)", "money"),
    "margin": ("s.margin", "money"),
    "margin_pct": ("s.margin_pct", "pct"),
    "churn_risk": ("s.churn_risk", "int"),
    "health": ("s.health", "int"),
    "employees": ("a.employees", "int"),
    "mrr": ("a.mrr", "money"),
    "seats": ("a.seats", "int"),
}

_OPS = {"<": "<", "<=": "<=", ">": ">", ">=": ">=", "=": "=", "==": "=", "!=": "!=", "<>": "!="}
_WHERE_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|==|!=|<>|<|>|=)\s*([^\s].*?)\s*$")
_NUMBER_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")


@dataclass(frozen=True)
class Condition:
    """One parsed ``--where`` comparison: ``column op value`` (value in stored units)."""

    column: str
    op: str
    value: int | float

    def sql(self) -> str:
        """The SQL fragment: a fixed expression, a fixed operator and one ``?`` parameter."""
        return f"{WHERE_COLUMNS[self.column][0]} {self.op} ?"


def parse_where(text: str, *, scale: int = 2) -> list[Condition]:
    """Parse ``--where`` text: comparisons joined by ``and`` (or ``,``), each
    ``COLUMN OP NUMBER`` with OP one of ``< <= > >= = == != <>``.

    Money columns take amounts in currency units (``margin<-10.5``; at most ``scale``
    decimals, converted exactly to minor units); ``margin_pct`` takes percent. Raises
    ConfigError naming the offending part; nothing of the text ever reaches SQL.
    """
    parts = re.split(r"\s+and(?:\s+|$)|,", text.strip(), flags=re.IGNORECASE)
    if not text.strip() or any(not p.strip() for p in parts):
        raise ConfigError(f"--where {text!r}: expected COLUMN OP NUMBER, e.g. 'margin<0' or 'health>=70 and revenue>1000'")
    out: list[Condition] = []
    for part in parts:
        m = _WHERE_RE.match(part)
        if not m:
            raise ConfigError(
                f"--where {part.strip()!r}: expected COLUMN OP NUMBER with OP one of < <= > >= = != "
                "(e.g. 'margin<0')"
            )
        col, op, raw = m.group(1).lower(), m.group(2), m.group(3)
        if col not in WHERE_COLUMNS:
            raise ConfigError(
                f"--where {part.strip()!r}: unknown column {col!r}; numeric columns: {', '.join(WHERE_COLUMNS)}"
            )
        if not _NUMBER_RE.match(raw):
            raise ConfigError(f"--where {part.strip()!r}: {raw!r} is not a number (use digits, e.g. 10 or -2.50)")
        try:
            num = Decimal(raw)
        except InvalidOperation:  # pragma: no cover - the regex admits only decimals
            raise ConfigError(f"--where {part.strip()!r}: {raw!r} is not a number") from None
        unit = WHERE_COLUMNS[col][1]
        value: int | float
        if unit == "money":
            minor = num.scaleb(scale)
            if minor != minor.to_integral_value():
                raise ConfigError(f"--where {part.strip()!r}: {col} is money: at most {scale} decimals")
            value = int(minor)
        elif unit == "pct":
            value = float(num / 100)
        else:
            if num != num.to_integral_value():
                raise ConfigError(f"--where {part.strip()!r}: {col} takes whole numbers")
            value = int(num)
        if isinstance(value, int) and not -(2**63) <= value < 2**63:
            raise ConfigError(f"--where {part.strip()!r}: {raw} is out of range")
        out.append(Condition(col, _OPS[op], value))
    return out


# Columns ``--sort`` accepts: every listed column → its SQL expression.
SORT_COLUMNS: dict[str, str] = {
    **{name: expr for expr, name, _ in _FRAME_SQL_COLUMNS},
    "as_of": "s.snapshot",
    "cost": "(s.direct_cost + s.allocated_cost)",
}


def parse_sort(text: str) -> tuple[str, bool]:
    """``COL`` or ``COL:asc`` / ``COL:desc`` → (column, descending)."""
    col, _, direction = text.strip().partition(":")
    col = col.strip().lower()
    direction = direction.strip().lower()
    if col not in SORT_COLUMNS:
        raise ConfigError(f"--sort {text!r}: unknown column {col!r}; columns: {', '.join(ACCOUNT_COLUMNS)}")
    if direction not in ("", "asc", "desc"):
        raise ConfigError(f"--sort {text!r}: the direction is asc or desc, got {direction!r}")
    return col, direction == "desc"


def _norm(label: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", label.lower())


def _distinct(db_path: Path, snapshot_id: int, column: str) -> list[str]:
    assert column in ("rfm_segment", "rfm5_segment", "quadrant", "churn_band", "lifecycle")
    conn = _connect(db_path)
    try:
        rows = conn.execute(
            f"SELECT DISTINCT {column} FROM snapshot_accounts WHERE snapshot = ? AND {column} IS NOT NULL",
            (snapshot_id,),
        ).fetchall()
    finally:
        conn.close()
    return sorted(r[0] for r in rows)


def _match_labels(
    db_path: Path, snap: Snapshot, column: str, option: str, wanted: Iterable[str], known: Iterable[str] = ()
) -> list[str]:
    """Resolve user-typed labels (any case, any punctuation) to stored labels."""
    labels = sorted(set(_distinct(db_path, snap.id, column)) | set(known))
    by_norm = {_norm(x): x for x in labels}
    out = []
    for w in wanted:
        hit = by_norm.get(_norm(w))
        if hit is None:
            raise ConfigError(f"{option}: no {column} {w!r} in snapshot {snap.id}; known: {', '.join(labels)}")
        out.append(hit)
    return out


@dataclass
class AccountFilter:
    """Filters of ``segtui accounts`` (each list is OR-ed within, the fields AND-ed)."""

    segment: Sequence[str] = ()
    rfm5: Sequence[str] = ()
    quadrant: Sequence[str] = ()
    risk: Sequence[str] = ()
    stage: Sequence[str] = ()
    where: Sequence[str] = ()
    sort: str | None = None
    limit: int | None = None


def accounts_frame(db_path: Path, snapshot_id: int, flt: AccountFilter | None = None) -> pl.DataFrame:
    """The accounts of a snapshot with the :data:`ACCOUNT_COLUMNS`, filtered and sorted in SQL.

    Filters: ``segment`` (rfm11), ``rfm5``, ``quadrant``, ``risk`` (churn band), ``stage``
    (lifecycle) match labels case- and punctuation-insensitively; ``where`` is a list of
    ``--where`` texts (see :func:`parse_where`); ``sort`` is ``COL[:desc]`` (default: account
    id); ``limit`` keeps the first rows. Unknown labels are an error listing the known ones.
    """
    flt = flt or AccountFilter()
    snap = get_snapshot(db_path, snapshot_id)
    conds: list[str] = ["s.snapshot = ?"]
    params: list[Any] = [snap.id]
    for column, option, values, known in (
        ("rfm_segment", "--segment", flt.segment, _map_order(snap, "rfm11")),
        ("rfm5_segment", "--rfm5", flt.rfm5, _map_order(snap, "rfm5")),
        ("quadrant", "--quadrant", flt.quadrant, _FIXED_ORDER["quadrant"]),
        ("churn_band", "--risk", flt.risk, _FIXED_ORDER["churn_band"]),
        ("lifecycle", "--stage", flt.stage, _FIXED_ORDER["lifecycle"]),
    ):
        if values:
            labels = _match_labels(db_path, snap, column, option, values, known)
            conds.append(f"s.{column} IN ({', '.join('?' for _ in labels)})")
            params.extend(labels)
    for text in flt.where:
        for c in parse_where(text):
            conds.append(c.sql())
            params.append(c.value)
    order = "s.account"
    if flt.sort:
        col, desc = parse_sort(flt.sort)
        order = f"{SORT_COLUMNS[col]} {'DESC' if desc else 'ASC'} NULLS LAST, s.account"
    limit = ""
    if flt.limit is not None:
        if flt.limit < 0:
            raise ConfigError(f"--limit: expected 0 or more, got {flt.limit}")
        limit = " LIMIT ?"
    wanted = [t for t in _FRAME_SQL_COLUMNS if t[1] in ACCOUNT_COLUMNS]
    select = ", ".join(f"{expr} AS {name}" for expr, name, _ in wanted)
    sql = (
        f"SELECT {select} FROM snapshot_accounts s JOIN accounts a ON a.id = s.account "
        f"WHERE {' AND '.join(conds)} ORDER BY {order}{limit}"
    )
    if limit:
        params.append(int(flt.limit or 0))
    df = read_frame(db_path, sql, params, [k for _, _, k in wanted], capacity=min(snap.accounts, flt.limit or snap.accounts))
    return _finish_frame(df, snap).select(ACCOUNT_COLUMNS)


# ------------------------------------------------------------------------------------------
# One account


def account_id_of(db_path: Path, account_key: str) -> int:
    """The store's integer id of the account the exporter calls ``account_key``."""
    conn = _connect(db_path)
    try:
        row = conn.execute("SELECT id FROM accounts WHERE account_key = ?", (account_key,)).fetchone()
    finally:
        conn.close()
    if row is None:
        raise DataError(f"no account {account_key!r} in {db_path}")
    return int(row[0])


@dataclass
class AccountDetail:
    """Everything ``segtui account ID`` shows about one account as of one snapshot.

    ``summary``: one row — firmographics and every snapshot figure (the account may be absent
    from the snapshot if it had no line item or cost by then: snapshot columns are then null).
    ``history``: its segments and figures in every snapshot (oldest first).
    ``direct_costs``: direct cost per category in the snapshot's window.
    ``pools``: the snapshot's pooled categories with their driver and totals, and
    ``account_allocated``: the account's share of each (they sum to
    ``summary.allocated_cost``; null for snapshots written before schema v5 with several
    pools, which kept the account's allocated cost in total only).
    ``line_items``: its most recent line items on or before the as-of date.
    """

    snapshot: Snapshot
    summary: pl.DataFrame
    history: pl.DataFrame
    direct_costs: pl.DataFrame
    pools: pl.DataFrame
    line_items: pl.DataFrame


def _window(snap: Snapshot) -> tuple[int | None, int]:
    """(first day, last day) of the snapshot's revenue/cost window; first is None for all history."""
    cfg = snap.config_dict()
    rfm = cfg.get("rfm") if isinstance(cfg.get("rfm"), dict) else {}
    window = rfm.get("window_days") if isinstance(rfm, dict) else None
    last = snap.as_of_day
    if isinstance(window, int) and window > 0:
        return last - window + 1, last
    return None, last


def account_pool_shares(
    db_path: Path, snapshot_id: int, account: int, summary: pl.DataFrame, pools: pl.DataFrame
) -> dict[str, int]:
    """The account's share of each pooled category (minor units), as stored with the snapshot.
    Snapshots written before schema v5 keep no shares: then only a single pool's share is known
    (the account's whole allocated cost); otherwise the result is empty."""
    shares = dict(_core_call(_core.account_pool_shares, str(db_path), snapshot_id, account))
    if shares or pools.height != 1 or not summary.height:
        return shares
    total = summary.get_column("allocated_cost")[0]
    return {} if total is None else {pools.get_column("category")[0]: int(total)}


def account_detail(db_path: Path, account_key: str, snapshot_id: int, *, line_limit: int = 20) -> AccountDetail:
    """See :class:`AccountDetail`."""
    snap = get_snapshot(db_path, snapshot_id)
    acc = account_id_of(db_path, account_key)
    select = ", ".join(f"{expr} AS {name}" for expr, name, _ in _FRAME_SQL_COLUMNS)
    kinds = [k for _, _, k in _FRAME_SQL_COLUMNS]
    summary = read_frame(
        db_path,
        f"SELECT {select} FROM accounts a LEFT JOIN snapshot_accounts s ON s.account = a.id AND s.snapshot = ?1 "
        "WHERE a.id = ?2",
        [snap.id, acc],
        kinds,
    )
    summary = _finish_frame(summary, snap)
    summary = summary.with_columns(pl.lit(snap.id).alias("snapshot"), pl.lit(acc).alias("account"))
    extra = [c for c in summary.columns if c not in ACCOUNT_COLUMNS]
    summary = summary.select(*ACCOUNT_COLUMNS, *extra)

    history = read_frame(
        db_path,
        "SELECT n.id AS snapshot, n.as_of_day AS as_of, n.mode AS mode, s.rfm_segment AS rfm_segment, "
        "s.rfm5_segment AS rfm5_segment, s.r_score AS r_score, s.f_score AS f_score, s.m_score AS m_score, "
        "s.revenue AS revenue, s.margin AS margin, s.churn_risk AS churn_risk, s.churn_band AS churn_band, "
        "s.health AS health, s.lifecycle AS lifecycle "
        "FROM snapshots n CROSS JOIN snapshot_accounts s ON s.snapshot = n.id AND s.account = ?1 "
        "ORDER BY n.as_of_day, n.id",
        [acc],
        ["int", "int", "text", "text", "text", "int", "int", "int", "int", "int", "int", "text", "int", "text"],
    ).with_columns(pl.col("as_of").cast(pl.Int32).cast(pl.Date))

    first, last = _window(snap)
    direct = read_frame(
        db_path,
        "SELECT c.name AS category, count(*) AS rows, sum(k.amount) AS cost FROM costs k "
        "JOIN cost_categories c ON c.id = k.category "
        "WHERE k.account = ?1 AND k.day <= ?2 AND k.day >= ?3 GROUP BY c.name ORDER BY c.name",
        [acc, last, first if first is not None else -(2**31)],
        ["text", "int", "int"],
    )
    pools = read_frame(
        db_path,
        "SELECT category, driver, pooled, allocated, unallocated FROM snapshot_pools WHERE snapshot = ?1 "
        "ORDER BY category",
        [snap.id],
        ["text", "text", "int", "int", "int"],
    )
    pools = pools.with_columns(
        pl.col("category").replace_strict(
            account_pool_shares(db_path, snap.id, acc, summary, pools), default=None, return_dtype=pl.Int64
        ).alias("account_allocated")
    )
    lines = line_items_frame(db_path, account_key=account_key, until=snap.as_of, limit=line_limit, newest_first=True)
    return AccountDetail(snap, summary, history, direct, pools, lines)


# ------------------------------------------------------------------------------------------
# Line items


def line_items_frame(
    db_path: Path,
    *,
    account_key: str | None = None,
    since: date | None = None,
    until: date | None = None,
    limit: int | None = None,
    newest_first: bool = False,
) -> pl.DataFrame:
    """Line items (optionally of one account, between two dates inclusive).

    Columns: ``account_id, day (Date), invoice, sku, description, quantity (exact decimal
    text), unit_price, amount (money), is_cancel (bool)``; ordered by day then id (newest
    first when asked).
    """
    conds = ["1"]
    params: list[Any] = []
    if account_key is not None:
        conds.append("l.account = ?")
        params.append(account_id_of(db_path, account_key))
    if since is not None:
        conds.append("l.day >= ?")
        params.append(date_to_day(since))
    if until is not None:
        conds.append("l.day <= ?")
        params.append(date_to_day(until))
    order = "l.day DESC, l.id DESC" if newest_first else "l.day, l.id"
    sql = (
        "SELECT a.account_key AS account_id, l.day AS day, l.invoice AS invoice, l.sku AS sku, "
        "l.description AS description, l.quantity AS quantity, l.unit_price AS unit_price, "
        "l.amount AS amount, l.is_cancel AS is_cancel "
        f"FROM line_items l JOIN accounts a ON a.id = l.account WHERE {' AND '.join(conds)} ORDER BY {order}"
    )
    if limit is not None:
        sql += " LIMIT ?"
        params.append(int(limit))
    df = read_frame(db_path, sql, params, ["text", "int", "text", "text", "text", "text", "int", "int", "int"])
    return df.with_columns(pl.col("day").cast(pl.Int32).cast(pl.Date), (pl.col("is_cancel") != 0).alias("is_cancel"))


def store_net_revenue(db_path: Path, until: date, since: date | None = None) -> int:
    """Sum of line item amounts (minor units) between two dates inclusive — the figure every
    snapshot's segment revenues must add up to."""
    conn = _connect(db_path)
    try:
        row = conn.execute(
            "SELECT coalesce(sum(amount), 0) FROM line_items WHERE day <= ? AND day >= ?",
            (date_to_day(until), date_to_day(since) if since else -(2**31)),
        ).fetchone()
    finally:
        conn.close()
    return int(row[0])
