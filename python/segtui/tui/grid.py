"""The one table widget: any polars frame, a million rows smooth, sortable, filterable, exportable.

The widget is textual-fastdatatable's ``DataTable`` over :class:`FrameBackend`, a read-only
backend that holds the (sorted, filtered) polars frame and formats only the rows being painted.
Column widths are measured once per source frame, in the worker that prepared it, and reused
by every sort and filter of it, so the layout does not jump and nothing scans a million rows on
the UI thread. Sorting and filtering run as tasks (see ``tasks``); the result replaces the
backend in one step.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl
from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.coordinate import Coordinate
from textual.message import Message
from textual_fastdatatable import DataTable
from textual_fastdatatable.backend import DataTableBackend

from segtui.tui import actions, fmt
from segtui.tui.query import Col, apply_index

MAX_WIDTH = 40  # widest a text column gets; the full value is one `y` away


class View:
    """What a grid shows: rows of ``base`` picked by position, sorted and filtered, and the columns' widths.

    ``members``: the positions in ``base`` of the table's rows before any filter (None: all of
    ``base``, in order), so a segment's list over the snapshot's million-row frame is the frame and
    an array of positions, never a copy. ``index``: the positions shown, in order (None: the members
    in order). ``source`` and ``rows`` are those as frames, gathered only when asked for (export,
    tests); the grid paints from ``base`` a row at a time.
    """

    __slots__ = ("base", "cols", "widths", "sort", "filter", "members", "index", "_source", "_rows")

    def __init__(self, base: pl.DataFrame, cols: tuple[Col, ...], widths: tuple[int, ...],
                 sort: tuple[str, bool] | None = None, filter: str = "", members: np.ndarray | None = None,
                 index: np.ndarray | None = None) -> None:
        self.base, self.cols, self.widths, self.sort, self.filter = base, cols, widths, sort, filter
        self.members, self.index = members, index
        self._source: pl.DataFrame | None = None
        self._rows: pl.DataFrame | None = None

    @property
    def height(self) -> int:
        """Rows shown."""
        picked = self.index if self.index is not None else self.members
        return self.base.height if picked is None else len(picked)

    @property
    def total(self) -> int:
        """Rows of the table before filtering."""
        return self.base.height if self.members is None else len(self.members)

    def position(self, row: int) -> int:
        """The position in ``base`` of shown row ``row``."""
        picked = self.index if self.index is not None else self.members
        return row if picked is None else int(picked[row])

    @property
    def source(self) -> pl.DataFrame:
        if self._source is None:
            self._source = self.base if self.members is None else self.base[self.members]
        return self._source

    @property
    def rows(self) -> pl.DataFrame:
        if self._rows is None:
            picked = self.index if self.index is not None else self.members
            self._rows = self.base if picked is None else self.base[picked]
        return self._rows

    def shown(self, keys: Sequence[str]) -> pl.DataFrame:
        """The rows shown, in order, with only the columns ``keys``."""
        picked = self.index if self.index is not None else self.members
        frame = self.base.select(keys)
        return frame if picked is None else frame[picked]

    def row(self, row: int) -> dict[str, Any]:
        """Shown row ``row`` with every column of ``base``, raw values."""
        return self.base.row(self.position(row), named=True)


def measure(frame: pl.DataFrame, cols: Sequence[Col]) -> tuple[int, ...]:
    """Content width of each column over the whole frame, without formatting every value."""
    out = []
    for c in cols:
        if c.key not in frame.columns or frame.height == 0:
            out.append(0)
            continue
        s = frame.get_column(c.key)
        kind = c.kind
        if kind in ("text", "bool"):
            if isinstance(s.dtype, (pl.Categorical, pl.Enum)):
                s = s.unique().cast(pl.String)  # the distinct labels present (a dozen), not every row
            elif s.dtype != pl.String:
                s = s.cast(pl.String)
            w = s.str.len_chars().max() if kind == "text" else 3
            out.append(min(int(w or 0), MAX_WIDTH))
        elif kind == "date":
            out.append(10)
        elif kind in ("pct", "pct0"):
            formatter = fmt.KINDS[kind][0]
            lo, hi = s.min(), s.max()
            out.append(max(len(formatter(lo)), len(formatter(hi)), 5) if lo is not None else 0)
        elif kind == "mean":
            out.append(5)
        else:
            formatter = fmt.KINDS[kind][0]
            lo, hi = s.min(), s.max()
            out.append(max(len(formatter(lo)), len(formatter(hi))) if lo is not None else 0)
    return tuple(out)


def prepare(source: pl.DataFrame, cols: Sequence[Col], *, sort: tuple[str, bool] | None = None, filter: str = "",
            widths: tuple[int, ...] | None = None, members: np.ndarray | None = None) -> View:
    """Build a view (in a worker): apply filter and sort, measure widths unless given. ``members``:
    the table is those rows of ``source`` (positions, in order), not all of it."""
    cols = tuple(c for c in cols if c.key in source.columns)
    index = apply_index(source, list(cols), sort=sort, text=filter, rows=members)
    if widths is None:
        measured = source if members is None else source.select([c.key for c in cols])[members]
        widths = measure(measured, cols)
    return View(source, cols, widths, sort, filter, members, index)


class FrameBackend(DataTableBackend[pl.DataFrame]):
    """Read-only backend over a polars frame; cells are formatted as they are painted."""

    def __init__(self, view: View) -> None:  # noqa: D107 - the base class is abstract about arguments
        self.view = view
        self.data = view.base.select([c.key for c in view.cols])
        self._height = view.height
        self._formatters = [fmt.KINDS[c.kind] for c in view.cols]
        self._column_content_widths = list(view.widths)
        self._render_markup = False
        self._recent: dict[int, tuple[Any, ...]] = {}

    @classmethod
    def from_pydict(cls, data: Any, max_rows: int | None = None, column_names: Any = None) -> FrameBackend:
        raise NotImplementedError("FrameBackend is built from a View")

    @property
    def source_data(self) -> pl.DataFrame:
        return self.view.source

    @property
    def source_row_count(self) -> int:
        return self.view.total

    @property
    def row_count(self) -> int:
        return self._height

    @property
    def column_count(self) -> int:
        return self.data.width

    @property
    def columns(self) -> Sequence[str]:
        return [c.label for c in self.view.cols]

    @property
    def column_content_widths(self) -> Sequence[int]:
        return self._column_content_widths

    def values(self, index: int) -> tuple[Any, ...]:
        """The raw values of shown row ``index`` (the rows being painted are kept for a moment)."""
        if index < 0 or index >= self._height:
            raise IndexError(index)
        got = self._recent.get(index)
        if got is None:
            if len(self._recent) >= 512:
                self._recent.clear()
            got = self._recent[index] = self.data.row(self.view.position(index))
        return got

    def _cell(self, value: Any, i: int) -> Text:
        formatter, right = self._formatters[i]
        return Text(formatter(value), justify="right" if right else "left", no_wrap=True, overflow="ellipsis")

    def get_row_at(self, index: int) -> Sequence[Any]:
        return [self._cell(v, i) for i, v in enumerate(self.values(index))]

    def get_column_at(self, column_index: int) -> Sequence[Any]:
        key = self.view.cols[column_index].key
        return [self._cell(v, column_index) for v in self.view.shown([key]).get_column(key).to_list()]

    def cell_text(self, row_index: int, column_index: int) -> tuple[str, bool]:
        """The cell as painted: its text and whether it is right-aligned."""
        formatter, right = self._formatters[column_index]
        return formatter(self.values(row_index)[column_index]), right

    def get_cell_at(self, row_index: int, column_index: int) -> Any:
        if column_index < 0 or column_index >= self.data.width:
            raise IndexError((row_index, column_index))
        return self._cell(self.values(row_index)[column_index], column_index)

    def append_column(self, label: str, default: Any | None = None) -> int:
        raise NotImplementedError("read-only")

    def append_rows(self, records: Any) -> list[int]:
        raise NotImplementedError("read-only")

    def drop_row(self, row_index: int) -> None:
        raise NotImplementedError("read-only")

    def update_cell(self, row_index: int, column_index: int, value: Any) -> None:
        raise NotImplementedError("read-only")

    def sort(self, by: list[tuple[str, Literal["ascending", "descending"]]] | str) -> None:
        raise NotImplementedError("sorted by the grid's tasks")


def _label(c: Col, sort: tuple[str, bool] | None) -> str:
    if sort and sort[0] == c.key:
        return f"{c.label} {'▼' if sort[1] else '▲'}"
    return c.label


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "table"


class Grid(DataTable):
    """A table over a polars frame (see module docs). ``enter`` posts :class:`Grid.Opened`."""

    BINDINGS = actions.bindings("table")
    DEFAULT_CSS = """
    Grid { height: auto; max-height: 100%; }
    """

    class Opened(Message):
        """Enter on a row: ``row`` holds the raw values of the whole source row, ``column`` the key."""

        def __init__(self, grid: Grid, row: dict[str, Any], column: str) -> None:
            super().__init__()
            self.grid, self.row, self.column = grid, row, column

        @property
        def control(self) -> Grid:
            return self.grid

    class Changed(Message):
        """The view changed (new data, sort or filter)."""

        def __init__(self, grid: Grid) -> None:
            super().__init__()
            self.grid = grid

        @property
        def control(self) -> Grid:
            return self.grid

    def __init__(self, cols: Sequence[Col], *, export_name: str = "table", id: str | None = None,
                 classes: str | None = None, sortable: bool = True, fixed_columns: int = 0,
                 view: View | None = None) -> None:
        self.cols = tuple(cols)
        self.export_name = export_name
        self.sortable = sortable
        if view is None:  # empty until ``show``
            view = prepare(pl.DataFrame({c.key: [] for c in cols}), cols)
        else:
            self.cols = view.cols
        self.view: View | None = view
        super().__init__(backend=FrameBackend(view), column_labels=[Text(_label(c, view.sort)) for c in self.cols],
                         id=id, classes=classes,
                         render_markup=False, max_column_content_width=MAX_WIDTH, null_rep="", cursor_type="cell",
                         zebra_stripes=True, fixed_columns=fixed_columns)

    # --- painting -----------------------------------------------------------------------------

    def _render_cell(self, row_index: int, column_index: int, base_style: Style, width: int, cursor: bool = False,
                     hover: bool = False, in_range: bool = False) -> list[list[Segment]]:
        """A data cell is one line of plain text: pad or cut it to the column and style it directly,
        instead of a round trip through Rich's renderer (the header keeps the general path)."""
        if row_index < 0 or column_index < 0 or not isinstance(self.backend, FrameBackend):
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover, in_range)
        key = (row_index, column_index, base_style, cursor, hover, in_range, self._show_hover_cursor,
               self._update_count, self._pseudo_class_state)
        cached = self._cell_render_cache.get(key)
        if cached is not None:
            return cached
        is_fixed = row_index < self.fixed_rows or column_index < self.fixed_columns
        component_style, post_style = self._get_styles_to_render_cell(
            False, False, is_fixed, hover, cursor, in_range, self.show_cursor, self._show_hover_cursor,
            self.cursor_type == "range", self.cursor_foreground_priority == "css",
            self.cursor_background_priority == "css",
        )
        try:
            text, right = self.backend.cell_text(row_index, column_index)
        except IndexError:
            text, right = "", False
        inner = max(width - 2, 0)
        if cell_len(text) > inner:
            text = set_cell_size(text, max(inner - 1, 0)) + "…" if inner > 0 else ""
        pad = " " * (inner - cell_len(text))
        body = f" {pad}{text} " if right else f" {text}{pad} "
        style = base_style + Style.from_meta({"row": row_index, "column": column_index}) + component_style + post_style
        lines = [[Segment(body, style)]]
        self._cell_render_cache[key] = lines
        return lines

    # --- data ---------------------------------------------------------------------------------

    @property
    def rows(self) -> pl.DataFrame:
        assert self.view is not None
        return self.view.rows

    def show(self, view: View, *, keep_cursor: bool = False) -> None:
        """Replace what the grid shows (UI thread; ``view`` was prepared in a worker)."""
        cursor = self.cursor_coordinate
        self.view = view
        self.cols = view.cols
        self.backend = FrameBackend(view)
        self._column_labels = [Text(_label(c, view.sort)) for c in view.cols]
        self._ordered_columns = None
        self._update_count += 1
        self._require_update_dimensions = True
        self._row_render_cache.clear()
        self._cell_render_cache.clear()
        self._line_cache.clear()
        self._tooltip_cache.clear()
        if view.height:
            row = min(cursor.row, view.height - 1) if keep_cursor else 0
            col = min(cursor.column, max(len(view.cols) - 1, 0))
            self.cursor_coordinate = Coordinate(row, col)
        else:
            self.cursor_coordinate = Coordinate(0, 0)
        self.refresh(layout=True)
        if not keep_cursor:
            self.scroll_to(y=0, animate=False)
        self.post_message(self.Changed(self))

    def show_frame(self, frame: pl.DataFrame) -> None:
        """Show a small frame straight away (UI thread): for tables of a few hundred rows at most."""
        self.show(prepare(frame, self.cols))

    def current_key(self) -> str | None:
        if not self.view or not self.view.cols:
            return None
        return self.view.cols[min(self.cursor_column, len(self.view.cols) - 1)].key

    def current_row(self) -> dict[str, Any] | None:
        if not self.view or self.view.height == 0:
            return None
        return self.view.row(min(self.cursor_row, self.view.height - 1))

    # --- actions --------------------------------------------------------------------------------

    def action_open_row(self) -> None:
        row = self.current_row()
        key = self.current_key()
        if row is not None and key is not None:
            self.post_message(self.Opened(self, row, key))

    def _restart(self, label: str, sort: tuple[str, bool] | None, text: str) -> None:
        view = self.view
        assert view is not None

        def work(progress, cancelled):  # noqa: ANN001 - task signature
            progress(None, label)
            return prepare(view.base, view.cols, sort=sort, filter=text, widths=view.widths, members=view.members)

        self.screen.start_task(f"view-{self.id}", label, work, lambda v: self.show(v, keep_cursor=False))  # type: ignore[attr-defined]

    def action_sort_column(self) -> None:
        if not self.sortable or self.view is None:
            self.notify("This table keeps its own order.", severity="warning")
            return
        key = self.current_key()
        if key is None:
            return
        col = next(c for c in self.view.cols if c.key == key)
        if self.view.sort and self.view.sort[0] == key:
            sort = (key, not self.view.sort[1])
        else:
            sort = (key, col.kind != "text")  # numbers largest first, text A to Z
        n = self.view.height
        self._restart(f"sorting {n:,} rows by {col.label}", sort, self.view.filter)

    def action_filter(self) -> None:
        from segtui.tui.screens.prompt import Prompt

        assert self.view is not None
        examples = "text, or column<op>value: margin<0  segment=\"At Risk\"  name~acme"

        def done(text: str | None) -> None:
            if text is None or self.view is None:
                return
            from segtui.tui.query import FilterError, filter_expr

            try:
                filter_expr(text, list(self.view.cols), self.view.base.schema)
            except FilterError as e:
                self.notify(str(e), title="Filter", severity="error", timeout=8)
                return
            label = f"filtering {self.view.total:,} rows" if text.strip() else "clearing the filter"
            self._restart(label, self.view.sort, text.strip())

        self.app.push_screen(Prompt("Filter rows", self.view.filter, examples), done)

    def action_copy_cell(self) -> None:
        row = self.current_row()
        key = self.current_key()
        if row is None or key is None or self.view is None:
            return
        col = next(c for c in self.view.cols if c.key == key)
        text = fmt.plain(row[key], col.kind)
        self.app.copy_to_clipboard(text)
        self.notify(f"Copied {col.label}: {text}" if text else f"Copied an empty {col.label}", timeout=3)

    def export_frame(self) -> tuple[pl.DataFrame, list[str]]:
        """The rows as shown, with raw values (money as minor units) and the money columns' keys."""
        assert self.view is not None
        cols = self.view.cols
        frame = self.view.shown([c.key for c in cols])
        frame = frame.with_columns(
            [pl.col(c.key).cast(pl.String) for c in cols if isinstance(frame.schema[c.key], (pl.Categorical, pl.Enum))]
        )
        money = [c.key for c in cols if c.kind in ("money", "signed_money")]
        return frame, money

    def action_export(self) -> None:
        from segtui.tui.screens.prompt import Prompt

        default = str(Path.cwd() / f"segtui-{slug(self.export_name)}-{dt.date.today():%Y%m%d}.csv")

        def done(path: str | None) -> None:
            if path:
                self.export_to(Path(path).expanduser())

        self.app.push_screen(Prompt("Export table to (.csv, .parquet, .json, .ndjson)", default, "the format follows the file name's extension"), done)

    def export_to(self, path: Path) -> None:
        from segtui.output import format_from_path, render, write_file

        try:
            fmt_name = format_from_path(path)
        except ValueError as e:
            self.notify(str(e), title="Export", severity="error", timeout=8)
            return
        if fmt_name == "table":
            fmt_name = "csv"
        frame, money = self.export_frame()

        def work(progress, cancelled):  # noqa: ANN001 - task signature
            progress(None, f"writing {frame.height:,} rows to {path.name}")
            data = render(frame, fmt_name, money=money)
            path.parent.mkdir(parents=True, exist_ok=True)
            write_file(path, data)
            return frame.height

        self.screen.start_task(  # type: ignore[attr-defined]
            f"export-{self.id}", f"exporting to {path.name}", work,
            lambda n: self.notify(f"Wrote {n:,} rows to {path}", title="Export", timeout=6),
        )
