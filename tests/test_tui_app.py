"""Pilot tests: real key presses through every screen of the TUI, asserting what is shown."""

from __future__ import annotations

import asyncio
import re
import functools
import sqlite3
import threading
from pathlib import Path

import polars as pl
import pytest
from tui_fixtures import build_store

from segtui.output import render
from segtui.tui import data as data_mod
from segtui.tui.app import SegtuiApp
from segtui.tui.grid import Grid
from segtui.tui.screens.account import AccountScreen
from segtui.tui.screens.accounts import AccountsScreen
from segtui.tui.screens.cohorts import CohortsScreen
from segtui.tui.screens.help import HelpScreen
from segtui.tui.screens.migration import MigrationScreen
from segtui.tui.screens.overview import OverviewScreen
from segtui.tui.screens.profitability import ProfitabilityScreen
from segtui.tui.screens.prompt import Prompt

SIZE = (120, 40)


def aio(fn):  # noqa: ANN001, ANN201
    """Run an async test (no asyncio plugin needed)."""

    @functools.wraps(fn)
    def run(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        return asyncio.run(fn(*args, **kwargs))

    return run


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_store(tmp_path_factory.mktemp("tui") / "store.db")


def make_app(db: Path, config: Path | None = None) -> SegtuiApp:
    app = SegtuiApp(db, config_path=config or db.parent / "none.toml")
    app.theme = "textual-dark"
    return app


async def settle(pilot) -> None:  # noqa: ANN001
    """Wait until no worker runs and every message they posted has been handled."""
    app = pilot.app
    for _ in range(50):
        await app.workers.wait_for_complete()
        await pilot.pause()
        if not any(w.is_running for w in app.workers) and not _busy(app):
            await pilot.pause()
            return
    raise AssertionError("the app did not settle")


async def until(pilot, ready, tries: int) -> bool:  # noqa: ANN001
    """Poll every 20 ms, at most `tries` times, until `ready()`; whether it became true."""
    for _ in range(tries):
        await pilot.pause(0.02)
        if ready():
            return True
    return False


def _busy(app: SegtuiApp) -> bool:
    screen = app.screen
    return bool(getattr(screen, "_tasks", {}))


async def press(pilot, *keys: str) -> None:  # noqa: ANN001
    for k in keys:
        await pilot.press(k)
        await settle(pilot)


def grid(app: SegtuiApp, selector: str) -> Grid:
    return app.screen.query_one(selector, Grid)


def column(g: Grid, key: str) -> list:
    return g.view.rows[key].to_list()


def screen_text(app: SegtuiApp) -> str:
    """The text of every label and text block of the screen, including the parts scrolled out of view."""
    import io

    from rich.console import Console
    from textual.widgets import Label, Static

    console = Console(width=200, file=io.StringIO(), color_system=None, record=True)
    for w in app.screen.query("*"):
        if isinstance(w, (Static, Label)) and w.display:
            r = w.render()
            r = getattr(r, "_renderable", r)  # a Rich renderable wrapped by Textual
            console.print(r if hasattr(r, "__rich_console__") or hasattr(r, "__rich__") else str(r))
    return console.export_text()


def _lines(app: SegtuiApp) -> list[str]:
    from rich.console import Console

    console = Console(width=SIZE[0], record=True, file=open("/dev/null", "w"), color_system=None)
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text().splitlines()


def sql(db: Path, q: str, *args):  # noqa: ANN201
    with sqlite3.connect(db) as conn:
        return conn.execute(q, args).fetchall()


# --- overview ------------------------------------------------------------------------------------------


@aio
async def test_overview_shows_key_figures_and_segments(store: Path) -> None:
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, OverviewScreen)
        (snap_id, net, n), = sql(store, "SELECT id, net_revenue, accounts FROM snapshots ORDER BY as_of_day DESC LIMIT 1")
        text = "\n".join(_lines(app))
        assert "snapshot 2025-06-30 (#3)" in text
        assert re.search(rf"Accounts +{n} ", text)
        assert f"{net // 100:,}.{net % 100:02d}" in text  # net revenue, exact
        g = grid(app, "#segments-grid")
        rows = g.view.rows
        assert rows["group"][0] == "Champions"
        expected = dict(sql(store, "SELECT rfm_segment, count(*) FROM snapshot_accounts WHERE snapshot=? GROUP BY 1", snap_id))
        assert dict(zip(rows["group"], rows["accounts"])) == expected
        assert rows["revenue"].sum() == net  # the table reconciles with the store
        # the change since the previous snapshot is shown with its sign
        prev = dict(sql(store, "SELECT rfm_segment, count(*) FROM snapshot_accounts WHERE snapshot=2 GROUP BY 1"))
        change = dict(zip(rows["group"], rows["change"]))
        assert change["Promising"] == expected["Promising"] - prev.get("Promising", 0) == 1
        assert " +1" in text
        # the revenue-share chart writes each share out (never colour alone)
        assert "63.3 %" in text and "█" in text
        assert "Top 20 % earn" in text and "69.4 % of revenue" in text


