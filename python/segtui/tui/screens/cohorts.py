"""Cohorts: accounts by first-purchase month, logo or revenue retention by month since."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from segtui.tui import actions
from segtui.tui.data import cohort_matrix
from segtui.tui.grid import Grid, View, prepare
from segtui.tui.query import Col
from segtui.tui.screens.base import BaseScreen
from segtui.tui.widgets import TablePanel

BASES = {"logo": "share of the cohort's accounts buying in month k",
         "revenue": "net revenue in month k over the cohort's first month"}


def cohort_cols(columns: list[str]) -> list[Col]:
    out = [Col("cohort", "cohort"), Col("accounts", "accounts", "int")]
    out += [Col(c, f"+{c[1:]}", "pct0") for c in columns if c.startswith("m")]
    return out


class CohortsScreen(BaseScreen):
    HIDE_UNTIL_LOADED = True
    SCOPE = "cohorts"
    TITLE_TEXT = "Cohorts"
    HELP = (
        "Accounts grouped by the month of their first purchase (a distinct invoice with positive net amount, as in "
        "scoring), up to the snapshot's as-of date; computed by the core, as `segtui cohorts`. Logo retention: the "
        "share of a cohort's accounts with a purchase in the k-th month after its own (+0 is 100 % by definition). "
        "Revenue retention: the cohort's net revenue in month k over its net revenue in its first month (above 100 % "
        "is expansion; empty when the first month's revenue is not positive). The last cell of each row is the month "
        "in progress at the as-of date. t switches logo / revenue."
    )
    BINDINGS = actions.bindings("cohorts")

    DEFAULT_CSS = """
    CohortsScreen #cohort-body { height: 1fr; }
    CohortsScreen #basis { padding: 0 1; margin: 1 0 0 0; height: auto; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.basis = "logo"
        self.views: dict[str, View] = {}

    def compose(self) -> ComposeResult:
        yield from self.compose_frame()
        with VerticalScroll(id="cohort-body", classes="body"):
            yield Static("", id="basis")
            yield TablePanel("Retention", Grid([Col("cohort", "cohort")], export_name="cohorts", id="cohort-grid"),
                             noun="cohorts", id="cohorts")

    def on_mount(self) -> None:
        self.load()

    def load(self) -> None:
        snap = self.sapp.snapshot
        self.set_title("Cohorts")
        if snap is None:
            return
        store = self.sapp.store

        def work(progress, cancelled):  # noqa: ANN001 - task signature
            activity = store.cohorts(snap, progress, cancelled)
            progress(None, "computing retention")
            out = {}
            for basis in BASES:
                m = cohort_matrix(activity, basis)
                out[basis] = prepare(m, cohort_cols(m.columns))
            return out

        self.start_task("cohorts", f"reading line items up to {snap.as_of} by month", work, self._show)

    def _show(self, views: dict[str, Any]) -> None:
        self.loaded()
        self.views = views
        self._render_basis()

    def _render_basis(self) -> None:
        view = self.views.get(self.basis)
        self.query_one("#basis", Static).update(f"[b]{self.basis} retention[/b]: {BASES[self.basis]} [dim](t switches)[/]")
        if view is None:
            return
        grid = self.query_one("#cohort-grid", Grid)
        grid.show(view)
        grid.focus()
        self.query_one("#cohorts", TablePanel).set_title(f"Retention by first-purchase month ({self.basis})")

    def action_toggle_basis(self) -> None:
        self.basis = "revenue" if self.basis == "logo" else "logo"
        self._render_basis()

    def snapshot_changed(self) -> None:
        self.views = {}
        self.load()
