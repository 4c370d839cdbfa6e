"""The scoring engine from Python: polars frames in, polars frames out.

:func:`score` lends the frames' numeric buffers to the Rust kernel (``_core.score_columns``;
no per-row Python objects, zero-copy where the dtype already matches), releases the GIL for the
whole computation, and decodes the result: code columns become their labels, sentinels become
nulls. The definitions of every figure are in ``docs/scoring.md``.

Accounts are addressed by the **dense index** ``accounts.id - 1`` on both sides.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from segtui import _core, dates
from segtui._columns import to_series
from segtui.config import EngineConfig, default_config
from segtui.errors import ConfigError, DataError

NULL_I64 = -(2**63)
NULL_DAY = -(2**31)

# Input columns per table: name -> (numpy dtype, required, null sentinel or None = nulls refused)
_LINE_ITEMS = {
    "account": (np.uint32, True, None),
    "day": (np.int32, True, None),
    "amount": (np.int64, True, None),
    "invoice_key": (np.int64, False, 0),
}
_COSTS = {
    "account": (np.int64, True, -1),  # null or -1: a pooled cost
    "day": (np.int32, True, None),
    "category": (np.uint32, True, None),
    "amount": (np.int64, True, None),
    "driver_units": (np.int64, False, NULL_I64),
}
_EVENTS = {
    "account": (np.uint32, True, None),
    "day": (np.int32, True, None),
    "kind": (np.uint32, True, None),
}
_ACCOUNTS = {
    "employees": (np.int64, False, NULL_I64),
    "mrr": (np.int64, False, NULL_I64),
    "seats": (np.int64, False, NULL_I64),
    "seat_limit": (np.int64, False, NULL_I64),
    "signup_day": (np.int32, False, NULL_DAY),
    "renewal_day": (np.int32, False, NULL_DAY),
}

#: Output columns whose codes are decoded to labels (code 0 of these is a null).
_NULL_CODE_ZERO = {"quadrant", "tier", "size_band"}
_CODED = ("rfm_segment", "rfm5_segment", "quadrant", "churn_band", "health_band", "lifecycle", "tier", "size_band")


@dataclass(frozen=True)
class ScoreOutput:
    """One scoring run."""

    as_of_day: int
    accounts: pl.DataFrame
    """One row per account in the snapshot, ascending ``account`` (dense index)."""
    pools: pl.DataFrame
    """Per pooled cost category: ``category, driver, pooled, allocated, unallocated``."""
    labels: dict[str, list[str]]
    """Label lists of the code columns, as the kernel returned them."""

    @property
    def as_of(self) -> dt.date:
        return day_to_date(self.as_of_day)


def date_to_day(d: dt.date | int) -> int:
    """Days since 1970-01-01."""
    if isinstance(d, dt.datetime):
        d = d.date()
    if isinstance(d, dt.date):
        return dates.date_to_day(d)
    return int(d)


day_to_date = dates.day_to_date


def _columns(table: str, frame: pl.DataFrame | None, spec: dict[str, tuple[Any, bool, Any]]) -> dict[str, np.ndarray]:
    if frame is None or frame.height == 0 and not frame.columns:
        return {}
    unknown = [c for c in frame.columns if c not in spec]
    if unknown:
        raise DataError(f"{table}: unknown column(s) {', '.join(unknown)} (expected {', '.join(spec)})")
    out: dict[str, np.ndarray] = {}
    for name, (dtype, required, sentinel) in spec.items():
        if name not in frame.columns:
            if required:
                raise DataError(f"{table}: missing column {name!r}")
            continue
        s = frame.get_column(name)
        if s.dtype == pl.Date:
            s = s.cast(pl.Int32)
        elif not s.dtype.is_integer():
            # Money is integer minor units: floats and decimals are refused, never rounded here.
            raise DataError(f"{table}.{name}: expected integers or dates, got {s.dtype}")
        if s.null_count():
            if sentinel is None:
                row = s.is_null().arg_true()[0]
                raise DataError(f"{table}.{name}: null at row {row}, a value is required")
            s = s.fill_null(sentinel)
        arr = s.to_numpy()
        if arr.dtype != dtype:
            if arr.size and (arr.min() < np.iinfo(dtype).min or arr.max() > np.iinfo(dtype).max):
                raise DataError(f"{table}.{name}: values out of range for {np.dtype(dtype).name}")
            arr = arr.astype(dtype)
        out[name] = np.ascontiguousarray(arr)
    return out


def _config_json(config: EngineConfig | str | None) -> str:
    if config is None:
        return default_config().json
    if isinstance(config, EngineConfig):
        return config.json
    return str(config)


def score_columns(
    line_items: pl.DataFrame | None,
    costs: pl.DataFrame | None = None,
    events: pl.DataFrame | None = None,
    accounts: pl.DataFrame | None = None,
    *,
    n_accounts: int,
    as_of: dt.date | int,
    cost_categories: Sequence[str] = (),
    event_kinds: Sequence[str] = (),
    config: EngineConfig | str | None = None,
) -> dict[str, Any]:
    """The kernel's raw result (``_core.score_columns``) for polars frames; see :func:`score`."""
    try:
        return _core.score_columns(
            _columns("line_items", line_items, _LINE_ITEMS),
            _columns("costs", costs, _COSTS),
            _columns("events", events, _EVENTS),
            _columns("accounts", accounts, _ACCOUNTS),
            int(n_accounts),
            list(cost_categories),
            list(event_kinds),
            date_to_day(as_of),
            _config_json(config),
        )
    except _core.ScoreConfigError as exc:
        raise ConfigError(f"scoring.{exc}") from None
    except _core.ScoreInputError as exc:
        raise DataError(f"scoring input: {exc}") from None


