"""Primary segments and playbooks.

An account can be in many segments at once: its rfm11 segment, its churn-risk band, its
profitability quadrant, its lifecycle stage and any custom segments (``[segments.NAME]`` rules
in ``segtui.toml``). A configured priority order picks one **primary segment** per account,
stored in the snapshot (``snapshot_accounts.primary_segment``). Each segment may carry a
**playbook**: an action, an owner and a number of days to act. ``segtui playbook`` lists, per
owner, the accounts whose primary segment changed since the previous snapshot, with the action
and the due date: the weekly to-do list.

``segtui.toml``::

    [segments."Expansion targets"]
    rule = 'did "invite_team" >= 3 times in 30d and not did "create_task" in 14d'
    action = "offer a task-management onboarding call"
    owner = "ana"
    due_days = 7

    [playbooks]
    default_owner = "success-team"          # owner of playbooks that name none

    [playbooks."Can't Lose Them"]            # override a built-in playbook (any key)
    owner = "vp-sales"
    due_days = 2

    [primary]
    order = ["custom", "risk:high", "quadrant:low revenue, high cost", "rfm"]

Names of primary segments: an rfm11 segment by its name (``Champions``), a custom segment by
its name, any other by family and label: ``risk:high``, ``quadrant:low revenue, high cost``,
``lifecycle:at-risk``, ``rfm5:Loyal``. The same names key ``[playbooks]``. See docs/rules.md.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from segtui.errors import ConfigError
from segtui.rules import CustomSegment, segments_from_config

CONFIG_FILE = "segtui.toml"

#: Families of built-in segments and the snapshot column each reads.
FAMILIES: dict[str, str] = {
    "rfm": "rfm_segment",
    "rfm5": "rfm5_segment",
    "quadrant": "quadrant",
    "risk": "churn_band",
    "lifecycle": "lifecycle",
}
#: Families that give every account a segment (an order ending in one is total).
TOTAL_FAMILIES = ("rfm", "rfm5", "risk", "lifecycle")

RFM11 = (
    "Champions", "Loyal", "Potential Loyalist", "New Customers", "Promising", "Need Attention",
    "About to Sleep", "At Risk", "Can't Lose Them", "Hibernating", "Lost",
)
NO_PURCHASE = "No Purchase"
#: Labels of the families whose labels are fixed by the engine.
FIXED_LABELS: dict[str, tuple[str, ...]] = {
    "quadrant": ("high revenue, low cost", "high revenue, high cost", "low revenue, low cost", "low revenue, high cost"),
    "risk": ("low", "medium", "high"),
    "lifecycle": ("churned", "onboarding", "at-risk", "expansion-ready", "active"),
}

DEFAULT_ORDER: tuple[str, ...] = ("custom", "risk:high", "quadrant:low revenue, high cost", "rfm")


@dataclass(frozen=True)
class Playbook:
    """What to do about an account that enters a segment, who does it, and within how long."""

    action: str
    owner: str | None = None
    due_days: int | None = None


#: Built-in playbooks: the rfm11 actions of the design's segment maps, the quadrant actions of
#: its profitability table, and the risk and lifecycle stages that call for someone to act.
#: Due days are segtui's choice: days to act, shorter where an account is slipping away.
DEFAULT_PLAYBOOKS: dict[str, Playbook] = {
    "Champions": Playbook("reward, ask for referrals and reviews, early access", None, 14),
    "Loyal": Playbook("upsell, loyalty programme", None, 14),
    "Potential Loyalist": Playbook("membership or bundle offer, onboarding to more products", None, 14),
    "New Customers": Playbook("welcome series, fast first value", None, 3),
    "Promising": Playbook("build the relationship, free trial of a higher tier", None, 7),
    "Need Attention": Playbook("time-limited offer, check-in call", None, 7),
    "About to Sleep": Playbook("reactivation campaign, share popular products", None, 7),
    "At Risk": Playbook("personal outreach, win-back offer", None, 3),
    "Can't Lose Them": Playbook("win them back now; escalate to an owner", None, 1),
    "Hibernating": Playbook("low-cost re-engagement or sunset", None, 30),
    "Lost": Playbook("ignore, or one last win-back; recover their cost to serve", None, 30),
    "quadrant:high revenue, low cost": Playbook("prioritise for expansion and referral", None, 14),
    "quadrant:high revenue, high cost": Playbook("renegotiate or optimise usage", None, 14),
    "quadrant:low revenue, low cost": Playbook("automate support, show the upgrade path", None, 30),
    "quadrant:low revenue, high cost": Playbook("re-price or offboard", None, 14),
    "risk:high": Playbook("reach out before they go quiet: review the churn reasons", None, 3),
    "lifecycle:at-risk": Playbook("reach out before they go quiet: review the churn reasons", None, 3),
    "lifecycle:onboarding": Playbook("make sure they reach first value", None, 7),
    "lifecycle:expansion-ready": Playbook("offer an upgrade or more seats", None, 14),
    "lifecycle:churned": Playbook("one win-back attempt, then close the account", None, 30),
}

PLAYBOOK_KEYS = {"action", "owner", "due_days"}


@dataclass(frozen=True)
class OrderEntry:
    """One entry of ``[primary] order``: a whole family, or one segment of it."""

    family: str  # custom | rfm | rfm5 | quadrant | risk | lifecycle
    label: str | None = None

    def __str__(self) -> str:
        return self.family if self.label is None else f"{self.family}:{self.label}"


@dataclass(frozen=True)
class SegmentConfig:
    """Custom segments, playbooks and the primary order of one ``segtui.toml``."""

    segments: tuple[CustomSegment, ...] = ()
    playbooks: Mapping[str, Playbook] = field(default_factory=lambda: dict(DEFAULT_PLAYBOOKS))
    order: tuple[OrderEntry, ...] = tuple(OrderEntry(*e.split(":", 1)) if ":" in e else OrderEntry(e) for e in DEFAULT_ORDER)
    default_owner: str | None = None
    source: str = "defaults"

    def playbook(self, segment: str) -> Playbook | None:
        """The playbook of a primary segment (owner defaulted), or None."""
        pb = self.playbooks.get(segment)
        if pb is None:
            return None
        return pb if pb.owner or not self.default_owner else replace(pb, owner=self.default_owner)

    @property
    def custom_names(self) -> list[str]:
        return [s.name for s in self.segments]


def _parse_entry(text: Any, custom: Sequence[str], rfm_labels: Sequence[str], source: str, i: int) -> OrderEntry:
    where = f"{source}: primary.order[{i}]"
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"{where}: expected a segment or family name such as \"risk:high\" or \"rfm\"")
    family, sep, label = text.partition(":")
    family = family.strip().lower()
    if not sep:
        if family in FAMILIES or family == "custom":
            return OrderEntry(family)
        # a bare name: a custom segment or an rfm11 segment
        if text in custom:
            return OrderEntry("custom", text)
        if text in rfm_labels:
            return OrderEntry("rfm", text)
        raise ConfigError(
            f"{where}: {text!r} is neither a family ({', '.join(['custom', *FAMILIES])}) nor a segment; "
            f"write e.g. \"risk:high\" or the name of a [segments.NAME] table"
        )
    label = label.strip()
    if family == "custom":
        if label not in custom:
            raise ConfigError(f"{where}: no custom segment {label!r} (the [segments.NAME] tables are: {', '.join(custom) or 'none'})")
        return OrderEntry("custom", label)
    if family not in FAMILIES:
        raise ConfigError(f"{where}: unknown family {family!r}: use one of {', '.join(['custom', *FAMILIES])}")
    known = FIXED_LABELS.get(family) or (rfm_labels if family == "rfm" else None)
    if known is not None and label not in known:
        raise ConfigError(f"{where}: {family} has no segment {label!r} (it has: {', '.join(known)})")
    return OrderEntry(family, label)


def segment_config_from_mapping(
    doc: Mapping[str, Any], *, source: str = CONFIG_FILE, rfm_labels: Sequence[str] = RFM11
) -> SegmentConfig:
    """The ``[segments]``, ``[playbooks]`` and ``[primary]`` tables of a parsed ``segtui.toml``."""
    reserved = [*rfm_labels, NO_PURCHASE]
    segments = segments_from_config(doc, reserved=reserved, source=source)
    names = [s.name for s in segments]
    dup = {n.lower() for n in names if [m.lower() for m in names].count(n.lower()) > 1}
    if dup:
        raise ConfigError(f"{source}: two custom segments named {sorted(dup)[0]!r} (names are compared ignoring case)")
    for n in names:
        if ":" in n:
            raise ConfigError(f"{source}: segment name {n!r}: a name cannot contain ':' (it separates family and label)")

    playbooks: dict[str, Playbook] = dict(DEFAULT_PLAYBOOKS)
    for s in segments:
        if s.action or s.owner or s.due_days is not None:
            playbooks[s.name] = Playbook(s.action or f"act on segment {s.name}", s.owner, s.due_days)
    table = doc.get("playbooks", {})
    if not isinstance(table, Mapping):
        raise ConfigError(f"{source}: [playbooks] must be a table")
    default_owner = table.get("default_owner")
    if default_owner is not None and not isinstance(default_owner, str):
        raise ConfigError(f"{source}: playbooks.default_owner must be text")
    for name, spec in table.items():
        if name == "default_owner":
            continue
        key = f"playbooks.{name!r}"
        if not isinstance(spec, Mapping):
            raise ConfigError(f"{source}: [{key}] must be a table with action, owner and/or due_days")
        seg = _normalize_name(name, names, rfm_labels)
        if seg is None:
            raise ConfigError(
                f"{source}: [{key}]: no segment {name!r}; playbooks are keyed by rfm11 names (\"At Risk\"), "
                "custom segment names, or family:label (\"risk:high\", \"quadrant:low revenue, high cost\")"
            )
        if seg in names:
            raise ConfigError(f"{source}: [{key}]: give a custom segment's playbook in its own [segments.{name}] table")
        unknown = sorted(set(spec) - PLAYBOOK_KEYS)
        if unknown:
            raise ConfigError(f"{source}: [{key}]: unknown key {unknown[0]!r} (known: action, owner, due_days)")
        for k in ("action", "owner"):
            if k in spec and not isinstance(spec[k], str):
                raise ConfigError(f"{source}: [{key}].{k} must be text")
        due = spec.get("due_days")
        if due is not None and (isinstance(due, bool) or not isinstance(due, int) or due < 0):
            raise ConfigError(f"{source}: [{key}].due_days must be a whole number of days, 0 or more")
        base = playbooks.get(seg)
        action = spec.get("action", base.action if base else None)
        if not action:
            raise ConfigError(f"{source}: [{key}]: `action` is required (there is no default playbook for {seg!r})")
        playbooks[seg] = Playbook(
            action, spec.get("owner", base.owner if base else None), due if "due_days" in spec else (base.due_days if base else None)
        )

    prim = doc.get("primary", {})
    if not isinstance(prim, Mapping):
        raise ConfigError(f"{source}: [primary] must be a table with `order = [...]`")
    unknown = sorted(set(prim) - {"order"})
    if unknown:
        raise ConfigError(f"{source}: [primary]: unknown key {unknown[0]!r} (known: order)")
    raw_order = prim.get("order", list(DEFAULT_ORDER))
    if not isinstance(raw_order, list) or not raw_order:
        raise ConfigError(f"{source}: primary.order must be a non-empty list, e.g. {list(DEFAULT_ORDER)!r}")
    order = [_parse_entry(e, names, rfm_labels, source, i) for i, e in enumerate(raw_order)]
    seen: set[str] = set()
    for e in order:
        if str(e) in seen:
            raise ConfigError(f"{source}: primary.order lists {str(e)!r} twice")
        seen.add(str(e))
    if not any(e.family in TOTAL_FAMILIES and e.label is None for e in order):
        order.append(OrderEntry("rfm"))  # every account gets a primary segment
    return SegmentConfig(tuple(segments), playbooks, tuple(order), default_owner, source)


def _normalize_name(name: str, custom: Sequence[str], rfm_labels: Sequence[str]) -> str | None:
    if name in custom or name in rfm_labels:
        return name
    family, sep, label = name.partition(":")
    if not sep:
        return None
    family = family.strip().lower()
    label = label.strip()
    if family == "rfm" and label in rfm_labels:
        return label
    if family in FAMILIES and family != "rfm":
        known = FIXED_LABELS.get(family)
        if known is None or label in known:
            return f"{family}:{label}"
    return None


def load_segment_config(path: str | os.PathLike[str] | None, *, rfm_labels: Sequence[str] = RFM11) -> SegmentConfig:
    """Read ``path`` (``None``: the defaults, no custom segments)."""
    if path is None:
        return SegmentConfig()
    p = Path(path)
    try:
        doc = tomllib.loads(p.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such configuration file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    return segment_config_from_mapping(doc, source=str(p), rfm_labels=rfm_labels)


def primary_segments(frame: pl.DataFrame, custom: pl.DataFrame | None, config: SegmentConfig) -> pl.Series:
    """Each row's primary segment: the first entry of the order the account belongs to.

    ``frame`` holds the snapshot columns of the families used (``rfm_segment``,
    ``churn_band``...); ``custom`` one Boolean column per custom segment (see
    :func:`segtui.rules.segment_masks`). A null means the account is in no listed segment
    (possible only when the order names no total family).
    """
    custom = custom if custom is not None else pl.DataFrame()
    exprs: list[pl.Expr] = []
    for e in config.order:
        if e.family == "custom":
            names = [e.label] if e.label else config.custom_names
            for n in names:
                if n not in custom.columns:
                    raise ConfigError(f"custom segment {n!r} was not evaluated")
                exprs.append(pl.when(custom.get_column(n)).then(pl.lit(n)))
            continue
        col = FAMILIES[e.family]
        if col not in frame.columns:
            raise ConfigError(f"primary.order names {str(e)!r} but the snapshot has no {col} column")
        value = pl.col(col)
        name = value if e.family == "rfm" else pl.concat_str([pl.lit(f"{e.family}:"), value])
        if e.label is None:
            exprs.append(name)
        else:
            exprs.append(pl.when(value == e.label).then(name))
    if not exprs:
        return pl.Series("primary_segment", [None] * frame.height, dtype=pl.String)
    return frame.select(pl.coalesce(exprs).cast(pl.String).alias("primary_segment")).to_series()


#: Columns of the to-do list, in order.
TODO_COLUMNS = (
    "owner", "due", "segment", "previous_segment", "account_id", "name", "action",
    "revenue", "margin", "churn_risk", "as_of",
)
UNASSIGNED = "(unassigned)"


def todo(
    current: pl.DataFrame,
    previous: pl.DataFrame | None,
    config: SegmentConfig,
    as_of: date,
    *,
    owners: Iterable[str] = (),
    include_without_playbook: bool = False,
) -> pl.DataFrame:
    """The accounts whose primary segment changed since ``previous``, with their playbooks.

    ``current`` and ``previous`` have ``account`` (store id) and ``primary_segment``; current
    also ``account_id`` and optionally ``name``, ``revenue``, ``margin``, ``churn_risk``. An
    account absent from ``previous`` (or with no previous snapshot at all) has entered its
    segment. Due date = as-of date + the playbook's due days (none when it has none). Segments
    without a playbook are left out unless ``include_without_playbook``. Sorted by owner, due
    date, segment, then revenue (largest first).
    """
    cur = current.select(
        "account", "account_id", "primary_segment",
        *[c for c in ("name", "revenue", "margin", "churn_risk") if c in current.columns],
    )
    if previous is not None:
        prev = previous.select("account", pl.col("primary_segment").alias("previous_segment"))
        cur = cur.join(prev, on="account", how="left")
    else:
        cur = cur.with_columns(pl.lit(None, dtype=pl.String).alias("previous_segment"))
    moved = cur.filter(
        pl.col("primary_segment").is_not_null()
        & (pl.col("previous_segment").is_null() | (pl.col("previous_segment") != pl.col("primary_segment")))
    )
    segs = moved.get_column("primary_segment").unique().to_list()
    rows = []
    for s in segs:
        pb = config.playbook(s)
        if pb is None and not include_without_playbook:
            continue
        rows.append(
            {
                "primary_segment": s,
                "owner": (pb.owner if pb else None) or UNASSIGNED,
                "action": pb.action if pb else None,
                "due": (as_of + timedelta(days=pb.due_days)) if pb and pb.due_days is not None else None,
            }
        )
    books = pl.DataFrame(
        rows, schema={"primary_segment": pl.String, "owner": pl.String, "action": pl.String, "due": pl.Date}
    )
    out = moved.join(books, on="primary_segment", how="inner").rename({"primary_segment": "segment"})
    for c, t in (("name", pl.String), ("revenue", pl.Int64), ("margin", pl.Int64), ("churn_risk", pl.Int64)):
        if c not in out.columns:
            out = out.with_columns(pl.lit(None, dtype=t).alias(c))
    out = out.with_columns(pl.lit(as_of, dtype=pl.Date).alias("as_of"))
    owners = list(owners)
    if owners:
        out = out.filter(pl.col("owner").is_in(owners))
    return out.select(TODO_COLUMNS).sort(
        ["owner", "due", "segment", "revenue", "account_id"],
        descending=[False, False, False, True, False],
        nulls_last=True,
    )


# ---- the store: assigning primary segments, the to-do list ----------------------------------


def rfm_labels_of(config: Mapping[str, Any]) -> list[str]:
    """The rfm11 segment names of a snapshot's scoring configuration (the defaults if absent)."""
    maps = config.get("maps") if isinstance(config, Mapping) else None
    defs = maps.get("rfm11") if isinstance(maps, Mapping) else None
    names = [d["name"] for d in defs or [] if isinstance(d, Mapping) and isinstance(d.get("name"), str)]
    return names or list(RFM11)