@aio
async def test_group_by_cycles_dimensions(store: Path) -> None:
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "v")
        assert set(column(grid(app, "#segments-grid"), "group")) >= {"Champions", "Loyal", "At Risk", "Dormant", "Lost"}
        await press(pilot, "v", "v")  # primary, then quadrant
        groups = column(grid(app, "#segments-grid"), "group")
        assert groups[0] == "high revenue, low cost"
        assert "Accounts by profitability quadrant" in screen_text(app)


@aio
async def test_segment_accounts_sort_filter_and_back(store: Path) -> None:
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "enter")  # Champions
        assert isinstance(app.screen, AccountsScreen)
        g = grid(app, "#accounts-grid")
        keys = column(g, "account_key")
        n, = sql(store, "SELECT count(*) FROM snapshot_accounts WHERE snapshot=3 AND rfm_segment='Champions'")[0]
        assert len(keys) == n
        assert keys[0] == "ACME"  # sorted by revenue, largest first
        assert column(g, "revenue") == sorted(column(g, "revenue"), reverse=True)
        assert "revenue ▼" in "\n".join(_lines(app))
        # sort by name: move to the name column (l) and press s
        await press(pilot, "l", "s")
        names = column(g, "name")
        assert names == sorted(names)
        assert "sorted by name ▲ ascending" in screen_text(app)
        await press(pilot, "s")
        assert column(g, "name") == sorted(names, reverse=True)
        # filter with a comparison
        await pilot.press("slash")
        assert isinstance(app.screen, Prompt)
        await pilot.press(*"revenue>20000", "enter")
        await settle(pilot)
        assert isinstance(app.screen, AccountsScreen)
        kept = column(g, "revenue")
        assert kept and all(v > 2_000_000 for v in kept) and len(kept) < n
        assert f"{len(kept)} of {n} accounts" in screen_text(app)
        # escape goes back to the overview, q on the overview quits
        await press(pilot, "escape")
        assert isinstance(app.screen, OverviewScreen)
        await pilot.press("q")
        await pilot.pause()
        assert app.return_code == 0 or not app.is_running


@aio
async def test_filter_errors_are_explained(store: Path) -> None:
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "enter")
        g = grid(app, "#accounts-grid")
        before = g.view.rows.height
        await pilot.press("slash", *"wobble<3", "enter")
        await settle(pilot)
        assert g.view.rows.height == before
        messages = [n.message for n in app._notifications]
        assert any("no column 'wobble'" in m for m in messages)


@aio
async def test_money_losing_filter_finds_globex(store: Path) -> None:
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        # Loyal is the second row
        await press(pilot, "j", "enter")
        assert "Loyal" in screen_text(app)
        await pilot.press("slash", *"margin<0", "enter")
        await settle(pilot)
        g = grid(app, "#accounts-grid")
        assert column(g, "account_key") == ["GLOBEX"]
        assert "-1,923.49" in "\n".join(_lines(app))


# --- account ---------------------------------------------------------------------------------------------


