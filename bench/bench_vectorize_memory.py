"""Peak memory of the vectorizer stages' pure logic at scale: `fit_shards` then `transform_shard`
over every shard, as `koprep.pipeline.vectorize` runs them, without a whole `koprep run`.

The documents are NSMC (200,000 reviews) split on whitespace, repeated as `bench_scale.py` marks
them (every copy after the first gets the token "사본N", so copies are distinct documents and the
1-2-gram vocabulary grows with each copy), in shards of 2,000 documents made as they are needed.
Each (stage, size) runs in its own process; RSS is sampled every 5 ms. "base" is the process
before fitting (imports and the 200k token lists the shards are made from, which the real stage
does not hold: it reads shards from Parquet), so the stage's own cost is peak − base.

    .venv/bin/python bench/bench_vectorize_memory.py                        # ngram bow tfidf, 200k and 2M
    .venv/bin/python bench/bench_vectorize_memory.py --stages ngram --sizes 200000 1000000
    # another version of the logic (e.g. `git show REV:src/koprep/stages/vectorize.py > /tmp/v.py`):
    .venv/bin/python bench/bench_vectorize_memory.py --vectorize-file /tmp/v.py
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pipeline import read_reviews  # noqa: E402

NSMC = 200_000
SHARD = 2_000


def rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure(stage: str, size: int, vectorize_file: str | None) -> str:
    import pyarrow as pa

    if vectorize_file:
        spec = importlib.util.spec_from_file_location("vectorize_under_test", vectorize_file)
        assert spec is not None and spec.loader is not None
        logic = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = logic  # dataclasses look their module up
        spec.loader.exec_module(logic)
    else:
        from koprep.stages import vectorize as logic

    base_tokens = [text.split() for text in read_reviews(NSMC)["document"]]

    def shards():
        written, copy = 0, 0
        while written < size:
            take = min(len(base_tokens), size - written)
            for start in range(0, take, SHARD):
                part = base_tokens[start : min(start + SHARD, take)]
                yield pa.array([tokens + [f"사본{copy}"] for tokens in part] if copy else part, pa.list_(pa.string()))
            written, copy = written + take, copy + 1

    params = {"bow": logic.CountParams(), "ngram": logic.CountParams(ngram_range=(1, 2)),
              "tfidf": logic.TfidfParams()}[stage]
    gc.collect()
    peak = [0.0]

    def sample() -> None:
        while True:
            peak[0] = max(peak[0], rss_mib())
            time.sleep(0.005)

    threading.Thread(target=sample, daemon=True).start()
    base = rss_mib()
    started = time.perf_counter()
    fit = logic.fit_shards(shards(), params)
    fit_peak, peak[0] = peak[0], 0.0
    for index, shard in enumerate(shards()):
        fit.transform_shard(index, shard)
    seconds = time.perf_counter() - started
    terms = len(fit.vocabulary.table)
    return (f"{stage:6} {size:>9,}  {terms:>9,} terms  base {base:5.0f}  fit peak {fit_peak:5.0f}  "
            f"transform peak {peak[0]:5.0f}  stage peak−base {max(fit_peak, peak[0]) - base:5.0f} MiB  {seconds:5.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stages", nargs="+", choices=["bow", "ngram", "tfidf"], default=["ngram", "bow", "tfidf"])
    parser.add_argument("--sizes", type=int, nargs="+", default=[200_000, 2_000_000])
    parser.add_argument("--vectorize-file", help="measure this copy of koprep/stages/vectorize.py instead")
    parser.add_argument("--one", nargs=2, metavar=("STAGE", "SIZE"), help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.one:
        print(measure(args.one[0], int(args.one[1]), args.vectorize_file), flush=True)
        return
    print(f"cores {os.cpu_count()}; load average {os.getloadavg()[0]:.1f}; MiB of RSS, one process per line", flush=True)
    for stage in args.stages:
        for size in args.sizes:
            extra = ["--vectorize-file", args.vectorize_file] if args.vectorize_file else []
            subprocess.run([sys.executable, __file__, "--one", stage, str(size), *extra], check=True)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