def config_for_store(db_path: str | os.PathLike[str], config_path: str | os.PathLike[str] | None = None,
                     *, rfm_labels: Sequence[str] = RFM11) -> SegmentConfig:
    """``--config`` when given, else ``segtui.toml`` beside the store, else the defaults."""
    from segtui.config import find_config

    path = Path(config_path) if config_path is not None else find_config(db_path)
    return load_segment_config(path, rfm_labels=rfm_labels)


def custom_masks(frame: pl.DataFrame, config: SegmentConfig, *, as_of: date | int, db: str | os.PathLike[str] | None,
                 events: Any = None, units: Mapping[str, str] | None = None,
                 warn: Any = None) -> pl.DataFrame:
    """One Boolean column per custom segment, all rules in one pass over the events."""
    from segtui.queries import MONEY_COLUMNS
    from segtui.rules import segment_masks

    if not config.segments:
        return pl.DataFrame()
    return segment_masks(frame, list(config.segments), as_of=as_of, db=db, events=events,
                         account_col="account", money=MONEY_COLUMNS, units=units, warn=warn)


@dataclass(frozen=True)
class PrimaryReport:
    snapshot_id: int
    as_of: date
    summary: pl.DataFrame  # primary_segment, accounts, revenue, action, owner, due_days


def assign_primary(
    db_path: str | os.PathLike[str],
    snapshot_id: int,
    *,
    config_path: str | os.PathLike[str] | None = None,
    config: SegmentConfig | None = None,
    warn: Any = None,
) -> PrimaryReport:
    """Compute every account's primary segment in a snapshot and store it.

    Custom segments are evaluated as of the snapshot's date (events after it do not count),
    over the snapshot's figures and the store's firmographics. All rows of the snapshot are
    written in one transaction.
    """
    from segtui import queries
    from segtui.store import open_store, transaction

    db = Path(db_path)
    snap = queries.get_snapshot(db, snapshot_id)
    if config is None:
        config = config_for_store(db, config_path, rfm_labels=rfm_labels_of(snap.config_dict()))
    frame = queries.snapshot_frame(db, snap.id)
    masks = custom_masks(frame, config, as_of=snap.as_of, db=db, warn=warn)
    frame = frame.with_columns(primary_segments(frame, masks, config))
    groups = (
        frame.group_by("primary_segment", maintain_order=True)
        .agg(pl.col("account"), pl.len().alias("accounts"), pl.col("revenue").sum())
    )
    conn = open_store(db)
    try:
        with transaction(conn):
            # every row of the snapshot is in exactly one group: each is written once
            for seg, ids in zip(groups.get_column("primary_segment").to_list(), groups.get_column("account").to_list()):
                conn.execute(
                    "UPDATE snapshot_accounts SET primary_segment = ? WHERE snapshot = ? "
                    "AND account IN (SELECT value FROM json_each(?))",
                    (seg, snap.id, _json_ints(ids)),
                )
    finally:
        conn.close()
    # snapshot rows changed in place: cached snapshot frames would show the old primary segments
    queries.invalidate_frames(db)
    rows = []
    for seg, n, rev in groups.select("primary_segment", "accounts", "revenue").iter_rows():
        pb = config.playbook(seg) if seg is not None else None
        rows.append((seg, n, rev, pb.action if pb else None, (pb.owner or UNASSIGNED) if pb else None,
                     pb.due_days if pb else None))
    summary = pl.DataFrame(
        rows,
        schema={"primary_segment": pl.String, "accounts": pl.Int64, "revenue": pl.Int64, "action": pl.String,
                "owner": pl.String, "due_days": pl.Int64},
        orient="row",
    ).sort(["accounts", "primary_segment"], descending=[True, False])
    return PrimaryReport(snap.id, snap.as_of, summary)