@aio
async def test_account_screen(store: Path) -> None:
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "enter", "enter")  # Champions -> ACME
        assert isinstance(app.screen, AccountScreen)
        text = screen_text(app)
        assert "ACME" in text and "Acme Corp" in text
        assert "Champions" in text and "R 4/5" in text and "F 5/5" in text
        assert "churn risk 5/100 (low)" in text
        (rev, direct, alloc, margin), = sql(
            store, "SELECT revenue, direct_cost, allocated_cost, margin FROM snapshot_accounts WHERE snapshot=3 AND account=1")
        assert f"{rev // 100:,}.{rev % 100:02d}" in text
        cost = direct + alloc
        assert f"-{cost // 100:,}.{cost % 100:02d}" in text  # cost to serve
        assert "direct: shipping" in text and "direct: support" in text
        # allocated cost by pool, each the account's share kept with the snapshot
        from segtui import _core

        shares = _core.account_pool_shares(str(store), 3, 1)
        assert len(shares) == 2 and sum(v for _, v in shares) == alloc
        for category, v in shares:
            assert f"allocated: {category}" in text and f"-{v // 100:,}.{v % 100:02d}" in text
        assert "allocated (pools)" not in text
        assert "profitable" in text
        assert "Playbook (Champions)" in text and "ask for referrals" in text
        history = grid(app, "#history-grid")
        assert column(history, "rfm_segment") == ["Champions"] * 3
        items = grid(app, "#items-grid")
        total, = sql(store, "SELECT count(*) FROM line_items WHERE account=1")[0]
        newest, = sql(store, "SELECT max(day) FROM line_items WHERE account=1")[0]
        assert items.view.rows.height == 50
        assert f"page 1 of {-(-total // 50)}, {total} in all" in text
        assert items.view.rows["date"][0] == data_mod.day_to_date(newest)
        first_page = column(items, "invoice")
        await press(pilot, "right_square_bracket")
        assert "page 2 of" in screen_text(app)
        assert column(items, "invoice") != first_page
        await press(pilot, "left_square_bracket")
        assert column(items, "invoice") == first_page
        # back, back: the overview again
        await press(pilot, "escape", "escape")
        assert isinstance(app.screen, OverviewScreen)


@aio
async def test_playbook_follows_segtui_toml(store: Path, tmp_path: Path) -> None:
    config = tmp_path / "segtui.toml"
    config.write_text('[playbooks."Champions"]\nowner = "ana"\ndue_days = 2\n')
    app = make_app(store, config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "enter", "enter")
        text = screen_text(app)
        assert "Playbook (Champions)" in text and "ask for referrals" in text
        assert "owner ana" in text and "act within 2 days" in text


@aio
async def test_account_with_churn_reasons_and_loss(store: Path) -> None:
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "p")
        assert isinstance(app.screen, ProfitabilityScreen)
        losers = grid(app, "#losers-grid")
        assert column(losers, "account_key")[0] == "GLOBEX"
        losers.focus()
        await press(pilot, "enter")
        assert isinstance(app.screen, AccountScreen)
        text = screen_text(app)
        assert "LOSES MONEY" in text
        assert "ticket_spike: a spike in support tickets" in text


# --- migration -------------------------------------------------------------------------------------------


@aio
async def test_migration_matrix_toggle_and_drill(store: Path) -> None:
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "m")
        assert isinstance(app.screen, MigrationScreen)
        assert "A 2025-05-31 (#2) → B 2025-06-30 (#3)" in screen_text(app)
        g = grid(app, "#matrix-grid")
        pairs = dict(((a, b), n) for a, b, n in sql(store, """
            SELECT a.rfm_segment, b.rfm_segment, count(*) FROM snapshot_accounts b
            JOIN snapshot_accounts a ON a.account = b.account AND a.snapshot = 2
            WHERE b.snapshot = 3 GROUP BY 1, 2"""))
        rows = {r["from"]: r for r in g.view.rows.iter_rows(named=True)}
        assert rows["Champions"]["Champions"] == pairs[("Champions", "Champions")]
        assert rows["Loyal"]["total"] == sum(n for (a, _b), n in pairs.items() if a == "Loyal")
        # move onto Champions -> Loyal and read the cell line
        await press(pilot, "l", "l")
        assert "Champions → Loyal: 2 accounts" in screen_text(app)
        await press(pilot, "t")
        assert "cells: revenue in A" in screen_text(app)
        rev_a = sum(r for (r,) in sql(store, """
            SELECT a.revenue FROM snapshot_accounts b JOIN snapshot_accounts a ON a.account=b.account AND a.snapshot=2
            WHERE b.snapshot=3 AND a.rfm_segment='Champions' AND b.rfm_segment='Loyal'"""))
        assert grid(app, "#matrix-grid").view.rows.filter(pl.col("from") == "Champions")["Loyal"][0] == rev_a
        await press(pilot, "enter")
        assert isinstance(app.screen, AccountsScreen)
        moved = grid(app, "#accounts-grid")
        assert moved.view.rows.height == 2
        assert set(column(moved, "from")) == {"Champions"}
        assert set(column(moved, "rfm_segment")) == {"Loyal"}
        await press(pilot, "escape")
        assert isinstance(app.screen, MigrationScreen)
        # velocity: net change per segment
        vel = grid(app, "#velocity-grid")
        promising = vel.view.rows.filter(pl.col("segment") == "Promising").row(0, named=True)
        assert promising["net"] == 1 and promising["inflow"] == 1


