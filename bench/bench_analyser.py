"""The analyser's own speed: koprep's tokenization on N cores against N independent processes
running the bare analyser on the same pre-split texts (the limit on this machine).

The texts are the first --docs NSMC reviews, cleaned by koprep's default cleaning, cut into N equal
parts. Both sides are timed from launch to the last token, analyser start-up included, each in
fresh processes, alternating, best of --repeats, as wall time and as CPU seconds (user + sys) of the
whole process tree, which other load on the machine does not change:

- bare: N spawned processes, each importing the library, building the analyser and analysing its
  part with the library's own call (mecab: `MeCab().pos(text)` per text; kiwi: `Kiwi(num_workers=1)
  .tokenize(texts)`), results thrown away;
- koprep: `koprep.parallel.tokenize_shards` as the tokenize stage calls it (supervised worker
  processes, the backend's parallelism, koprep's token filter, Arrow results back in the parent), on
  the same texts in shards of 2,000, with `run.workers` = N.

    .venv/bin/python bench/bench_analyser.py --backend mecab --docs 100000
    .venv/bin/python bench/bench_analyser.py --backend kiwi --docs 50000 --workers 2
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import sys
import time
from pathlib import Path


def bare(backend: str, texts: list[str]) -> int:
    if backend == "mecab":
        import mecab

        tagger = mecab.MeCab()
        return sum(len(tagger.pos(text)) for text in texts if text.strip())
    from kiwipiepy import Kiwi

    kiwi = Kiwi(num_workers=1)
    return sum(len(tokens) for tokens in kiwi.tokenize([t for t in texts if t.strip()]))


def cpu_seconds() -> float:
    """User + system CPU of this process and of its children that have ended (and been waited for)."""
    return sum(
        usage.ru_utime + usage.ru_stime
        for usage in (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN))
    )


def time_bare(backend: str, parts: list[list[str]]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the whole process tree)."""
    context = multiprocessing.get_context("spawn")
    cpu, started = cpu_seconds(), time.perf_counter()
    pool = context.Pool(len(parts))
    pool.starmap(bare, [(backend, part) for part in parts])
    pool.close()
    pool.join()  # the workers end and are waited for, so that their CPU counts
    return time.perf_counter() - started, cpu_seconds() - cpu


def time_koprep(backend: str, texts: list[str], workers: int) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds of the whole process tree, how the work was spread)."""
    from koprep import parallel
    from koprep.config import load_config
    from koprep.stages.tokenize import TokenFilter
    from koprep.tokenizers import get_tokenizer

    config = load_config(backend=backend)
    tokenizer = get_tokenizer(backend, config.tokenize.options)
    token_filter = TokenFilter.for_backend(config.tokenize, tokenizer)
    shards = [texts[i : i + 2_000] for i in range(0, len(texts), 2_000)]
    cpu, started = cpu_seconds(), time.perf_counter()
    how = parallel.plan(tokenizer, workers, len(texts))
    for _ in parallel.tokenize_shards(tokenizer, token_filter, shards, how):
        pass
    return time.perf_counter() - started, cpu_seconds() - cpu, str(how)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["mecab", "kiwi"], default="mecab")
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    # Imported here, not at the top: every spawned process (bare ones too) imports this module, and
    # bench_pipeline imports pandas, which a process running the bare analyser would not.
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_pipeline import read_reviews

    from koprep.config import load_config
    from koprep.stages.clean import clean_texts

    texts = clean_texts(read_reviews(args.docs)["document"].tolist(), load_config().clean)
    size = -(-len(texts) // args.workers)
    parts = [texts[i : i + size] for i in range(0, len(texts), size)]
    bare_seconds, koprep_seconds, bare_cpu, koprep_cpu, how = [], [], [], [], ""
    loads = []
    for _ in range(args.repeats):
        seconds, cpu = time_bare(args.backend, parts)
        bare_seconds.append(seconds)
        bare_cpu.append(cpu)
        seconds, cpu, how = time_koprep(args.backend, texts, args.workers)
        koprep_seconds.append(seconds)
        koprep_cpu.append(cpu)
        loads.append(os.getloadavg()[0])
    b, k = min(bare_seconds), min(koprep_seconds)
    print(f"{args.backend}, {len(texts):,} cleaned NSMC reviews, {args.workers} workers, cores {os.cpu_count()}, "
          f"load average {min(loads):.1f}-{max(loads):.1f}; best of {args.repeats}, start-up included")
    print(f"  bare analyser, {args.workers} independent processes: {b:7.1f} s  {len(texts) / b:8.0f} docs/s  "
          f"({', '.join(f'{s:.1f}' for s in bare_seconds)})")
    print(f"  koprep tokenize ({how}):      {k:7.1f} s  {len(texts) / k:8.0f} docs/s  "
          f"({', '.join(f'{s:.1f}' for s in koprep_seconds)})")
    print(f"  koprep throughput / bare: {b / k:.2f}x")
    print(f"  CPU seconds, whole process tree (user + sys): bare {min(bare_cpu):.1f} "
          f"({', '.join(f'{s:.1f}' for s in bare_cpu)}), koprep {min(koprep_cpu):.1f} "
          f"({', '.join(f'{s:.1f}' for s in koprep_cpu)}); bare / koprep {min(bare_cpu) / min(koprep_cpu):.2f}x")


if __name__ == "__main__":
    main()
