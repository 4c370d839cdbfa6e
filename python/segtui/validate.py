"""Do the segments predict anything? Score as of a past date, then look at what happened.

:func:`validate_store` scores the store in memory as of a past date D (no snapshot is written),
then reads the line items of the horizon D+1 … D+H already in the store:

- **churn risk**: the outcome is "no purchase in the horizon". Over the accounts with at least
  one purchase by D: the AUC of the churn-risk score (Mann–Whitney: the probability that an
  account that went quiet scored higher than one that did not, ties counting half; 0.5 is
  chance), and the precision and recall of the high band, beside the base rate;
- **every segment** of a map (rfm11 by default; rfm5, quadrant, risk, lifecycle, primary,
  custom): its share of accounts and of revenue as of D, and over the horizon its retention
  (share of its accounts with a purchase) and its revenue per account.

A purchase in the horizon follows the design's definition, counted within the horizon: a
distinct invoice whose lines in the horizon net to more than zero, or a distinct account-day
without an invoice whose lines net to more than zero.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from segtui import _core
from segtui.dates import date_to_day, day_to_date
from segtui.errors import ConfigError, DataError


#: Segment maps validation can group by, and the scored column each reads.
MAPS: dict[str, str | None] = {
    "rfm11": "rfm_segment",
    "rfm5": "rfm5_segment",
    "quadrant": "quadrant",
    "risk": "churn_band",
    "lifecycle": "lifecycle",
    "primary": None,
    "custom": None,
}
ALL = "(all accounts)"
BANDS = ("low", "medium", "high")

_HORIZON = re.compile(r"^\s*(\d+)\s*(d|day|days|w|week|weeks)?\s*$", re.IGNORECASE)


def parse_horizon(text: str | int) -> int:
    """``30d``, ``30``, ``4w``, ``30 days`` -> days (1 to 3650)."""
    if isinstance(text, int):
        days = text
    else:
        m = _HORIZON.match(text)
        if not m:
            raise ConfigError(f"--horizon {text!r}: expected a number of days such as 30d or 4w")
        days = int(m.group(1)) * (7 if (m.group(2) or "d").lower().startswith("w") else 1)
    if not 1 <= days <= 3650:
        raise ConfigError(f"--horizon: expected 1 to 3650 days, got {days}")
    return days


@dataclass(frozen=True)
class ChurnValidation:
    accounts: int
    """Accounts with at least one purchase by the as-of date."""
    went_quiet: int
    """Of those, accounts with no purchase in the horizon."""
    auc: float | None
    high: int
    high_quiet: int
    reference_auc: dict[str, float | None] | None = None
    """AUC of simple predictors for comparison: ``recency_days`` (more days = likelier to go
    quiet) and ``health`` (lower = likelier)."""

    @property
    def base_rate(self) -> float | None:
        return self.went_quiet / self.accounts if self.accounts else None

    @property
    def precision(self) -> float | None:
        return self.high_quiet / self.high if self.high else None

    @property
    def recall(self) -> float | None:
        return self.high_quiet / self.went_quiet if self.went_quiet else None

    @property
    def lift(self) -> float | None:
        p, b = self.precision, self.base_rate
        return p / b if p is not None and b else None

    def to_dict(self) -> dict[str, Any]:
        r = lambda x: None if x is None else round(x, 4)  # noqa: E731
        return {
            "accounts": self.accounts,
            "went_quiet": self.went_quiet,
            "base_rate": r(self.base_rate),
            "auc": r(self.auc),
            "high_band_accounts": self.high,
            "high_band_went_quiet": self.high_quiet,
            "high_band_precision": r(self.precision),
            "high_band_recall": r(self.recall),
            "high_band_lift": r(self.lift),
            "reference_auc": {k: r(v) for k, v in (self.reference_auc or {}).items()},
        }


@dataclass(frozen=True)
class Validation:
    as_of: date
    horizon_days: int
    last_day: date
    map: str
    churn: ChurnValidation
    bands: pl.DataFrame
    """Per churn band: accounts (with a purchase by D), went_quiet, quiet_rate (%)."""
    segments: pl.DataFrame
    """Per segment: accounts, size_share, revenue, revenue_share, retention, horizon_revenue,
    revenue_per_account (money in minor units, shares in %)."""

    @property
    def horizon_end(self) -> date:
        return self.as_of + timedelta(days=self.horizon_days)


def auc(scores: np.ndarray, positive: np.ndarray) -> float | None:
    """Area under the ROC curve of ``scores`` for ``positive`` (ties count half); None when a
    class is empty."""
    scores = np.asarray(scores, dtype=np.float64)
    positive = np.asarray(positive, dtype=bool)
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = pl.Series(scores).rank("average").to_numpy()
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _round_div(num: int, den: int) -> int:
    """num / den rounded to the nearest integer, halves to even (exact)."""
    return round(Fraction(num, den))


def horizon_outcomes(li: dict[str, Any], as_of_day: int, horizon: int) -> pl.DataFrame:
    """Per account with line items in the horizon: ``purchased`` (bool), ``horizon_revenue``."""
    frame = pl.DataFrame(
        [
            pl.Series("account", np.asarray(li["account"], dtype=np.uint32)),
            pl.Series("day", np.asarray(li["day"], dtype=np.int32)),
            pl.Series("amount", np.asarray(li["amount"], dtype=np.int64)),
            pl.Series("invoice_key", np.asarray(li["invoice_key"], dtype=np.int64)),
        ]
    ).filter((pl.col("day") > as_of_day) & (pl.col("day") <= as_of_day + horizon))
    units = (
        frame.with_columns(
            pl.when(pl.col("invoice_key") == 0).then(pl.col("day")).otherwise(pl.lit(None, dtype=pl.Int32)).alias("unit_day")
        )
        .group_by("account", "invoice_key", "unit_day")
        .agg(pl.col("amount").sum().alias("net"))
    )
    purchased = units.group_by("account").agg((pl.col("net") > 0).any().alias("purchased"))
    revenue = frame.group_by("account").agg(pl.col("amount").sum().alias("horizon_revenue"))
    return revenue.join(purchased, on="account", how="left").with_columns(pl.col("account").cast(pl.Int64))


def _inputs(db: Path, cache: bool) -> dict[str, Any]:
    from segtui.queries import _core_call

    return _core_call(_core.read_inputs, db, cache=cache)


def validate_store(
    db_path: str | os.PathLike[str],
    *,
    as_of: date | None = None,
    horizon: int | str = 30,
    map_name: str = "rfm11",
    config_path: str | os.PathLike[str] | None = None,
    mode: str | None = None,
    cache: bool = True,
    warn: Any = None,
) -> Validation:
    """Score as of ``as_of`` (default: the last line item's day minus the horizon) and compare
    with the horizon that followed; see the module documentation."""
    from segtui.engine import decode
    from segtui.playbooks import FIXED_LABELS, config_for_store, custom_masks, primary_segments, rfm_labels_of
    from segtui.rules import EventColumns
    from segtui.scoring import resolve_config

    if map_name not in MAPS:
        raise ConfigError(f"--map {map_name!r}: choose one of {', '.join(MAPS)}")
    db = Path(db_path)
    h = parse_horizon(horizon)
    engine_config = resolve_config(db, Path(config_path) if config_path else None, mode)
    inp = _inputs(db, cache)
    li = {
        "account": inp["li_account"],
        "day": inp["li_day"],
        "amount": inp["li_amount"],
        "invoice_key": inp["li_invoice_key"],
    }
    days = np.frombuffer(inp["li_day"], dtype=np.int32)
    if days.size == 0:
        raise DataError(f"{db}: no line items: import some before validating")
    last = int(days.max())
    d = (last - h) if as_of is None else date_to_day(as_of)
    if d + h > last:
        raise DataError(
            f"the horizon ({h} days after {day_to_date(d)}) runs past the last line item "
            f"({day_to_date(last)}): choose --as-of {day_to_date(last - h)} or earlier, or a shorter --horizon"
        )
    if d < int(days.min()):
        raise DataError(f"no line items on or before {day_to_date(d)}: choose a later --as-of")
    costs = {
        "account": inp["cost_account"],
        "day": inp["cost_day"],
        "category": inp["cost_category"],
        "amount": inp["cost_amount"],
        "driver_units": inp["cost_driver_units"],
    }
    events = {"account": inp["ev_account"], "day": inp["ev_day"], "kind": inp["ev_kind"]}
    accounts = {
        "employees": inp["acc_employees"],
        "mrr": inp["acc_mrr"],
        "seats": inp["acc_seats"],
        "seat_limit": inp["acc_seat_limit"],
        "signup_day": inp["acc_signup_day"],
        "renewal_day": inp["acc_renewal_day"],
    }
    try:
        raw = _core.score_columns(
            li, costs, events, accounts, int(inp["n_accounts"]), list(inp["cost_categories"]),
            list(inp["event_kinds"]), d, engine_config.json,
        )
    except _core.ScoreConfigError as exc:
        raise ConfigError(f"scoring.{exc}") from None
    except _core.ScoreInputError as exc:
        raise DataError(f"scoring input: {exc}") from None
    scored = decode(raw).accounts
    outcome = horizon_outcomes(li, d, h)
    frame = scored.with_columns(pl.col("account").cast(pl.Int64)).join(outcome, on="account", how="left").with_columns(
        pl.col("purchased").fill_null(False), pl.col("horizon_revenue").fill_null(0)
    )

    # churn risk against "no purchase in the horizon"
    base = frame.filter(pl.col("r_score").is_not_null())
    quiet = ~base.get_column("purchased").to_numpy()
    high = (base.get_column("churn_band") == "high").to_numpy()
    churn = ChurnValidation(
        accounts=base.height,
        went_quiet=int(quiet.sum()),
        auc=auc(base.get_column("churn_risk").to_numpy(), quiet),
        high=int(high.sum()),
        high_quiet=int((high & quiet).sum()),
        reference_auc={
            "recency_days": auc(base.get_column("recency_days").cast(pl.Float64).to_numpy(), quiet),
            "health": auc(-base.get_column("health").cast(pl.Float64).to_numpy(), quiet),
        },
    )
    bands = (
        base.group_by("churn_band")
        .agg(pl.len().alias("accounts"), (~pl.col("purchased")).sum().alias("went_quiet"))
        .with_columns((pl.col("went_quiet") / pl.col("accounts") * 100).round(1).alias("quiet_rate"))
    )
    order = {b: i for i, b in enumerate(BANDS)}
    bands = bands.sort(pl.col("churn_band").replace_strict(order, default=len(order)))

    # segments
    groups: list[tuple[str, pl.Series]] = []
    if map_name in ("primary", "custom"):
        seg_config = config_for_store(db, config_path, rfm_labels=rfm_labels_of(engine_config.data))
        rule_frame = frame.with_columns((pl.col("account") + 1).alias("account"))  # store ids for the rules
        ev = EventColumns(inp["ev_account"], inp["ev_day"], inp["ev_kind"], list(inp["event_kinds"]))
        masks = custom_masks(rule_frame, seg_config, as_of=d, db=db, events=ev, units={"margin_pct": "ratio"}, warn=warn)
        if map_name == "primary":
            prim = primary_segments(frame, masks, seg_config)
            groups = [(s, prim == s) for s in _ordered(prim.drop_nulls().unique().to_list(), rfm_labels_of(engine_config.data))]
        else:
            if not seg_config.segments:
                raise ConfigError("--map custom: segtui.toml defines no [segments.NAME]")
            groups = [(n, masks.get_column(n)) for n in seg_config.custom_names]
    else:
        col = frame.get_column(MAPS[map_name] or "")
        known = {
            "rfm11": rfm_labels_of(engine_config.data) + ["No Purchase"],
            "risk": list(BANDS),
            "quadrant": list(FIXED_LABELS["quadrant"]),
            "lifecycle": list(FIXED_LABELS["lifecycle"]),
        }.get(map_name, [])
        groups = [(s, col == s) for s in _ordered(col.drop_nulls().unique().to_list(), known)]
    groups.append((ALL, pl.Series([True] * frame.height)))
    segments = _segment_table(frame, groups)
    return Validation(day_to_date(d), h, day_to_date(last), map_name, churn, bands, segments)


def _ordered(present: Sequence[str], known: Sequence[str]) -> list[str]:
    first = [k for k in known if k in present]
    return first + sorted(p for p in present if p not in known)


def _segment_table(frame: pl.DataFrame, groups: Sequence[tuple[str, pl.Series]]) -> pl.DataFrame:
    total_accounts = frame.height
    total_revenue = int(frame.get_column("revenue").sum())
    rows = []
    for name, mask in groups:
        part = frame.filter(mask.fill_null(False))
        n = part.height
        rev = int(part.get_column("revenue").sum()) if n else 0
        kept = int(part.get_column("purchased").sum()) if n else 0
        hrev = int(part.get_column("horizon_revenue").sum()) if n else 0
        rows.append(
            {
                "segment": name,
                "accounts": n,
                "size_share": round(100 * n / total_accounts, 1) if total_accounts else None,
                "revenue": rev,
                "revenue_share": round(100 * rev / total_revenue, 1) if total_revenue else None,
                "retention": round(100 * kept / n, 1) if n else None,
                "horizon_revenue": hrev,
                "revenue_per_account": _round_div(hrev, n) if n else None,
            }
        )
    return pl.DataFrame(
        rows,
        schema={
            "segment": pl.String, "accounts": pl.Int64, "size_share": pl.Float64, "revenue": pl.Int64,
            "revenue_share": pl.Float64, "retention": pl.Float64, "horizon_revenue": pl.Int64,
            "revenue_per_account": pl.Int64,
        },
    )


MONEY = ("revenue", "horizon_revenue", "revenue_per_account")