@aio
async def test_migration_without_a_series(tmp_path: Path) -> None:
    db = build_store(tmp_path / "one.db", as_of=("2025-06-30",))
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "m")
        assert "No series yet" in screen_text(app)
        assert "segtui score --every month" in screen_text(app)


# --- cohorts ---------------------------------------------------------------------------------------------


@aio
async def test_cohorts_logo_and_revenue(store: Path) -> None:
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "c")
        assert isinstance(app.screen, CohortsScreen)
        g = grid(app, "#cohort-grid")
        first = g.view.rows.row(0, named=True)
        assert first["cohort"] == "2024-01" and first["m0"] == 1.0
        # ACME, GLOBEX and INITECH bought in January 2024 and every month after until Initech stopped
        assert first["accounts"] == 3
        assert "logo retention" in screen_text(app)
        await press(pilot, "t")
        assert "revenue retention" in screen_text(app)
        assert grid(app, "#cohort-grid").view.rows["m0"][0] == 1.0


# --- everywhere ------------------------------------------------------------------------------------------


@aio
async def test_help_lists_this_screens_keys(store: Path) -> None:
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "m")
        await press(pilot, "question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        assert "Migration — keys" in text
        assert "Values" in text and "Pick snapshot A" in text  # this screen's own actions
        assert "Sort by the cursor's column" in text  # tables
        assert "quit on the first screen" in text  # everywhere
        await press(pilot, "escape")
        assert isinstance(app.screen, MigrationScreen)


@aio
async def test_export_writes_what_is_shown(store: Path, tmp_path: Path) -> None:
    app = make_app(store)
    out = tmp_path / "champions.csv"
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "enter")
        g = grid(app, "#accounts-grid")
        await pilot.press("slash", *"margin>1000", "enter")
        await settle(pilot)
        expected_frame, money = g.export_frame()
        await pilot.press("e")
        await pilot.pause()
        prompt = app.screen
        assert isinstance(prompt, Prompt)
        assert prompt.value.endswith(".csv") and "segtui-champions" in prompt.value
        inp = prompt.query_one("Input")
        inp.value = str(out)
        await pilot.press("enter")
        await settle(pilot)
    assert out.read_bytes() == render(expected_frame, "csv", money=money)
    header = out.read_text().splitlines()[0]
    assert header.startswith("account_key,name,rfm_segment")
    acme = [line for line in out.read_text().splitlines() if line.startswith("ACME,")][0]
    (rev,), = sql(store, "SELECT revenue FROM snapshot_accounts WHERE snapshot=3 AND account=1")
    assert f",{rev // 100}.{rev % 100:02d}," in acme  # money exact, no separators


@aio
async def test_export_parquet_keeps_money_exact(store: Path, tmp_path: Path) -> None:
    app = make_app(store)
    out = tmp_path / "segments.parquet"
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await pilot.pause()
        app.screen.query_one("Input").value = str(out)
        await pilot.press("enter")
        await settle(pilot)
    frame = pl.read_parquet(out)
    (net,), = sql(store, "SELECT net_revenue FROM snapshots WHERE id=3")
    from decimal import Decimal

    assert sum(frame["revenue"].to_list(), Decimal(0)) == Decimal(net) / 100


@aio
async def test_copy_cell(store: Path) -> None:
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "enter", "y")
        assert app.clipboard == "ACME"
        await press(pilot, *"lll", "y")  # the revenue column
        (rev,), = sql(store, "SELECT revenue FROM snapshot_accounts WHERE snapshot=3 AND account=1")
        assert app.clipboard == f"{rev // 100}.{rev % 100:02d}"


@aio
async def test_vim_keys_move_the_cursor(store: Path) -> None:
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        g = grid(app, "#segments-grid")
        await press(pilot, "j", "j", "l")
        assert (g.cursor_row, g.cursor_column) == (2, 1)
        await press(pilot, "G")
        assert g.cursor_row == g.view.rows.height - 1
        await press(pilot, "g", "h")
        assert (g.cursor_row, g.cursor_column) == (0, 0)


@aio
async def test_keys_can_be_rebound_in_segtui_toml(store: Path, tmp_path: Path) -> None:
    config = tmp_path / "segtui.toml"
    config.write_text('[keys]\n"table.sort" = "S"\n"app.migration" = "M"\n')
    app = make_app(store, config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "enter", "l")
        g = grid(app, "#accounts-grid")
        before = column(g, "name")
        await press(pilot, "s")
        assert column(g, "name") == before  # s no longer sorts
        await press(pilot, "S")
        assert column(g, "name") == sorted(before)
        await press(pilot, "m")
        assert isinstance(app.screen, AccountsScreen)
        await press(pilot, "M")
        assert isinstance(app.screen, MigrationScreen)
        await press(pilot, "question_mark")
        assert "S" in screen_text(app)


