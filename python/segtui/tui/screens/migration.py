"""Migration: from-segment × to-segment between two snapshots; enter on a cell lists who moved."""

from __future__ import annotations

from typing import Any

import polars as pl
from textual import on
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static
from textual_fastdatatable import DataTable

from segtui.tui import actions, fmt
from segtui.tui.data import (GONE_LABEL, GROUPINGS, NEW_LABEL, Snapshot, Store, migration, migration_order, migration_pivot,
                             moved_accounts, velocity)
from segtui.tui.grid import Grid, prepare
from segtui.tui.query import Col
from segtui.tui.screens.base import BaseScreen
from segtui.tui.screens.prompt import Picker
from segtui.tui.widgets import TablePanel

MAPS = ("rfm11", "rfm5", "primary", "quadrant", "risk", "stage")
VALUES = {"accounts": "accounts", "revenue_a": "revenue in A", "revenue_b": "revenue in B"}
VELOCITY_COLS = (
    Col("segment", "segment"), Col("accounts_a", "in A", "int"), Col("accounts_b", "in B", "int"),
    Col("inflow", "inflow", "int"), Col("outflow", "outflow", "int"), Col("net", "net", "signed"),
    Col("revenue_a", "revenue A", "money"), Col("revenue_b", "revenue B", "money"),
    Col("revenue_change", "revenue change", "signed_money"),
)


def migration_of(store: Store, a: Snapshot, b: Snapshot, column: str, progress: Any = None,
                 cancelled: Any = None) -> pl.DataFrame:
    """The long migration table of A -> B (memoised: the overview prepares the default pair)."""
    def compute() -> pl.DataFrame:
        fa = store.labels(a, *(x for x in (progress, cancelled) if x is not None))
        fb = store.labels(b, *(x for x in (progress, cancelled) if x is not None))
        return migration(fa, fb, column)

    return store.memo(("migration", *Store.key(a), *Store.key(b), column), compute)


def migration_views(store: Store, db: Any, a: Snapshot, b: Snapshot, column: str, value: str, progress: Any = None,
                    cancelled: Any = None) -> tuple[pl.DataFrame, tuple[Any, Any], int]:
    """The long table, the matrix and velocity views and the configured hysteresis of A -> B (memoised:
    the overview's background read prepares the default pair)."""
    def compute() -> tuple[pl.DataFrame, tuple[Any, Any], int]:
        from segtui import history

        long = migration_of(store, a, b, column, progress, cancelled)
        try:
            k = history.hysteresis_k(db)
        except Exception:  # noqa: BLE001 - a malformed segtui.toml is reported by the commands that need it
            k = 0
        return long, MigrationScreen._views(long, column, value), k

    return store.memo(("migration-views", *Store.key(a), *Store.key(b), column, value), compute)


def matrix_cols(long: pl.DataFrame, column: str, value: str) -> list[Col]:
    _froms, tos = migration_order(long, column)
    kind = "int" if value == "accounts" else "money"
    return [Col("from", "from \\ to")] + [Col(t, t, kind) for t in tos] + [Col("total", "total", kind)]


