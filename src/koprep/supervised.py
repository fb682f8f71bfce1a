"""Tokenizing in supervised worker processes, so that a document that breaks the analyser does not
break the run.

One document can end an analyser's process: a native analyser aborts (a C++ `abort()`, as
kiwipiepy#172 did on long digit runs), a JVM runs out of heap (konlpy#199), or Okt or soynlp runs
for minutes on one pathological text. In the calling process that would end or stall the whole run,
so the backend runs in worker processes that this module watches:

- Workers are spawned, never forked (a child forked after a JVM started hangs). Each receives the
  pickled tokenizer and token filter once, loads the analyser, says it is ready, then answers its
  batches in order with each batch's filtered tokens as Arrow list<string> buffers
  (`koprep.tokenizer_worker`, which runs in the worker and imports as little as it can). A worker
  holds up to `BATCHES_PER_WORKER` batches, so it never waits while the parent takes an answer and
  hands out the next.
- A worker that dies (a signal, an exit, a fatal error such as Java's OutOfMemoryError) or that has
  not answered within `timeout` seconds (it is killed) loses its batch (and the one it held next,
  which is handed out again as it was). The batch is retried in
  isolation on a fresh worker, one document at a time, each answered on its own: the document the
  worker then dies on, or that alone takes longer than `timeout`, is the offending one. It is
  quarantined (empty tokens, reported as a `Quarantined`), and the documents after it continue on
  another fresh worker. A retry that succeeds document by document quarantines nothing (a batch that
  was only slow).
- An exception the backend raises (bad options, a missing model) is not a crash: it is re-raised in
  the calling process as it is, and the run fails as it would in process.

Documents are tokenized by the same code in the worker as in process (`tokenize_texts`), each on its
own, so the tokens of every document that was not quarantined are the same whatever happened to
its batch. Results come back in input order.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import pickle
import signal
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from typing import Any, Iterable, Iterator, Sequence

import pyarrow as pa

from koprep.errors import KoprepError
from koprep.stages import tokenize as tokenize_logic
from koprep.tokenizer_worker import FATAL_EXIT, EncodedTokens, serve
from koprep.tokenizers.base import Tokenizer

log = logging.getLogger(__name__)
TOKENS_TYPE = pa.list_(pa.string())

DEFAULT_TIMEOUT = 120.0
"""Seconds a worker may take to answer a batch (and, retried in isolation, one document)."""
STARTUP_TIMEOUT = 300.0
"""Seconds a worker may take to import and load its analyser (a JVM, a model) before its first batch."""
BATCHES_PER_WORKER = 2
"""Batches a worker holds at once: the one it works on and the next, so that it does not wait for
the parent between them. Batches retried in isolation go only to a worker that holds nothing."""


class WorkerProcessError(KoprepError):
    """A worker process died without an answer (not an exception in the backend: those are re-raised as they are)."""


def _main_guard_hint(detail: str) -> str:
    return (
        f"a tokenizer worker process ended before it could tokenize ({detail}). A script that calls koprep "
        "must guard its entry point with `if __name__ == \"__main__\":`, because spawned workers import it; a "
        "worker killed for lack of memory ends the same way. `--workers 1` (run.workers = 1) with "
        "`--set run.supervise=false` tokenizes in this process instead."
    )


@dataclass(frozen=True)
class Quarantined:
    """A document the analyser could not get through: its position in its shard and why."""

    position: int
    reason: str


@dataclass
class ShardTokens:
    """One shard's filtered tokens (list<string>, one row per document, in order) and the documents quarantined in it."""

    tokens: pa.Array
    quarantined: list[Quarantined] = field(default_factory=list)


def tokens_array(tokens: list[list[str]]) -> pa.Array:
    return pa.array(tokens, type=TOKENS_TYPE)


