"""What every screen shares: a title line, a task bar (progress, cancel), the footer, tasks."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Label, ProgressBar, Static

from segtui.tui.tasks import Task, TaskDone, TaskEnded, TaskProgress, run_in_thread

if TYPE_CHECKING:
    from segtui.tui.app import SegtuiApp


class TitleBar(Static):
    DEFAULT_CSS = """
    TitleBar { dock: top; height: 1; background: $panel; color: $foreground; text-style: bold; padding: 0 1; }
    """


class TaskBar(Horizontal):
    """Shows running tasks: what, how far (a bar when known, else a pulse) and that escape cancels."""

    DEFAULT_CSS = """
    TaskBar { height: 1; display: none; padding: 0 1; background: $boost; }
    TaskBar.-busy { display: block; }
    TaskBar > Label { width: auto; }
    TaskBar > ProgressBar { width: 30; margin: 0 1; }
    TaskBar > ProgressBar > Bar { width: 20; }
    TaskBar > #task-hint { color: $text-muted; }
    """

    def compose(self) -> ComposeResult:
        yield Label("", id="task-label")
        yield ProgressBar(total=None, show_eta=False, id="task-bar")
        yield Label("", id="task-hint")

    def show_tasks(self, tasks: list[Task]) -> None:
        self.set_class(bool(tasks), "-busy")
        if not tasks:
            return
        task = tasks[-1]
        more = f" (+{len(tasks) - 1} more)" if len(tasks) > 1 else ""
        self.query_one("#task-label", Label).update(f"⏳ {task.label}{more}")
        bar = self.query_one("#task-bar", ProgressBar)
        if task.fraction is None:
            bar.update(total=None)
        else:
            bar.update(total=100, progress=round(task.fraction * 100))
        cancellable = any(not t.background for t in tasks)
        self.query_one("#task-hint", Label).update("esc cancels" if cancellable else "in the background")


class BaseScreen(Screen):
    """A screen with tasks. Subclasses set ``SCOPE``, ``HELP`` and ``TITLE``."""

    SCOPE: ClassVar[str] = ""
    HELP: ClassVar[str] = ""
    TITLE_TEXT: ClassVar[str] = ""

    DEFAULT_CSS = """
    BaseScreen { layout: vertical; }
    BaseScreen > #bottom { dock: bottom; height: auto; }
    BaseScreen > #bottom > Footer { dock: none; }
    .section-title { height: 1; margin: 1 0 0 0; padding: 0 1; text-style: bold; color: $text-accent; }
    .status { height: 1; padding: 0 1; color: $text-muted; }
    .empty { padding: 1 2; color: $text-warning; }
    """

    def __init__(self) -> None:
        super().__init__()
        self._tasks: dict[str, Task] = {}
        self._seq = 0

    @property
    def sapp(self) -> SegtuiApp:
        return self.app  # type: ignore[return-value]

    def compose_frame(self) -> ComposeResult:
        yield TitleBar("", id="title")
        with Vertical(id="bottom"):
            yield TaskBar(id="tasks")
            yield Footer(compact=True)

    def set_title(self, text: str) -> None:
        snap = self.sapp.snapshot
        where = f"{self.sapp.store.path.name}"
        if snap is not None:
            where += f" · snapshot {snap.as_of} (#{snap.id})"
        self.query_one("#title", TitleBar).update(f"segtui · {text}  [dim]{where}[/]")

    # --- tasks --------------------------------------------------------------------------------

    def start_task(self, group: str, label: str, fn: Callable[..., Any], done: Callable[[Any], None] | None = None,
                   *, background: bool = False) -> None:
        """Run ``fn(progress, cancelled)`` in a worker; ``done(result)`` runs on the UI thread."""
        self._seq += 1
        task = Task(group, self._seq, label, background=background)
        self._tasks[group] = task
        task.worker = run_in_thread(self, task, fn, done)
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
            self.notify(f"Cancelled: {fg[-1].label}", timeout=3)
        return bool(fg)

    def _show_tasks(self) -> None:
        try:
            bar = self.query_one("#tasks", TaskBar)
        except Exception:
            return
        bar.show_tasks(list(self._tasks.values()))

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
            self.notify(f"{task.label}: {msg.error}", title="Failed", severity="error", timeout=10)
            self.task_failed(msg.group, msg.error)
        self.call_after_refresh(self.sapp.note_settled, self, msg.group)

    def task_failed(self, group: str, error: BaseException) -> None:
        """Hook: show an error state in the screen."""

    # --- snapshot changes -------------------------------------------------------------------------

    def snapshot_changed(self) -> None:
        """Hook: the app's current snapshot changed; reload what depends on it."""

    def on_screen_resume(self) -> None:
        self.call_after_refresh(self.sapp.note_settled, self, "resume")

    @classmethod
    def scopes(cls) -> tuple[str, ...]:
        return tuple(s for s in (cls.SCOPE, "table", "app") if s)
