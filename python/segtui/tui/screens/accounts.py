"""Segment → accounts: every account of a group (segment, quadrant, band, stage...) or of a migration cell."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

import polars as pl
from textual import on
from textual.app import ComposeResult

from segtui.tui.data import GROUPINGS, Snapshot, Store, group_positions
from segtui.tui.grid import Grid, View, measure, prepare
from segtui.tui.query import Col
from segtui.tui.screens.base import BaseScreen
from segtui.tui.widgets import TablePanel

ACCOUNT_COLS: tuple[Col, ...] = (
    Col("account_key", "account"), Col("name", "name"), Col("rfm_segment", "segment"),
    Col("revenue", "revenue", "money"), Col("cost", "cost", "money"), Col("margin", "margin", "money"),
    Col("margin_pct", "margin %", "pct"), Col("r_score", "R", "plain_int"), Col("f_score", "F", "plain_int"),
    Col("m_score", "M", "plain_int"), Col("recency_days", "recency", "int"), Col("frequency", "frequency", "int"),
    Col("monetary", "monetary", "money"), Col("churn_risk", "risk", "int"), Col("churn_band", "risk band"),
    Col("health", "health", "int"), Col("health_band", "health band"), Col("lifecycle", "stage"),
    Col("quadrant", "quadrant"), Col("tier", "tier"), Col("size_band", "size"), Col("industry", "industry"),
    Col("region", "region"), Col("plan", "plan"), Col("primary_segment", "primary"),
)

def account_widths(store: Store, snap: Snapshot) -> tuple[int, ...]:
    """Column widths of the account lists, measured once over the whole snapshot (so every segment's
    list lines up the same, and opening one measures nothing)."""
    return store.memo(("widths", *Store.key(snap)), lambda: measure(store.frame(snap), ACCOUNT_COLS))


Loader = Callable[[Store, Snapshot, Callable[..., None], Callable[[], bool]], "pl.DataFrame | Positions"]


class Positions(NamedTuple):
    """What a loader may return instead of a frame: rows of ``base`` by position (see ``grid.View``)."""

    base: pl.DataFrame
    members: np.ndarray
    index: np.ndarray  # the members in the list's opening order


class AccountsScreen(BaseScreen):
    HIDE_UNTIL_LOADED = True
    SCOPE = "accounts"
    TITLE_TEXT = "Accounts"
    HELP = (
        "Every account of the group you opened, one row each, from the snapshot's stored scores: RFM values and "
        "scores, revenue, cost to serve (direct + allocated), margin, quadrant, churn risk, health, stage and "
        "firmographics. Sort by any column (s on it; again to reverse), filter with / (for example margin<0, "
        "risk>=60, name~acme, segment=\"At Risk\"), export what is shown with e. Enter opens the account."
    )

    DEFAULT_CSS = """
    AccountsScreen #accounts { height: 1fr; }
    AccountsScreen #accounts > Grid { height: 1fr; }
    """

    REUSE = ("snapshot_widths", "list_title", "short", "loader", "export_name", "extra_cols", "sort", "fixed_snapshot",
             "in_memory")

    def __init__(self, title: str, loader: Loader, *, export_name: str, extra_cols: Sequence[Col] = (),
                 sort: tuple[str, bool] | None = ("revenue", True), snapshot: Snapshot | None = None,
                 short: str | None = None, snapshot_widths: bool = False) -> None:
        super().__init__()
        self.snapshot_widths = snapshot_widths
        self.list_title = title
        self.short = short or title
        self.loader = loader
        self.export_name = export_name
        self.extra_cols = tuple(extra_cols)
        self.sort = sort
        self.fixed_snapshot = snapshot
        #: ``in_memory(store, snap)``: the loader only picks rows of frames already in memory (a few
        #: milliseconds): the list is then built at once, without a worker and a second paint
        self.in_memory: Callable[[Store, Snapshot], bool] | None = None

    @classmethod
    def for_group(cls, by: str, value: str) -> AccountsScreen:
        column, title = GROUPINGS[by]

        def loader(store: Store, snap: Snapshot, progress: Any, cancelled: Any) -> Positions:
            frame = store.frame(snap, progress, cancelled)
            members, by_revenue = store.memo(("group", *Store.key(snap), by, value),
                                             lambda: group_positions(store, snap, frame, by, value))
            return Positions(frame, members, by_revenue)

        def in_memory(store: Store, snap: Snapshot) -> bool:
            key = Store.key(snap)
            return (store.cached_frame(snap) is not None and store.has_memo(("revenue-order", *key))
                    and store.has_memo(("widths", *key)))

        screen = cls(f"{value} ({title})", loader, export_name=f"{value}", short=value, snapshot_widths=True)
        screen.in_memory = in_memory
        return screen

    @classmethod
    def blank(cls) -> AccountsScreen:
        """A list with nothing in it yet (composed ahead of time, see ``SegtuiApp.prewarm``)."""
        return cls("", None, export_name="accounts")  # type: ignore[arg-type]

    @property
    def snap(self) -> Snapshot | None:
        return self.fixed_snapshot or self.sapp.snapshot

    def compose(self) -> ComposeResult:
        yield from self.compose_frame()
        cols = list(self.extra_cols) + list(ACCOUNT_COLS)
        grid = Grid(cols, export_name=self.export_name, id="accounts-grid", fixed_columns=1)
        yield TablePanel(self.list_title, grid, noun="accounts", id="accounts", classes="body")

    def on_mount(self) -> None:
        self.load()

    def load(self) -> None:
        if self.loader is None:  # composed ahead of time: nothing to show yet
            return
        snap = self.snap
        self.set_title(f"Accounts: {self.short}")
        if snap is None:
            return
        store = self.sapp.store
        cols = list(self.extra_cols) + list(ACCOUNT_COLS)
        loader, sort = self.loader, self.sort

        snapshot_widths = self.snapshot_widths

        def work(progress, cancelled):  # noqa: ANN001 - task signature
            got = loader(store, snap, progress, cancelled)
            widths = account_widths(store, snap) if snapshot_widths else None
            if isinstance(got, Positions):
                if sort == ("revenue", True):  # the opening order: already known
                    shown = tuple(c for c in cols if c.key in got.base.columns)
                    return View(got.base, shown, widths or measure(got.base[got.members], shown), sort, "",
                                got.members, got.index)
                return prepare(got.base, cols, sort=sort, widths=widths, members=got.members)
            progress(None, f"sorting {got.height:,} accounts")
            return prepare(got, cols, sort=sort, widths=widths)

        if self.in_memory is not None and self.in_memory(store, snap):
            self.drop_task("accounts")
            self._show(work(lambda *_: None, lambda: False))
            self.call_after_refresh(self.sapp.note_settled, self, "accounts")
            return
        self.start_task("accounts", f"reading the accounts of {self.list_title}", work, self._show)

    def _show(self, view: Any) -> None:
        self.loaded()
        grid = self.query_one("#accounts-grid", Grid)
        grid.export_name = self.export_name  # a reused screen: this list's name, not the last one's
        grid.show(view)
        self.set_focus(grid)  # at once (focus() waits a turn: a second paint)
        snap = self.snap
        self.query_one("#accounts", TablePanel).set_title(
            f"{self.list_title} as of {snap.as_of}" if snap else self.list_title
        )

    def snapshot_changed(self) -> None:
        if self.fixed_snapshot is None and self.loader is not None:
            self.load()

    @on(Grid.Opened, "#accounts-grid")
    def _open(self, event: Grid.Opened) -> None:
        from segtui.tui.screens.account import AccountScreen

        self.sapp.open_screen(AccountScreen(int(event.row["account"]), snapshot=self.snap))