@aio
async def test_snapshot_picker_switches_every_screen(store: Path) -> None:
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "d")
        # newest first: 2025-06-30, 2025-05-31, 2025-04-30
        await press(pilot, "j", "j", "enter")
        assert app.snapshot is not None and app.snapshot.id == 1
        assert "snapshot 2025-04-30 (#1)" in "\n".join(_lines(app))
        counts = dict(sql(store, "SELECT rfm_segment, count(*) FROM snapshot_accounts WHERE snapshot=1 GROUP BY 1"))
        g = grid(app, "#segments-grid")
        assert dict(zip(column(g, "group"), column(g, "accounts"))) == counts
        assert "no earlier snapshot" in screen_text(app)


def _slow_frames(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Make every bulk read of a snapshot wait until the returned event is set."""
    from segtui import queries

    gate = threading.Event()
    for name in ("read_frame", "snapshot_frame"):
        real = getattr(queries, name)

        def slow(*args, _real=real, **kwargs):  # noqa: ANN002, ANN003, ANN202
            gate.wait(30)
            return _real(*args, **kwargs)

        monkeypatch.setattr(queries, name, slow)
    return gate


async def _wait_for_text(pilot, text: str) -> str:  # noqa: ANN001
    for _ in range(100):
        await pilot.pause(0.02)
        painted = "\n".join(_lines(pilot.app))
        if text in painted:
            return painted
    raise AssertionError(f"{text!r} never showed")


@aio
async def test_escape_cancels_a_long_action(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gate = _slow_frames(monkeypatch)
    gate.set()
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.store.forget()
        gate.clear()
        await pilot.press("enter")
        painted = await _wait_for_text(pilot, "reading the accounts of 2025-06-30")
        assert isinstance(app.screen, AccountsScreen)
        assert app.screen.running("accounts")
        assert "esc cancels" in painted
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, AccountsScreen)  # escape cancelled, it did not go back
        assert not app.screen.running("accounts")
        assert any("Cancelled" in n.message for n in app._notifications)
        assert "ctrl+r reads it again" in screen_text(app)
        gate.set()
        await press(pilot, "ctrl+r")  # read it again
        assert grid(app, "#accounts-grid").view.rows.height > 0
        await press(pilot, "escape")
        assert isinstance(app.screen, OverviewScreen)


@aio
async def test_first_read_can_be_cancelled_and_redone(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gate = _slow_frames(monkeypatch)
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        # the first read: a narrow one of the rows, or the whole frame when a copy is kept beside the store
        painted = await _wait_for_text(pilot, "esc cancels")
        assert re.search(r"reading (2025-06-30 by rfm_segment|the accounts of 2025-06-30)", painted)
        text = screen_text(app)
        assert "Accounts" in text and "48" in text  # the snapshot's own figures are painted meanwhile
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, OverviewScreen) and app.is_running
        assert "ctrl+r reads it again" in screen_text(app)
        gate.set()
        await press(pilot, "ctrl+r")
        assert grid(app, "#segments-grid").view.rows.height == 11


@aio
async def test_a_store_without_snapshots(tmp_path: Path) -> None:
    from segtui.store import open_store

    db = tmp_path / "empty.db"
    open_store(db, create=True).close()
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        text = screen_text(app)
        assert "No snapshot in this store yet" in text and "segtui score" in text
        await press(pilot, "m")
        assert isinstance(app.screen, OverviewScreen)
        assert any("No snapshot yet" in n.message for n in app._notifications)


@aio
async def test_palette_runs_named_actions(store: Path) -> None:
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Migration")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, MigrationScreen)


@aio
async def test_scoring_from_the_tui(tmp_path: Path) -> None:
    db = build_store(tmp_path / "score.db")
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        before = len(app.snapshots)
        await pilot.press("r")
        await pilot.pause()
        assert "Score the store now?" in screen_text(app)
        await pilot.press("enter")
        for _ in range(600):  # the run is a background task; wait for it to land
            await settle(pilot)
            if len(app.snapshots) > before:
                break
        else:
            raise AssertionError("scoring did not finish")
        await settle(pilot)
        newest = max(app.snapshots, key=lambda s: (s.created_at, s.id))
        assert app.snapshot == newest and newest.as_of.isoformat() == "2025-06-30"
        assert any("Scoring finished" in n.message for n in app._notifications)
        (n,), = sql(db, "SELECT count(*) FROM snapshot_accounts WHERE snapshot = ?", newest.id)
        assert grid(app, "#segments-grid").view.rows["accounts"].sum() == n


@aio
async def test_no_color_is_respected(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.no_color
        # figures carry their meaning in text: signs, labels, percentages
        text = "\n".join(_lines(app))
        assert "-2" in text and "+1" in text and "%" in text


@aio
async def test_key_bar_fits_an_80_column_terminal(store: Path) -> None:
    """At 80x24 the footer shows whole entries only, help first, and says `? more` for the rest."""
    from segtui.tui.screens.base import KeyBar

    app = make_app(store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for keys, screen_type in (((), OverviewScreen), (("enter",), AccountsScreen), (("enter",), AccountScreen),
                                  (("m",), MigrationScreen), (("p",), ProfitabilityScreen), (("c",), CohortsScreen)):
            await press(pilot, *keys)
            assert isinstance(app.screen, screen_type)
            bar = app.screen.query_one(KeyBar)
            line = _lines80(app)[-1]
            shown = bar.fit(78)
            expected = "  ".join(f"{k} {label}" for k, label in shown)
            assert line.strip() == expected, (screen_type.__name__, line)
            assert len(line.rstrip()) <= 80
            assert shown[0][1] == "Help"
            if len(shown) < len(bar.entries) + 1:  # some left out: the bar says so, last
                assert line.rstrip().endswith("? more")
            if screen_type is MigrationScreen:
                assert "t Values" in line  # the screen's own keys come before the generic ones
            if screen_type is OverviewScreen:
                assert "q Quit" in line  # q quits on the first screen
        # the widest terminal shows them all
        bar = app.screen.query_one(KeyBar)
        assert [label for _k, label in bar.fit(500)] == [label for _k, label in bar.entries]
        assert bar.fit(500)[-1][1] != "more"


def _lines80(app: SegtuiApp) -> list[str]:
    from rich.console import Console

    console = Console(width=80, record=True, file=open("/dev/null", "w"), color_system=None)
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text().splitlines()


@aio
async def test_escape_cancels_scoring_and_leaves_the_store_as_it_was(tmp_path: Path) -> None:
    """Scoring runs in a child process; escape ends it midway and the store keeps its snapshots. The child
    here is the real scorer, started after a pause so that escape lands while it runs."""
    import sys

    db = build_store(tmp_path / "cancel.db")
    before = sql(db, "SELECT id, created_at, accounts FROM snapshots ORDER BY id")
    rows_before = sql(db, "SELECT count(*), sum(revenue) FROM snapshot_accounts")
    app = make_app(db)
    marker = tmp_path / "child-started"
    app.scoring_argv = lambda: [  # type: ignore[method-assign]
        sys.executable, "-c",
        "import json, pathlib, sys, time\n"
        f"pathlib.Path({str(marker)!r}).touch()\n"
        "print(json.dumps({'progress': 'warming up'}), flush=True)\n"
        "time.sleep(60)\n"
        "from segtui.tui.scorer import main\n"
        f"sys.exit(main([{str(db)!r}]))\n",
    ]
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("r")
        await pilot.pause()
        painted = " ".join(line.strip(" │") for line in _lines(app))
        assert "esc cancels it and leaves the store as it was." in painted  # the dialog's text whole
        await pilot.press("enter")
        progressed = await until(pilot, lambda: app.scoring is not None and "warming up" in app.scoring.label, 400)
        assert progressed, "the scoring child did not report progress"
        await pilot.pause(0.3)  # past the task bar's delay
        bar = "\n".join(_lines(app))
        assert "scoring: warming up" in bar and "esc cancels" in bar
        app.scoring.label = "scoring: " + "a very long progress line from the core " * 5
        app.screen.show_tasks()
        await pilot.pause()
        line = next(x for x in _lines(app) if "⏳" in x)
        assert line.rstrip().endswith("esc cancels") and "…" in line  # the label gives way, not the hint
        proc = app.scoring_run.proc
        assert marker.exists() and proc.poll() is None
        await pilot.press("escape")  # cancels the scoring, does not quit or go back
        assert await until(pilot, lambda: app.scoring is None, 300), "scoring was not cancelled"
        assert proc.poll() is not None and proc.returncode != 0  # the child was ended
        assert isinstance(app.screen, OverviewScreen)
        assert any("Scoring cancelled" in n.message for n in app._notifications)
        assert "esc cancels" not in "\n".join(_lines(app))
    assert sql(db, "SELECT id, created_at, accounts FROM snapshots ORDER BY id") == before
    assert sql(db, "SELECT count(*), sum(revenue) FROM snapshot_accounts") == rows_before


@aio
async def test_scoring_failure_is_reported(tmp_path: Path) -> None:
    import sys

    db = build_store(tmp_path / "fail.db")
    app = make_app(db)
    app.scoring_argv = lambda: [  # type: ignore[method-assign]
        sys.executable, "-c", "import json; print(json.dumps({'error': 'no line items to score', 'exit': 1})); raise SystemExit(1)"]
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "r", "enter")
        await until(pilot, lambda: app.scoring is None, 300)
        assert app.scoring is None
        assert any("Scoring failed: no line items to score" in n.message for n in app._notifications)


@aio
async def test_reused_screens_show_the_new_subject(store: Path) -> None:
    """Account lists and account screens are composed once and reused: a second visit shows the new
    account and list, never the previous one's."""
    from segtui.tui.screens.base import KeyBar

    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "enter")  # Champions
        first_list = app.screen
        assert isinstance(first_list, AccountsScreen)
        g = grid(app, "#accounts-grid")
        keys = column(g, "account_key")
        await press(pilot, "enter")
        account_screen = app.screen
        assert isinstance(account_screen, AccountScreen)
        assert keys[0] in screen_text(app)
        await press(pilot, "escape")
        await press(pilot, "j", "enter")
        assert app.screen is account_screen  # the same screen, reused
        text = screen_text(app)
        assert keys[1] in text and f"{keys[0]} " not in text
        assert "q Back" in "  ".join(f"{k} {label}" for k, label in app.screen.query_one(KeyBar).entries)
        await press(pilot, "escape", "escape", "j", "enter")  # the next segment: Loyal
        assert app.screen is first_list
        assert "Loyal" in screen_text(app) and "Champions (" not in screen_text(app)
        painted = "\n".join(_lines(app))
        assert "accounts · sorted by revenue ▼ descending" in painted  # the status line whole, not cut
        for screen_kind in (AccountsScreen, AccountScreen):  # composed ahead, then reused
            assert len(app._pools[screen_kind.__name__]) == 1
        assert all(v == "Loyal" for v in column(grid(app, "#accounts-grid"), "rfm_segment"))
        assert grid(app, "#accounts-grid").export_name == "Loyal"
        await press(pilot, "escape", "m")
        migration = app.screen
        assert isinstance(migration, MigrationScreen) and migration.a.id == 2 and migration.b.id == 3
        await press(pilot, "v", "escape", "m")  # another dimension, then a new visit: the defaults again
        assert app.screen is migration and migration.map == "rfm11"
        assert "by rfm11" in screen_text(app) and grid(app, "#matrix-grid").view.height > 0