def decode_tokens(encoded: EncodedTokens) -> pa.Array:
    """The list<string> array a worker sent as buffers (`koprep.tokenizer_worker.encode_tokens`); no copy.
    Equal to `tokens_array` of the same lists."""
    documents, document_offsets, token_offsets, data = encoded
    values = pa.Array.from_buffers(
        pa.string(), (len(token_offsets) // 4) - 1, [None, pa.py_buffer(token_offsets), pa.py_buffer(data)]
    )
    return pa.Array.from_buffers(TOKENS_TYPE, documents, [None, pa.py_buffer(document_offsets)], children=[values])


def tokenize_batch(tokenizer: Tokenizer, texts: Sequence[str], token_filter: tokenize_logic.TokenFilter) -> pa.Array:
    return tokens_array(tokenize_logic.tokenize_texts(tokenizer, texts, token_filter))


def can_supervise() -> bool:
    """Whether this process may start worker processes (a daemonic one, such as a Dask worker, may not)."""
    return not multiprocessing.current_process().daemon


def batches(shards: Iterable[Sequence[str]], size: int) -> Iterator[tuple[bool, Sequence[str]]]:
    """(is the last batch of its shard, texts); an empty shard is one empty batch, so it still yields."""
    for texts in shards:
        starts = range(0, len(texts), size) if len(texts) else range(1)
        for start in starts:
            yield start + size >= len(texts), list(texts[start : start + size])


# ----------------------------------------------------------------------------- the parent side
class _Batch:
    """A batch as handed out: its texts, the answers so far (in order), what was quarantined."""

    def __init__(self, last_of_shard: bool, texts: Sequence[str]) -> None:
        self.last_of_shard = last_of_shard
        self.texts = texts
        self.pieces: list[pa.Array] = []
        self.answered = 0
        self.quarantined: list[Quarantined] = []
        self.isolated = False
        """Retried one document at a time after a crash or timeout."""

    @property
    def finished(self) -> bool:
        return self.answered >= len(self.texts)

    def add(self, tokens: pa.Array) -> None:
        self.pieces.append(tokens)
        self.answered += len(tokens)

    def quarantine(self, reason: str) -> None:
        self.quarantined.append(Quarantined(self.answered, reason))
        self.add(tokens_array([[]]))

    def tokens(self) -> pa.Array:
        return pa.concat_arrays(self.pieces) if self.pieces else tokens_array([])


@contextlib.contextmanager
def _start_method_a_child_knows() -> Iterator[None]:
    """A spawned child first sets its parent's default start method. In a process whose default is
    one a plain child cannot know ("loky" in joblib's workers: GridSearchCV(n_jobs=2) over
    KoprepVectorizer) the child would die at once, so the default is "spawn" while a worker starts."""
    current = multiprocessing.get_start_method(allow_none=True)
    if current is None or current in multiprocessing.get_all_start_methods():
        yield
        return
    multiprocessing.set_start_method("spawn", force=True)
    try:
        yield
    finally:
        multiprocessing.set_start_method(current, force=True)


class _Worker:
    def __init__(self, context: Any, tokenizer: Tokenizer, token_filter: tokenize_logic.TokenFilter) -> None:
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=serve, args=(child, tokenizer, token_filter), daemon=True, name="koprep-tokenizer",
        )
        with _start_method_a_child_knows():
            self.process.start()
        child.close()
        self.ready = False
        self.fatal = ""
        """The fatal error the worker reported before it exited."""
        self.batches: deque[_Batch] = deque()
        """The batches handed to it, in the order it answers them: it works on the first."""
        self.deadline = time.monotonic() + STARTUP_TIMEOUT
        """When the batch it works on (or its start-up) is overdue."""

    def can_take(self, isolated: bool) -> bool:
        """Whether to hand it a batch (`isolated`: one retried in isolation) now: it is ready, not
        full, and an isolated batch is the only one it holds (so that a crash points at its document)."""
        if not self.ready or len(self.batches) >= BATCHES_PER_WORKER:
            return False
        return not self.batches or not (isolated or self.batches[0].isolated)

    def start(self, batch: _Batch, timeout: float) -> None:
        if not self.batches:
            self.deadline = time.monotonic() + timeout
        self.batches.append(batch)
        try:
            self.conn.send((batch.isolated, batch.texts[batch.answered :] if batch.isolated else batch.texts))
        except OSError:  # it has just died (on the batch it held): `Supervisor._watch` sees that and hands this one out again
            pass

    def how_it_ended(self) -> str:
        code = self.process.exitcode
        if code == FATAL_EXIT or self.fatal:
            return f"the analyser failed fatally ({self.fatal or 'see the worker message above'})"
        if code is not None and code < 0:
            try:
                return f"the analyser's process was killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"the analyser's process was killed by signal {-code}"
        return f"the analyser's process exited with status {code}"

    def stop(self, kill: bool = False) -> None:
        if not kill and self.process.is_alive():
            try:
                self.conn.send(None)
            except OSError:
                kill = True
            self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
        self.process.join()
        self.conn.close()


