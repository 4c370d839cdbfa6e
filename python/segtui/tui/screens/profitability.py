"""Profitability: the four quadrants, the money-losing accounts by loss, cost by category and pool."""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import VerticalScroll

from segtui.tui import fmt
from segtui.tui.data import losing_accounts, profitability
from segtui.tui.grid import Grid, prepare
from segtui.tui.query import Col
from segtui.tui.screens.accounts import ACCOUNT_COLS
from segtui.tui.screens.base import BaseScreen
from segtui.tui.widgets import TablePanel

QUADRANT_COLS = (
    Col("group", "quadrant"), Col("accounts", "accounts", "int"), Col("revenue", "revenue", "money"),
    Col("cost", "cost to serve", "money"), Col("margin", "margin", "money"), Col("action", "recommended action"),
    Col("revenue_share", "rev share", "pct"), Col("losing", "losing", "int"),
)
COST_COLS = (
    Col("category", "category"), Col("direct", "direct", "money"), Col("pooled", "pooled", "money"),
    Col("driver", "driver"), Col("allocated", "allocated", "money"), Col("unallocated", "unallocated", "money"),
    Col("total", "total", "money"),
)
LOSER_COLS = (
    Col("account_key", "account"), Col("name", "name"), Col("margin", "loss (margin)", "money"),
    Col("revenue", "revenue", "money"), Col("direct_cost", "direct cost", "money"),
    Col("allocated_cost", "allocated", "money"), Col("margin_pct", "margin %", "pct"), Col("quadrant", "quadrant"),
    Col("rfm_segment", "segment"),
) + tuple(c for c in ACCOUNT_COLS if c.key in ("churn_band", "lifecycle", "industry", "size_band"))


class ProfitabilityScreen(BaseScreen):
    HIDE_UNTIL_LOADED = True
    SCOPE = "profitability"
    TITLE_TEXT = "Profitability"
    HELP = (
        "Accounts by profitability quadrant: revenue is high at or above the median net revenue of the accounts with "
        "revenue or cost, cost at or above their median cost to serve; each quadrant with its accounts, revenue, cost, "
        "margin and recommended action. Then every account that loses money, biggest loss first (enter opens it), and "
        "cost by category: direct costs, pooled costs with their allocation driver, what was allocated and what could "
        "not be (a pool whose driver is zero everywhere)."
    )

    DEFAULT_CSS = """
    ProfitabilityScreen #profit-body { height: 1fr; }
    ProfitabilityScreen #losers > Grid { max-height: 16; }
    ProfitabilityScreen TablePanel { margin: 1 0 0 0; }
    """

    def compose(self) -> ComposeResult:
        yield from self.compose_frame()
        with VerticalScroll(id="profit-body", classes="body"):
            yield TablePanel("Quadrants", Grid(QUADRANT_COLS, export_name="quadrants", id="quadrant-grid"),
                             noun="quadrants", id="quadrants")
            yield TablePanel("Money-losing accounts, biggest loss first",
                             Grid(LOSER_COLS, export_name="losing-accounts", id="losers-grid"), noun="accounts", id="losers")
            yield TablePanel("Cost by category and pool", Grid(COST_COLS, export_name="costs", id="cost-grid"),
                             noun="categories", id="costs")

    def on_mount(self) -> None:
        self.load()

    def load(self) -> None:
        snap = self.sapp.snapshot
        self.set_title("Profitability")
        if snap is None:
            return
        store = self.sapp.store

        def work(progress, cancelled):  # noqa: ANN001 - task signature
            frame = store.frame(snap, progress, cancelled)
            progress(None, "computing profitability")
            quads = profitability(frame)
            losers = losing_accounts(frame)
            costs = store.cost_table(snap, cancelled)
            return {
                "quads": prepare(quads, QUADRANT_COLS),
                "losers": prepare(losers, LOSER_COLS),
                "costs": prepare(costs, COST_COLS),
                "loss": int(losers["margin"].sum() or 0),
            }

        self.start_task("profitability", f"reading profitability of {snap.as_of}", work, self._show)

    def _show(self, data: dict[str, Any]) -> None:
        self.loaded()
        self.query_one("#quadrant-grid", Grid).show(data["quads"])
        losers = self.query_one("#losers-grid", Grid)
        losers.show(data["losers"])
        self.query_one("#cost-grid", Grid).show(data["costs"])
        self.query_one("#losers", TablePanel).set_extra(f"total loss {fmt.money(-data['loss'])}")
        self.query_one("#quadrant-grid", Grid).focus()

    def snapshot_changed(self) -> None:
        self.load()

    @on(Grid.Opened, "#losers-grid")
    def _open(self, event: Grid.Opened) -> None:
        from segtui.tui.screens.account import AccountScreen

        self.sapp.open_screen(AccountScreen(int(event.row["account"])))

    @on(Grid.Opened, "#quadrant-grid")
    def _open_quadrant(self, event: Grid.Opened) -> None:
        from segtui.tui.screens.accounts import AccountsScreen

        self.sapp.open_screen(AccountsScreen.for_group("quadrant", event.row["group"]))