@aio
async def test_scoring_stopped_after_its_commit_shows_the_snapshot(tmp_path: Path) -> None:
    """Escape after the core has committed the snapshot (the child still packing): the snapshot is whole,
    and the TUI says so and shows it rather than claiming nothing changed."""
    import sys

    db = build_store(tmp_path / "late.db")
    app = make_app(db)
    app.scoring_argv = lambda: [  # type: ignore[method-assign]
        sys.executable, "-c",
        "import json, sys, time\n"
        "from segtui.scoring import score_store\n"
        f"score_store({str(db)!r}, quiet=True)\n"
        "print(json.dumps({'progress': 'packing'}), flush=True)\n"
        "time.sleep(60)\n",
    ]
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        before = {s.id for s in app.snapshots}
        await press(pilot, "r")
        await pilot.press("enter")
        await pilot.press("enter")  # browse meanwhile: a segment's accounts
        await until(pilot, lambda: isinstance(app.screen, AccountsScreen) and not app.screen._tasks, 200)
        assert isinstance(app.screen, AccountsScreen)
        packing = await until(pilot, lambda: app.scoring is not None and "packing" in app.scoring.label, 1000)
        assert packing, "the child did not get to packing"
        await pilot.press("escape")
        await until(pilot, lambda: app.scoring is None, 300)
        await settle(pilot)
        new = [s for s in app.snapshots if s.id not in before]
        assert len(new) == 1 and app.snapshot == new[0]
        assert isinstance(app.screen, AccountsScreen) and app.is_running  # still browsing, on the new snapshot
        assert f"(#{new[0].id})" in screen_text(app) and grid(app, "#accounts-grid").view.height > 0
        assert any(f"stopped after it had written snapshot #{new[0].id}" in n.message for n in app._notifications)
        assert not any("keeps the snapshots it had" in n.message for n in app._notifications)