_prestarted: dict[bytes, list[_Worker]] = {}
"""Workers started ahead of their run (`prestart`), by what they were started with (pickled)."""


def prestart(tokenizer: Tokenizer, token_filter: tokenize_logic.TokenFilter, workers: int) -> None:
    """Start the worker processes a `Supervisor` with these arguments will take over, so that loading
    the analyser (a JVM, a model) overlaps with whatever this process does meanwhile."""
    if not can_supervise():
        return
    context = multiprocessing.get_context("spawn")
    _prestarted.setdefault(_started_with(tokenizer, token_filter), []).extend(
        _Worker(context, tokenizer, token_filter) for _ in range(workers)
    )


def discard_prestarted() -> None:
    """Stop the prestarted workers nobody took over: the run turned out to need fewer, or other ones
    (other settings, or none: tokenizing in process).
    They are killed: one may still be loading its analyser, and waiting for that would only cost."""
    for workers in _prestarted.values():
        for worker in workers:
            worker.stop(kill=True)
    _prestarted.clear()


def _started_with(tokenizer: Tokenizer, token_filter: tokenize_logic.TokenFilter) -> bytes:
    """What a prestarted worker is matched by: the pickled tokenizer and filter, without the backend's
    own thread count (`with_workers`: an execution-only setting, it never changes a token), so that a
    worker prestarted with Kiwi's threads for a small corpus also serves as one of a large one's."""
    with_workers = getattr(tokenizer, "with_workers", None)
    return pickle.dumps((with_workers(1) if with_workers is not None else tokenizer, token_filter))


