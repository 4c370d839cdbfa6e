"""Overview: key figures of a snapshot, its segment table, the revenue-share chart, the Pareto share."""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Label, Static

from segtui.tui import actions, fmt
from segtui.tui.data import GROUP_ORDER, GROUPINGS, Snapshot, Store, figures, with_change
from segtui.tui.grid import Grid, prepare
from segtui.tui.query import Col
from segtui.tui.screens.base import BaseScreen
from segtui.tui.widgets import Figures, ShareBars, TablePanel


def rollup_cols(title: str) -> list[Col]:
    return [
        Col("group", title), Col("accounts", "accounts", "int"), Col("account_share", "share", "pct"),
        Col("revenue", "revenue", "money"), Col("revenue_share", "rev share", "pct"), Col("margin", "margin", "money"),
        Col("mean_r", "R", "mean"), Col("mean_f", "F", "mean"), Col("mean_m", "M", "mean"),
        Col("change", "Δ accts", "signed"),
    ]


def overview_data(store: Store, snapshots: list[Snapshot], snap: Snapshot, by: str, cancelled: Any) -> dict[str, Any]:
    """Everything the overview shows (runs in a worker)."""
    rollup = store.rollup(snap, by, cancelled)
    prev = Store.previous(snapshots, snap)
    prev_rollup = store.rollup(prev, by, cancelled) if prev is not None else None
    return {
        "snap": snap,
        "prev": prev,
        "by": by,
        "rollup": with_change(rollup, prev_rollup),
        "pareto": store.pareto_share(snap, cancelled),
    }