@aio
async def test_a_screen_still_being_composed_ahead_is_not_reused(store: Path) -> None:
    """Opening a list while the one composed ahead is not mounted yet opens a new one (reusing it would
    let its own mount handler hide the data just shown)."""
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        pending = AccountsScreen.blank()  # never mounted
        app._pools["AccountsScreen"] = [pending]
        await press(pilot, "enter")
        assert isinstance(app.screen, AccountsScreen) and app.screen is not pending
        assert not app.screen.body_hidden and grid(app, "#accounts-grid").view.height > 0
        assert any("accounts · sorted by revenue" in line for line in _lines(app))


@aio
async def test_month_chart_draws_bars_line_and_labels() -> None:
    from textual.app import App

    from segtui.tui.widgets import MonthChart

    months = [f"2025-{m:02d}" for m in range(1, 7)]
    revenue = [100_00, 0, 400_00, 200_00, -50_00, 300_00]  # a month with nothing, one with refunds only
    cost = [50_00, 50_00, 100_00, 0, 0, 150_00]

    class ChartApp(App):
        def compose(self):  # noqa: ANN202
            yield MonthChart(id="chart")

    app = ChartApp()
    async with app.run_test(size=(60, 16)) as pilot:
        chart = app.query_one(MonthChart)
        chart.set_data(months, revenue, cost)
        await pilot.pause()
        lines = str(chart.render()).splitlines()
    assert lines[0].startswith("█ net revenue (bars)") and "x direct cost (line, x)" in lines[0]
    plot = lines[1:-2]
    yw = plot[0].index("┤")
    body = [line[yw + 1:] for line in plot]
    top_row = body[0]
    assert "█" in top_row  # the largest month (400.00) reaches the top
    assert plot[0][:yw].strip() == "400.00"
    columns_with_bar = {c for line in body for c, ch in enumerate(line) if ch == "█"}
    assert all(line.count("x") <= 6 for line in body) and sum(line.count("x") for line in body) == 6
    # the empty month draws no bar: between the first and the third month's bars there is a gap of
    # at least one bar's width
    runs, prev = [], -2
    for c in sorted(columns_with_bar):
        if c != prev + 1:
            runs.append([c])
        else:
            runs[-1].append(c)
        prev = c
    assert len(runs) == 5  # six months, one of them empty
    negative = [i for i, line in enumerate(body) if "█" in line and i > [j for j, lab in enumerate(plot) if lab[:yw].strip() == "0.00"][0]]
    assert negative  # the refunds-only month goes below zero
    labels = lines[-1].split()  # whole months, in order, never run together
    assert labels and labels[0] == "2025-01" and all(t in months for t in labels) and labels == sorted(labels)