def decode(raw: dict[str, Any]) -> ScoreOutput:
    """Turn the kernel's raw result into frames with labels and nulls."""
    cols = raw["columns"]
    labels: dict[str, list[str]] = raw["labels"]
    frame = pl.DataFrame([to_series(name, col) for name, col in cols.items()])
    exprs: list[pl.Expr] = []
    for name in _CODED:
        lab = [None if (i == 0 and name in _NULL_CODE_ZERO) else v for i, v in enumerate(labels[name])]
        lookup = pl.Series(name, lab, dtype=pl.String)
        exprs.append(pl.lit(lookup).gather(pl.col(name).cast(pl.UInt32)).alias(name))
    reason = labels["churn_reasons"]
    bits = frame.get_column("churn_reasons").unique().to_list()
    mapping = {b: ",".join(r for i, r in enumerate(reason) if b >> i & 1) for b in bits}
    exprs.append(pl.col("churn_reasons").replace_strict(mapping, return_dtype=pl.String))
    exprs.append(pl.when(pl.col("recency_days") != NULL_I64).then(pl.col("recency_days")).alias("recency_days"))
    for name in ("r_score", "f_score", "m_score"):
        exprs.append(pl.when(pl.col(name) != 0).then(pl.col(name)).alias(name))
    exprs.append(pl.col("margin_pct").fill_nan(None))
    frame = frame.with_columns(exprs)
    pools = pl.DataFrame(
        raw["pools"],
        schema={"category": pl.String, "driver": pl.String, "pooled": pl.Int64, "allocated": pl.Int64, "unallocated": pl.Int64},
    )
    return ScoreOutput(int(raw["as_of_day"]), frame, pools, labels)


def score(
    line_items: pl.DataFrame | None,
    costs: pl.DataFrame | None = None,
    events: pl.DataFrame | None = None,
    accounts: pl.DataFrame | None = None,
    *,
    n_accounts: int,
    as_of: dt.date | int,
    cost_categories: Sequence[str] = (),
    event_kinds: Sequence[str] = (),
    config: EngineConfig | str | None = None,
) -> ScoreOutput:
    """Score every account as of ``as_of``.

    Frames (any may be ``None`` or empty; extra columns are an error, so typos cannot pass):

    - ``line_items``: ``account`` (dense index), ``day`` (int days since 1970-01-01 or Date),
      ``amount`` (minor units, negative = refund), optional ``invoice_key`` (int64 hash of the
      invoice text; 0 or null = no invoice, the purchase is then an account-day);
    - ``costs``: ``account`` (dense index; null or -1 = pooled), ``day``, ``category`` (index into
      ``cost_categories``), ``amount``, optional ``driver_units``;
    - ``events``: ``account``, ``day``, ``kind`` (index into ``event_kinds``);
    - ``accounts``: one row per dense index (``n_accounts`` rows), optional columns
      ``employees, mrr, seats, seat_limit, signup_day, renewal_day`` (nulls allowed).

    Returns a :class:`ScoreOutput`. Raises :class:`~segtui.errors.DataError` for inconsistent
    columns and :class:`~segtui.errors.ConfigError` for a bad configuration.
    """
    return decode(
        score_columns(
            line_items,
            costs,
            events,
            accounts,
            n_accounts=n_accounts,
            as_of=as_of,
            cost_categories=cost_categories,
            event_kinds=event_kinds,
            config=config,
        )
    )
