"""Progress of long stages for whoever is watching: a live terminal display and Prefect progress artifacts.

The stage functions in `koprep.pipeline` take an optional `on_progress(done, total)` callback and
know nothing of where progress goes. `stage_progress(stage, unit)` builds that callback from what is
watching this process: the terminal display that `terminal_progress()` opened (only when stdout and
stderr are both terminals, so piped or logged output carries no progress noise) and, inside a
Prefect flow or task run, a progress artifact in the Prefect UI.
"""

from __future__ import annotations

import contextlib
import contextvars
import sys
import threading
import time
from typing import IO, TYPE_CHECKING, Callable, Iterator, cast

if TYPE_CHECKING:
    from uuid import UUID

    from rich.console import Console
    from rich.progress import Task

ProgressCallback = Callable[[int, int], None]
ARTIFACT_UPDATE_SECONDS = 1.0
"""Prefect progress artifacts are updated at most this often (each update is an API call)."""

_board_lock = threading.Lock()
_board: "TerminalBoard | None" = None


class TerminalBoard:
    """One live rich display with a bar per running stage: units done / total, rate, elapsed, ETA."""

    def __init__(self, console: Console) -> None:
        from rich.progress import (
            BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn,
        )
        from rich.text import Text

        class RateColumn(ProgressColumn):
            def render(self, task: Task) -> Text:
                speed = task.finished_speed or task.speed
                rate = f"{speed:,.1f}" if speed and speed < 10 else f"{speed or 0:,.0f}"
                return Text(f"{rate} {task.fields.get('unit', '')}/s" if speed else "", style="cyan")

        self.progress = Progress(
            TextColumn("{task.description:<9}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[unit]}"),
            RateColumn(), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            console=console, transient=False, redirect_stdout=False, redirect_stderr=False,
        )

    def callback(self, stage: str, unit: str) -> ProgressCallback:
        task_id = None
        lock = threading.Lock()

        def report(done: int, total: int) -> None:
            nonlocal task_id
            with lock:
                if task_id is None:
                    task_id = self.progress.add_task(stage, total=total, unit=unit)
                self.progress.update(task_id, completed=done, total=total)

        return report


@contextlib.contextmanager
def terminal_progress(stdout: IO[str] | None = None, stderr: IO[str] | None = None) -> Iterator[TerminalBoard | None]:
    """While open, stages in this process show live progress on `stderr`, but only if `stdout` and
    `stderr` are both terminals; otherwise nothing is displayed (yields None)."""
    global _board
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    if not (_isatty(stdout) and _isatty(stderr)):
        yield None
        return
    from rich.console import Console

    board = TerminalBoard(Console(file=stderr, force_terminal=True))
    with _board_lock:
        _board = board
    board.progress.start()
    try:
        yield board
    finally:
        board.progress.stop()
        with _board_lock:
            _board = None


def _isatty(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class PrefectProgress:
    """A Prefect progress artifact (percent done) for one stage of the current flow run, created on
    the first report and updated at most every `ARTIFACT_UPDATE_SECONDS` and at completion.

    Made in the task's thread; reports may come from other threads (gensim reads the corpus in its
    own), which carry none of the run's Prefect context: without it Prefect would not know the
    run's API and would start a temporary server. So every report runs in the creating thread's context.
    """

    def __init__(self, stage: str, unit: str) -> None:
        self.stage, self.unit = stage, unit
        self.artifact_id: UUID | None = None
        self.last_update = 0.0
        self.lock = threading.Lock()
        self.context = contextvars.copy_context()

    def __call__(self, done: int, total: int) -> None:
        with self.lock:  # also keeps the context from being entered twice at once
            self.context.run(self._report, done, total)

    def _report(self, done: int, total: int) -> None:
        from prefect.artifacts import create_progress_artifact, update_progress_artifact

        percent = 100.0 * done / total if total else 100.0
        now = time.monotonic()
        if self.artifact_id is None:
            # Typed for both of Prefect's dispatch modes; in this sync run context it returns the id, not a coroutine.
            self.artifact_id = cast("UUID", create_progress_artifact(
                progress=percent, key=f"koprep-progress-{self.stage}", description=f"koprep {self.stage}: {self.unit} done",
            ))
            self.last_update = now
        elif done >= total or now - self.last_update >= ARTIFACT_UPDATE_SECONDS:
            update_progress_artifact(artifact_id=self.artifact_id, progress=percent)
            self.last_update = now


def _in_prefect_run() -> bool:
    if "prefect" not in sys.modules:
        return False
    from prefect.context import FlowRunContext, TaskRunContext

    return FlowRunContext.get() is not None or TaskRunContext.get() is not None


def stage_progress(stage: str, unit: str) -> ProgressCallback | None:
    """The progress callback for `stage` counting `unit` (documents, shards): to the terminal display
    when one is open, and to a Prefect progress artifact inside a run. None when nobody watches."""
    sinks: list[ProgressCallback] = []
    with _board_lock:
        if _board is not None:
            sinks.append(_board.callback(stage, unit))
    if _in_prefect_run():
        sinks.append(PrefectProgress(stage, unit))
    if not sinks:
        return None

    def report(done: int, total: int) -> None:
        for sink in sinks:
            sink(done, total)

    return report


class ProgressCounter:
    """Counts units of work towards `total` for a stage: reports (0, total) at once, then each
    advance, never beyond `total`, and (total, total) on `finish`. Silent without a callback."""

    def __init__(self, on_progress: ProgressCallback | None, total: int) -> None:
        self.on_progress = on_progress
        self.total = max(int(total), 0)
        self.done = 0
        self.lock = threading.Lock()
        if on_progress is not None:
            on_progress(0, self.total)

    def advance(self, units: int = 1) -> None:
        if self.on_progress is None:
            return
        with self.lock:  # held while reporting, so reports from several threads stay in order
            self.done = min(self.done + units, self.total)
            self.on_progress(self.done, self.total)

    def finish(self) -> None:
        if self.on_progress is not None and self.done < self.total:
            self.advance(self.total - self.done)