class Supervisor:
    """Worker processes running `tokenizer` (`workers` of them), watched as the module docstring says."""

    def __init__(
        self, tokenizer: Tokenizer, token_filter: tokenize_logic.TokenFilter, workers: int,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.tokenizer, self.token_filter, self.timeout = tokenizer, token_filter, timeout
        self.context = multiprocessing.get_context("spawn")
        started = _prestarted.pop(_started_with(tokenizer, token_filter), [])
        self.workers = [started.pop() if started else self._spawn() for _ in range(workers)]
        for extra in started:
            extra.stop()
        discard_prestarted()
        self.queue: deque[_Batch] = deque()
        """Batches a lost worker held: the one it was on (to retry in isolation) and the one it held next
        (as it was); handed out before any new batch."""

    def _spawn(self) -> _Worker:
        return _Worker(self.context, self.tokenizer, self.token_filter)

    def close(self) -> None:
        for worker in self.workers:
            worker.stop(kill=bool(worker.batches))

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def tokenize(self, items: Iterable[tuple[bool, Sequence[str]]], in_flight: int) -> Iterator[ShardTokens]:
        """Each shard's tokens from (last batch of its shard, texts) items, in input order; at most
        `in_flight` batches are handed out or waiting to be yielded at once."""
        items = iter(items)
        outstanding: deque[_Batch] = deque()
        pieces: list[pa.Array] = []
        quarantined: list[Quarantined] = []
        offset = 0
        exhausted = False
        while True:
            for worker in self.workers:
                while True:  # fill the worker up to BATCHES_PER_WORKER
                    if self.queue:
                        if not worker.can_take(self.queue[0].isolated):
                            break
                        worker.start(self.queue.popleft(), self.timeout)
                        continue
                    if exhausted or len(outstanding) >= in_flight or not worker.can_take(isolated=False):
                        break
                    item = next(items, None)
                    if item is None:
                        exhausted = True
                        break
                    batch = _Batch(*item)
                    outstanding.append(batch)
                    worker.start(batch, self.timeout)
            while outstanding and outstanding[0].finished:
                batch = outstanding.popleft()
                pieces.append(batch.tokens())
                quarantined += [Quarantined(offset + q.position, q.reason) for q in batch.quarantined]
                offset += len(batch.texts)
                if batch.last_of_shard:
                    yield ShardTokens(pa.concat_arrays(pieces), quarantined)
                    pieces, quarantined, offset = [], [], 0
            if exhausted and not outstanding:
                return
            self._watch()

    def _watch(self) -> None:
        """Wait for an answer, a death or a deadline, and deal with what happened."""
        now = time.monotonic()
        waiting = [w for w in self.workers if w.batches or not w.ready]
        if not waiting:
            return
        deadline = min(w.deadline for w in waiting)
        ready = wait([w.conn for w in waiting] + [w.process.sentinel for w in waiting], max(0.0, deadline - now))
        for index, worker in enumerate(list(self.workers)):
            if worker not in waiting:
                continue
            if worker.conn in ready and self._read(worker):
                continue
            if worker.conn in ready:  # its pipe broke: it is ending
                worker.process.join(5)
            if not worker.process.is_alive():
                self._lost(index, worker, worker.how_it_ended())
            elif time.monotonic() > worker.deadline:
                seconds = self.timeout if worker.ready else STARTUP_TIMEOUT
                self._lost(index, worker, f"the analyser did not answer within {seconds:g} s (killed)", kill=True)

    def _read(self, worker: _Worker) -> bool:
        """Take every answer waiting from `worker`; False when its pipe broke (it died)."""
        try:
            while worker.conn.poll():
                kind, payload = worker.conn.recv()
                if kind == "error":
                    raise payload
                if kind == "fatal":
                    worker.fatal = payload
                    return False
                if kind == "ready":
                    worker.ready = True
                    worker.deadline = time.monotonic() + self.timeout
                    continue
                assert worker.batches, "a worker answers only the batches it was given"
                batch = worker.batches[0]
                if kind == "document":
                    batch.add(decode_tokens(payload))
                elif kind == "done":
                    if payload is not None:
                        batch.add(decode_tokens(payload))
                    worker.batches.popleft()
                worker.deadline = time.monotonic() + self.timeout  # for its next document or batch
        except (EOFError, OSError):
            return False
        return True

    def _lost(self, index: int, worker: _Worker, reason: str, kill: bool = False) -> None:
        """A worker died or hung: retry its batch in isolation, or quarantine the document it was on."""
        worker.stop(kill=True)
        if not worker.ready:
            raise WorkerProcessError(_main_guard_hint(reason))
        batch = worker.batches.popleft() if worker.batches else None
        self.queue.extendleft(reversed(worker.batches))  # not started, or not to blame: handed out again as they are
        if batch is not None and not batch.finished:
            if not batch.isolated:
                log.warning("%s on a batch of %d documents; retrying them one at a time", reason, len(batch.texts))
                batch.isolated = True
            else:
                log.warning("quarantined a document (%s): %.80r", reason, batch.texts[batch.answered])
                batch.quarantine(reason)
                if len(batch.quarantined) >= 3 and 2 * len(batch.quarantined) > batch.answered:
                    raise WorkerProcessError(
                        f"the tokenizer fails on most documents, not on a few ({len(batch.quarantined)} of the "
                        f"first {batch.answered} of a batch; last: {reason}); check the backend and its options"
                    )
            if not batch.finished:
                self.queue.appendleft(batch)
        self.workers[index] = self._spawn()
