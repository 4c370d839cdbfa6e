"""Custom segments as rules: parse, check and evaluate rules over accounts and their events.

The language is parsed and evaluated by the Rust core (``segtui._core.rules_*``); this module
turns polars frames into the core's columns, reads the events the rules need from the store,
and reports mistakes as :class:`RuleError` (a usage error, exit code 2) with a caret under the
column of the mistake. See ``docs/rules.md`` for the language.

Typical uses::

    matched = evaluate_rules(frame, {"champions at risk": 'rfm_segment = "At Risk" and margin > 0'},
                             as_of=date(2025, 6, 30), db="segtui.db")
    at_risk = filter_accounts(frame, 'not did "login" in 30d', as_of=date(2025, 6, 30), db="segtui.db")
"""

from __future__ import annotations

import os
import sqlite3
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from segtui import _core
from segtui.dates import date_to_day
from segtui.errors import ConfigError, DataError


#: Integer columns read as money (minor units; rules write major units) unless told otherwise.
DEFAULT_MONEY: tuple[str, ...] = (
    "revenue",
    "net_revenue",
    "monetary",
    "direct_cost",
    "allocated_cost",
    "cost_to_serve",
    "cost",
    "margin",
    "mrr",
    "revenue_next",
)

#: Firmographic columns of the store's ``accounts`` table a rule may use even when the frame
#: being filtered does not carry them (they are read from the store by account).
FIRMOGRAPHICS: dict[str, str] = {
    "name": "text",
    "industry": "text",
    "employees": "int",
    "region": "text",
    "plan": "text",
    "signup_day": "day",
    "renewal_day": "day",
    "mrr": "money",
    "seats": "int",
    "seat_limit": "int",
}


class RuleError(ConfigError):
    """A rule that does not compile. ``str()`` gives the message and a caret under the mistake."""

    def __init__(self, message: str, *, rule: str, line: int, column: int, length: int = 1, name: str | None = None):
        self.message = message
        self.rule = rule
        self.line = line
        self.column = column
        self.length = max(1, length)
        self.name = name
        super().__init__(self._render())

    def _render(self) -> str:
        where = f"line {self.line}, column {self.column}" if "\n" in self.rule else f"column {self.column}"
        label = f"rule {self.name!r}" if self.name else "rule"
        text_line = self.rule.split("\n")[self.line - 1] if self.rule else ""
        caret = " " * (self.column - 1) + "^" * min(self.length, max(1, len(text_line) - self.column + 1))
        return f"{label}, {where}: {self.message}\n    {text_line}\n    {caret}"


@dataclass(frozen=True)
class RuleWarning:
    """A remark about a rule that still compiles (an unknown event kind, a dead branch...)."""

    message: str
    line: int
    column: int
    length: int
    rule: str
    name: str | None = None

    def __str__(self) -> str:
        label = f"rule {self.name!r}" if self.name else "rule"
        where = f"line {self.line}, column {self.column}" if "\n" in self.rule else f"column {self.column}"
        return f"warning: {label}, {where}: {self.message}"


@dataclass(frozen=True)
class EventNeeds:
    """The events some rules read: kinds (None = all), window in days (None = all history)."""

    kinds: frozenset[str] | None = frozenset()
    max_window: int | None = 0
    any: bool = False

    def merge(self, other: EventNeeds) -> EventNeeds:
        if not other.any:
            return self
        if not self.any:
            return other
        kinds = None if self.kinds is None or other.kinds is None else self.kinds | other.kinds
        win = None if self.max_window is None or other.max_window is None else max(self.max_window, other.max_window)
        return EventNeeds(kinds, win, True)


@dataclass
class EventColumns:
    """Events as columns: dense account index (``accounts.id - 1``), day, kind index into ``kinds``."""

    account: Any
    day: Any
    kind: Any
    kinds: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.account)


def _raise(e: Exception, rules: Sequence[str], names: Sequence[str | None]) -> None:
    message, index, line, column, length = e.args
    raise RuleError(message, rule=rules[index], line=line, column=column, length=length, name=names[index]) from None


def _as_named(rules: str | Sequence[str] | Mapping[str, str]) -> tuple[list[str], list[str | None]]:
    if isinstance(rules, str):
        return [rules], [None]
    if isinstance(rules, Mapping):
        return list(rules.values()), list(rules.keys())
    return list(rules), [None] * len(rules)


