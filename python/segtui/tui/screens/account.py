"""Account: firmographics, scores and why, money in and out, history, line items, playbook."""

from __future__ import annotations

from typing import Any

import polars as pl
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Label, Static

from segtui.errors import ConfigError
from segtui.tui import actions, fmt
from segtui.tui.data import QUADRANT_ACTIONS, Snapshot, Store, day_to_date
from segtui.tui.grid import Grid, prepare
from segtui.tui.query import Col
from segtui.tui.screens.base import BaseScreen
from segtui.tui.widgets import MonthChart, TablePanel

PAGE = 50

REASONS = {
    # keys are the kernel's reason codes (docs/scoring.md, churn risk)
    "inactive_beyond_usual_gap": "no purchase for well beyond its own usual gap between purchases",
    "activity_drop": "product use in the last 30 days well below its earlier rate",
    "renewal_declining": "renewal within 30 days while activity declines",
    "refund_spike": "refunds are a high share of what it bought",
    "ticket_spike": "a spike in support tickets",
    "failed_payment": "a failed payment",
}

HISTORY_COLS = (
    Col("as_of", "as of", "date"), Col("rfm_segment", "segment"), Col("rfm5_segment", "rfm5"),
    Col("primary_segment", "primary"), Col("r_score", "R", "plain_int"), Col("f_score", "F", "plain_int"),
    Col("m_score", "M", "plain_int"), Col("revenue", "revenue", "money"), Col("margin", "margin", "money"),
    Col("churn_risk", "risk", "int"), Col("churn_band", "risk band"), Col("health", "health", "int"),
    Col("lifecycle", "stage"),
)
ITEM_COLS = (
    Col("date", "date", "date"), Col("invoice", "invoice"), Col("sku", "sku"), Col("description", "description"),
    Col("quantity", "qty"), Col("unit_price", "unit price", "money"), Col("amount", "amount", "money"),
    Col("cancel", "refund/cancel", "bool"),
)


def account_data(store: Store, snap: Snapshot, account: int) -> dict[str, Any]:
    info = store.account_info(account)
    if info is None:
        raise LookupError(f"no account with id {account} in the store")
    return {
        "info": info,
        "scores": store.account_scores(snap, account),
        "history": store.account_history(account),
        "costs": store.account_costs(snap, account),
        "pool_shares": store.account_pool_shares(snap, account),
        "monthly": store.account_monthly(snap, account),
        "items": store.line_items_page(account, 0, PAGE),
    }


def _kv(rows: list[tuple[str, str | Text]]) -> Table:
    t = Table.grid(padding=(0, 1))
    t.add_column(style="dim", no_wrap=True)
    t.add_column()
    for k, v in rows:
        t.add_row(k, v)
    return t