def _json_ints(ids: Sequence[int]) -> str:
    return "[" + ",".join(str(int(i)) for i in ids) + "]"


def previous_snapshot(db_path: str | os.PathLike[str], snap: Any) -> Any | None:
    """The latest snapshot before ``snap`` with the same mode and scoring configuration."""
    from segtui import queries

    snaps = queries.list_snapshots(Path(db_path))
    earlier = snaps.filter(
        (pl.col("as_of") < snap.as_of) & (pl.col("mode") == snap.mode) & (pl.col("config_fp") == snap.config_fp)
    ) if snaps.height else snaps
    if earlier.height == 0:
        return None
    best = earlier.sort(["as_of", "id"]).tail(1)
    return queries.get_snapshot(Path(db_path), int(best.get_column("id")[0]))


def _has_primary(db: Path, snapshot_id: int) -> bool:
    from segtui.store import open_store

    conn = open_store(db, readonly=True)
    try:
        row = conn.execute(
            "SELECT count(*) FROM snapshot_accounts WHERE snapshot = ? AND primary_segment IS NULL", (snapshot_id,)
        ).fetchone()
    finally:
        conn.close()
    return int(row[0]) == 0


@dataclass(frozen=True)
class PlaybookListing:
    frame: pl.DataFrame
    snapshot: Any
    previous: Any | None
    assigned: tuple[int, ...]
    """Snapshots whose primary segments were computed for this listing (they had none)."""


