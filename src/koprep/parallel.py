"""Tokenize on several cores, each backend the way it parallelises best; results in input order.

A backend says how through its `parallelism` attribute (`koprep.tokenizers.base.PARALLELISM`):

- "processes": spawned worker processes. Never forked: a child forked from a process whose JVM has
  started hangs, and MeCab and soynlp hold the GIL, so threads would not help them. Each worker
  receives the tokenizer once (pickled: backends hold their options and plain data, and build their
  native analyser on first use) and then batches of texts; each batch comes back as an Arrow
  list<string> array, so the parent never unpickles a Python object per token.
- "own": the backend spreads each batch over workers of its own (Kiwi's thread pool, Okt's threads
  on the process's one JVM); `with_workers(n)` returns it set up for n.
- "none" (the default): in the calling process, for backends cheaper than shipping texts elsewhere.

The number of workers never changes a result: every batch is tokenized and filtered on its own,
by the same code, and the batches are put back in input order.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import threading
from collections import deque
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Protocol, Sequence, cast

import pyarrow as pa

from koprep.errors import KoprepError
from koprep.stages import tokenize as tokenize_logic
from koprep.tokenizers.base import Parallelism, Tokenizer, TrainableTokenizer, parallelism

log = logging.getLogger(__name__)
TOKENS_TYPE = pa.list_(pa.string())

BATCH = tokenize_logic.BATCH
"""Texts per call in the calling process: what batch APIs (Kiwi) want, and all that is ever held as Python lists."""
PROCESS_BATCH = 500
"""Texts per batch sent to a worker process: small enough that the last batches of a stage keep every
worker busy, large enough that pickling a batch costs nothing beside tokenizing it."""
MIN_TEXTS_PER_PROCESS = 10_000
"""Below this many texts per worker, starting one costs more than it saves: a spawned worker takes 1-2 s
to import Python, pyarrow and pandas and load its dictionary, in which MeCab alone tokenizes ~10,000 reviews."""


class WorkerProcessError(KoprepError):
    """A worker process died without an answer (not an exception in the backend: those are re-raised as they are)."""


class _OwnWorkers(Protocol):
    """What a backend whose parallelism is "own" has besides `Tokenizer` (registry's contract check asks for it)."""

    def with_workers(self, workers: int) -> Tokenizer: ...


def default_workers() -> int:
    """The cores this process may run on (CPU affinity where the OS has it, else the machine's count)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def tokens_array(tokens: list[list[str]]) -> pa.Array:
    return pa.array(tokens, type=TOKENS_TYPE)


def tokenize_batch(tokenizer: Tokenizer, texts: Sequence[str], token_filter: tokenize_logic.TokenFilter) -> pa.Array:
    return tokens_array(tokenize_logic.tokenize_texts(tokenizer, texts, token_filter))


@dataclass(frozen=True)
class Plan:
    mode: Parallelism
    workers: int

    def __str__(self) -> str:
        if self.mode == "processes":
            return f"{self.workers} worker processes" if self.workers > 1 else "in process"
        return f"{self.workers} of the backend's own workers" if self.mode == "own" else "in process"


def plan(tokenizer: Tokenizer, workers: int, documents: int | None = None) -> Plan:
    """How `tokenize_shards` will spread the work. `documents` (the total, when known) lets a small
    corpus skip starting worker processes."""
    mode = parallelism(tokenizer)
    if mode == "processes" and documents is not None:
        workers = min(workers, max(1, math.ceil(documents / MIN_TEXTS_PER_PROCESS)))
    return Plan(mode, workers if mode != "none" else 1)


def tokenize_shards(
    tokenizer: Tokenizer,
    token_filter: tokenize_logic.TokenFilter,
    shards: Iterable[Sequence[str]],
    how: Plan,
) -> Iterator[pa.Array]:
    """Each shard's filtered tokens, one list<string> array per shard, shard after shard, as planned
    by `plan`. `shards` is read lazily: only the shards being worked on are in memory."""
    if how.mode == "processes" and how.workers > 1:
        yield from _on_processes(tokenizer, token_filter, shards, how.workers)
        return
    if how.mode == "own":
        tokenizer = cast(_OwnWorkers, tokenizer).with_workers(how.workers)  # the mode says it has the method
    # Batch by batch, so that only one batch's tokens are ever Python objects.
    results = ((last, tokenize_batch(tokenizer, texts, token_filter)) for last, texts in _batches(shards, BATCH))
    yield from _by_shard(results)


def warm_up(tokenizer: Tokenizer) -> threading.Thread | None:
    """Start loading `tokenizer` in this process (Okt's JVM and dictionaries, Kiwi's model) on a
    daemon thread, so that it overlaps with what a run does before tokenizing (importing Prefect,
    starting the flow run) instead of following it. Backends that tokenize in worker processes or
    need a trained model first gain nothing and are left alone. A failure here is ignored: the real
    tokenization reports it."""
    if parallelism(tokenizer) == "processes" or isinstance(tokenizer, TrainableTokenizer):
        return None

    def load() -> None:
        try:
            tokenizer.tokenize(["준비 운동"])
        except Exception as exc:  # noqa: BLE001 - the tokenize stage raises it properly
            log.debug("warming up %s failed: %s", tokenizer.name, exc)

    thread = threading.Thread(target=load, name=f"koprep-warm-up-{tokenizer.name}", daemon=True)
    thread.start()
    return thread


# ---------------------------------------------------------------------------- worker processes
_worker: tuple[Tokenizer, tokenize_logic.TokenFilter] | None = None


def _start_worker(tokenizer: Tokenizer, token_filter: tokenize_logic.TokenFilter) -> None:
    global _worker
    _worker = (tokenizer, token_filter)


def _worker_batch(texts: Sequence[str]) -> pa.Array:
    assert _worker is not None, "set by _start_worker, the pool's initializer"
    tokenizer, token_filter = _worker
    return tokenize_batch(tokenizer, texts, token_filter)


def _on_processes(
    tokenizer: Tokenizer, token_filter: tokenize_logic.TokenFilter, shards: Iterable[Sequence[str]], workers: int
) -> Iterator[pa.Array]:
    pool = ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker, initargs=(tokenizer, token_filter),
    )
    try:
        yield from _by_shard(ordered_map(pool, _worker_batch, _batches(shards, PROCESS_BATCH), in_flight=2 * workers))
    except BrokenProcessPool as exc:
        raise WorkerProcessError(
            f"a tokenizer worker process ended abruptly ({exc}). A script that calls koprep must guard its entry "
            "point with `if __name__ == \"__main__\":`, because spawned workers import it; a worker killed for "
            "lack of memory ends the same way. `--workers 1` (run.workers = 1) tokenizes in this process instead."
        ) from exc
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _by_shard(results: Iterable[tuple[bool, pa.Array]]) -> Iterator[pa.Array]:
    pieces: list[pa.Array] = []
    for last_of_shard, array in results:
        pieces.append(array)
        if last_of_shard:
            yield pa.concat_arrays(pieces)
            pieces = []


def _batches(shards: Iterable[Sequence[str]], size: int) -> Iterator[tuple[bool, Sequence[str]]]:
    """(is the last batch of its shard, texts); an empty shard is one empty batch, so it still yields."""
    for texts in shards:
        starts = range(0, len(texts), size) if len(texts) else range(1)
        for start in starts:
            yield start + size >= len(texts), list(texts[start : start + size])


def ordered_map(
    pool: Executor, function: Callable, items: Iterable[tuple[bool, Sequence[str]]], in_flight: int
) -> Iterator[tuple[bool, pa.Array]]:
    """`function` over each item's payload on `pool`, results in input order, at most `in_flight`
    submitted ahead (unlike `Executor.map`, which reads every input first)."""
    pending: deque[tuple[bool, Future]] = deque()
    for tag, payload in items:
        pending.append((tag, pool.submit(function, payload)))
        if len(pending) >= in_flight:
            tag, future = pending.popleft()
            yield tag, future.result()
    while pending:
        tag, future = pending.popleft()
        yield tag, future.result()