def parse_rules(rules: str | Sequence[str] | Mapping[str, str]) -> list[list[str]]:
    """Checks the syntax of each rule; returns the metric names each one mentions."""
    texts, names = _as_named(rules)
    try:
        return _core.rules_parse(texts)
    except _core.RuleError as e:
        _raise(e, texts, names)
        raise  # unreachable


def to_day(value: date | datetime | int | str) -> int:
    """Days since 1970-01-01 of a date, datetime, ISO text or day number."""
    if isinstance(value, bool):
        raise TypeError("a day cannot be a bool")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        value = date.fromisoformat(value)
    if isinstance(value, datetime):
        value = value.date()
    return date_to_day(value)


def frame_units(
    frame: pl.DataFrame, money: Iterable[str] = DEFAULT_MONEY, scale: int = 2, units: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The rule unit of each usable column of ``frame``.

    Integers are ``int`` (``money:SCALE`` when named in ``money``; ``day`` when the name ends
    in ``_day``), floats ``float`` (``percent`` when the name ends in ``_pct``: percentage
    points, as the accounts export shows margin_pct), dates ``day``, strings and categoricals
    ``text``, booleans ``bool``. ``units`` overrides any of these (``ratio`` is a share stored
    as a fraction). Other types (lists, structs) are left out.
    """
    money = set(money)
    out: dict[str, str] = {}
    for name, dtype in frame.schema.items():
        if dtype.is_integer():
            unit = f"money:{scale}" if name in money else ("day" if name.endswith("_day") else "int")
        elif dtype.is_float():
            # shares are exported in percentage points (margin_pct 23.47 = 23.47 %)
            unit = "percent" if name.endswith("_pct") else "float"
        elif dtype == pl.Date or isinstance(dtype, pl.Datetime):
            unit = "day"
        elif dtype in (pl.String, pl.Categorical) or isinstance(dtype, (pl.Enum, pl.Categorical)):
            unit = "text"
        elif dtype == pl.Boolean:
            unit = "bool"
        else:
            continue
        out[name] = unit
    if units:
        out.update(units)
    return out


def _column(s: pl.Series, unit: str) -> tuple[Any, Any]:
    """(values, validity mask or None) of a series in the core's layout for ``unit``."""
    if unit == "text":
        return _text_codes(s), None
    valid = s.is_not_null().cast(pl.UInt8).to_numpy() if s.null_count() else None
    if unit == "day":
        if s.dtype == pl.Date or isinstance(s.dtype, pl.Datetime):
            s = s.cast(pl.Date).cast(pl.Int32)
        arr = s.fill_null(0).cast(pl.Int32).to_numpy()
        return np.ascontiguousarray(arr, dtype=np.int32), valid
    if unit in ("float", "percent", "ratio"):
        return np.ascontiguousarray(s.cast(pl.Float64).fill_null(float("nan")).to_numpy(), dtype=np.float64), None
    if unit == "bool":
        return np.ascontiguousarray(s.fill_null(False).cast(pl.UInt8).to_numpy(), dtype=np.uint8), valid
    return np.ascontiguousarray(s.fill_null(0).cast(pl.Int64).to_numpy(), dtype=np.int64), valid


def _text_codes(s: pl.Series) -> tuple[np.ndarray, list[str]]:
    """A text column as ``(codes, labels)``: codes index labels, ``2**32 - 1`` = missing.

    Dictionary encoding is done by Arrow (fast, multi-threaded where it can be), so the core
    compares small integers instead of strings.
    """
    if s.dtype != pl.String:
        s = s.cast(pl.String)
    arr = s.to_arrow()
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    enc = pc.dictionary_encode(arr)
    codes = enc.indices.cast(pa.uint32()).fill_null(np.iinfo(np.uint32).max)
    return np.ascontiguousarray(codes.to_numpy(zero_copy_only=False), dtype=np.uint32), enc.dictionary.to_pylist()


def _db_path(db: str | os.PathLike[str] | sqlite3.Connection) -> str:
    if isinstance(db, sqlite3.Connection):
        for _, name, path in db.execute("PRAGMA database_list").fetchall():
            if name == "main" and path:
                return path
        raise DataError("the store connection has no file behind it")
    return str(db)


def _connect(db: str | os.PathLike[str] | sqlite3.Connection) -> tuple[sqlite3.Connection, bool]:
    if isinstance(db, sqlite3.Connection):
        return db, False
    from segtui.store import readonly_uri

    return sqlite3.connect(readonly_uri(db), uri=True), True


def load_events(db: str | os.PathLike[str] | sqlite3.Connection, needs: EventNeeds, as_of: date | int) -> EventColumns:
    """The events ``needs`` asks for, on or before ``as_of``, read by the core from the store."""
    day = to_day(as_of)
    kinds = sorted(needs.kinds) if needs.kinds is not None else None
    acc, d, k, names = _core.rules_read_events(_db_path(db), kinds, needs.max_window, day)
    return EventColumns(acc, d, k, names)


def _store_accounts(conn: sqlite3.Connection, columns: Sequence[str]) -> pl.DataFrame:
    cols = ", ".join(["id", "account_key", *columns])
    rows = conn.execute(f"SELECT {cols} FROM accounts ORDER BY id").fetchall()
    schema: dict[str, Any] = {"id": pl.Int64, "account_key": pl.String}
    for c in columns:
        schema[c] = {"text": pl.String, "int": pl.Int64, "day": pl.Int32, "money": pl.Int64}[FIRMOGRAPHICS[c]]
    return pl.DataFrame(rows, schema=schema, orient="row")


def _dense_index(frame: pl.DataFrame, account_col: str, conn: sqlite3.Connection | None) -> np.ndarray:
    if account_col not in frame.columns:
        raise DataError(f"the accounts have no {account_col!r} column to join their events on")
    s = frame.get_column(account_col)
    if s.null_count():
        raise DataError(f"column {account_col!r} has missing account ids")
    if s.dtype.is_integer():
        ids = s.cast(pl.Int64).to_numpy()
    else:
        if conn is None:
            raise DataError(f"column {account_col!r} holds account keys: the store is needed to find their ids")
        keys = pl.DataFrame(conn.execute("SELECT id, account_key FROM accounts").fetchall(),
                            schema={"id": pl.Int64, "key": pl.String}, orient="row")
        joined = pl.DataFrame({"key": s.cast(pl.String)}).join(keys, on="key", how="left", maintain_order="left")
        missing = joined.get_column("id").null_count()
        if missing:
            raise DataError(f"{missing} account keys of column {account_col!r} are not in the store")
        ids = joined.get_column("id").to_numpy()
    if len(ids) and ids.min() < 1:
        raise DataError(f"column {account_col!r} has account ids below 1")
    return np.ascontiguousarray(ids - 1, dtype=np.uint32)


def evaluate_rules(
    frame: pl.DataFrame,
    rules: str | Sequence[str] | Mapping[str, str],
    *,
    as_of: date | datetime | int | str,
    db: str | os.PathLike[str] | sqlite3.Connection | None = None,
    events: EventColumns | None = None,
    account_col: str = "account",
    money: Iterable[str] = DEFAULT_MONEY,
    scale: int = 2,
    units: Mapping[str, str] | None = None,
    warn: Callable[[RuleWarning], None] | None = None,
) -> pl.DataFrame:
    """Evaluates every rule over every row of ``frame`` in one pass; one Boolean column per rule.

    ``frame`` has one row per account and any metric columns (see :func:`frame_units` for how
    their types are read). Rules may also use the firmographics of the store's ``accounts``
    table (:data:`FIRMOGRAPHICS`) when ``db`` is given and the frame lacks them, and event
    conditions, read from ``db`` (or given as ``events``). ``account_col`` holds each row's
    account: the store's integer id, or the exporter's account key (text; needs ``db``).

    Columns are named after the rules' names (a mapping) or ``rule_1``, ``rule_2``...; a row is
    True only where its rule is true (never where it is unknown: see ``docs/rules.md``).
    Warnings go to ``warn`` (default: :func:`warnings.warn`).
    """
    texts, names = _as_named(rules)
    as_of_day = to_day(as_of)
    mentioned = parse_rules(dict(zip(names, texts)) if isinstance(rules, Mapping) else texts)
    unit_of = frame_units(frame, money, scale, units)
    needed = sorted({m for ms in mentioned for m in ms})
    # Firmographics the frame lacks are read from the store (without a store, the core
    # reports them as unknown metrics, naming the ones there are).
    extra = [m for m in needed if m not in unit_of and m in FIRMOGRAPHICS] if db is not None else []

    metrics = list(unit_of.items())
    for m in extra:
        metrics.append((m, f"money:{scale}" if FIRMOGRAPHICS[m] == "money" else FIRMOGRAPHICS[m]))
    try:
        infos = _core.rules_check(texts, metrics, None)
    except _core.RuleError as e:
        _raise(e, texts, names)
    need = EventNeeds()
    for _, kinds, win, uses in infos:
        need = need.merge(EventNeeds(None if kinds is None else frozenset(kinds), win, uses))

    conn: sqlite3.Connection | None = None
    close = False
    try:
        key_is_text = account_col in frame.columns and not frame.schema[account_col].is_integer()
        if db is not None and (extra or key_is_text):
            conn, close = _connect(db)
        uses_events = need.any
        needs_accounts = uses_events or bool(extra)
        account = _dense_index(frame, account_col, conn) if needs_accounts else None

        columns: list[tuple[str, str, Any, Any, bool]] = []
        for name in needed:
            if name not in unit_of:
                continue
            vals, valid = _column(frame.get_column(name), unit_of[name])
            columns.append((name, unit_of[name], vals, valid, False))
        if extra:
            assert conn is not None
            acc = _store_accounts(conn, extra)
            # per-account columns indexed by dense index (id - 1); ids are dense by construction
            n_acc = int(acc.get_column("id").max() or 0)
            for name in extra:
                full = pl.DataFrame({"id": np.arange(1, n_acc + 1, dtype=np.int64)}).join(
                    acc.select("id", name), on="id", how="left", maintain_order="left"
                ).get_column(name)
                unit = f"money:{scale}" if FIRMOGRAPHICS[name] == "money" else FIRMOGRAPHICS[name]
                vals, valid = _column(full, unit)
                columns.append((name, unit, vals, valid, True))
            if account is not None and len(account) and int(account.max()) >= n_acc:
                raise DataError("some accounts of the listing are not in the store's accounts table")

        if uses_events and events is None:
            if db is None:
                events = EventColumns(np.zeros(0, np.uint32), np.zeros(0, np.int32), np.zeros(0, np.uint32), [])
                _warn(warn, RuleWarning("no store given: event conditions see no events", 1, 1, 1, texts[0], names[0]))
            else:
                events = load_events(db, need, as_of_day)
        ev = (events.account, events.day, events.kind) if events is not None else None
        kinds = events.kinds if events is not None else []
        try:
            cols, warns = _core.rules_evaluate(texts, frame.height, account, columns, ev, kinds, as_of_day)
        except _core.RuleError as e:
            _raise(e, texts, names)
    finally:
        if close and conn is not None:
            conn.close()
    for i, ws in enumerate(warns):
        for message, line, column, length in ws:
            _warn(warn, RuleWarning(message, line, column, length, texts[i], names[i]))
    out_names = [n if n is not None else f"rule_{i + 1}" for i, n in enumerate(names)]
    return pl.DataFrame(
        [pl.Series(n, np.frombuffer(c, dtype=np.uint8), dtype=pl.UInt8).cast(pl.Boolean) for n, c in zip(out_names, cols)]
    ) if cols else pl.DataFrame()


def _warn(warn: Callable[[RuleWarning], None] | None, w: RuleWarning) -> None:
    if warn is None:
        warnings.warn(str(w), stacklevel=3)
    else:
        warn(w)


def filter_accounts(
    frame: pl.DataFrame,
    rule: str,
    *,
    as_of: date | datetime | int | str,
    db: str | os.PathLike[str] | sqlite3.Connection | None = None,
    events: EventColumns | None = None,
    account_col: str = "account",
    money: Iterable[str] = DEFAULT_MONEY,
    scale: int = 2,
    units: Mapping[str, str] | None = None,
    warn: Callable[[RuleWarning], None] | None = None,
) -> pl.DataFrame:
    """The rows of ``frame`` whose account matches ``rule`` as of ``as_of`` (order kept).

    This is what ``segtui accounts --rule '...'`` calls; the arguments are those of
    :func:`evaluate_rules`.
    """
    mask = evaluate_rules(
        frame, [rule], as_of=as_of, db=db, events=events, account_col=account_col,
        money=money, scale=scale, units=units, warn=warn,
    )
    if mask.width == 0:
        return frame
    return frame.filter(mask.to_series(0))


# ---- custom segments in segtui.toml -----------------------------------------------------------

SEGMENT_KEYS = {"rule", "action", "owner", "due_days", "description"}


@dataclass(frozen=True)
class CustomSegment:
    """``[segments.NAME]`` of ``segtui.toml``: a rule and an optional playbook."""

    name: str
    rule: str
    action: str | None = None
    owner: str | None = None
    due_days: int | None = None
    description: str | None = None


def segments_from_config(data: Mapping[str, Any], *, reserved: Iterable[str] = (), source: str = "segtui.toml") -> list[CustomSegment]:
    """The custom segments of a parsed ``segtui.toml`` (its ``[segments.NAME]`` tables), checked.

    Every rule's syntax is checked here (names are checked when the rule meets data); a name
    in ``reserved`` (the built-in segment names) is refused so a custom segment never hides one.
    """
    table = data.get("segments", {})
    if not isinstance(table, Mapping):
        raise ConfigError(f"{source}: [segments] must be a table of [segments.NAME] tables")
    reserved_lower = {r.lower(): r for r in reserved}
    out: list[CustomSegment] = []
    for name, spec in table.items():
        key = f"segments.{_toml_key(name)}"
        if not isinstance(spec, Mapping):
            raise ConfigError(f"{source}: [{key}] must be a table with at least `rule = \"...\"`")
        if not str(name).strip():
            raise ConfigError(f"{source}: a segment name cannot be empty")
        if name.lower() in reserved_lower:
            raise ConfigError(
                f"{source}: [{key}]: {reserved_lower[name.lower()]!r} is a built-in segment; give the custom segment another name"
            )
        unknown = sorted(set(spec) - SEGMENT_KEYS)
        if unknown:
            raise ConfigError(f"{source}: [{key}]: unknown key {unknown[0]!r} (known: {', '.join(sorted(SEGMENT_KEYS))})")
        rule = spec.get("rule")
        if not isinstance(rule, str) or not rule.strip():
            raise ConfigError(f"{source}: [{key}]: `rule` is required and must be text, e.g. rule = 'margin < 0'")
        for k in ("action", "owner", "description"):
            if k in spec and not isinstance(spec[k], str):
                raise ConfigError(f"{source}: [{key}].{k} must be text")
        due = spec.get("due_days")
        if due is not None and (isinstance(due, bool) or not isinstance(due, int) or due < 0):
            raise ConfigError(f"{source}: [{key}].due_days must be a whole number of days, 0 or more")
        try:
            parse_rules({name: rule})
        except RuleError as e:
            raise RuleError(e.message, rule=rule, line=e.line, column=e.column, length=e.length,
                            name=f"{source} [{key}]") from None
        out.append(CustomSegment(name, rule, spec.get("action"), spec.get("owner"), due, spec.get("description")))
    return out


def _toml_key(name: str) -> str:
    bare = name.replace("_", "").replace("-", "").isalnum() and name.isascii()
    return name if bare else '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def segment_masks(
    frame: pl.DataFrame,
    segments: Sequence[CustomSegment],
    *,
    as_of: date | datetime | int | str,
    db: str | os.PathLike[str] | sqlite3.Connection | None = None,
    events: EventColumns | None = None,
    **kwargs: Any,
) -> pl.DataFrame:
    """One Boolean column per custom segment (named after it), all evaluated in one pass."""
    if not segments:
        return pl.DataFrame()
    return evaluate_rules(frame, {s.name: s.rule for s in segments}, as_of=as_of, db=db, events=events, **kwargs)


