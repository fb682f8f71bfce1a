"""A stage in a process of its own, beside the flow's other stages.

gensim's training (word2vec, fastText) holds the GIL for part of every job (its job producer, and
its Cython worker's per-sentence vocabulary lookups), so as a thread of the flow's process it and
the vectorizers beside it slow each other down: on two cores, the stage that is the run's critical
path after tokenization gets neither core to itself. A stage the graph marks `own_process`
therefore runs, when the local runner runs it, in a spawned process started ahead of it
(`prestart`: it imports what the stage needs while the corpus is read and tokenized), so that the
stage and the vectorizers each use a core. Without a prestarted process (the Dask runner, `koprep
compare`, the tests' in-process runs) the stage runs where it is called, as before.

The process runs the same `run_stage` (lock, compute, publish) that a Dask worker would: the store's
invariants are the ones every process relies on, and the stage's output is the one computed in the
flow's process (the same code on the same inputs; tests/flows/test_stage_process.py). A kill of the
process leaves what a kill of the flow's process at the same point would, and the run fails with
`StageProcessError`; a kill of the flow's process ends it too (it watches its parent). Its progress
and its koprep warnings are passed to the flow's process; its error is raised there as the same
exception, with the process's traceback as a note.
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing
import os
import pickle
import signal
import threading
import time
import traceback
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Callable, Iterable

from koprep.errors import KoprepError

if TYPE_CHECKING:
    from koprep.pipeline.execution import StageResult
    from koprep.pipeline.keys import StageKey
    from koprep.pipeline.resolve import Resolution
    from koprep.plan import Plan
    from koprep.progress import ProgressCallback

log = logging.getLogger(__name__)

WARM_UP = ("koprep.pipeline.runner", "koprep.pipeline.graph", "gensim.models")
"""What the process imports before its stage arrives: the pipeline, and gensim (~1 s), which the
stages that run in their own process (word2vec, fastText) train with."""
PARENT_CHECK_SECONDS = 0.1
"""How often the process looks whether the flow's process is still there (it exits when not)."""


class StageProcessError(KoprepError):
    """A stage's own process ended before it answered (killed, out of memory)."""


# ------------------------------------------------------------------------------ the process
def _exit_with_parent(parent: int) -> None:
    while True:
        time.sleep(PARENT_CHECK_SECONDS)
        if os.getppid() != parent:
            os._exit(1)


class _ToParent(logging.Handler):
    """koprep's warnings, passed to the flow's process (which logs them as its own)."""

    def __init__(self, send: Callable[[tuple], None]) -> None:
        super().__init__(logging.WARNING)
        self.send = send

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.send(("log", record.name, record.levelno, record.getMessage()))
        except Exception:  # noqa: BLE001 - a lost warning must not fail the stage
            self.handleError(record)


def _portable(error: BaseException) -> BaseException:
    """`error` if it survives pickling, else a StageProcessError saying what it was."""
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:  # noqa: BLE001 - any exception that cannot cross the pipe
        return StageProcessError(f"{type(error).__name__}: {error}")
    return error


def _serve(conn: Connection, parent: int, imports: tuple[str, ...]) -> None:
    """The process's body: import, wait for one stage, run it, answer."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the flow's to handle; it stops this process
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True, name="koprep-parent-watch").start()
    for module in imports:
        importlib.import_module(module)
    sending = threading.Lock()

    def send(message: tuple) -> None:
        with sending:
            conn.send(message)

    logging.getLogger("koprep").addHandler(_ToParent(send))
    try:
        job = conn.recv()
    except EOFError:
        return
    if job is None:
        return
    run, key, inputs, reports_progress = job
    from koprep.pipeline.runner import run_stage

    def on_progress(done: int, total: int) -> None:
        send(("progress", done, total))

    try:
        result = run_stage(run, key, inputs, on_progress if reports_progress else None)
    except BaseException as exc:  # noqa: BLE001 - raised again in the flow's process
        send(("error", _portable(exc), traceback.format_exc()))
        return
    send(("done", result))


# ------------------------------------------------------------------------------ the flow's side
class StageProcess:
    """One spawned process that will run one stage (`run`)."""

    def __init__(self, stage: str, imports: tuple[str, ...] = WARM_UP) -> None:
        self.stage = stage
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=_serve, args=(child, os.getpid(), imports), daemon=True, name=f"koprep-{stage}",
        )
        self.process.start()
        child.close()

    def run(
        self, run: Resolution, key: StageKey, inputs: dict[str, StageResult], on_progress: ProgressCallback | None = None,
    ) -> StageResult:
        """`runner.run_stage(run, key, inputs, on_progress)` in the process; the process ends after it."""
        try:
            self.conn.send((run, key, inputs, on_progress is not None))
            while True:
                kind, *payload = self.conn.recv()
                if kind == "progress" and on_progress is not None:
                    on_progress(*payload)
                elif kind == "log":
                    name, level, message = payload
                    logging.getLogger(name).log(level, message)
                elif kind == "error":
                    error, trace = payload
                    error.add_note(f"in the {key.stage} stage's own process:\n{trace}")
                    raise error
                elif kind == "done":
                    return payload[0]
        except (EOFError, OSError):
            raise StageProcessError(
                f"the {key.stage} stage's process ended before it finished ({self._how_it_ended()}); "
                "what it had not published is left out of the store: run again"
            ) from None
        finally:
            self.stop()

    def _how_it_ended(self) -> str:
        self.process.join(5)
        return f"it {how_a_process_ended(self.process.exitcode)}"

    def stop(self) -> None:
        if self.process.is_alive():
            try:
                self.conn.send(None)
            except OSError:
                pass
            self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


def how_a_process_ended(exitcode: int | None) -> str:
    """A process's exit code in words: "was killed by SIGKILL", "exited with status 1"."""
    if exitcode is not None and exitcode < 0:
        try:
            return f"was killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"was killed by signal {-exitcode}"
    return f"exited with status {exitcode}"


_prestarted: dict[str, StageProcess] = {}
_lock = threading.Lock()


def stages_to_prestart(plan: Plan) -> list[str]:
    """The stages of `plan` that run in their own process and have something to compute."""
    return [name for name, planned in plan.stages.items() if plan.run.graph[name].own_process and not planned.done]


def prestart(stages: Iterable[str]) -> None:
    """Start a process for each of `stages` (unless one is started already)."""
    with _lock:
        for stage in stages:
            if stage not in _prestarted:
                _prestarted[stage] = StageProcess(stage)


def discard_prestarted() -> None:
    """Stop the processes no stage took (the run failed before them)."""
    with _lock:
        unused = list(_prestarted.values())
        _prestarted.clear()
    for process in unused:
        process.stop()


def run_stage(
    run: Resolution, key: StageKey, inputs: dict[str, StageResult], on_progress: ProgressCallback | None = None,
) -> StageResult:
    """`runner.run_stage`, in the process prestarted for `key.stage` if there is one, else here."""
    with _lock:
        process = _prestarted.pop(key.stage, None)
    if process is None:
        from koprep.pipeline.runner import run_stage as here

        return here(run, key, inputs, on_progress)
    return process.run(run, key, inputs, on_progress)
