"""Peak memory of the vectorizer stages' pure logic at scale: `fit_shards` then `transform_shard`
over every shard, as `koprep.pipeline.vectorize` runs them, without a whole `koprep run`.

The documents are NSMC (200,000 reviews) split on whitespace, repeated as `bench_scale.py` marks
them (every copy after the first gets the token "사본N", so copies are distinct documents and the
1-2-gram vocabulary grows with each copy), in shards of 2,000 documents made as they are needed.
Each (stage, size) runs in its own process; RSS is sampled every 5 ms. "base" is the process
before fitting (imports and the 200k token lists the shards are made from, which the real stage
does not hold: it reads shards from Parquet), so the stage's own cost is peak − base.

`--write`: each transformed shard also goes through the stage's writer (`MatrixFiles.Writer`, into
a temporary folder) with its documents' ids (as `bench_scale.py` numbers them), as the stage writes
its entry. Stage `word2vec`: the shards are first written as Parquet parts (doc_id, tokens), then
word counts and `train_word2vec_logged` read them back as the stage does (`Sentences` over
`TokenShards`), with `bench_pipeline.W2V`'s settings but one epoch (memory does not grow per epoch).

    .venv/bin/python bench/bench_vectorize_memory.py                        # ngram bow tfidf, 200k and 2M
    .venv/bin/python bench/bench_vectorize_memory.py --stages ngram --sizes 200000 1000000
    # another version of the logic (e.g. `git show REV:src/koprep/stages/vectorize.py > /tmp/v.py`):
    .venv/bin/python bench/bench_vectorize_memory.py --vectorize-file /tmp/v.py
    .venv/bin/python bench/bench_vectorize_memory.py --write --stages bow word2vec   # the writer; word2vec
    # another version of the whole package (e.g. `git archive REV src | tar -x -C /tmp/rev`):
    PYTHONPATH=/tmp/rev/src .venv/bin/python bench/bench_vectorize_memory.py --write
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pipeline import W2V, read_reviews  # noqa: E402

NSMC = 200_000
SHARD = 2_000


def rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def sampled_peak() -> tuple[list[float], float]:
    """After a garbage collection: a one-item list a thread keeps at the peak RSS (MiB, sampled every
    5 ms; set it to 0 to start a new window), and the RSS now."""
    gc.collect()
    peak = [0.0]

    def sample() -> None:
        while True:
            peak[0] = max(peak[0], rss_mib())
            time.sleep(0.005)

    threading.Thread(target=sample, daemon=True).start()
    return peak, rss_mib()


def measure(stage: str, size: int, vectorize_file: str | None, write: bool = False) -> str:
    import pyarrow as pa

    if vectorize_file:
        spec = importlib.util.spec_from_file_location("vectorize_under_test", vectorize_file)
        assert spec is not None and spec.loader is not None
        logic = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = logic  # dataclasses look their module up
        spec.loader.exec_module(logic)
    else:
        from koprep.stages import vectorize as logic

    reviews = read_reviews(NSMC)
    base_tokens = [text.split() for text in reviews["document"]]
    base_ids = reviews["id"].astype("int64").tolist()

    def shards_with_ids():
        written, copy = 0, 0
        while written < size:
            take = min(len(base_tokens), size - written)
            for start in range(0, take, SHARD):
                part = base_tokens[start : min(start + SHARD, take)]
                ids = [str(i + copy * 1_000_000_000) for i in base_ids[start : min(start + SHARD, take)]]
                yield ids, pa.array([tokens + [f"사본{copy}"] for tokens in part] if copy else part, pa.list_(pa.string()))
            written, copy = written + take, copy + 1

    def shards():
        for _, tokens in shards_with_ids():
            yield tokens

    if stage == "word2vec":
        return measure_word2vec(size, shards_with_ids())

    params = {"bow": logic.CountParams(), "ngram": logic.CountParams(ngram_range=(1, 2)),
              "tfidf": logic.TfidfParams()}[stage]
    peak, base = sampled_peak()
    started = time.perf_counter()
    fit = logic.fit_shards(shards(), params)
    fit_peak, peak[0] = peak[0], 0.0
    with tempfile.TemporaryDirectory(prefix="bench-vectorize-") as folder:
        writer = None
        if write:
            from types import SimpleNamespace

            from koprep.pipeline.datasets import MatrixFiles

            writer = MatrixFiles.Writer(SimpleNamespace(path=Path(folder)))  # type: ignore[arg-type]
            writer.vocabulary(fit.vocabulary.table)
        for index, (ids, shard) in enumerate(shards_with_ids()):
            matrix = fit.transform_shard(index, shard)
            if writer is not None:
                writer.matrix_shard(matrix, ids)
        if writer is not None:
            writer.close()
    seconds = time.perf_counter() - started
    terms = len(fit.vocabulary.table)
    return (f"{stage:6} {size:>9,}  {terms:>9,} terms  base {base:5.0f}  fit peak {fit_peak:5.0f}  "
            f"transform peak {peak[0]:5.0f}  stage peak−base {max(fit_peak, peak[0]) - base:5.0f} MiB  {seconds:5.1f} s")


def measure_word2vec(size: int, shards) -> str:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from koprep.pipeline.datasets import Parts
    from koprep.pipeline.readers import Sentences, TokenShards, word_counts
    from koprep.stages.embed import Word2VecParams, train_word2vec_logged

    with tempfile.TemporaryDirectory(prefix="bench-word2vec-") as folder:
        for index, (ids, tokens) in enumerate(shards):
            pq.write_table(pa.table({"doc_id": pa.array(ids, pa.string()), "tokens": tokens}),
                           Path(folder) / Parts.PART.format(index))
        peak, base = sampled_peak()
        started = time.perf_counter()
        counts = word_counts(TokenShards(folder))
        counts_peak, peak[0] = peak[0], 0.0
        trained = train_word2vec_logged(Sentences(TokenShards(folder)), Word2VecParams(**{**W2V, "epochs": 1}), counts)
        seconds = time.perf_counter() - started
    return (f"{'word2vec':8} {size:>9,}  {len(trained.vectors):>9,} terms  base {base:5.0f}  counts peak {counts_peak:5.0f}  "
            f"train peak {peak[0]:5.0f}  stage peak−base {max(counts_peak, peak[0]) - base:5.0f} MiB  {seconds:5.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stages", nargs="+", choices=["bow", "ngram", "tfidf", "word2vec"],
                        default=["ngram", "bow", "tfidf"])
    parser.add_argument("--sizes", type=int, nargs="+", default=[200_000, 2_000_000])
    parser.add_argument("--vectorize-file", help="measure this copy of koprep/stages/vectorize.py instead")
    parser.add_argument("--write", action="store_true", help="also write each shard through the stage's writer")
    parser.add_argument("--one", nargs=2, metavar=("STAGE", "SIZE"), help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.one:
        print(measure(args.one[0], int(args.one[1]), args.vectorize_file, args.write), flush=True)
        return
    print(f"cores {os.cpu_count()}; load average {os.getloadavg()[0]:.1f}; MiB of RSS, one process per line", flush=True)
    for stage in args.stages:
        for size in args.sizes:
            extra = ["--vectorize-file", args.vectorize_file] if args.vectorize_file else []
            extra += ["--write"] if args.write else []
            subprocess.run([sys.executable, __file__, "--one", stage, str(size), *extra], check=True)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