class AccountScreen(BaseScreen):
    HIDE_UNTIL_LOADED = True
    SCOPE = "account"
    TITLE_TEXT = "Account"
    HELP = (
        "One account as of the snapshot: who it is, its RFM values (recency in days, purchases, net revenue) and "
        "scores with the segment they put it in, churn risk with the reasons that fired, health and lifecycle "
        "stage; revenue, direct cost by category, cost allocated from pools, margin and quadrant; net revenue and "
        "direct cost by month; its segment at every snapshot; its line items, newest first, a page at a time "
        "(] next page, [ previous); and the playbook of its primary segment."
    )
    BINDINGS = actions.bindings("account")

    DEFAULT_CSS = """
    AccountScreen #account-body { height: 1fr; }
    AccountScreen #who { padding: 0 1; margin: 1 0 0 0; height: auto; }
    AccountScreen #cards { height: auto; margin: 1 0 0 0; }
    AccountScreen #cards > Static { width: 1fr; height: auto; border: round $primary 60%; padding: 0 1; }
    AccountScreen #playbook { height: auto; border: round $accent 60%; padding: 0 1; margin: 1 0 0 0; }
    AccountScreen #chart { margin: 1 0 0 0; }
    AccountScreen #history, AccountScreen #items { margin: 1 0 0 0; }
    """

    REUSE = ("account", "fixed_snapshot")

    def __init__(self, account: int, *, snapshot: Snapshot | None = None) -> None:
        super().__init__()
        self.account = account
        self.fixed_snapshot = snapshot
        self.page = 0
        self.total_items = 0

    @classmethod
    def blank(cls) -> AccountScreen:
        """A screen with no account yet (composed ahead of time, see ``SegtuiApp.prewarm``)."""
        return cls(0)

    @property
    def snap(self) -> Snapshot | None:
        return self.fixed_snapshot or self.sapp.snapshot

    def compose(self) -> ComposeResult:
        yield from self.compose_frame()
        with VerticalScroll(id="account-body", classes="body"):
            yield Static("", id="who")
            with Horizontal(id="cards"):
                yield Static("", id="scores")
                yield Static("", id="money")
            yield Static("", id="playbook")
            yield Label("Net revenue and direct cost by month", classes="section-title")
            yield MonthChart(id="chart")
            yield TablePanel("Segment history (every snapshot)", Grid(HISTORY_COLS, export_name="history", id="history-grid"),
                             noun="snapshots", id="history")
            yield TablePanel("Line items (newest first)", Grid(ITEM_COLS, export_name="line-items", id="items-grid"),
                             noun="line items on this page",
                             noun_one="line item on this page", id="items")

    def on_mount(self) -> None:
        if self.account:  # 0: composed ahead of time, no account yet
            self.set_title(f"Account #{self.account}")
            self.load()

    def load(self) -> None:
        snap = self.snap
        if snap is None:
            return
        app, store, account = self.sapp, self.sapp.store, self.account

        def work(progress, cancelled):  # noqa: ANN001 - task signature
            progress(None, "reading the account")
            data = account_data(store, snap, account)
            try:
                data["segments"] = app.segments
            except ConfigError as e:  # the rest of the account is still worth showing
                data["segments"] = e
            data["history_view"] = prepare(data["history"], HISTORY_COLS)
            data["items_view"] = prepare(data["items"][0], ITEM_COLS)
            return data

        self.start_task("account", "reading the account", work, self._show)

    def snapshot_changed(self) -> None:
        self.fixed_snapshot = None
        if self.account:
            self.load()

    def reopen(self) -> None:
        self.page, self.total_items = 0, 0
        self.query_one("#account-body", VerticalScroll).scroll_home(animate=False)
        self.set_title(f"Account #{self.account}")
        self.load()

    def _show(self, data: dict[str, Any]) -> None:
        info, s = data["info"], data["scores"]
        snap = self.snap
        assert snap is not None
        name = info.get("name") or ""
        self.set_title(f"{info['account_key']} {name}".strip())
        firmo = [
            ("industry", info.get("industry")), ("region", info.get("region")), ("plan", info.get("plan")),
            ("employees", fmt.integer(info.get("employees")) if info.get("employees") is not None else None),
            ("seats", f"{info['seats']}/{info['seat_limit']}" if info.get("seats") and info.get("seat_limit")
             else (str(info["seats"]) if info.get("seats") else None)),
            ("MRR", fmt.money(info.get("mrr")) if info.get("mrr") is not None else None),
            ("signed up", fmt.date(info.get("signup_day"))), ("renewal", fmt.date(info.get("renewal_day"))),
        ]
        who = Text()
        who.append(f"{info['account_key']}", style="bold")
        who.append(f"  {name}\n" if name else "\n")
        who.append("   ".join(f"{k} {v}" for k, v in firmo if v), style="dim")
        self.query_one("#who", Static).update(who)

        if s is None:
            self.query_one("#scores", Static).update(
                f"Not in the snapshot of {snap.as_of}: no line item or cost on or before that day."
            )
            self.query_one("#money", Static).update("")
            self.query_one("#playbook", Static).update("")
        else:
            self._show_scores(s, snap)
            self._show_money(s, data["costs"], data.get("pool_shares") or [])
            self._show_playbook(s, data["segments"])
        self._show_chart(data["monthly"])
        self.query_one("#history-grid", Grid).show(data["history_view"])
        items, total = data["items"]
        self.total_items = total
        self._show_items(data["items_view"])
        self.loaded()  # every part filled in: one layout, one paint

    def _show_scores(self, s: dict[str, Any], snap: Snapshot) -> None:
        last = day_to_date(snap.as_of_day - s["recency_days"]) if s["recency_days"] is not None else None
        rec = f"{s['recency_days']} days (last purchase {last})" if last else "no purchase"

        def score(v: int | None) -> str:
            return f"{v}/5" if v else "—"

        reasons = [r for r in (s["churn_reasons"] or "").split(",") if r]
        reason_text = Text()
        for r in reasons:
            reason_text.append(f"• {r}: {REASONS.get(r, r)}\n")
        rows: list[tuple[str, str | Text]] = [
            ("segment", Text(f"{s['rfm_segment']}  (rfm5 {s['rfm5_segment']})", style="bold")),
            ("recency", f"{rec}   R {score(s['r_score'])}"),
            ("frequency", f"{s['frequency']:,} purchases   F {score(s['f_score'])}"),
            ("monetary", f"{fmt.money(s['monetary'])}   M {score(s['m_score'])}"),
            ("churn risk", Text(f"{s['churn_risk']}/100 ({s['churn_band']})", style="bold")),
            ("why", reason_text if reasons else Text("no risk signal fired", style="dim")),
            ("health", f"{s['health']}/100 ({s['health_band']})"),
            ("stage", s["lifecycle"] + (f"   tier {s['tier']}" if s.get("tier") else "")),
        ]
        if s.get("primary_segment") and s["primary_segment"] != s["rfm_segment"]:
            rows.insert(1, ("primary", s["primary_segment"]))
        self.query_one("#scores", Static).update(_kv(rows))

    def _show_money(self, s: dict[str, Any], costs: pl.DataFrame, pool_shares: list[tuple[str, int]]) -> None:
        rows: list[tuple[str, str | Text]] = [("net revenue", Text(fmt.money(s["revenue"]), style="bold"))]
        for r in costs.iter_rows(named=True):
            rows.append((f"  direct: {r['category']}", f"-{fmt.money(r['direct_cost'])}"))
        if costs.height == 0:
            rows.append(("  direct cost", "none"))
        listed = int(costs["direct_cost"].sum() or 0)
        if listed != s["direct_cost"]:
            rows.append(("  direct (snapshot)", f"-{fmt.money(s['direct_cost'])}"))
        shown = [(c, v) for c, v in pool_shares if v]
        if shown and sum(v for _, v in pool_shares) == s["allocated_cost"]:
            # the account's share of each pooled cost, largest first
            for category, v in sorted(shown, key=lambda cv: -abs(cv[1])):
                rows.append((f"  allocated: {category}", f"-{fmt.money(v)}"))
        else:
            rows.append(("  allocated (pools)", f"-{fmt.money(s['allocated_cost'])}"))
        rows.append(("cost to serve", f"-{fmt.money(s['direct_cost'] + s['allocated_cost'])}"))
        margin_pct = fmt.pct(s["margin_pct"]) if s["margin_pct"] is not None else "n/a (no revenue)"
        verdict = "LOSES MONEY" if s["margin"] < 0 else "profitable"
        rows.append(("margin", Text(f"{fmt.money(s['margin'])}  ({margin_pct}) — {verdict}", style="bold")))
        if s.get("quadrant"):
            rows.append(("quadrant", f"{s['quadrant']}: {QUADRANT_ACTIONS.get(s['quadrant'], '')}"))
        self.query_one("#money", Static).update(_kv(rows))

    def _show_playbook(self, s: dict[str, Any], segments: Any) -> None:
        from segtui.tui.playbooks import WHO

        seg = s.get("primary_segment") or s["rfm_segment"]
        if isinstance(segments, Exception):
            self.query_one("#playbook", Static).update(Text(f"Playbook ({seg}): not shown, the configuration has an "
                                                            f"error: {segments}"))
            return
        pb = segments.playbook(seg)
        if pb is None:
            self.query_one("#playbook", Static).update(
                Text(f"Playbook ({seg}): none configured (add [playbooks.\"{seg}\"] to segtui.toml)"))
            return
        extra = []
        if pb.owner:
            extra.append(f"owner {pb.owner}")
        if pb.due_days is not None:
            extra.append(f"act within {pb.due_days} days")
        text = Text()
        text.append(f"Playbook ({seg})", style="bold")
        if seg in WHO:
            text.append(f" — {WHO[seg]}", style="dim")
        text.append(f"\n→ {pb.action}")
        if extra:
            text.append(f"   ({', '.join(extra)})", style="dim")
        self.query_one("#playbook", Static).update(text)

    def _show_chart(self, monthly: pl.DataFrame) -> None:
        self.query_one("#chart", MonthChart).set_data(
            monthly["month"].to_list(), monthly["revenue"].to_list(), monthly["direct_cost"].to_list())

    # --- line items -----------------------------------------------------------------------------------

    def _show_items(self, view: Any) -> None:  # noqa: D102
        pages = max(1, -(-self.total_items // PAGE))
        self.query_one("#items-grid", Grid).show(view)
        panel = self.query_one("#items", TablePanel)
        panel.set_title(f"Line items (newest first) — page {self.page + 1} of {pages}, {self.total_items:,} in all")
        panel.set_extra("] next page · [ previous")

    def action_page(self, step: int) -> None:
        pages = max(1, -(-self.total_items // PAGE))
        page = self.page + step
        if page < 0 or page >= pages:
            self.notify("No more pages that way.", timeout=2)
            return
        store, account = self.sapp.store, self.account

        def work(progress, cancelled):  # noqa: ANN001 - task signature
            frame, total = store.line_items_page(account, page, PAGE)
            return page, total, prepare(frame, ITEM_COLS)

        def done(result: tuple[int, int, Any]) -> None:
            self.page, self.total_items, view = result
            self._show_items(view)

        self.start_task("items", f"reading line items, page {page + 1}", work, done)
