"""The segtui terminal app: ``run(db_path)`` opens it; ``SegtuiApp(db_path)`` for tests.

Screens form a stack (enter dives, escape goes back, ``q`` goes back and quits on the first
screen). Every key is a named action of ``segtui.tui.actions`` (footer, help and command palette
come from there; ``segtui.toml`` ``[keys]`` rebinds them). Nothing heavy runs on the UI thread:
screens start tasks (``segtui.tui.tasks``) and apply their results when they arrive.
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.app import App
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.message import Message
from textual.screen import Screen

from segtui.tui import actions
from segtui.tui.data import Snapshot, Store
from segtui.tui.screens.base import BaseScreen
from segtui.tui.screens.help import HelpScreen
from segtui.tui.screens.prompt import Confirm, Picker
from segtui.tui.tasks import Task


class ActionCommands(Provider):
    """Every named action available on the current screen, by name."""

    def _entries(self) -> list[actions.NamedAction]:
        screen = self.screen
        scopes = screen.scopes() if isinstance(screen, BaseScreen) else ("app",)
        return [a for s in scopes for a in actions.in_scope(s) if a.palette]

    def _runner(self, a: actions.NamedAction) -> Callable[[], Any]:
        app = self.app
        screen = self.screen

        async def run() -> None:
            from segtui.tui.grid import Grid

            if a.scope == "table":
                focused = screen.focused if isinstance(screen.focused, Grid) else None
                target = focused or next(iter(screen.query(Grid)), None)
                if target is None:
                    app.notify("There is no table on this screen.", severity="warning")
                    return
                await app.run_action(a.action, target)
            elif a.scope == "app":
                await app.run_action(a.action)
            else:
                await app.run_action(a.action, screen)

        return run

    async def discover(self) -> Hits:
        keymap = getattr(self.app, "keymap", {})
        for a in self._entries():
            keys = ", ".join(actions.effective_keys(a, keymap))
            yield DiscoveryHit(f"{a.label}  ({keys})", self._runner(a), help=a.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        keymap = getattr(self.app, "keymap", {})
        for a in self._entries():
            keys = ", ".join(actions.effective_keys(a, keymap))
            text = f"{a.label}  ({keys})"
            score = max(matcher.match(text), matcher.match(a.help) * 0.8)
            if score > 0:
                yield Hit(score, matcher.highlight(text), self._runner(a), help=a.help)


class SegtuiApp(App):
    TITLE = "segtui"
    BINDINGS = actions.bindings("app")
    COMMANDS = {ActionCommands}
    COMMAND_PALETTE_BINDING = "ctrl+p"

    def __init__(self, db_path: Path, *, config_path: Path | None = None) -> None:
        super().__init__()
        self.db_path = Path(db_path)
        self.store = Store(self.db_path)
        self.config_path = config_path or self.db_path.parent / "segtui.toml"
        self.keymap = actions.load_keymap(self.config_path)
        self._segments: Any = None
        self._segments_lock = threading.Lock()
        self._warmed = False
        self._pools: dict[str, list[BaseScreen]] = {}
        self.snapshots: list[Snapshot] = []
        self.snapshot: Snapshot | None = None
        self.snapshots_loaded = False
        self.scoring: Task | None = None
        self.scoring_run: Any = None
        self._scoring_seq = 0
        self._scoring_before: set[tuple[int, str]] = set()
        self.settle_log: list[tuple[float, str, str]] = []
        self.timings: list[tuple[str, float]] = []

    # --- start -----------------------------------------------------------------------------------

    @property
    def segments(self) -> Any:
        """The store's segment configuration (``segtui.playbooks``), read on first use: the account
        screen needs it, the first paint does not (reading it imports the rules engine). Raises
        ``ConfigError`` for a malformed ``segtui.toml``."""
        with self._segments_lock:
            if self._segments is None:
                from segtui.tui import playbooks

                self._segments = playbooks.load(self.db_path, self.config_path)
            return self._segments

    def get_default_screen(self) -> Screen:
        from segtui.tui.screens.overview import OverviewScreen

        return OverviewScreen()

    def on_mount(self) -> None:
        if self.keymap:
            self.set_keymap(self.keymap)

    # --- state -----------------------------------------------------------------------------------

    def set_snapshots(self, snapshots: list[Snapshot], current: Snapshot | None) -> None:
        self.snapshots = snapshots
        self.snapshot = current
        self.snapshots_loaded = True

    def set_snapshot(self, snap: Snapshot) -> None:
        if self.snapshot is not None and snap.id == self.snapshot.id:
            return
        self.snapshot = snap
        for screen in self.screen_stack:
            if isinstance(screen, BaseScreen):
                screen.snapshot_changed()

    def previous_snapshot(self, snap: Snapshot | None = None) -> Snapshot | None:
        snap = snap or self.snapshot
        return None if snap is None else Store.previous(self.snapshots, snap)

    def warm_up(self, *, now: bool = False) -> None:
        """After the first paint, import the other screens (and read the playbooks) so the first visit
        to each is as quick as the next; then settle memory (see :func:`settle_memory`). ``now``: do
        it here (a worker's thread), else in a worker of its own. Runs once."""
        with self._segments_lock:
            if self._warmed:
                return
            self._warmed = True

        def work() -> None:
            for name in ("accounts", "account", "migration", "profitability", "cohorts", "help", "prompt"):
                importlib.import_module(f"segtui.tui.screens.{name}")
            try:
                self.segments  # noqa: B018 - read now, off the UI thread
            except Exception:  # noqa: BLE001 - the account screen reports it where the playbook goes
                pass
            settle_memory()

        if now:
            work()
        else:
            self.run_worker(work, thread=True, group="warm-up", exit_on_error=False)

    # --- measurement hooks (tests and bench/tui.py) -------------------------------------------------

    def note_settled(self, screen: Screen, what: str) -> None:
        self.settle_log.append((time.perf_counter(), type(screen).__name__, what))

    def log_timing(self, what: str, seconds: float) -> None:
        self.timings.append((what, seconds))

    # --- actions ---------------------------------------------------------------------------------

    def action_help(self) -> None:
        screen = self.screen
        if not isinstance(screen, BaseScreen):
            return
        self.push_screen(HelpScreen(f"{screen.TITLE_TEXT} — keys", screen.HELP, screen.scopes()))

    def action_back(self) -> None:
        screen = self.screen
        if isinstance(screen, BaseScreen) and screen.cancel_tasks():
            return
        if self.cancel_scoring():
            return
        if len(self.screen_stack) > 1:
            self.pop_screen()

    def action_reload(self) -> None:
        screen = self.screen
        if isinstance(screen, BaseScreen):
            self.store.forget()  # read from the store again, not from memory
            screen.reload()

    def action_quit_or_back(self) -> None:
        if len(self.screen_stack) > 1:
            self.pop_screen()
        else:
            self.exit()

    def _no_snapshot(self) -> bool:
        """Say why a screen that needs a snapshot cannot open; True if it cannot."""
        if not self.snapshots_loaded:
            self.notify("Still reading the store: try again in a moment.", timeout=3)
            return True
        if self.snapshot is None:
            self.notify("No snapshot yet: press r to score the store, or run `segtui score`.", severity="warning")
            return True
        return False

    def action_go(self, name: str) -> None:
        from segtui.tui.screens.cohorts import CohortsScreen
        from segtui.tui.screens.migration import MigrationScreen
        from segtui.tui.screens.profitability import ProfitabilityScreen

        if name == "overview":
            while len(self.screen_stack) > 1:
                self.pop_screen()
            return
        kind = {"migration": MigrationScreen, "profitability": ProfitabilityScreen, "cohorts": CohortsScreen}[name]
        if isinstance(self.screen, kind) or self._no_snapshot():
            return
        self.open_screen(kind())

    def open_screen(self, screen: BaseScreen) -> None:
        """Push ``screen``; for a kind of screen that can be reused (``REUSE``), a composed one of that
        kind not on the stack now shows ``screen``'s subject instead: composing and styling a screen
        is most of the time it takes to open it. Two of each kind are kept."""
        kind = type(screen)
        if not kind.REUSE:
            self.push_screen(screen)
            return
        pool = self._pools.setdefault(kind.__name__, [])
        free = next((s for s in pool if s.is_mounted and s not in self.screen_stack), None)
        if free is not None:
            free.adopt(screen)
            self.push_screen(free)
            return
        if len(pool) < 2:
            pool.append(screen)
            self.install_screen(screen, name=f"{kind.__name__}-{len(pool)}")
        self.push_screen(screen)

    async def prewarm(self) -> None:
        """Compose an account list, an account screen and a migration screen ahead of time, off screen, for the pool of
        :meth:`open_screen`, so that even the first visit to each skips composing and styling them.
        Runs on the UI loop after the background read; logs ``warm`` when done."""
        from textual.widget import AwaitMount

        from segtui.tui.screens.account import AccountScreen
        from segtui.tui.screens.accounts import AccountsScreen
        from segtui.tui.screens.migration import MigrationScreen

        register = getattr(self, "_register", None)  # Textual's own way to mount a screen it will show later
        for kind, make in ((AccountsScreen, AccountsScreen.blank), (AccountScreen, AccountScreen.blank),
                           (MigrationScreen, MigrationScreen.make_blank)):
            pool = self._pools.setdefault(kind.__name__, [])
            if pool or register is None:
                continue
            screen = make()
            self.install_screen(screen, name=f"{kind.__name__}-ahead")
            try:
                await AwaitMount(screen, register(self, screen))
            except Exception:  # noqa: BLE001 - a screen that could not be prepared is composed when opened
                self.uninstall_screen(screen)
                continue
            # in the pool once composed (opened before that, it would be shown and then hidden by its
            # own mount handler); one opened meanwhile may have filled the pool
            if len(pool) < 2:
                pool.append(screen)
            else:
                self.uninstall_screen(screen)
        self.note_settled(self.screen, "warm")

    def action_pick_snapshot(self) -> None:
        if self._no_snapshot():
            return
        newest_first = list(reversed(self.snapshots))
        options = [(_snapshot_line(s), s) for s in newest_first]
        selected = next((i for i, s in enumerate(newest_first) if self.snapshot and s.id == self.snapshot.id), 0)

        def picked(snap: Snapshot | None) -> None:
            if snap is not None:
                self.set_snapshot(snap)

        self.push_screen(Picker("Snapshot to show", options, selected), picked)

    def action_score(self) -> None:
        if importlib.util.find_spec("segtui.scoring") is None:
            self.notify("Scoring is not part of this build yet; the snapshots already in the store can be browsed.",
                        title="Score", severity="warning", timeout=8)
            return
        if self.scoring is not None:
            self.notify("Scoring is already running (esc cancels it).", title="Score", timeout=4)
            return

        def answer(yes: bool | None) -> None:
            if yes:
                self._start_scoring()

        self.push_screen(Confirm("Score the store now?", "This writes a snapshot as of the latest data (replacing one "
                                 "of the same date and configuration). It runs in the background: keep browsing "
                                 "meanwhile; esc cancels it and leaves the store as it was."), answer)

    # --- scoring (an app-wide task, in a child process) ----------------------------------------------

    def scoring_argv(self) -> list[str] | None:
        """The scoring child's command line (None: ``segtui.tui.scorer``'s own); tests replace it."""
        return None

    def _start_scoring(self) -> None:
        from textual.worker import get_current_worker

        from segtui.tui.scorer import ScoringRun, ScoringStopped

        run = ScoringRun(self.db_path, self.scoring_argv())
        self._scoring_seq += 1
        seq = self._scoring_seq
        task = Task("score", seq, "scoring the store")
        store = self.store

        def body() -> None:
            worker = get_current_worker()
            outcome: BaseException | None = None
            try:
                for line in run.lines(lambda: worker.is_cancelled):
                    self.post_message(ScoringProgress(seq, line))
            except ScoringStopped as e:
                outcome = e
            except Exception as e:  # noqa: BLE001 - reported on screen
                outcome = e
            try:
                snapshots = store.snapshots()
            except Exception:  # noqa: BLE001 - keep the list the app has
                snapshots = None
            self.post_message(ScoringEnded(seq, snapshots, outcome, run.snapshot_id))

        self.scoring = task
        self.scoring_run = run
        self._scoring_before = {(x.id, x.created_at) for x in self.snapshots}
        task.worker = self.run_worker(body, thread=True, group="score", name="scoring", exit_on_error=False)
        self._show_tasks()

    def cancel_scoring(self) -> bool:
        """Stop the running scoring run (the store keeps its previous snapshots); True if one ran."""
        task = self.scoring
        if task is None or task.worker is None:
            return False
        if not task.worker.is_cancelled:
            task.worker.cancel()
            task.label = "stopping the scoring run"
            self._show_tasks()
        return True

    def on_scoring_progress(self, msg: ScoringProgress) -> None:
        if self.scoring is not None and self.scoring.seq == msg.seq and not self.scoring.worker.is_cancelled:
            self.scoring.label = f"scoring: {msg.line}"
            self._show_tasks()

    def on_scoring_ended(self, msg: ScoringEnded) -> None:
        from segtui.tui.scorer import ScoringStopped

        if self.scoring is None or self.scoring.seq != msg.seq:
            return
        self.scoring = None
        self._show_tasks()
        if msg.snapshots is not None:
            self.snapshots = msg.snapshots
        written = [x for x in msg.snapshots or [] if (x.id, x.created_at) not in self._scoring_before]
        if isinstance(msg.outcome, ScoringStopped) and written:
            # stopped after the core had committed: the snapshot is whole (only the history views'
            # packed copy of it may be missing, and they read the rows instead)
            snap = written[-1]
            self.notify(f"Scoring was stopped after it had written snapshot #{snap.id} as of {snap.as_of}: that "
                        "snapshot is complete, showing it.", title="Score", timeout=10)
            self.snapshot = None
            self.set_snapshot(snap)
        elif isinstance(msg.outcome, ScoringStopped):
            self.notify("Scoring cancelled: the store keeps the snapshots it had.", title="Score", timeout=6)
        elif msg.outcome is not None:
            self.notify(f"Scoring failed: {msg.outcome}", title="Score", severity="error", timeout=12)
        else:
            self.notify("Scoring finished: showing the new snapshot.", title="Score", timeout=6)
            written = [s for s in self.snapshots if s.id == msg.snapshot_id]
            newest = written[0] if written else max(self.snapshots, key=lambda s: (s.created_at, s.id), default=None)
            if newest is not None:
                self.snapshot = None
                self.set_snapshot(newest)
        if isinstance(self.screen, BaseScreen):
            self.call_after_refresh(self.note_settled, self.screen, "score")

    def _show_tasks(self) -> None:
        screen = self.screen
        if isinstance(screen, BaseScreen):
            screen.show_tasks()

    def app_tasks(self) -> list[Task]:
        """Tasks of the whole app (scoring), shown on every screen's task bar."""
        return [self.scoring] if self.scoring is not None else []

    def on_unmount(self) -> None:
        run = self.scoring_run
        if self.scoring is not None and run is not None:
            run.stop()  # quitting cancels a scoring run: the store keeps its previous snapshots


class ScoringProgress(Message):
    def __init__(self, seq: int, line: str) -> None:
        super().__init__()
        self.seq, self.line = seq, line


class ScoringEnded(Message):
    """The scoring child ended: ``outcome`` None (wrote ``snapshot_id``), ``ScoringStopped`` or the error."""

    def __init__(self, seq: int, snapshots: list[Snapshot] | None, outcome: BaseException | None,
                 snapshot_id: int | None) -> None:
        super().__init__()
        self.seq, self.snapshots, self.outcome, self.snapshot_id = seq, snapshots, outcome, snapshot_id


def settle_memory() -> None:
    """Collect once, then move every object alive now (modules, classes, screens, caches) out of
    the collector's sight (``gc.freeze``). With polars loaded a full collection walks tens of
    thousands of long-lived objects and takes tens of milliseconds; left alone it fires at random
    in the middle of painting a screen. Called after the first paint and after the warm-up."""
    gc.collect()
    gc.freeze()


def _snapshot_line(s: Snapshot) -> str:
    from segtui.tui import fmt

    return f"{s.as_of}  #{s.id:<4} {s.mode:<12} {s.accounts:>12,} accounts  {fmt.money(s.net_revenue):>18}"


def run(db_path: Path) -> None:
    """Open the TUI on the store at ``db_path`` (migrating an older schema first)."""
    from segtui.store import open_store

    conn = open_store(db_path)
    conn.close()
    SegtuiApp(Path(db_path)).run()


__all__ = ["SegtuiApp", "run"]
