"""Work off the UI thread: every query, sort, filter, export and scoring run is a *task*.

A task runs ``fn(progress, cancelled)`` in a thread worker (exclusive per group: starting a task
cancels the previous one of the same group). It never touches widgets; it posts messages to its
screen, whose handlers (on the UI thread) apply the result and update the progress bar. ``escape``
cancels the screen's running foreground tasks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from textual.message import Message
from textual.worker import Worker, get_current_worker

from segtui.tui.data import Cancelled


class TaskProgress(Message):
    def __init__(self, group: str, seq: int, fraction: float | None, label: str) -> None:
        super().__init__()
        self.group, self.seq, self.fraction, self.label = group, seq, fraction, label


class TaskDone(Message):
    def __init__(self, group: str, seq: int, result: Any, callback: Callable[[Any], None] | None) -> None:
        super().__init__()
        self.group, self.seq, self.result, self.callback = group, seq, result, callback


class TaskEnded(Message):
    """Cancelled or failed (``error`` is None when cancelled)."""

    def __init__(self, group: str, seq: int, error: BaseException | None) -> None:
        super().__init__()
        self.group, self.seq, self.error = group, seq, error


@dataclass
class Task:
    group: str
    seq: int
    label: str
    worker: Worker | None = None
    fraction: float | None = None
    background: bool = False
    started: float = field(default_factory=time.perf_counter)


def run_in_thread(
    host: Any,
    task: Task,
    fn: Callable[[Callable[[float | None, str], None], Callable[[], bool]], Any],
    callback: Callable[[Any], None] | None,
) -> Worker:
    """Start ``fn`` in a thread worker owned by ``host`` (a screen); results come back as messages."""
    group, seq = task.group, task.seq

    def body() -> None:
        worker = get_current_worker()

        def cancelled() -> bool:
            return worker.is_cancelled

        def progress(fraction: float | None, label: str) -> None:
            if not worker.is_cancelled:
                host.post_message(TaskProgress(group, seq, fraction, label))

        try:
            result = fn(progress, cancelled)
        except Cancelled:
            host.post_message(TaskEnded(group, seq, None))
            return
        except Exception as e:  # shown on screen, never a crash of the app
            host.post_message(TaskEnded(group, seq, e))
            return
        if worker.is_cancelled:
            host.post_message(TaskEnded(group, seq, None))
        else:
            host.post_message(TaskDone(group, seq, result, callback))

    return host.run_worker(body, thread=True, exclusive=True, group=group, name=task.label, exit_on_error=False)