def playbook_listing(
    db_path: str | os.PathLike[str],
    *,
    snapshot: str | int | None = None,
    since: str | int | None = None,
    owners: Iterable[str] = (),
    include_without_playbook: bool = False,
    config_path: str | os.PathLike[str] | None = None,
    warn: Any = None,
) -> PlaybookListing:
    """What ``segtui playbook`` lists (see :func:`todo`).

    ``snapshot``: id or as-of date (default: the latest). ``since``: the snapshot to compare
    with (default: :func:`previous_snapshot`). Snapshots without stored primary segments get
    them first (:func:`assign_primary`).
    """
    from segtui import queries

    db = Path(db_path)
    snap = queries.resolve_snapshot(db, snapshot)
    prev = queries.resolve_snapshot(db, since) if since is not None else previous_snapshot(db, snap)
    if prev is not None and prev.id == snap.id:
        raise ConfigError("--since names the same snapshot as --snapshot: compare with an earlier one")
    if prev is not None and prev.as_of > snap.as_of:
        raise ConfigError(f"--since {prev.as_of} is after the snapshot ({snap.as_of}): give an earlier snapshot")
    config = config_for_store(db, config_path, rfm_labels=rfm_labels_of(snap.config_dict()))
    assigned = []
    for s in (snap, prev):
        if s is not None and not _has_primary(db, s.id):
            assign_primary(db, s.id, config=config, warn=warn)
            assigned.append(s.id)
    current = queries.snapshot_frame(db, snap.id)
    previous = queries.snapshot_frame(db, prev.id).select("account", "primary_segment") if prev is not None else None
    frame = todo(current, previous, config, snap.as_of, owners=owners, include_without_playbook=include_without_playbook)
    return PlaybookListing(frame, snap, prev, tuple(assigned))
