"""The ``/`` filter language and sorting of table views (pure polars; runs in workers).

A filter is terms separated by spaces; every term must hold (AND):

- ``column<op>value`` with ``op`` one of ``< <= > >= = != ~`` (``~`` = contains, text), e.g.
  ``margin<0``, ``segment="At Risk"``, ``revenue>=1000.50``, ``margin_pct<10`` (percent),
  ``name~acme``. Column names are the table's headers, case-insensitive, with ``_`` for spaces;
- any other word matches rows where some text column contains it (case-insensitive).

Money values are decimal text in the currency unit (``-10.5`` is ten and a half units).
Quote values with spaces: ``segment="Can't Lose Them"``.
"""

from __future__ import annotations

import datetime as dt
import re
import shlex
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import numpy as np
import polars as pl


class FilterError(ValueError):
    """The filter text cannot be used; the message says which term and why."""


@dataclass(frozen=True)
class Col:
    """A table column: ``key`` in the frame, ``label`` on screen, ``kind`` (see ``fmt.KINDS``)."""

    key: str
    label: str
    kind: str = "text"

    @property
    def names(self) -> set[str]:
        """The names a filter may use for this column."""
        return {_norm(self.key), _norm(self.label), _norm(self.label).replace("%", "pct")}


NUMERIC_KINDS = {"int", "money", "signed", "signed_money", "pct", "pct0", "mean", "plain_int"}
_TERM = re.compile(r"^(?P<col>[^<>=!~]+?)\s*(?P<op><=|>=|!=|=|<|>|~)\s*(?P<val>.*)$", re.S)


def _norm(name: str) -> str:
    """Names compare without case, spaces or underscores: ``margin %`` = ``margin%`` = ``Margin_%``."""
    return re.sub(r"[\s_]+", "", name.strip().lower())


def find_column(cols: list[Col], name: str) -> Col | None:
    n = _norm(name)
    for c in cols:
        if n in c.names:
            return c
    return None


def parse_value(col: Col, text: str) -> object:
    """The raw value ``text`` stands for in ``col`` (money -> minor units, percent -> fraction)."""
    t = text.strip()
    if col.kind in NUMERIC_KINDS:
        t = t.replace(",", "").replace("_", "")
        if col.kind in ("pct", "pct0"):
            t = t.rstrip("%").strip()
        try:
            d = Decimal(t)
        except InvalidOperation:
            raise FilterError(f"{col.label}: {text!r} is not a number") from None
        if not d.is_finite():
            raise FilterError(f"{col.label}: {text!r} is not a number")
        if col.kind in ("money", "signed_money"):
            minor = d * 100
            if minor != minor.to_integral_value():
                raise FilterError(f"{col.label}: {text!r} has more than 2 decimals")
            return int(minor)
        if col.kind in ("pct", "pct0"):
            return float(d) / 100
        if col.kind == "mean":
            return float(d)
        if d != d.to_integral_value():
            raise FilterError(f"{col.label}: {text!r} is not a whole number")
        return int(d)
    if col.kind == "date":
        try:
            return dt.date.fromisoformat(t)
        except ValueError:
            raise FilterError(f"{col.label}: {text!r} is not a date (YYYY-MM-DD)") from None
    if col.kind == "bool":
        if t.lower() in ("yes", "true", "1"):
            return True
        if t.lower() in ("no", "false", "0", ""):
            return False
        raise FilterError(f"{col.label}: {text!r} is not yes or no")
    return t


def _text(col: str, dtype: pl.DataType) -> pl.Expr:
    e = pl.col(col)
    return e if dtype == pl.String else e.cast(pl.String)


def term_expr(term: str, cols: list[Col], schema: pl.Schema) -> pl.Expr:
    m = _TERM.match(term)
    if m:
        col = find_column(cols, m["col"])
        if col is None:
            known = ", ".join(sorted(re.sub(r"\s+", "_", c.label) for c in cols))
            raise FilterError(f"no column {m['col'].strip()!r} in this table (columns: {known})")
        op, raw = m["op"], m["val"]
        if raw == "":
            raise FilterError(f"{term!r}: nothing after {op}")
        dtype = schema[col.key]
        if op == "~":
            return _text(col.key, dtype).str.to_lowercase().str.contains(raw.lower(), literal=True).fill_null(False)
        value = parse_value(col, raw)
        if col.kind in NUMERIC_KINDS or col.kind in ("date", "bool"):
            e = pl.col(col.key)
        else:
            if op not in ("=", "!="):
                raise FilterError(f"{term!r}: {col.label} is text; use =, != or ~")
            e = _text(col.key, dtype).str.to_lowercase()
            value = str(value).lower()
        result = {
            "<": e < value, "<=": e <= value, ">": e > value, ">=": e >= value, "=": e == value, "!=": e != value,
        }[op]
        return result.fill_null(False)
    # a bare word: any text column contains it
    needle = term.lower()
    text_cols = [c for c in cols if c.kind == "text"]
    if not text_cols:
        raise FilterError(f"{term!r}: this table has no text column to search; use column<op>value")
    parts = [_text(c.key, schema[c.key]).str.to_lowercase().str.contains(needle, literal=True).fill_null(False) for c in text_cols]
    return pl.any_horizontal(parts)


def filter_expr(text: str, cols: list[Col], schema: pl.Schema) -> pl.Expr | None:
    """The polars predicate for ``text`` (None when the filter is empty)."""
    try:
        terms = shlex.split(text)
    except ValueError as e:
        raise FilterError(f"cannot read the filter: {e}") from None
    exprs = [term_expr(t, cols, schema) for t in terms if t.strip()]
    if not exprs:
        return None
    return pl.all_horizontal(exprs) if len(exprs) > 1 else exprs[0]


def apply_index(frame: pl.DataFrame, cols: list[Col], *, sort: tuple[str, bool] | None, text: str,
                rows: np.ndarray | None = None) -> np.ndarray | None:
    """The positions in ``frame`` of the rows to show, in order: ``rows`` (the table's rows, in their
    order; None: every row of ``frame``) filtered by ``text`` and sorted by ``sort = (key, descending)``
    (nulls last, stable). None means every row of ``frame`` in its own order.

    Nothing is gathered but the columns the filter and the sort read: a view over a million-row
    frame is an array of positions, and the grid fetches only the rows it paints."""
    pred = filter_expr(text, cols, frame.schema)
    idx = rows
    if pred is not None:
        if idx is None:
            mask = frame.select(pred.alias("_keep")).to_series()
            idx = np.flatnonzero(mask.to_numpy())
        else:
            used = frame.select(list(dict.fromkeys(pred.meta.root_names())))[idx]
            mask = used.select(pred.alias("_keep")).to_series()
            idx = idx[mask.to_numpy()]
    if sort is not None:
        key, descending = sort
        values = frame.get_column(key)
        if idx is not None:
            values = values.gather(idx)
        if isinstance(values.dtype, (pl.Categorical, pl.Enum)):
            values = values.cast(pl.String)
        order = (
            pl.DataFrame({"k": values})
            .with_row_index("_i")
            .sort("k", descending=descending, nulls_last=True, maintain_order=True)
            .get_column("_i")
            .to_numpy()
        )
        idx = order.astype(np.int64) if idx is None else idx[order]
    return idx


def apply(frame: pl.DataFrame, cols: list[Col], *, sort: tuple[str, bool] | None, text: str) -> pl.DataFrame:
    """``frame`` filtered by ``text`` and sorted by ``sort = (key, descending)`` (nulls last, stable)."""
    idx = apply_index(frame, cols, sort=sort, text=text)
    return frame if idx is None else frame[idx]
