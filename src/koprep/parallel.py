"""Tokenize on several cores, each backend the way it parallelises best; results in input order.

A backend says how through its `parallelism` attribute (`koprep.tokenizers.base.PARALLELISM`):

- "processes": spawned worker processes (`koprep.supervised`). Never forked: a child forked from a
  process whose JVM has started hangs, and MeCab and soynlp hold the GIL, so threads would not help
  them (nor Kiwi, whose results become Python objects under the GIL). Each worker receives the
  tokenizer once (pickled: backends hold their options and plain data, and build their native
  analyser on first use) and then batches of texts; each batch comes back as Arrow list<string>
  buffers, so the parent never unpickles a Python object per token. A backend that also has threads
  of its own (`with_workers`, Kiwi) gets the cores left to each process (`Plan.threads`): one each
  when there are as many processes as cores, all of them when a small corpus gets one process.
- "own": the backend spreads each batch over workers of its own (Kiwi's thread pool, Okt's threads
  on one JVM); `with_workers(n)` returns it set up for n.
- "none" (the default): one process, for backends cheaper than shipping texts elsewhere.

Supervised (`run.supervise`, on by default): every backend that is not `crash_safe` tokenizes in
worker processes that `koprep.supervised` watches ("own" and "none" in one worker process), so a
document that crashes or hangs the analyser is quarantined instead of ending the run. Unsupervised,
or for a crash-safe backend (whitespace), "own" and "none" tokenize in the calling process.

The number of workers never changes a result: every batch is tokenized and filtered on its own,
by the same code, and the batches are put back in input order.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Protocol, Sequence, cast

import pyarrow as pa

from koprep.stages import tokenize as tokenize_logic
from koprep.supervised import (
    BATCHES_PER_WORKER, DEFAULT_TIMEOUT, ShardTokens, Supervisor, WorkerProcessError, batches, can_supervise,
    discard_prestarted, prestart, tokenize_batch,
    tokens_array,
)
from koprep.tokenizers.base import Parallelism, Tokenizer, TrainableTokenizer, parallelism

__all__ = ["Plan", "ShardTokens", "WorkerProcessError", "default_workers", "plan", "tokenize_shards", "tokens_array", "warm_up"]
log = logging.getLogger(__name__)

BATCH = tokenize_logic.BATCH
"""Texts per call in the calling process: what batch APIs (Kiwi) want, and all that is ever held as Python lists."""
PROCESS_BATCH = 500
"""Texts per batch sent to a worker process: small enough that the last batches of a stage keep every
worker busy, large enough that pickling a batch costs nothing beside tokenizing it."""
MIN_TEXTS_PER_PROCESS = 10_000
"""Below this many texts per worker, starting one costs more than it saves: a spawned worker takes up to
1-2 s (on a busy machine) to start Python, import pydantic and koprep's token filter and load its
analyser (Kiwi's model alone: ~3 CPU s), in which MeCab alone tokenizes ~10,000 reviews."""


class _OwnWorkers(Protocol):
    """What a backend whose parallelism is "own" has besides `Tokenizer` (registry's contract check asks for it)."""

    def with_workers(self, workers: int) -> Tokenizer: ...


def default_workers() -> int:
    """The cores this process may run on (CPU affinity where the OS has it, else the machine's count)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


@dataclass(frozen=True)
class Plan:
    mode: Parallelism
    workers: int
    supervised: bool = False
    """In worker processes that `koprep.supervised` watches (always so for several "processes" workers)."""
    timeout: float = DEFAULT_TIMEOUT
    """Seconds a supervised worker may take to answer a batch, or one document retried in isolation."""
    threads: int = 1
    """The backend's own workers in each process, for a "processes" backend that has `with_workers`."""

    @property
    def processes(self) -> int:
        """Worker processes to start; 0 tokenizes in the calling process."""
        if self.mode == "processes" and self.workers > 1:
            return self.workers
        return 1 if self.supervised else 0

    def __str__(self) -> str:
        if self.mode == "own":
            own = f"{self.workers} of the backend's own workers"
            return f"{own} in a worker process" if self.processes else own
        if self.processes > 1:
            return f"{self.processes} worker processes" + (f" of {self.threads} threads" if self.threads > 1 else "")
        if self.threads > 1:
            own = f"{self.threads} of the backend's own workers"
            return f"{own} in a worker process" if self.processes else own
        return "in a worker process" if self.processes else "in process"


def plan(
    tokenizer: Tokenizer, workers: int, documents: int | None = None, *, supervise: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
) -> Plan:
    """How `tokenize_shards` will spread the work. `documents` (the total, when known) lets a small
    corpus skip starting more worker processes than it is worth; `supervise` (`run.supervise`):
    tokenize in watched worker processes unless the backend is `crash_safe` or this process may not
    start any (a daemonic one, such as a Dask worker)."""
    mode = parallelism(tokenizer)
    cores = workers
    if mode == "processes" and documents is not None:
        workers = min(workers, max(1, math.ceil(documents / MIN_TEXTS_PER_PROCESS)))
    threads = max(1, cores // workers) if mode == "processes" and hasattr(tokenizer, "with_workers") else 1
    supervised = supervise and not getattr(tokenizer, "crash_safe", False) and can_supervise()
    return Plan(mode, workers if mode != "none" else 1, supervised, timeout, threads)


def tokenize_shards(
    tokenizer: Tokenizer,
    token_filter: tokenize_logic.TokenFilter,
    shards: Iterable[Sequence[str]],
    how: Plan,
) -> Iterator[ShardTokens]:
    """Each shard's filtered tokens (and the documents quarantined in it), shard after shard, as
    planned by `plan`. `shards` is read lazily: only the shards being worked on are in memory."""
    tokenizer = _set_up(tokenizer, how)
    if how.processes:
        size = PROCESS_BATCH if how.mode == "processes" else BATCH
        with Supervisor(tokenizer, token_filter, how.processes, how.timeout) as supervisor:
            yield from supervisor.tokenize(batches(shards, size), in_flight=(BATCHES_PER_WORKER + 1) * how.processes)
        return
    discard_prestarted()
    # Batch by batch, so that only one batch's tokens are ever Python objects.
    pieces: list[pa.Array] = []
    for last, texts in batches(shards, BATCH):
        pieces.append(tokenize_batch(tokenizer, texts, token_filter))
        if last:
            yield ShardTokens(pa.concat_arrays(pieces))
            pieces = []


def _set_up(tokenizer: Tokenizer, how: Plan) -> Tokenizer:
    """`tokenizer` for the threads `how` gives it (in each process), when it has threads of its own."""
    if how.mode == "own":
        return cast(_OwnWorkers, tokenizer).with_workers(how.workers)  # the mode says it has the method
    if how.mode == "processes" and hasattr(tokenizer, "with_workers"):
        return cast(_OwnWorkers, tokenizer).with_workers(how.threads)
    return tokenizer


def warm_up(
    tokenizer: Tokenizer, token_filter: tokenize_logic.TokenFilter, workers: int | None = None, **supervision: Any,
) -> threading.Thread | None:
    """Start loading `tokenizer` (Okt's JVM and dictionaries, Kiwi's model) now, so that it overlaps
    with what a run does before tokenizing (importing Prefect, starting the flow run) instead of
    following it: supervised, its worker process is started (`koprep.supervised.prestart`; the
    tokenize stage takes it over); otherwise it is loaded in this process on a daemon thread.
    A "processes" backend with threads of its own (Kiwi: ~3 CPU s to load its model) gets what a
    small corpus gets, one process of all its threads (the corpus's size is not known yet): a large
    corpus takes it over as one of its processes and starts the others (the thread count never
    changes a token). Other "processes" backends load in a blink, and those that need a trained
    model first cannot start; they are left alone. A failure here is ignored: the real tokenization
    reports it. `supervision`: `parallel.plan`'s."""
    threaded_processes = parallelism(tokenizer) == "processes" and hasattr(tokenizer, "with_workers")
    how = plan(tokenizer, workers or default_workers(), 1 if threaded_processes else None, **supervision)
    if isinstance(tokenizer, TrainableTokenizer) or (how.mode == "processes" and not threaded_processes):
        return None
    tokenizer = _set_up(tokenizer, how)
    if how.processes:
        prestart(tokenizer, token_filter, how.processes)
        return None

    def load() -> None:
        try:
            tokenizer.tokenize(["준비 운동"])
        except Exception as exc:  # noqa: BLE001 - the tokenize stage raises it properly
            log.debug("warming up %s failed: %s", tokenizer.name, exc)

    thread = threading.Thread(target=load, name=f"koprep-warm-up-{tokenizer.name}", daemon=True)
    thread.start()
    return thread