class OverviewScreen(BaseScreen):
    SCOPE = "overview"
    TITLE_TEXT = "Overview"
    HELP = (
        "The snapshot's key figures (from its accounts; they reconcile with the table), the accounts grouped by "
        "segment — or by primary segment, quadrant, churn-risk band, stage, health, tier or size (v) — with each "
        "group's accounts and revenue and their shares, margin, mean R/F/M scores and the change in accounts since "
        "the previous snapshot of the same series, and the revenue share of each group as bars. The Pareto figure is "
        "the share of net revenue earned by the top 20 % of accounts. Enter on a group lists its accounts."
    )
    BINDINGS = actions.bindings("overview")

    DEFAULT_CSS = """
    OverviewScreen #overview-body { height: 1fr; }
    OverviewScreen #figures { margin: 1 0 0 0; }
    OverviewScreen #segments { margin: 1 0 0 0; }
    OverviewScreen #bars-title { margin: 1 0 0 0; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.by = "rfm11"
        self.data: dict[str, Any] | None = None

    def compose(self) -> ComposeResult:
        yield from self.compose_frame()
        with VerticalScroll(id="overview-body"):
            yield Static("", id="empty", classes="empty")
            yield Figures(id="figures")
            grid = Grid(rollup_cols("segment"), export_name="segments", id="segments-grid", sortable=True)
            yield TablePanel("Segments", grid, noun="groups", id="segments")
            yield Label("Revenue share", id="bars-title", classes="section-title")
            yield ShareBars(id="bars")

    def on_mount(self) -> None:
        self.set_title("Overview")
        self.query_one("#empty").display = False
        self.load()

    # --- loading ----------------------------------------------------------------------------------

    def load(self) -> None:
        store = self.sapp.store
        app = self.sapp
        by = self.by
        current = app.snapshot

        def work(progress, cancelled):  # noqa: ANN001 - task signature
            progress(None, "reading the snapshot's figures")
            snapshots = store.snapshots()
            snap = current if current is not None else (snapshots[-1] if snapshots else None)
            if snap is None:
                return {"snapshots": [], "counts": store.store_counts()}
            out = overview_data(store, snapshots, snap, by, cancelled)
            out["snapshots"] = snapshots
            cols = rollup_cols(GROUPINGS[by][1])
            out["view"] = prepare(out["rollup"], cols)
            return out

        self.start_task("overview", f"reading the overview ({GROUPINGS[by][1]})", work, self.show_data)

    def show_data(self, data: dict[str, Any]) -> None:
        app = self.sapp
        if not data["snapshots"]:
            app.set_snapshots([], None)
            counts = data["counts"]
            empty = self.query_one("#empty", Static)
            empty.update(
                "No snapshot in this store yet.\n\n"
                f"It holds {counts['accounts']:,} accounts and {counts['line_items']:,} line items. "
                "Press r to score it now, or run `segtui score` (a monthly series: `segtui score --every month`)."
            )
            empty.display = True
            for w in ("#figures", "#segments", "#bars-title", "#bars"):
                self.query_one(w).display = False
            self.set_title("Overview")
            return
        self.query_one("#empty").display = False
        for w in ("#figures", "#segments", "#bars-title", "#bars"):
            self.query_one(w).display = True
        app.set_snapshots(data["snapshots"], data["snap"])
        self.data = data
        self.set_title("Overview")
        self._show_figures(data)
        grid = self.query_one("#segments-grid", Grid)
        grid.show(data["view"])
        if self.focused is None or not isinstance(self.focused, Grid):
            grid.focus()
        panel = self.query_one("#segments", TablePanel)
        prev = data["prev"]
        panel.set_title(f"Accounts by {GROUPINGS[data['by']][1]}  [dim](v: group by another dimension)[/]")
        panel.set_extra(f"Δ since {prev.as_of}" if prev else "no earlier snapshot: Δ empty")
        rollup = data["rollup"]
        items = [
            (row["group"], row["revenue_share"], fmt.money(row["revenue"]))
            for row in rollup.sort("revenue", descending=True).iter_rows(named=True)
        ]
        self.query_one(ShareBars).set_items(items)
        self.start_preload()

    def _show_figures(self, data: dict[str, Any]) -> None:
        f = figures(data["rollup"])
        snap: Snapshot = data["snap"]
        margin_pct = f["margin"] / f["revenue"] if f["revenue"] > 0 else None
        risk_share = f["risk_revenue"] / f["revenue"] if f["revenue"] > 0 else None
        pareto = data["pareto"]
        items = [
            ("Accounts", fmt.integer(f["accounts"])),
            ("Net revenue", fmt.money(f["revenue"])),
            ("Margin", f"{fmt.money(f['margin'])}  ({fmt.pct(margin_pct) or 'n/a'})"),
            ("Unprofitable", f"{fmt.integer(f['losing'])} accounts, loss {fmt.money(-f['loss'])}"),
            ("At high churn risk", f"{fmt.money(f['risk_revenue'])} revenue  ({fmt.pct(risk_share) or 'n/a'})"),
            ("Top 20 % of accounts", f"{fmt.pct(pareto) or 'n/a'} of revenue"),
            ("As of", f"{snap.as_of}  (#{snap.id}, {snap.mode})"),
            ("Cost to serve", fmt.money(f["cost"])),
            ("Snapshots", f"{len(data['snapshots'])} (d: pick)"),
        ]
        self.query_one(Figures).set_items(items)

    def start_preload(self) -> None:
        """Read the whole snapshot in the background, so opening a segment is immediate."""
        snap = self.sapp.snapshot
        store = self.sapp.store
        if snap is None or store.cached_frame(snap) is not None:
            return

        def work(progress, cancelled):  # noqa: ANN001 - task signature
            store.frame(snap, progress, cancelled)
            return snap

        self.start_task("preload", f"reading the accounts of {snap.as_of}", work, None, background=True)

    # --- actions ------------------------------------------------------------------------------------

    def action_next_grouping(self) -> None:
        i = GROUP_ORDER.index(self.by)
        self.by = GROUP_ORDER[(i + 1) % len(GROUP_ORDER)]
        self.load()

    def snapshot_changed(self) -> None:
        self.load()

    @on(Grid.Opened, "#segments-grid")
    def _open_group(self, event: Grid.Opened) -> None:
        from segtui.tui.screens.accounts import AccountsScreen

        if self.data is None:
            return
        self.app.push_screen(AccountsScreen.for_group(self.data["by"], event.row["group"]))
