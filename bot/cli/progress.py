"""Operation progress of `shipmate apply`, `destroy` and `release rollback`, from the executor's
events (`bot.app.executor.Event`).

On a terminal (`Style.live`) a `rich` display on stderr: a bar with done/total, the rate in
operations per second, the elapsed time and an estimate of the time left, and below it what
is going on now — the resource waiting for readiness and why, else the operation running:

    ⠋ apply ━━━━━━━━━━━━━━━╺━━━━━━━━━━━━━━ 3/7 0.8 ops/s 0:00:04 0:00:05
      waiting for readiness: apps/v1:Deployment:shop:web (1/2 updated, 0/2 available)

(what it lacks is what the runtime says, `bot.core.runtimes.waiting_for`). Otherwise one
plain line per event, as a log reads it:

    start   Create    v1:ConfigMap:shop:web
    done    Create    v1:ConfigMap:shop:web
    waiting Update    apps/v1:Deployment:shop:web: 1/2 updated, 0/2 available
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import TextIO

from rich.console import Console, RenderableType
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichProgress
from rich.text import Text

from bot.app.executor import Event
from bot.cli.style import PLAIN, Style
from bot.core.preview.model import ChangeSet

FINISHED = ("done", "failed", "skipped")


class Progress:
    """Progress of one run (see the module docstring); use it as a context manager so the live
    display ends with the run.

    `watching(confirm)` wraps the confirmation so the total comes from the change set the
    person confirmed (the operations that will run), with no extra read of the backend.
    """

    def __init__(self, verb: str = "apply", style: Style = PLAIN, out: TextIO | None = None) -> None:
        self.verb = verb
        self.total = 1
        self.done = 0
        self.out = out or sys.stderr
        self.style = style
        self._lock = threading.RLock()  # a signal handler's note may come while an event is shown
        self._running: dict[str, str] = {}  # id → action, in the order they started
        self._waiting: dict[str, str] = {}  # id → why
        self._bar: _Bar | None = None
        self._task = TaskID(0)

    def watching(self, confirm: Callable[[ChangeSet], bool]) -> Callable[[ChangeSet], bool]:
        def counted(changeset: ChangeSet) -> bool:
            self.total = max(len(changeset.changed_steps()), 1)
            return confirm(changeset)

        return counted

    def __call__(self, event: Event) -> None:
        with self._lock:
            if event.kind == "start":
                self._running[event.id] = event.action
            elif event.kind == "waiting":
                self._waiting[event.id] = event.message
            elif event.kind in FINISHED:
                self.done += 1
                self._running.pop(event.id, None)
                self._waiting.pop(event.id, None)
            if self.style.live:
                self._show()
            else:
                detail = f": {event.message}" if event.message else ""
                self.out.write(f"{event.kind:<7} {event.action:<9} {event.id}{detail}\n")
                self.out.flush()

    def note(self, text: str) -> None:
        """A line for the person, above the live display when there is one."""
        with self._lock:
            if self._bar is not None:
                self._bar.console.print(text, markup=False, highlight=False)
                return
        self.out.write(text + "\n")
        self.out.flush()

    def now(self) -> str:
        """What is going on: the first resource waiting for readiness and why, else the first
        operation running ("" when nothing is)."""
        if self._waiting:
            rid, why = next(iter(self._waiting.items()))
            more = f" (and {len(self._waiting) - 1} more)" if len(self._waiting) > 1 else ""
            return f"waiting for readiness: {rid}" + (f" ({why})" if why else "") + more
        if self._running:
            rid, action = next(iter(self._running.items()))
            more = f" (and {len(self._running) - 1} more)" if len(self._running) > 1 else ""
            return f"{action.lower()} {rid}{more}"
        return ""

    def _show(self) -> None:
        if self._bar is None:
            console = Console(file=self.out, force_terminal=True, no_color=self.style.no_color,
                              highlight=False)
            self._bar = _Bar(
                SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                RateColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                console=console, redirect_stdout=False, redirect_stderr=False, transient=False,
            )
            self._task = self._bar.add_task(self.verb, total=self.total)
            self._bar.start()
        self._bar.status = self.now()
        self._bar.update(self._task, completed=self.done, total=max(self.total, self.done), refresh=True)

    def close(self) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.status = ""
                self._bar.stop()
                self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class RateColumn(ProgressColumn):
    """Operations finished per second since the run started."""

    def render(self, task: Task) -> Text:
        elapsed = task.finished_time if task.finished else task.elapsed
        if not elapsed or not task.completed:
            return Text("-- ops/s", style="progress.data.speed")
        return Text(f"{task.completed / elapsed:.1f} ops/s", style="progress.data.speed")


class _Bar(RichProgress):
    """rich's progress bar with a status line under it."""

    status = ""

    def get_renderables(self) -> Iterable[RenderableType]:
        yield self.make_tasks_table(self.tasks)
        if self.status:
            yield Text(f"  {self.status}", overflow="ellipsis", no_wrap=True)