class MigrationScreen(BaseScreen):
    HIDE_UNTIL_LOADED = True
    SCOPE = "migration"
    TITLE_TEXT = "Migration"
    HELP = (
        "Accounts moving between segments from snapshot A to snapshot B. Rows are the segment in A, columns the "
        "segment in B; (new) are accounts not yet in A (first seen after it), (gone) accounts of A missing from B. "
        "t switches the cells between accounts, revenue in A and revenue in B; v the dimension (rfm11, rfm5, primary "
        "segment, quadrant, risk band, stage); a and b pick the snapshots. Enter on a cell lists its accounts. Below, "
        "per segment: accounts in A and B, inflow, outflow and net change (segment velocity) with revenue."
    )
    BINDINGS = actions.bindings("migration")

    DEFAULT_CSS = """
    MigrationScreen #migration-body { height: 1fr; }
    MigrationScreen #pair { padding: 0 1; margin: 1 0 0 0; height: auto; }
    MigrationScreen #cell { padding: 0 1; height: 1; color: $text-accent; }
    MigrationScreen #velocity { margin: 1 0 0 0; }
    """

    def __init__(self, a: Snapshot | None = None, b: Snapshot | None = None) -> None:
        super().__init__()
        self.a, self.b = a, b
        self.map = "rfm11"
        self.value = "accounts"
        self.long: pl.DataFrame | None = None
        self.hysteresis = 0
        self.blank = False

    def compose(self) -> ComposeResult:
        yield from self.compose_frame()
        with VerticalScroll(id="migration-body", classes="body"):
            yield Static("", id="pair")
            yield Static("", id="empty", classes="empty")
            yield TablePanel("Matrix", Grid([Col("from", "from \\ to")], export_name="migration", id="matrix-grid",
                                            sortable=False, fixed_columns=1), noun="rows", id="matrix")
            yield Static("", id="cell")
            yield TablePanel("Segment velocity", Grid(VELOCITY_COLS, export_name="velocity", id="velocity-grid"),
                             noun="segments", id="velocity")

    REUSE = ("a", "b", "blank")

    @classmethod
    def make_blank(cls) -> MigrationScreen:
        """A screen with nothing to compare yet (composed ahead of time, see ``SegtuiApp.prewarm``)."""
        screen = cls()
        screen.blank = True
        return screen

    def on_mount(self) -> None:
        if not self.blank:
            self.reopen()

    def reopen(self) -> None:
        self.set_title("Migration")
        app = self.sapp
        self.map, self.value, self.long = "rfm11", "accounts", None
        if self.b is None:
            self.b = app.snapshot
        if self.a is None and self.b is not None:
            self.a = app.previous_snapshot(self.b)
        self.load()

    def _no_series(self) -> None:
        self.loaded()
        self.query_one("#empty", Static).update(
            "No series yet: migration needs two snapshots. Run `segtui score --every month` "
            "(or score again as of another date), then come back."
        )
        self.query_one("#empty").display = True
        self.query_one("#matrix").display = False
        self.query_one("#velocity").display = False
        self.query_one("#pair", Static).update("")

    def load(self) -> None:
        a, b = self.a, self.b
        if a is None or b is None:
            self._no_series()
            return
        self.query_one("#empty").display = False
        self.query_one("#matrix").display = True
        self.query_one("#velocity").display = True
        self._pair_text()
        store, column, value = self.sapp.store, GROUPINGS[self.map][0], self.value

        db = self.sapp.db_path

        def work(progress, cancelled):  # noqa: ANN001 - task signature
            return migration_views(store, db, a, b, column, value, progress, cancelled)

        self.start_task("migration", f"comparing {a.as_of} with {b.as_of}", work, self._show)

    @staticmethod
    def _views(long: pl.DataFrame, column: str, value: str) -> tuple[Any, Any]:
        pivot = migration_pivot(long, column, value)
        return prepare(pivot, matrix_cols(long, column, value)), prepare(velocity(long, column), VELOCITY_COLS)

    def _pair_text(self) -> None:
        a, b = self.a, self.b
        assert a is not None and b is not None
        self.query_one("#pair", Static).update(
            f"[b]A[/b] {a.as_of} (#{a.id}) → [b]B[/b] {b.as_of} (#{b.id}) · by {self.map} · "
            f"cells: [b]{VALUES[self.value]}[/b]"
            + (f"\n[dim]Stored (raw) segments; `segtui migration` applies the configured hysteresis "
               f"(k = {self.hysteresis}).[/]" if self.hysteresis >= 2 else "")
        )

    def _show(self, result: tuple[pl.DataFrame, tuple[Any, Any], int]) -> None:
        self.loaded()
        self.long, (matrix, vel), self.hysteresis = result
        self._pair_text()
        grid = self.query_one("#matrix-grid", Grid)
        grid.show(matrix)
        grid.focus()
        self.query_one("#velocity-grid", Grid).show(vel)
        self.query_one("#matrix", TablePanel).set_title(f"From A (rows) to B (columns): {VALUES[self.value]}")
        self._describe_cell()

    # --- the cell under the cursor ----------------------------------------------------------------

    def _cell(self) -> tuple[str, str] | None:
        grid = self.query_one("#matrix-grid", Grid)
        row, key = grid.current_row(), grid.current_key()
        if row is None or key in (None, "from", "total"):
            return None
        return row["from"], key  # type: ignore[return-value]

    def _describe_cell(self) -> None:
        cell = self._cell()
        out = self.query_one("#cell", Static)
        if cell is None or self.long is None:
            out.update("Move the cursor onto a cell to read it; enter lists its accounts." if self.long is not None else "")
            return
        src, dst = cell
        hit = self.long.filter((pl.col("from") == src) & (pl.col("to") == dst))
        n = int(hit["accounts"].sum() or 0)
        ra = int(hit["revenue_a"].sum() or 0)
        rb = int(hit["revenue_b"].sum() or 0)
        out.update(f"{src} → {dst}: {n:,} accounts · revenue in A {fmt.money(ra)} · in B {fmt.money(rb)}"
                   + ("   (enter lists them)" if n else ""))

    @on(DataTable.CellHighlighted, "#matrix-grid")
    def _highlighted(self, event: DataTable.CellHighlighted) -> None:
        self._describe_cell()

    @on(Grid.Opened, "#matrix-grid")
    def _open_cell(self, event: Grid.Opened) -> None:
        from segtui.tui.screens.accounts import AccountsScreen

        cell = self._cell()
        if cell is None or self.a is None or self.b is None:
            return
        src, dst = cell
        a, b, column = self.a, self.b, GROUPINGS[self.map][0]

        def loader(store: Store, snap: Snapshot, progress: Any, cancelled: Any) -> pl.DataFrame:
            if dst == GONE_LABEL:  # their rows are A's
                return moved_accounts(store.frame(a, progress, cancelled), store.labels(b, progress, cancelled),
                                      column, src, dst)
            return moved_accounts(store.labels(a, progress, cancelled), store.frame(b, progress, cancelled), column, src, dst)

        extra = [Col("from", f"in A ({a.as_of})")]
        title = f"{src} → {dst}" if src != NEW_LABEL else f"new in {dst}"
        self.sapp.open_screen(AccountsScreen(title, loader, export_name=f"moved-{src}-to-{dst}", extra_cols=extra,
                                            snapshot=b))

    # --- actions --------------------------------------------------------------------------------------

    def action_pick(self, which: str) -> None:
        snaps = list(reversed(self.sapp.snapshots))
        if not snaps:
            return
        current = self.a if which == "a" else self.b
        sel = next((i for i, s in enumerate(snaps) if current and s.id == current.id), 0)

        def picked(s: Snapshot | None) -> None:
            if s is None:
                return
            if which == "a":
                self.a = s
            else:
                self.b = s
            self.load()

        self.app.push_screen(Picker(f"Snapshot {which.upper()}", [(f"{s.as_of}  #{s.id}  {s.mode}  {s.accounts:,} accounts", s)
                                                                  for s in snaps], sel), picked)

    def action_next_map(self) -> None:
        self.map = MAPS[(MAPS.index(self.map) + 1) % len(MAPS)]
        self.load()

    def action_next_values(self) -> None:
        keys = list(VALUES)
        self.value = keys[(keys.index(self.value) + 1) % len(keys)]
        if self.long is None:
            self._pair_text()
            return
        long, column, value = self.long, GROUPINGS[self.map][0], self.value

        k = self.hysteresis

        def work(progress, cancelled):  # noqa: ANN001 - task signature
            return long, self._views(long, column, value), k

        self.start_task("migration", "switching the values", work, self._show)

    def snapshot_changed(self) -> None:
        """The matrix keeps its own A and B."""