# ---- `segtui accounts --rule` -----------------------------------------------------------------


def rule_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """The ``--rule`` option of the account listings."""
    import click

    return click.option(
        "--rule",
        "rule",
        metavar="RULE",
        default=None,
        help="Keep accounts matching a rule, e.g. 'did \"login\" >= 5 times in 30d and margin > 0' (see docs/rules.md).",
    )(f)


def accounts_frame_with_rule(
    db_path: str | os.PathLike[str],
    snapshot: Any,
    flt: Any,
    rule: str | None,
    *,
    warn: Callable[[str], None] | None = None,
) -> pl.DataFrame:
    """``queries.accounts_frame`` with the accounts that do not match ``rule`` left out.

    The rule is evaluated as of the snapshot's date over the snapshot's full account frame
    (every export column, the firmographics, the primary segment) and the store's events; the
    listing's own filters and sort apply as usual and its limit applies after the rule.
    """
    from dataclasses import replace as dc_replace

    from segtui import queries

    if not rule:
        return queries.accounts_frame(Path(db_path), snapshot.id, flt)
    limit = flt.limit if flt is not None else None
    base = dc_replace(flt, limit=None) if flt is not None else None
    listing = queries.accounts_frame(Path(db_path), snapshot.id, base)
    full = queries.snapshot_frame(Path(db_path), snapshot.id)
    say = (lambda w: warn(str(w))) if warn is not None else None
    matched = filter_accounts(
        full, rule, as_of=snapshot.as_of, db=db_path, account_col="account", money=queries.MONEY_COLUMNS, warn=say
    ).get_column("account_id")
    out = listing.filter(pl.col("account_id").is_in(matched.implode()))
    return out.head(limit) if limit is not None else out
