"""Segment history: migration between snapshots, segment velocity, account history, cohorts.

The heavy lifting is in the Rust core (``segtui._core``): reading a snapshot's segment and
revenue columns, the from × to matrix, effective segments under hysteresis, cohorts over the
line items. This module resolves snapshots, reads the configuration and shapes the results as
polars frames for :func:`segtui.output.emit`. Definitions are in ``docs/history.md``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import sqlite3
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from segtui import _core
from segtui._columns import to_series
from segtui.dates import EPOCH, date_to_day, day_to_date  # noqa: F401 - day helpers re-exported
from segtui.errors import ConfigError, DataError, StoreError
from segtui.store import open_store
NEW = "(new)"
GONE = "(gone)"

#: Maps a migration can be taken over, and the snapshot column each one reads.
MAPS: dict[str, str] = {
    "rfm11": "rfm_segment",
    "rfm5": "rfm5_segment",
    "quadrant": "quadrant",
    "lifecycle": "lifecycle",
    "churn": "churn_band",
    "health": "health_band",
    "tier": "tier",
    "size": "size_band",
    "primary": "primary_segment",
}
#: Maps hysteresis applies to (the rfm11 segment decides, rfm5 follows).
HYSTERESIS_MAPS = ("rfm11", "rfm5")
#: Known labels of the fixed maps, in canonical order (for matching ``--cell`` case-insensitively).
KNOWN_LABELS: dict[str, tuple[str, ...]] = {
    "rfm11": (
        "Champions", "Loyal", "Potential Loyalist", "New Customers", "Promising", "Need Attention",
        "About to Sleep", "At Risk", "Can't Lose Them", "Hibernating", "Lost", "No Purchase",
    ),
    "rfm5": ("Champions", "Loyal", "At Risk", "Dormant", "Lost", "No Purchase"),
}
MATRIX_VALUES = ("accounts", "revenue_a", "revenue_b", "change")
MONEY = ["revenue_a", "revenue_b", "change"]


def parse_date(text: str, what: str = "date") -> int:
    """``YYYY-MM-DD`` -> day number; anything else is a usage error naming ``what``."""
    try:
        return date_to_day(dt.date.fromisoformat(text.strip()))
    except ValueError:
        raise ConfigError(f"{what}: {text!r} is not a date (use YYYY-MM-DD)") from None


# --- snapshots -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    id: int
    as_of_day: int
    mode: str
    config_fp: str
    accounts: int
    net_revenue: int
    created_at: str
    series: str | None

    @property
    def as_of(self) -> dt.date:
        return day_to_date(self.as_of_day)

    @property
    def chain_key(self) -> tuple[str, str]:
        return (self.mode, self.config_fp)

    def describe(self) -> str:
        return f"{self.as_of.isoformat()} (snapshot {self.id})"


_SNAP_COLS = "id, as_of_day, mode, config_fp, accounts, net_revenue, created_at, series"


def list_snapshots(conn: sqlite3.Connection) -> list[Snapshot]:
    """Every snapshot, ordered by as-of day then id."""
    rows = conn.execute(f"SELECT {_SNAP_COLS} FROM snapshots ORDER BY as_of_day, id").fetchall()
    return [Snapshot(*r) for r in rows]


def chain_of(snaps: Sequence[Snapshot], snap: Snapshot) -> list[Snapshot]:
    """The snapshots comparable with ``snap`` (same mode and configuration), by as-of day."""
    return [s for s in snaps if s.chain_key == snap.chain_key]


def resolve_snapshot(snaps: Sequence[Snapshot], ref: str | int, *, prefer: Snapshot | None = None) -> Snapshot:
    """A snapshot by id (``12``) or as-of date (``2025-06-30``).

    Several snapshots on one date (different configurations): the one comparable with
    ``prefer`` wins, else the most recent.
    """
    text = str(ref).strip()
    if text.lstrip("#").isdigit():
        sid = int(text.lstrip("#"))
        for s in snaps:
            if s.id == sid:
                return s
        raise DataError(f"no snapshot with id {sid}: list them with `segtui migration --list`")
    day = parse_date(text, "snapshot")
    found = [s for s in snaps if s.as_of_day == day]
    if not found:
        raise DataError(
            f"no snapshot as of {text}: take one with `segtui score --as-of {text}`, "
            "or list them with `segtui migration --list`"
        )
    if prefer is not None:
        same = [s for s in found if s.chain_key == prefer.chain_key]
        if same:
            return same[-1]
    return max(found, key=lambda s: s.id)


def pick_pair(
    snaps: Sequence[Snapshot], from_ref: str | int | None = None, to_ref: str | int | None = None
) -> tuple[Snapshot, Snapshot]:
    """Snapshots A and B of a migration.

    Neither given: B is the latest snapshot (by as-of day) and A the one before it in B's
    chain (same mode and configuration). Only ``to``: A is the one before B in its chain.
    Only ``from``: B is the latest of A's chain.
    """
    if not snaps:
        raise DataError("the store has no snapshots yet: run `segtui score` first")
    if from_ref is None and to_ref is None:
        b = max(snaps, key=lambda s: (s.as_of_day, s.id))
        return _previous(snaps, b), b
    if from_ref is None:
        b = resolve_snapshot(snaps, to_ref)  # type: ignore[arg-type]
        return _previous(snaps, b), b
    a = resolve_snapshot(snaps, from_ref)
    if to_ref is None:
        chain = chain_of(snaps, a)
        b = chain[-1]
        if b.id == a.id:
            raise DataError(
                f"snapshot {a.describe()} is the latest of its configuration: give --to, "
                "or take a later one with `segtui score`"
            )
        return a, b
    return a, resolve_snapshot(snaps, to_ref, prefer=a)


def _previous(snaps: Sequence[Snapshot], b: Snapshot) -> Snapshot:
    chain = chain_of(snaps, b)
    i = [s.id for s in chain].index(b.id)
    if i == 0:
        raise DataError(
            f"migration needs two comparable snapshots (same mode and configuration) and "
            f"{b.describe()} is the first of its kind: take another with `segtui score --as-of DATE` "
            "or a series with `segtui score --every month --since DATE`"
        )
    return chain[i - 1]


# --- configuration ---------------------------------------------------------------------------


def config_file(db_path: str | os.PathLike[str], config_path: str | os.PathLike[str] | None = None) -> Path:
    """``segtui.toml`` beside the store, unless a path is given."""
    if config_path is not None:
        return Path(config_path)
    return Path(db_path).resolve().parent / "segtui.toml"


def hysteresis_k(db_path: str | os.PathLike[str], config_path: str | os.PathLike[str] | None = None) -> int:
    """The configured hysteresis ``k`` (top-level ``hysteresis = k`` in segtui.toml); 0 = off."""
    path = config_file(db_path, config_path)
    if not path.exists():
        if config_path is not None:
            raise ConfigError(f"{path}: no such configuration file")
        return 0
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: {e}") from None
    k = data.get("hysteresis", 0)
    if isinstance(k, bool) or not isinstance(k, int) or k < 0 or k > 1000:
        raise ConfigError(f"{path}: hysteresis must be a whole number of snapshots (0 or 1 = off), got {k!r}")
    return k


def refresh_effective(db_path: str | os.PathLike[str], k: int | None = None, *, config_path: str | None = None) -> dict:
    """Bring the stored effective segments up to date (call after writing snapshots).

    ``k`` defaults to the configured hysteresis. Returns ``{chains, computed, held}``.
    """
    if k is None:
        k = hysteresis_k(db_path, config_path)
    open_store(db_path).close()  # migrates the store to the current schema
    return dict(_call(_core.hysteresis_refresh, str(db_path), max(int(k), 1)))


def pack_snapshots(db_path: str | os.PathLike[str], ids: Sequence[int] | None = None, *, wait_ms: int = 100) -> int | None:
    """Pack the columns history reads for ``ids`` (default: every snapshot) when they lack fresh
    packed columns (see docs/history.md). Returns how many were packed; ``None`` when the store
    stayed busy for ``wait_ms`` (reads then fall back to the rows, just slower)."""
    if ids is None:
        conn = open_store(db_path)
        try:
            ids = [s.id for s in list_snapshots(conn)]
        finally:
            conn.close()
    return _call(_core.history_pack, str(db_path), list(ids), wait_ms)


def after_scoring(db_path: str | os.PathLike[str], ids: Sequence[int], *, config_path: str | None = None) -> None:
    """What history keeps beside freshly written snapshots: their packed columns and, with
    hysteresis configured, the effective segments of their chains. ``segtui score`` calls it."""
    pack_snapshots(db_path, ids, wait_ms=5000)
    if hysteresis_k(db_path, config_path) >= 2:
        refresh_effective(db_path, config_path=config_path)


def _use_effective(db_path: str | os.PathLike[str], map_name: str, raw: bool, config_path: str | None) -> int:
    """The hysteresis ``k`` in force for this read (0 when raw segments are wanted)."""
    if raw or map_name not in HYSTERESIS_MAPS:
        return 0
    k = hysteresis_k(db_path, config_path)
    if k < 2:
        return 0
    refresh_effective(db_path, k)
    return k


def _call(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    try:
        return fn(*args, **kwargs)
    except ValueError as e:
        raise DataError(str(e)) from None
    except RuntimeError as e:
        raise StoreError(str(e)) from None


def _check_map(map_name: str) -> str:
    if map_name not in MAPS:
        raise ConfigError(f"unknown segment map {map_name!r}: choose one of {', '.join(MAPS)}")
    return map_name


# --- snapshot series -------------------------------------------------------------------------

EVERY = ("week", "month", "quarter")


def series_dates(
    db_path: str | os.PathLike[str], every: str, since: dt.date, until: dt.date | None = None
) -> list[dt.date]:
    """The as-of dates of a series: the last day of every ``every`` period (week Monday to
    Sunday, month, quarter) ending on or after ``since`` and on or before ``until`` (default:
    the day of the latest line item)."""
    if every not in EVERY:
        raise ConfigError(f"--every {every!r}: choose one of {', '.join(EVERY)}")
    if until is None:
        conn = open_store(db_path)
        try:
            last = conn.execute("SELECT max(day) FROM line_items").fetchone()[0]
        finally:
            conn.close()
        if last is None:
            raise DataError("the store has no line items: import some first (or give --until)")
        until = day_to_date(last)
    if until < since:
        raise ConfigError(f"--since {since.isoformat()} is after --until {until.isoformat()}")
    return [day_to_date(d) for d in _core.series_days(every, date_to_day(since), date_to_day(until))]


def score_series(
    db_path: str | os.PathLike[str],
    every: str,
    since: dt.date,
    until: dt.date | None = None,
    *,
    mode: str | None = None,
    config_path: str | os.PathLike[str] | None = None,
    quiet: bool = True,
    cache: bool = True,
) -> list:
    """Take a snapshot at the end of every period of the series in one run (the inputs are
    read once and prepared once; see docs/history.md), label them with the series, and keep
    what history needs beside them. Returns the :class:`segtui.scoring.SnapshotInfo` list."""
    from segtui.scoring import score_dates

    dates = series_dates(db_path, every, since, until)
    if not dates:
        raise DataError(
            f"no {every} ends between {since.isoformat()} and {(until or since).isoformat() if until else 'the latest line item'}: "
            "a series takes a snapshot at the end of each complete period"
        )
    label = f"every {every} since {since.isoformat()}"
    infos = score_dates(
        Path(db_path), dates, mode=mode, config_path=Path(config_path) if config_path else None,
        series=label, quiet=quiet, cache=cache,
    )
    after_scoring(db_path, [i.id for i in infos], config_path=str(config_path) if config_path else None)
    return infos


# --- migration -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Migration:
    """A migration between snapshots ``a`` and ``b`` over ``map``."""

    a: Snapshot
    b: Snapshot
    map: str
    #: hysteresis k of the effective segments used (0 = raw segments)
    hysteresis: int
    #: the long table: one row per non-empty cell
    cells: pl.DataFrame
    #: rows (A's segments, then ``(new)``) and columns (B's segments, then ``(gone)``)
    rows: list[str]
    cols: list[str]

    @property
    def comparable(self) -> bool:
        return self.a.chain_key == self.b.chain_key

    def matrix(self, value: str = "accounts") -> pl.DataFrame:
        """The from × to matrix of one measure (accounts, revenue_a, revenue_b, change), with a
        ``total`` column (row sums) and a last ``total`` row (column sums)."""
        if value not in MATRIX_VALUES:
            raise ConfigError(f"unknown matrix value {value!r}: choose one of {', '.join(MATRIX_VALUES)}")
        lookup = {(f, t): v for f, t, v in self.cells.select("from", "to", value).iter_rows()}
        data: dict[str, list] = {"from": list(self.rows)}
        for c in self.cols:
            data[c] = [lookup.get((r, c), 0) for r in self.rows]
        data["total"] = [sum(data[c][i] for c in self.cols) for i in range(len(self.rows))]
        # the last row: column totals (B's segment sizes, or revenues)
        data["from"].append("total")
        for c in [*self.cols, "total"]:
            data[c].append(sum(data[c]))
        return pl.DataFrame(data, schema={"from": pl.String, **{c: pl.Int64 for c in [*self.cols, "total"]}})

    def describe(self) -> str:
        seg = f"effective segments (hysteresis {self.hysteresis})" if self.hysteresis else "raw segments"
        note = "" if self.comparable else "; the two snapshots have different configurations"
        return f"migration {self.a.describe()} -> {self.b.describe()}, map {self.map}, {seg}{note}"


def migration(
    db_path: str | os.PathLike[str],
    from_: str | int | None = None,
    to: str | int | None = None,
    *,
    map: str = "rfm11",
    raw: bool = False,
    config_path: str | None = None,
) -> Migration:
    """The migration matrix between two snapshots (default: the two latest comparable ones).

    With hysteresis configured (``k >= 2``) the RFM maps use effective segments unless
    ``raw``. ``cells`` has columns ``from, to, accounts, revenue_a, revenue_b, change``.
    """
    _check_map(map)
    conn = open_store(db_path)
    try:
        snaps = list_snapshots(conn)
    finally:
        conn.close()
    a, b = pick_pair(snaps, from_, to)
    k = _use_effective(db_path, map, raw, config_path)
    m = _call(_core.migration_matrix, str(db_path), a.id, b.id, map=map, effective=k >= 2)
    return _migration(m, a, b, map, k)


def _migration(m: dict, a: Snapshot, b: Snapshot, map: str, k: int) -> Migration:
    cells = pl.DataFrame(
        {
            "from": m["from"],
            "to": m["to"],
            "accounts": m["accounts"],
            "revenue_a": m["revenue_a"],
            "revenue_b": m["revenue_b"],
        },
        schema={"from": pl.String, "to": pl.String, "accounts": pl.Int64, "revenue_a": pl.Int64, "revenue_b": pl.Int64},
    ).with_columns(change=pl.col("revenue_b") - pl.col("revenue_a"))
    return Migration(a=a, b=b, map=map, hysteresis=k, cells=cells, rows=list(m["rows"]), cols=list(m["cols"]))


def parse_cell(spec: str, map_name: str) -> tuple[str, str]:
    """``"Loyal->At Risk"`` -> ``("Loyal", "At Risk")``, labels of fixed maps matched without case."""
    for arrow in ("->", "→"):
        if arrow in spec:
            left, right = spec.split(arrow, 1)
            break
    else:
        raise ConfigError(f"--cell {spec!r}: write it as FROM->TO, e.g. \"Loyal->At Risk\"")
    known = {s.lower(): s for s in (*KNOWN_LABELS.get(map_name, ()), NEW, GONE)}

    def norm(label: str, side: str) -> str:
        label = label.strip()
        if not label:
            raise ConfigError(f"--cell {spec!r}: the {side} segment is empty")
        if label.lower() in known:
            return known[label.lower()]
        if map_name in KNOWN_LABELS:
            raise ConfigError(
                f"--cell {spec!r}: {label!r} is not a {map_name} segment; "
                f"choose from {', '.join(KNOWN_LABELS[map_name])}, {NEW} (from) or {GONE} (to)"
            )
        return label

    return norm(left, "from"), norm(right, "to")


@dataclass(frozen=True)
class CellAccounts:
    """The accounts of one migration cell."""

    a: Snapshot
    b: Snapshot
    map: str
    hysteresis: int
    from_label: str
    to_label: str
    #: ``account_id, name, from, to, revenue_a, revenue_b, change``, by revenue in A (highest first)
    accounts: pl.DataFrame


def migration_accounts(
    db_path: str | os.PathLike[str],
    cell: str,
    from_: str | int | None = None,
    to: str | int | None = None,
    *,
    map: str = "rfm11",
    raw: bool = False,
    config_path: str | None = None,
) -> CellAccounts:
    """The accounts of one cell (``"Loyal->At Risk"``; ``(new)`` and ``(gone)`` allowed)."""
    _check_map(map)
    src, dst = parse_cell(cell, map)
    conn = open_store(db_path)
    try:
        snaps = list_snapshots(conn)
        a, b = pick_pair(snaps, from_, to)
        k = _use_effective(db_path, map, raw, config_path)
        acc, ra, rb = _call(_core.migration_cell, str(db_path), a.id, b.id, src, dst, map=map, effective=k >= 2)
        ids = to_series("id", acc).cast(pl.Int64)
        keys = _account_names(conn, ids)
    finally:
        conn.close()
    df = (
        pl.DataFrame([ids, to_series("revenue_a", ra), to_series("revenue_b", rb)])
        .join(keys, on="id", how="left", maintain_order="left")
        .with_columns(
            pl.lit(src).alias("from"),
            pl.lit(dst).alias("to"),
            change=pl.col("revenue_b") - pl.col("revenue_a"),
        )
        .sort(["revenue_a", "account_id"], descending=[True, False])
        .select("account_id", "name", "from", "to", "revenue_a", "revenue_b", "change")
    )
    return CellAccounts(a=a, b=b, map=map, hysteresis=k, from_label=src, to_label=dst, accounts=df)


def _account_names(conn: sqlite3.Connection, ids: pl.Series) -> pl.DataFrame:
    """``id, account_id, name`` for the given account ids (one query, no per-id round trip)."""
    rows = conn.execute(
        "SELECT a.id, a.account_key, a.name FROM json_each(?) j JOIN accounts a ON a.id = j.value",
        (json.dumps(ids.to_list()),),
    ).fetchall()
    return pl.DataFrame(rows, schema={"id": pl.Int64, "account_id": pl.String, "name": pl.String}, orient="row")


# --- velocity --------------------------------------------------------------------------------

VELOCITY_COLUMNS = [
    "from_date", "to_date", "from_snapshot", "to_snapshot", "segment",
    "start", "inflow", "inflow_new", "outflow", "outflow_gone", "end", "net",
    "start_revenue", "inflow_revenue", "outflow_revenue", "stayed_revenue_change", "end_revenue", "net_revenue",
]
VELOCITY_MONEY = ["start_revenue", "inflow_revenue", "outflow_revenue", "stayed_revenue_change", "end_revenue", "net_revenue"]


def velocity_of(mig: Migration) -> pl.DataFrame:
    """Per-segment velocity of one migration (one period A -> B); see docs/history.md."""
    c = mig.cells
    segs = [s for s in mig.rows if s != NEW] + [s for s in mig.cols if s != GONE and s not in mig.rows]
    order = [s for s in _label_order(mig) if s in segs]
    out = []
    for s in order:
        row = c.filter(pl.col("from") == s)
        col = c.filter(pl.col("to") == s)
        stay = c.filter((pl.col("from") == s) & (pl.col("to") == s))
        stayed = int(stay["accounts"].sum())
        start, end = int(row["accounts"].sum()), int(col["accounts"].sum())
        start_rev, end_rev = int(row["revenue_a"].sum()), int(col["revenue_b"].sum())
        stay_a, stay_b = int(stay["revenue_a"].sum()), int(stay["revenue_b"].sum())
        out.append(
            {
                "from_date": mig.a.as_of,
                "to_date": mig.b.as_of,
                "from_snapshot": mig.a.id,
                "to_snapshot": mig.b.id,
                "segment": s,
                "start": start,
                "inflow": end - stayed,
                "inflow_new": int(col.filter(pl.col("from") == NEW)["accounts"].sum()),
                "outflow": start - stayed,
                "outflow_gone": int(row.filter(pl.col("to") == GONE)["accounts"].sum()),
                "end": end,
                "net": end - start,
                "start_revenue": start_rev,
                "inflow_revenue": end_rev - stay_b,
                "outflow_revenue": start_rev - stay_a,
                "stayed_revenue_change": stay_b - stay_a,
                "end_revenue": end_rev,
                "net_revenue": end_rev - start_rev,
            }
        )
    schema = {k: pl.Int64 for k in VELOCITY_COLUMNS}
    schema.update({"from_date": pl.Date, "to_date": pl.Date, "segment": pl.String})
    return pl.DataFrame(out, schema=schema, orient="row") if out else pl.DataFrame(schema=schema)


def _label_order(mig: Migration) -> list[str]:
    seen: list[str] = []
    for s in [*mig.rows, *mig.cols]:
        if s not in (NEW, GONE) and s not in seen:
            seen.append(s)
    known = KNOWN_LABELS.get(mig.map, ())
    return sorted(seen, key=lambda s: (0, known.index(s), "") if s in known else (1, 0, s))


def velocity(
    db_path: str | os.PathLike[str],
    from_: str | int | None = None,
    to: str | int | None = None,
    *,
    map: str = "rfm11",
    raw: bool = False,
    config_path: str | None = None,
) -> pl.DataFrame:
    """Segment velocity for every period between consecutive snapshots from A to B.

    A and B default as in :func:`migration`; when they are of one chain, every consecutive
    pair of that chain between them is a period, else A -> B is the only one.
    """
    _check_map(map)
    conn = open_store(db_path)
    try:
        snaps = list_snapshots(conn)
    finally:
        conn.close()
    a, b = pick_pair(snaps, from_, to)
    if a.chain_key == b.chain_key and a.as_of_day < b.as_of_day:
        chain = [s for s in chain_of(snaps, a) if a.as_of_day <= s.as_of_day <= b.as_of_day]
        pairs = list(zip(chain, chain[1:]))
    else:
        pairs = [(a, b)]
    k = _use_effective(db_path, map, raw, config_path)
    ids = [pairs[0][0].id] + [y.id for _, y in pairs]
    mats = _call(_core.migration_chain, str(db_path), ids, map=map, effective=k >= 2)
    return pl.concat([velocity_of(_migration(m, x, y, map, k)) for m, (x, y) in zip(mats, pairs)])


# --- account history -------------------------------------------------------------------------

HISTORY_MONEY = ["monetary", "revenue", "cost", "direct_cost", "allocated_cost", "margin"]


def account_history(
    db_path: str | os.PathLike[str],
    account_key: str,
    *,
    all_configs: bool = False,
    raw: bool = False,
    config_path: str | None = None,
) -> pl.DataFrame:
    """An account's segment, scores, revenue, cost and risk at every snapshot, oldest first.

    By default the snapshots are those comparable with the latest snapshot that has the
    account (same mode and configuration); ``all_configs`` lists every snapshot. ``segment``
    is the effective rfm11 segment when hysteresis is configured (else the raw one, also in
    ``raw_segment``); ``previous_segment`` is the segment before the current run of equal
    segments and ``days_in_segment`` the days from the first snapshot of that run.
    """
    k = 0 if raw else hysteresis_k(db_path, config_path)
    if k >= 2:
        refresh_effective(db_path, k)
    conn = open_store(db_path)
    try:
        row = conn.execute("SELECT id FROM accounts WHERE account_key = ?", (str(account_key),)).fetchone()
        if row is None:
            raise DataError(f"no account {account_key!r} in the store")
        acc = int(row[0])
        eff = "coalesce(e.rfm_segment, a.rfm_segment)" if k >= 2 else "a.rfm_segment"
        eff_join = "LEFT JOIN snapshot_effective e ON e.snapshot = a.snapshot AND e.account = a.account" if k >= 2 else ""
        # CROSS JOIN keeps snapshots as the outer loop: one primary-key lookup per snapshot.
        # Left to itself, SQLite (no statistics) scanned every snapshot row (6 s at 1 M accounts).
        rows = conn.execute(
            f"""
            SELECT s.id, s.as_of_day, s.mode, s.config_fp,
                   {eff}, a.rfm_segment, a.rfm5_segment,
                   a.r_score, a.f_score, a.m_score, a.recency_days, a.frequency, a.monetary,
                   a.revenue, a.direct_cost + a.allocated_cost, a.direct_cost, a.allocated_cost,
                   a.margin, a.margin_pct, a.quadrant, a.churn_risk, a.churn_band, a.churn_reasons,
                   a.health, a.health_band, a.lifecycle
            FROM snapshots s
            CROSS JOIN snapshot_accounts a ON a.snapshot = s.id AND a.account = ?
            {eff_join}
            ORDER BY s.as_of_day, s.id
            """,
            (acc,),
        ).fetchall()
    finally:
        conn.close()
    names = [
        "snapshot", "as_of_day", "mode", "config_fp", "segment", "raw_segment", "rfm5_segment",
        "r_score", "f_score", "m_score", "recency_days", "frequency", "monetary",
        "revenue", "cost", "direct_cost", "allocated_cost", "margin", "margin_pct", "quadrant",
        "churn_risk", "churn_band", "churn_reasons", "health", "health_band", "lifecycle",
    ]
    if rows and not all_configs:
        latest = rows[-1]
        rows = [r for r in rows if (r[2], r[3]) == (latest[2], latest[3])]
    prev_seg: list[str | None] = []
    days_in: list[int] = []
    run_start = 0
    before: str | None = None
    for i, r in enumerate(rows):
        if i > 0 and r[4] != rows[i - 1][4]:
            before = rows[i - 1][4]
            run_start = i
        prev_seg.append(before)
        days_in.append(int(r[1]) - int(rows[run_start][1]))
    schema = {
        "snapshot": pl.Int64, "as_of_day": pl.Int64, "mode": pl.String, "config_fp": pl.String,
        "segment": pl.String, "raw_segment": pl.String, "rfm5_segment": pl.String,
        "r_score": pl.Int64, "f_score": pl.Int64, "m_score": pl.Int64, "recency_days": pl.Int64,
        "frequency": pl.Int64, "monetary": pl.Int64, "revenue": pl.Int64, "cost": pl.Int64,
        "direct_cost": pl.Int64, "allocated_cost": pl.Int64, "margin": pl.Int64, "margin_pct": pl.Float64,
        "quadrant": pl.String, "churn_risk": pl.Int64, "churn_band": pl.String, "churn_reasons": pl.String,
        "health": pl.Int64, "health_band": pl.String, "lifecycle": pl.String,
    }
    df = pl.DataFrame(rows, schema=schema, orient="row")
    df = df.with_columns(
        pl.Series("previous_segment", prev_seg, dtype=pl.String),
        pl.Series("days_in_segment", days_in, dtype=pl.Int64),
        (pl.lit(EPOCH) + pl.duration(days=pl.col("as_of_day"))).cast(pl.Date).alias("as_of"),
        # in percent, as every other listing shows it (the store keeps a fraction)
        (pl.col("margin_pct") * 100).round(2).alias("margin_pct"),
    )
    first = ["snapshot", "as_of", "segment", "previous_segment", "days_in_segment", "raw_segment", "rfm5_segment"]
    rest = [c for c in names if c not in first and c not in ("as_of_day", "mode", "config_fp")]
    return df.select(*first, *rest)


# --- cohorts ---------------------------------------------------------------------------------

COHORT_BY = ("month", "quarter")
COHORT_METRICS = ("logo", "revenue")


def cohorts(
    db_path: str | os.PathLike[str],
    *,
    by: str = "month",
    as_of: str | None = None,
) -> tuple[pl.DataFrame, dict]:
    """First-purchase cohorts × periods since (the long table) and a summary dict.

    Columns: ``cohort, period, complete, accounts, active, logo_retention, revenue,
    revenue_retention`` (retentions are fractions; revenue retention is null when the
    cohort's first-period revenue is not positive).
    """
    if by not in COHORT_BY and by != "week":
        raise ConfigError(f"--by {by!r}: choose month or quarter")
    as_of_day = parse_date(as_of, "--as-of") if as_of else None
    open_store(db_path).close()
    r = _call(_core.cohorts_store, str(db_path), as_of_day, by)
    df = pl.DataFrame(
        [
            pl.Series("cohort", r["cohort"], dtype=pl.String),
            to_series("period", r["period"]).cast(pl.Int64),
            to_series("complete", r["complete"]).cast(pl.Boolean),
            to_series("accounts", r["accounts"]),
            to_series("active", r["active"]),
            to_series("logo_retention", r["logo_retention"]),
            to_series("revenue", r["revenue"]),
            to_series("revenue_retention", r["revenue_retention"]).fill_nan(None),
        ]
    )
    summary = {
        "as_of": day_to_date(r["as_of_day"]),
        "no_purchase_accounts": r["no_purchase_accounts"],
        "revenue_before_cohort": r["revenue_before_cohort"],
    }
    return df, summary


def cohort_matrix(df: pl.DataFrame, metric: str = "logo") -> pl.DataFrame:
    """Cohorts × periods since, values in percent (one decimal), empty past the as-of date."""
    if metric not in COHORT_METRICS:
        raise ConfigError(f"--metric {metric!r}: choose logo or revenue")
    col = "logo_retention" if metric == "logo" else "revenue_retention"
    if df.height == 0:
        return pl.DataFrame(schema={"cohort": pl.String, "accounts": pl.Int64})
    n = int(df["period"].max()) + 1  # type: ignore[arg-type]
    cohorts_ = df.select("cohort", "accounts").unique(maintain_order=True)
    vals = {(c, p): v for c, p, v in df.select("cohort", "period", col).iter_rows()}
    data: dict[str, list] = {"cohort": cohorts_["cohort"].to_list(), "accounts": cohorts_["accounts"].to_list()}
    for p in range(n):
        column = []
        for c in data["cohort"]:
            v = vals.get((c, p))
            column.append(None if v is None or (isinstance(v, float) and math.isnan(v)) else round(v * 100, 1))
        data[str(p)] = column
    return pl.DataFrame(data, schema={"cohort": pl.String, "accounts": pl.Int64, **{str(p): pl.Float64 for p in range(n)}})
