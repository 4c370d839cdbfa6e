"""Scoring from the TUI, in a child process that ``escape`` can stop.

The core scores a store in one call that cannot be interrupted from Python, so the TUI does not
run it in its own process: it starts ``python -m segtui.tui.scorer STORE`` (the same scoring as
``segtui score``: ``segtui.scoring.score_store`` then ``segtui.history.after_scoring``) and reads
its progress, one JSON object a line on stdout::

    {"progress": "loading line items"}
    {"done": 7}                       # the snapshot written
    {"error": "...", "exit": 1}       # a SegtuiError, with its exit code

Stopping it is ending the process (SIGTERM, then SIGKILL): the snapshot is written in one SQLite
transaction, so a run stopped before its commit leaves the store as it was (its journal is rolled
back by the next connection), and a run stopped after it has written a complete snapshot.

This module does not import Textual (the child must start quickly) and the parent side
(:class:`ScoringRun`) runs in a worker thread.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path


class ScoringFailed(Exception):
    """The child ended without writing a snapshot; the message is its own."""


class ScoringStopped(Exception):
    """``stop()`` ended the run before it finished."""


def command(db: Path) -> list[str]:
    """The child's command line: this interpreter, this module."""
    return [sys.executable, "-m", "segtui.tui.scorer", str(db)]


def _child_env() -> dict[str, str]:
    """The parent's environment, with the directory holding this ``segtui`` first on the path (so
    the child runs the same code as the TUI, a source checkout included)."""
    import segtui

    root = str(Path(segtui.__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONUNBUFFERED"] = "1"
    return env


class ScoringRun:
    """One scoring child process (parent side). ``lines(cancelled)`` yields its progress lines and
    returns when it has written its snapshot; it stops the child when ``cancelled()`` turns true."""

    GRACE = 3.0  # seconds between SIGTERM and SIGKILL

    def __init__(self, db: Path, argv: Sequence[str] | None = None) -> None:
        self.db = Path(db)
        self.argv = list(argv) if argv is not None else command(self.db)
        self.proc: subprocess.Popen[str] | None = None
        self.snapshot_id: int | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._stderr: list[str] = []

    def start(self) -> None:
        self.proc = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=_child_env(), start_new_session=True,  # a ctrl+c in the terminal goes to the TUI, not to it
        )
        threading.Thread(target=self._pump, args=(self.proc.stdout, self._lines), daemon=True).start()
        threading.Thread(target=self._pump_err, args=(self.proc.stderr,), daemon=True).start()

    @staticmethod
    def _pump(stream, out: queue.Queue) -> None:  # noqa: ANN001 - a text pipe
        for line in stream:
            out.put(line)
        out.put(None)

    def _pump_err(self, stream) -> None:  # noqa: ANN001 - a text pipe
        for line in stream:
            self._stderr.append(line)

    def lines(self, cancelled: Callable[[], bool]) -> Iterator[str]:
        """Progress lines until the child ends; raises :class:`ScoringStopped` (after ending it) when
        ``cancelled()``, :class:`ScoringFailed` when it fails."""
        if self.proc is None:
            self.start()
        error: str | None = None
        while True:
            if cancelled():
                self.stop()
                raise ScoringStopped()
            try:
                raw = self._lines.get(timeout=0.05)
            except queue.Empty:
                continue
            if raw is None:  # stdout closed: the child is ending
                break
            try:
                msg = json.loads(raw)
            except ValueError:
                continue  # not ours (a library writing to stdout)
            if "progress" in msg:
                yield str(msg["progress"])
            elif "done" in msg:
                self.snapshot_id = int(msg["done"])
            elif "error" in msg:
                error = str(msg["error"])
        assert self.proc is not None
        code = self.proc.wait()
        if code != 0 or self.snapshot_id is None:
            if error is None:
                tail = "".join(self._stderr).strip().splitlines()
                error = tail[-1] if tail else f"the scoring process ended with code {code}"
            raise ScoringFailed(error)

    def stop(self) -> None:
        """End the child: SIGTERM, then SIGKILL after :attr:`GRACE` seconds. Returns when it is gone."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(self.GRACE)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()


# --- the child ----------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m segtui.tui.scorer STORE", file=sys.stderr)
        return 2
    db = Path(args[0])

    def say(obj: dict) -> None:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    from segtui.errors import SegtuiError
    from segtui.history import after_scoring
    from segtui.scoring import score_store

    t0 = time.perf_counter()
    try:
        say({"progress": "opening the store"})
        info = score_store(db, quiet=True, progress=lambda line: say({"progress": line.strip()}))
        say({"progress": "keeping the snapshot's columns for the history views"})
        after_scoring(db, [info.id])
    except SegtuiError as e:
        say({"error": str(e), "exit": e.exit_code})
        return e.exit_code
    say({"progress": f"done in {time.perf_counter() - t0:.1f} s"})
    say({"done": info.id})
    return 0


if __name__ == "__main__":
    sys.exit(main())