def test_table_status_counts_in_words() -> None:
    from segtui.tui.grid import Grid, prepare
    from segtui.tui.query import Col
    from segtui.tui.widgets import TablePanel

    cols = [Col("a", "a", "int")]
    one = TablePanel("t", Grid(cols, view=prepare(pl.DataFrame({"a": [1]}), cols)), noun="snapshots")
    assert one.status_text() == "1 snapshot"
    many = TablePanel("t", Grid(cols, view=prepare(pl.DataFrame({"a": [1, 2, 3]}), cols, filter="a>1")), noun="snapshots")
    assert many.status_text() == "2 of 3 snapshots · filter: a>1"
    items = TablePanel("t", Grid(cols, view=prepare(pl.DataFrame({"a": [1]}), cols)), noun="line items on this page",
                       noun_one="line item on this page")
    assert items.status_text() == "1 line item on this page"


@aio
async def test_quitting_stops_a_scoring_run(tmp_path: Path) -> None:
    import sys

    db = build_store(tmp_path / "quit.db")
    before = sql(db, "SELECT id, created_at FROM snapshots ORDER BY id")
    app = make_app(db)
    app.scoring_argv = lambda: [  # type: ignore[method-assign]
        sys.executable, "-c", "import json, time; print(json.dumps({'progress': 'slow'}), flush=True); time.sleep(60)"]
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "r")
        await pilot.press("enter")
        await until(pilot, lambda: app.scoring is not None and "slow" in app.scoring.label, 400)
        proc = app.scoring_run.proc
        assert proc.poll() is None
        await pilot.press("ctrl+q")
    assert proc.wait(5) != 0  # ended with the app, not left running
    assert sql(db, "SELECT id, created_at FROM snapshots ORDER BY id") == before
