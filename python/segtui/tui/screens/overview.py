"""Overview: key figures of a snapshot, its segment table, the revenue-share chart, the Pareto share."""

from __future__ import annotations

from typing import Any

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Label, Static

from segtui.tui import actions, fmt
from segtui.tui.data import (GROUP_ORDER, GROUPINGS, NONE_LABEL, Snapshot, Store, descending_order, figures,
                             group_counts, group_positions, pareto_share, rollup_frame, with_change)
from segtui.tui.screens.base import BaseScreen
from segtui.tui.widgets import Figures, ShareBars, TablePanel

if TYPE_CHECKING:
    from segtui.tui.grid import Grid
    from segtui.tui.query import Col


def rollup_cols(title: str) -> list[Col]:
    from segtui.tui.query import Col

    return [
        Col("group", title), Col("accounts", "accounts", "int"), Col("account_share", "share", "pct"),
        Col("revenue", "revenue", "money"), Col("revenue_share", "rev share", "pct"), Col("margin", "margin", "money"),
        Col("mean_r", "R", "mean"), Col("mean_f", "F", "mean"), Col("mean_m", "M", "mean"),
        Col("change", "Δ accts", "signed"),
    ]


def overview_data(store: Store, snapshots: list[Snapshot], snap: Snapshot, by: str, progress: Any,
                  cancelled: Any) -> dict[str, Any]:
    """Everything the overview shows (runs in a worker): the snapshot's accounts grouped ``by``, and the
    change since the previous snapshot when that one is already in memory (else it follows)."""
    column = GROUPINGS[by][0]
    frame = store.group_frame(snap, column, progress, cancelled)
    rollup = rollup_frame(frame, by)
    prev = Store.previous(snapshots, snap)
    prev_frame = store.cached_group(prev, column) if prev is not None else None
    prev_counts = group_counts(prev_frame, by) if prev_frame is not None else None
    return {
        "snap": snap,
        "prev": prev,
        "by": by,
        "rollup": with_change(rollup, prev_counts),
        "change_pending": prev is not None and prev_frame is None,
        "pareto": pareto_share(frame),
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
    OverviewScreen #segments-slot { height: auto; }
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
            # the segment table is mounted with its first data: its module (polars, the table widget) is
            # imported by the worker that reads the groups, after the first paint
            yield Vertical(id="segments-slot")
            yield Label("Revenue share", id="bars-title", classes="section-title")
            yield ShareBars(id="bars")

    def on_mount(self) -> None:
        self.set_title("Overview")
        self.query_one("#empty").display = False
        self.load()

    # --- loading ----------------------------------------------------------------------------------

    def load(self) -> None:
        """Read the snapshot list (quick: the header figures paint at once), then the overview."""
        store = self.sapp.store
        current = self.sapp.snapshot

        def work(progress, cancelled):  # noqa: ANN001 - task signature
            snapshots = store.snapshots()
            snap = current if current is not None else (snapshots[-1] if snapshots else None)
            return snapshots, snap, (store.store_counts() if snap is None else None)

        self.start_task("snapshots", "reading the store", work, self._snapshots_read)

    def _snapshots_read(self, result: tuple[list[Snapshot], Snapshot | None, dict[str, int] | None]) -> None:
        snapshots, snap, counts = result
        app = self.sapp
        app.set_snapshots(snapshots, snap)
        if snap is None:
            self._show_empty(counts or {"accounts": 0, "line_items": 0})
            return
        self.set_title("Overview")
        self._show_figures({"snap": snap, "snapshots": snapshots, "rollup": None, "pareto": None})
        # after these figures are on screen: the read imports polars, which would hold up their paint
        self.call_after_refresh(self.load_groups)

    def load_groups(self) -> None:
        app = self.sapp
        store, snapshots, snap, by = app.store, app.snapshots, app.snapshot, self.by
        if snap is None:
            return

        def work(progress, cancelled):  # noqa: ANN001 - task signature
            from segtui.tui.grid import prepare

            out = overview_data(store, snapshots, snap, by, progress, cancelled)
            out["snapshots"] = snapshots
            out["view"] = prepare(out["rollup"], rollup_cols(GROUPINGS[by][1]))
            return out

        self.start_task("overview", f"reading the accounts of {snap.as_of}", work, self.show_data)

    def _show_empty(self, counts: dict[str, int]) -> None:
        empty = self.query_one("#empty", Static)
        empty.update(
            "No snapshot in this store yet.\n\n"
            f"It holds {counts['accounts']:,} accounts and {counts['line_items']:,} line items. "
            "Press r to score it now, or run `segtui score` (a monthly series: `segtui score --every month`)."
        )
        empty.display = True
        for w in ("#figures", "#segments-slot", "#bars-title", "#bars"):
            self.query_one(w).display = False
        self.set_title("Overview")

    def show_data(self, data: dict[str, Any]) -> None:
        from segtui.tui.grid import Grid

        self.query_one("#empty").display = False
        for w in ("#figures", "#segments-slot", "#bars-title", "#bars"):
            self.query_one(w).display = True
        self.data = data
        self.set_title("Overview")
        self._show_figures(data)
        panels = self.query("#segments").results(TablePanel)
        panel = next(panels, None)
        if panel is None:  # the first data: mount the table with it
            grid = Grid(data["view"].cols, export_name="segments", id="segments-grid", sortable=True, view=data["view"])
            panel = TablePanel("Segments", grid, noun="groups", id="segments")
            slot = self.query_one("#segments-slot")
            slot.remove_children()
            slot.mount(panel)
        else:
            grid = panel.grid
            grid.show(data["view"], keep_cursor=True)
        if self.focused is None or not isinstance(self.focused, Grid):
            grid.focus()
        prev = data["prev"]
        panel.set_title(f"Accounts by {GROUPINGS[data['by']][1]}  [dim](v: group by another dimension)[/]")
        if prev is None:
            panel.set_extra("no earlier snapshot: Δ empty")
        elif data["change_pending"]:
            panel.set_extra(f"Δ since {prev.as_of}: reading…")
        else:
            panel.set_extra(f"Δ since {prev.as_of}")
        rollup = data["rollup"]
        items = [
            (row["group"], row["revenue_share"], fmt.money(row["revenue"]))
            for row in rollup.sort("revenue", descending=True).iter_rows(named=True)
        ]
        self.query_one(ShareBars).set_items(items)
        if not self.start_preload():
            self.sapp.warm_up()

    def _show_figures(self, data: dict[str, Any]) -> None:
        snap: Snapshot = data["snap"]
        if data["rollup"] is None:  # only the snapshot's own row so far
            self.query_one(Figures).set_items([
                ("Accounts", fmt.integer(snap.accounts)), ("Net revenue", fmt.money(snap.net_revenue)),
                ("As of", f"{snap.as_of} (#{snap.id})"), ("Snapshots", f"{len(data['snapshots'])} (d picks)"),
            ])
            return
        f = figures(data["rollup"])
        margin_pct = f["margin"] / f["revenue"] if f["revenue"] > 0 else None
        risk_share = f["risk_revenue"] / f["revenue"] if f["revenue"] > 0 else None
        pareto = data["pareto"]
        items = [
            ("Accounts", fmt.integer(f["accounts"])),
            ("Net revenue", fmt.money(f["revenue"])),
            ("Margin", f"{fmt.money(f['margin'])} ({fmt.pct(margin_pct) or 'n/a'})"),
            ("Unprofitable", f"{fmt.integer(f['losing'])}, loss {fmt.money(-f['loss'])}"),
            ("High churn risk", f"{fmt.money(f['risk_revenue'])} ({fmt.pct(risk_share) or 'n/a'})"),
            ("Top 20 % earn", f"{fmt.pct(pareto) or 'n/a'} of revenue"),
            ("Cost to serve", fmt.money(f["cost"])),
            ("As of", f"{snap.as_of} (#{snap.id})"),
            ("Snapshots", f"{len(data['snapshots'])} (d picks)"),
        ]
        self.query_one(Figures).set_items(items)

    def start_preload(self) -> bool:
        """In the background: the whole current snapshot (for the account lists and profitability) and
        the previous one's segments (for the change column and the migration), then the app's warm-up.
        False when there is nothing to read."""
        app = self.sapp
        store = app.store
        snap, prev, by = app.snapshot, app.previous_snapshot(), self.by
        if snap is None:
            return False
        key = Store.key(snap)
        need_frame = (store.cached_frame(snap) is None or not store.has_memo(("revenue-order", *key))
                      or not store.has_memo(("widths", *key)))
        need_prev = prev is not None and store.cached_labels(prev) is None
        if not (need_frame or need_prev):
            return False

        def work(progress, cancelled):  # noqa: ANN001 - task signature
            import polars as pl

            from segtui.tui.screens.accounts import account_widths
            from segtui.tui.screens.migration import migration_views

            if need_frame:
                frame = store.frame(snap, progress, cancelled)
                account_widths(store, snap)
                store.memo(("revenue-order", *Store.key(snap)), lambda: descending_order(frame, "revenue"))
                # every group of the table shown: opening one then only picks its arrays up
                column = GROUPINGS[by][0]
                for value in frame.get_column(column).cast(pl.String).fill_null(NONE_LABEL).unique().to_list():
                    store.memo(("group", *Store.key(snap), by, value),
                               lambda value=value: group_positions(store, snap, frame, by, value))
            if need_prev:
                store.labels(prev, progress, cancelled)
            if prev is not None:  # what the migration screen opens on
                migration_views(store, app.db_path, prev, snap, "rfm_segment", "accounts", progress, cancelled)
            app.warm_up(now=True)
            return True

        def done(_ok: bool) -> None:
            if self.data is not None and (self.data.get("change_pending") or need_frame):
                self.load_groups()
            app.run_worker(app.prewarm(), group="prewarm", exit_on_error=False)

        self.start_task("preload", f"reading the accounts of {snap.as_of}", work, done, background=True)
        return True

    def task_cancelled(self, group: str) -> None:
        super().task_cancelled(group)
        if group == "overview" and not self.query("#segments"):  # no table yet to say it
            slot = self.query_one("#segments-slot")
            slot.remove_children()
            slot.mount(Label("Segments not read: cancelled (ctrl+r reads it again)", classes="status"))

    def task_failed(self, group: str, error: BaseException) -> None:
        if group == "preload" and self.data is not None and self.data.get("change_pending"):
            for panel in self.query("#segments").results(TablePanel):
                panel.set_extra("Δ not available: reading the previous snapshot failed")

    # --- actions ------------------------------------------------------------------------------------

    def action_next_grouping(self) -> None:
        i = GROUP_ORDER.index(self.by)
        self.by = GROUP_ORDER[(i + 1) % len(GROUP_ORDER)]
        self.load_groups()

    def snapshot_changed(self) -> None:
        self.data = None
        self.load_groups()

    def on_grid_opened(self, event: Grid.Opened) -> None:
        from segtui.tui.screens.accounts import AccountsScreen

        if self.data is None or event.grid.id != "segments-grid":
            return
        self.sapp.open_screen(AccountsScreen.for_group(self.data["by"], event.row["group"]))
