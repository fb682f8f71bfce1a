"""Tokenize on 2 cores against 1: the tokenize stage's own code (`koprep.parallel.tokenize_shards`,
as `--workers N` runs it) on NSMC reviews, per backend, wall and CPU seconds.

Each measurement is a fresh process that reads and cleans the reviews, builds the backend, warms it
up on 200 other reviews (the JVM started and Okt's first analyses compiled; MeCab's dictionary
loaded) and then times tokenizing every review in shards of 2,000, workers 1 and 2 alternating,
best of `--repeats`. CPU seconds are the process's and its children's (`getrusage`). The token lists
of both worker counts are checked to be identical.

    .venv/bin/python bench/bench_workers.py --backend okt --docs 6000
    .venv/bin/python bench/bench_workers.py --backend mecab --docs 50000
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpora" / "nsmc" / "ratings_train.txt"
SHARD = 2_000
WARM_UP = 200


def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measure(backend: str, docs: int, workers: int) -> dict:
    """In this process: tokenize `docs` reviews with `workers` workers after a warm-up."""
    import pandas as pd

    from koprep import parallel
    from koprep.config import load_config
    from koprep.stages import clean as clean_logic
    from koprep.stages import tokenize as tokenize_logic
    from koprep.tokenizers import get_tokenizer

    config = load_config(backend=backend)
    reviews = pd.read_csv(CORPUS, sep="\t", quoting=3, dtype=str, keep_default_na=False, nrows=docs + WARM_UP)
    texts = clean_logic.clean_texts(reviews["document"].tolist(), config.clean)
    warm, texts = texts[:WARM_UP], texts[WARM_UP:]
    tokenizer = get_tokenizer(backend, config.tokenize.options)
    token_filter = tokenize_logic.TokenFilter.for_backend(config.tokenize, tokenizer)
    tokenize_logic.tokenize_texts(tokenizer, warm, token_filter)
    how = parallel.plan(tokenizer, workers, len(texts))
    shards = [texts[i : i + SHARD] for i in range(0, len(texts), SHARD)]
    cpu, wall = cpu_seconds(), time.perf_counter()
    digest = hashlib.sha256()
    for shard in parallel.tokenize_shards(tokenizer, token_filter, shards, how):
        digest.update(json.dumps(shard.tokens.to_pylist(), ensure_ascii=False).encode())
    return {"wall": time.perf_counter() - wall, "cpu": cpu_seconds() - cpu, "how": str(how), "tokens": digest.hexdigest()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="okt")
    parser.add_argument("--docs", type=int, default=6_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # a single measurement, in its own process
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(measure(args.backend, args.docs, args.one)))
        return
    best: dict[int, dict] = {}
    for _ in range(args.repeats):
        for workers in (1, 2):
            out = subprocess.run([sys.executable, __file__, "--backend", args.backend, "--docs", str(args.docs),
                                  "--one", str(workers)], capture_output=True, text=True, check=True)
            result = json.loads(out.stdout.strip().splitlines()[-1])
            if workers not in best or result["wall"] < best[workers]["wall"]:
                best[workers] = result
    assert best[1]["tokens"] == best[2]["tokens"], "the worker count changed the tokens"
    print(f"{args.backend}, {args.docs:,} NSMC reviews, cores {os.cpu_count()}, load average {os.getloadavg()[0]:.1f} "
          f"at the end; best of {args.repeats}")
    for workers, result in best.items():
        print(f"  workers {workers} ({result['how']}): {result['wall']:.1f} s wall, {result['cpu']:.1f} s CPU")
    print(f"  speed-up on 2 workers: {best[1]['wall'] / best[2]['wall']:.2f}x (tokens identical)")


if __name__ == "__main__":
    main()
