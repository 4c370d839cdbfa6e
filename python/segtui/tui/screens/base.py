"""What every screen shares: a title line, a task bar (progress, cancel), the footer, tasks."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.screen import Screen
from rich.cells import cell_len, set_cell_size
from rich.text import Text
from textual.widgets import Static

from segtui.tui import actions, fmt

from segtui.tui.tasks import Task, TaskDone, TaskEnded, TaskProgress, run_in_thread

if TYPE_CHECKING:
    from segtui.tui.app import SegtuiApp


class TitleBar(Static):
    DEFAULT_CSS = """
    TitleBar { dock: top; height: 1; background: $panel; color: $foreground; text-style: bold; padding: 0 1; }
    """


class TaskBar(Static):
    """Running tasks, over the last line of the screen (an overlay: showing it never moves the layout).

    A task that finishes within ``DELAY`` seconds is never shown. Known progress is a text bar with
    its percentage; unknown progress shows the seconds elapsed. Redrawn a few times a second only
    while something runs (no animation competing with the work for the CPU).
    """

    DELAY = 0.15
    DEFAULT_CSS = """
    TaskBar { dock: bottom; layer: overlay; height: 1; margin: 0 0 1 0; padding: 0 1; display: none;
              background: $boost; color: $foreground; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.tasks: list[Task] = []
        self._timer = None

    def show_tasks(self, tasks: list[Task]) -> None:
        self.tasks = tasks
        if tasks and self._timer is None:
            self._timer = self.set_interval(0.25, self._redraw)
        elif not tasks and self._timer is not None:
            self._timer.stop()
            self._timer = None
        self._redraw()

    def _redraw(self) -> None:
        now = time.perf_counter()
        visible = [t for t in self.tasks if now - t.started >= self.DELAY]
        if not visible:
            if self.display:
                self.display = False
            return
        task = visible[-1]
        more = f" (+{len(visible) - 1} more)" if len(visible) > 1 else ""
        if task.fraction is None:
            how = f"{now - task.started:.1f} s"
        else:
            how = f"{fmt.bar(task.fraction, 12):<12}│ {task.fraction * 100:3.0f} %"
        hint = "esc cancels" if any(not t.background for t in visible) else "in the background"
        # the label gives way (ends with "…") so that the time and the hint always show
        tail = f"{more}  {how}  "
        room = (self.size.width or self.app.size.width) - 2 - cell_len("⏳ ") - cell_len(tail) - cell_len(hint)
        label = task.label if cell_len(task.label) <= room else set_cell_size(task.label, max(room - 1, 0)) + "…"
        text = Text(no_wrap=True, overflow="crop")
        text.append(f"⏳ {label}{tail}")
        text.append(hint, style="dim")
        self.update(text)
        if not self.display:
            self.display = True


class KeyBar(Static):
    """The footer: this screen's keys, generated from the action registry (effective keys, after
    ``[keys]`` rebinding). Help comes first, then the screen's own keys, the focused table's, the
    app's. Only whole entries are shown: when the terminal is too narrow for all of them, the ones
    that do not fit are left out and the bar ends with ``? more`` (the help screen lists them all)."""

    DEFAULT_CSS = """
    KeyBar { dock: bottom; height: 1; background: $footer-background; color: $footer-foreground; padding: 0 1; }
    """
    MORE = "more"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.entries: list[tuple[str, str]] = []

    def refresh_keys(self, scopes: tuple[str, ...]) -> None:
        from segtui.tui.screens.help import key_text

        keymap = getattr(self.app, "keymap", {})
        ordered = [s for s in scopes if s not in ("table", "app")] + [s for s in ("table", "app") if s in scopes]
        entries = [a for a in actions.REGISTRY if a.id == "app.help"]
        entries += [a for scope in ordered for a in actions.in_scope(scope) if a.footer and a.id != "app.help"]
        first = len(self.app.screen_stack) <= 1 or self.app.screen_stack[0] is self.screen
        self.entries = [(key_text(self.app, actions.effective_keys(a, keymap)[:1]),
                         "Quit" if first and a.id == "app.quit_or_back" else a.label) for a in entries]
        self.refresh()

    def fit(self, width: int) -> list[tuple[str, str]]:
        """The entries that fit in ``width`` cells, in order, with ``(help key, "more")`` last when some
        were left out."""
        def size(items: list[tuple[str, str]]) -> int:
            return sum(cell_len(k) + 1 + cell_len(label) for k, label in items) + 2 * max(len(items) - 1, 0)

        if size(self.entries) <= width or not self.entries:
            return list(self.entries)
        more = (self.entries[0][0], self.MORE)
        shown: list[tuple[str, str]] = []
        for entry in self.entries:
            if size([*shown, entry, more]) > width:
                break
            shown.append(entry)
        return [*shown, more]

    def render(self) -> Text:
        width = max(self.size.width - 2, 0) if self.size.width else 200  # less the padding
        text = Text(no_wrap=True, overflow="crop")
        for i, (key, label) in enumerate(self.fit(width)):
            if i:
                text.append("  ")
            text.append(key, style="bold")
            text.append(f" {label}")
        return text


class BaseScreen(Screen):
    """A screen with tasks. Subclasses set ``SCOPE``, ``HELP`` and ``TITLE``."""

    SCOPE: ClassVar[str] = ""
    #: keep the screen's ``.body`` out of the layout until its data first arrives (one paint, not two)
    HIDE_UNTIL_LOADED: ClassVar[bool] = False
    HELP: ClassVar[str] = ""
    TITLE_TEXT: ClassVar[str] = ""

    DEFAULT_CSS = """
    BaseScreen { layout: vertical; layers: default overlay; }
    .section-title { height: 1; margin: 1 0 0 0; padding: 0 1; text-style: bold; color: $text-accent; }
    .status { height: 1; padding: 0 1; color: $text-muted; }
    .empty { padding: 1 2; color: $text-warning; }
    """

    def __init__(self) -> None:
        super().__init__()
        self._tasks: dict[str, Task] = {}
        self._seq = 0
        self.body_hidden = False  # the body is kept out of the layout until the data arrives
        self.has_data = False

    @property
    def sapp(self) -> SegtuiApp:
        return self.app  # type: ignore[return-value]

    def compose_frame(self) -> ComposeResult:
        yield TitleBar("", id="title")
        yield TaskBar(id="tasks")
        yield KeyBar("", id="keys")

    def set_title(self, text: str) -> None:
        snap = self.sapp.snapshot
        where = f"{self.sapp.store.path.name}"
        if snap is not None:
            where += f" · snapshot {snap.as_of} (#{snap.id})"
        title = Text(no_wrap=True, overflow="ellipsis")  # one line; a narrow terminal shows "…" at the end
        title.append(f"segtui · {text}  ")
        title.append(where, style="dim")
        self.query_one("#title", TitleBar).update(title)

    # --- tasks --------------------------------------------------------------------------------

    def start_task(self, group: str, label: str, fn: Callable[..., Any], done: Callable[[Any], None] | None = None,
                   *, background: bool = False) -> None:
        """Run ``fn(progress, cancelled)`` in a worker; ``done(result)`` runs on the UI thread."""
        self._seq += 1
        task = Task(group, self._seq, label, background=background)
        self._tasks[group] = task
        task.worker = run_in_thread(self, task, fn, done)
        self._show_tasks()

    def drop_task(self, group: str) -> None:
        """Forget the task of ``group`` (cancelled; its result, if it comes, is ignored)."""
        task = self._tasks.pop(group, None)
        if task is not None:
            if task.worker is not None:
                task.worker.cancel()
            self._show_tasks()

    def running(self, group: str) -> bool:
        return group in self._tasks

    def cancel_tasks(self) -> bool:
        """Cancel the foreground tasks; True if there were any."""
        fg = [t for t in self._tasks.values() if not t.background]
        for t in fg:
            if t.worker is not None:
                t.worker.cancel()
            self._tasks.pop(t.group, None)
        if fg:
            self._show_tasks()
            self.notify(f"Cancelled: {fg[-1].label}. ctrl+r reads it again.", timeout=4)
            for t in fg:
                self.task_cancelled(t.group)
        return bool(fg)

    def task_cancelled(self, group: str) -> None:
        """A task of this screen was cancelled: say so in every table still waiting for its data."""
        from segtui.tui.widgets import TablePanel

        self.loaded()
        for panel in self.query(TablePanel):
            view = panel.grid.view
            if view is None or view.total == 0:
                panel.set_extra("not read: cancelled (ctrl+r reads it again)")

    def reload(self) -> None:
        """Read this screen's data again (``ctrl+r``)."""
        load = getattr(self, "load", None)
        if callable(load):
            load()

    def _show_tasks(self) -> None:
        self.show_tasks()

    def show_tasks(self) -> None:
        """Show this screen's tasks and the app's (a scoring run) on the task bar."""
        try:
            bar = self.query_one("#tasks", TaskBar)
        except Exception:
            return
        bar.show_tasks(list(self._tasks.values()) + self.sapp.app_tasks())

    def _current(self, group: str, seq: int) -> Task | None:
        task = self._tasks.get(group)
        return task if task is not None and task.seq == seq else None

    @on(TaskProgress)
    def _on_progress(self, msg: TaskProgress) -> None:
        task = self._current(msg.group, msg.seq)
        if task is None:
            return
        task.fraction, task.label = msg.fraction, msg.label
        self._show_tasks()

    @on(TaskDone)
    def _on_done(self, msg: TaskDone) -> None:
        task = self._current(msg.group, msg.seq)
        if task is None:
            return
        del self._tasks[msg.group]
        self._show_tasks()
        if msg.callback is not None:
            msg.callback(msg.result)
        self.sapp.log_timing(msg.group, time.perf_counter() - task.started)
        self.call_after_refresh(self.sapp.note_settled, self, msg.group)

    @on(TaskEnded)
    def _on_ended(self, msg: TaskEnded) -> None:
        task = self._current(msg.group, msg.seq)
        if task is None:
            return
        del self._tasks[msg.group]
        self._show_tasks()
        if msg.error is not None:
            self.loaded()
            self.notify(f"{task.label}: {msg.error}", title="Failed", severity="error", timeout=10)
            self.task_failed(msg.group, msg.error)
        self.call_after_refresh(self.sapp.note_settled, self, msg.group)

    def task_failed(self, group: str, error: BaseException) -> None:
        """Hook: show an error state in the screen."""

    # --- snapshot changes -------------------------------------------------------------------------

    def snapshot_changed(self) -> None:
        """Hook: the app's current snapshot changed; reload what depends on it."""

    def on_mount(self) -> None:
        # a subclass's mount handler may run first and show its data at once: never hide it then
        if self.HIDE_UNTIL_LOADED and not self.has_data:
            self.hide_body()
        self._refresh_keys()
        if self.sapp.scoring is not None:
            self.show_tasks()

    def hide_body(self) -> None:
        """Keep the body out of the layout until :meth:`loaded`. The body's own display style, not a
        class on the screen: a class change restyles every widget of the screen (tens of
        milliseconds), this only lays the body out again."""
        self.body_hidden = True
        self.has_data = False
        for body in self.query(".body"):
            body.display = False

    # --- reuse (see SegtuiApp.open_screen) ---------------------------------------------------------

    #: the attributes that say what the screen shows; a screen that has them can be reused for
    #: another subject (composed and styled once, not at every visit)
    REUSE: ClassVar[tuple[str, ...]] = ()

    def adopt(self, other: BaseScreen) -> None:
        """Show what ``other`` (a screen of the same kind, never mounted) was made to show."""
        for name in self.REUSE:
            setattr(self, name, getattr(other, name))
        self.hide_body()
        self.reopen()

    def reopen(self) -> None:
        """Hook: load the subject :meth:`adopt` gave this screen."""
        self.reload()

    def loaded(self) -> None:
        """The screen's data arrived (or will not): show its body."""
        self.has_data = True
        if self.body_hidden:
            self.body_hidden = False
            for body in self.query(".body"):
                body.display = True

    def on_descendant_focus(self) -> None:
        self._refresh_keys()

    def on_descendant_blur(self) -> None:
        self._refresh_keys()

    def _refresh_keys(self) -> None:
        grid = sys.modules.get("segtui.tui.grid")  # not imported yet: no table on screen (first paint)
        in_table = grid is not None and isinstance(self.focused, grid.Grid)
        scopes = tuple(s for s in (("table" if in_table else ""), self.SCOPE, "app") if s)
        try:
            self.query_one("#keys", KeyBar).refresh_keys(scopes)
        except Exception:
            return

    def on_screen_resume(self) -> None:
        self._refresh_keys()  # "q Back" or "q Quit" depends on where the screen is in the stack
        if self.sapp.scoring is not None or self._tasks:
            self.show_tasks()
        self.call_after_refresh(self.sapp.note_settled, self, "resume")

    @classmethod
    def scopes(cls) -> tuple[str, ...]:
        return tuple(s for s in (cls.SCOPE, "table", "app") if s)
