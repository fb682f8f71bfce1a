"""JPype answers every Java GC with a full Python collection on its "Python Reference Queue" thread;
Okt's tokenize must not pay for the rest of the Python heap in each of them (issue 10)."""

from __future__ import annotations

import gc
import os
import threading
from pathlib import Path

import pytest

from koprep.tokenizers import BackendUnavailable, get_tokenizer
from koprep.tokenizers.registry import backend_class
from tests.helpers import nsmc

try:
    backend_class("okt")
except BackendUnavailable as exc:
    pytest.skip(f"okt is not available here: {exc}", allow_module_level=True)

if not Path("/proc/thread-self/comm").exists():
    pytest.skip("per-thread CPU times come from Linux /proc", allow_module_level=True)

pytestmark = pytest.mark.slow  # starts the JVM, reads the shared corpora

REFERENCE_QUEUE = "Python Referenc"
"""JPype's Java thread "Python Reference Queue" as Linux shows it (names are cut to 15 characters)."""


def _cpu_seconds(task: Path) -> float:
    stat = (task / "stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # utime and stime follow the state, in clock ticks
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _reference_queue_cpu() -> float:
    total = 0.0
    for task in Path("/proc/self/task").iterdir():
        try:
            if (task / "comm").read_text().strip() == REFERENCE_QUEUE:
                total += _cpu_seconds(task)
        except OSError:
            continue
    return total


def test_forced_collections_do_not_walk_the_rest_of_the_heap():
    texts = [t for t in nsmc(800)["document"] if t.strip()][:700]
    tokenizer = get_tokenizer("okt", {"threads": 1})
    tokenizer.tokenize(texts[:100])  # JVM started, JIT warm
    ballast = [[i] for i in range(1_500_000)]  # tracked objects, like a loaded pipeline's heap
    forced = []

    def count_forced(phase: str, info: dict) -> None:
        if phase == "stop" and info["generation"] == 2:
            if Path("/proc/thread-self/comm").read_text().strip() == REFERENCE_QUEUE:
                forced.append(1)

    gc.callbacks.append(count_forced)
    this_thread = Path(f"/proc/self/task/{threading.get_native_id()}")
    main_cpu, queue_cpu = -_cpu_seconds(this_thread), -_reference_queue_cpu()
    try:
        tokenizer.tokenize(texts[100:])
    finally:
        gc.callbacks.remove(count_forced)
    main_cpu += _cpu_seconds(this_thread)
    queue_cpu += _reference_queue_cpu()
    assert len(ballast) == 1_500_000
    assert forced, "no Java GC forced a Python collection: the test measured nothing"
    # Unfrozen, each forced collection walks the 1.5M ballast lists (~0.1 s): about as much CPU as Okt's own.
    assert queue_cpu < 0.1 * main_cpu, (len(forced), queue_cpu, main_cpu)

