"""Display widgets shared by the screens: key figures, text bar charts, a table with a status line."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import Label, Static

from segtui.tui import fmt

if TYPE_CHECKING:  # the grid module loads polars and the table widget: imported with the first table
    from segtui.tui.grid import Grid


class Figures(Static):
    """Label/value pairs laid out in as many columns as fit."""

    DEFAULT_CSS = """
    Figures { height: auto; padding: 0 1; }
    """

    def __init__(self, *, columns: int = 3, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.items: list[tuple[str, str]] = []
        self.columns = columns

    def set_items(self, items: Sequence[tuple[str, str]]) -> None:
        self.items = list(items)
        self.refresh(layout=True)

    def render(self) -> Table:
        width = self.size.width or 120
        need = (max((len(k) for k, _ in self.items), default=1) + max((len(v) for _, v in self.items), default=1) + 3)
        cols = max(1, min(self.columns, width // need))
        table = Table.grid(padding=(0, 1), expand=True)
        for _ in range(cols):
            table.add_column(style="dim", no_wrap=True)
            table.add_column(style="bold", no_wrap=True, ratio=1)
        row: list[str | Text] = []
        for label, value in self.items:
            row += [label, value]
            if len(row) == cols * 2:
                table.add_row(*row)
                row = []
        if row:
            table.add_row(*row, *([""] * (cols * 2 - len(row))))
        return table


class ShareBars(Widget):
    """One line per item: label, a bar of its share, the share and the value, written out."""

    DEFAULT_CSS = """
    ShareBars { height: auto; padding: 0 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.items: list[tuple[str, float | None, str]] = []

    def set_items(self, items: Sequence[tuple[str, float | None, str]]) -> None:
        self.items = list(items)
        self.styles.height = max(1, len(self.items))
        self.refresh(layout=True)

    def render(self) -> Text:
        if not self.items:
            return Text("")
        width = self.size.width or 80
        label_w = min(max(len(i[0]) for i in self.items), 22)
        value_w = max(len(i[2]) for i in self.items)
        bar_w = max(4, width - label_w - value_w - 12)
        out = Text(no_wrap=True, overflow="ellipsis")
        for n, (label, share, value) in enumerate(self.items):
            if n:
                out.append("\n")
            out.append(f"{label[:label_w]:<{label_w}} ")
            b = fmt.bar(share, bar_w)
            out.append(f"{b:<{bar_w}}", style="bold")
            out.append(f" {fmt.pct(share):>8} ")
            out.append(f"{value:>{value_w}}", style="dim")
        return out


class TablePanel(Vertical):
    """A titled grid with a status line (rows shown / total, sort, filter, the cell under the cursor)."""

    DEFAULT_CSS = """
    TablePanel { height: auto; }
    TablePanel > .panel-title { width: 1fr; height: 1; padding: 0 1; text-style: bold; color: $text-accent; }
    TablePanel > .panel-status { width: 1fr; height: 1; padding: 0 1; color: $text-muted; }
    TablePanel > Grid { height: auto; }
    """

    def __init__(self, title: str, grid: Grid, *, noun: str = "rows", noun_one: str | None = None,
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.title_text = title
        self.grid = grid
        self.noun = noun
        #: the noun for a count of one: ``noun`` without its final "s" unless given
        self.noun_one = noun_one if noun_one is not None else (noun[:-1] if noun.endswith("s") else noun)
        self.extra = ""

    def compose(self) -> ComposeResult:
        yield Label(self.title_text, classes="panel-title")
        yield self.grid
        yield Label(self.status_text(), classes="panel-status")

    def set_title(self, text: str) -> None:
        self.title_text = text
        if self.is_mounted:
            self.query_one(".panel-title", Label).update(text)

    def set_extra(self, text: str) -> None:
        self.extra = text
        self._status()

    def on_grid_changed(self, event: Grid.Changed) -> None:
        self._status()

    def status_text(self) -> str:
        view = self.grid.view
        if view is None:
            return ""
        shown, total = view.height, view.total
        noun = self.noun_one if (shown if shown == total else total) == 1 else self.noun
        parts = [f"{shown:,} {noun}" if shown == total else f"{shown:,} of {total:,} {noun}"]
        if view.sort:
            label = next((c.label for c in view.cols if c.key == view.sort[0]), view.sort[0])
            parts.append(f"sorted by {label} {'▼ descending' if view.sort[1] else '▲ ascending'}")
        if view.filter:
            parts.append(f"filter: {view.filter}")
        if self.extra:
            parts.append(self.extra)
        return " · ".join(parts)

    def _status(self) -> None:
        for label in self.query(".panel-status").results(Label):
            label.update(self.status_text())


class MonthChart(Widget):
    """Net revenue (bars, ``█``) and direct cost (a line: ``x`` on each month, ``·`` between) by month,
    as text: a legend, a money scale on the left, the month under every few bars. Money in minor
    units; positions are rounded to whole lines, the figures themselves are in the tables."""

    DEFAULT_CSS = """
    MonthChart { height: 14; padding: 0 1; }
    """
    LEGEND = ("█ net revenue (bars)", "x direct cost (line, x)")

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.months: list[str] = []
        self.revenue: list[int] = []
        self.cost: list[int] = []

    def set_data(self, months: Sequence[str], revenue: Sequence[int], cost: Sequence[int]) -> None:
        self.months, self.revenue, self.cost = list(months), [int(v) for v in revenue], [int(v) for v in cost]
        self.refresh()

    def render(self) -> Text:
        width = max((self.size.width or 80) - 2, 20)
        height = max(self.size.height or 14, 6)
        out = Text(no_wrap=True, overflow="crop")
        out.append(self.LEGEND[0], style="bold")
        out.append("   ")
        out.append(self.LEGEND[1], style="italic")
        n = len(self.months)
        if n == 0:
            out.append("\n(no months to show)", style="dim")
            return out
        rows = height - 3  # legend, axis, month labels
        values = self.revenue + self.cost
        low, top = min(0, *values), max(0, *values)
        if top == low:
            top = low + 100
        ticks = sorted({0, rows - 1, rows // 2})
        labels = {r: fmt.money_short(round(top - (top - low) * r / (rows - 1))) for r in ticks}
        zero = round((top - 0) / (top - low) * (rows - 1))
        labels[zero] = fmt.money_short(0)
        yw = max(len(t) for t in labels.values())
        plot_w = max(width - yw - 1, n)
        slot = max(plot_w // n, 1)
        bar_w = slot - 1 if slot > 2 else slot

        def row_of(v: float) -> int:
            return round((top - v) / (top - low) * (rows - 1))

        grid = [[" "] * (slot * n) for _ in range(rows)]
        kinds = [[""] * (slot * n) for _ in range(rows)]
        for i, v in enumerate(self.revenue):
            if v == 0:
                continue  # no bar at all, not a one-line one
            r, z = row_of(v), zero
            for row in range(min(r, z), max(r, z) + 1):
                for c in range(i * slot, i * slot + bar_w):
                    grid[row][c], kinds[row][c] = "█", "bar"
        centres = [i * slot + bar_w // 2 for i in range(n)]
        for i in range(n - 1):  # the line between two months' points
            a, b, ca, cb = self.cost[i], self.cost[i + 1], centres[i], centres[i + 1]
            for c in range(ca + 1, cb):
                row = row_of(a + (b - a) * (c - ca) / (cb - ca))
                if kinds[row][c] != "bar":
                    grid[row][c], kinds[row][c] = "·", "line"
        for i, v in enumerate(self.cost):
            grid[row_of(v)][centres[i]], kinds[row_of(v)][centres[i]] = "x", "point"
        styles = {"bar": "bold", "line": "italic", "point": "bold italic", "": ""}
        for row in range(rows):
            out.append("\n")
            out.append(f"{labels.get(row, ''):>{yw}}", style="dim")
            out.append("┤" if row in labels else "│", style="dim")
            for c, ch in enumerate(grid[row]):
                out.append(ch, style=styles[kinds[row][c]] or None)
        out.append("\n" + " " * yw + "└" + "─" * (slot * n), style="dim")
        every = max(1, -(-8 // slot))  # a label is 7 characters and a space
        line = [" "] * (slot * n + 8)
        for i in range(0, n, every):  # under the left edge of its bar
            for k, ch in enumerate(self.months[i]):
                line[i * slot + k] = ch
        out.append("\n" + " " * (yw + 1) + "".join(line).rstrip(), style="dim")
        return out
