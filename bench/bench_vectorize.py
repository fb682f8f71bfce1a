"""Benchmark: koprep's shard-wise TF-IDF and word2vec against scikit-learn / gensim called directly.

    .venv/bin/python bench/bench_vectorize.py                      # NSMC 150k train, whitespace tokens
    .venv/bin/python bench/bench_vectorize.py --limit 20000        # quicker
    .venv/bin/python bench/bench_vectorize.py --tokens-parquet PATH  # a koprep tokenize artifact
                                                                   # (file or directory; doc_id, tokens)

Every measurement runs in its own freshly spawned process. Peak memory is the kernel's peak RSS
(VmHWM, reset through /proc/self/clear_refs right before the measured work) minus the RSS at that
moment, so imports and warm-up do not count.
Inputs are first written as Parquet shards (doc_id, tokens) into a temporary directory, the way
the pipeline stores them. Timings:

* tfidf time: `fit_vocabulary` over the shards + `transform` of every shard, vs
  `TfidfVectorizer.fit_transform` on the whole list — both on token lists already in memory,
  so the ratio compares computation only (best of --repeats); then the whole tfidf stage (reading
  the shards, writing its Parquet tables and checksums) vs reading the shards + `fit_transform` +
  `scipy.sparse.save_npz`.
* tfidf memory: koprep streaming the shards from Parquet (only the current shard's matrix alive,
  as when the pipeline writes each shard's result) vs scikit-learn, which must hold every document
  and the whole matrix; measured at growing corpus sizes.
* word2vec time: `train_word2vec` streaming from Parquet shards, and on the in-memory list, vs
  `gensim.models.Word2Vec(sentences=list)`, same parameters; then the whole word2vec stage
  (training plus its Parquet, word2vec-binary and checksum writes) vs gensim plus
  `save_word2vec_format`.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import multiprocessing
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from koprep.pipeline.datasets import Parts

REPO = Path(__file__).resolve().parents[1]
NSMC_TRAIN = REPO.parent / "shared" / "corpora" / "nsmc" / "ratings_train.txt"
TFIDF = dict(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
WORD2VEC = dict(vector_size=100, window=5, min_count=2, epochs=5, seed=1)


# ---------------------------------------------------------------------------------------------
# inputs


def load_token_lists(args) -> tuple[list[str], list[list[str]]]:
    if args.tokens_parquet:
        table = pq.read_table(args.tokens_parquet, columns=["doc_id", "tokens"])
        doc_ids, tokens = table.column("doc_id").to_pylist(), table.column("tokens").to_pylist()
    else:
        if not NSMC_TRAIN.exists():
            sys.exit(f"{NSMC_TRAIN} not found: put the shared corpora beside the checkout or pass --tokens-parquet")
        frame = pd.read_csv(NSMC_TRAIN, sep="\t", quoting=3, dtype=str, keep_default_na=False)
        doc_ids, tokens = frame["id"].tolist(), [text.split() for text in frame["document"]]
    return doc_ids[: args.limit], tokens[: args.limit]


def write_shards(directory: Path, doc_ids: list[str], tokens: list[list[str]], shard_size: int) -> list[str]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for number, start in enumerate(range(0, len(tokens), shard_size)):
        path = directory / Parts.PART.format(number)  # the pipeline's own part names, so its readers apply
        table = pa.table(
            {
                "doc_id": pa.array(doc_ids[start : start + shard_size], pa.string()),
                "tokens": pa.array(tokens[start : start + shard_size], pa.list_(pa.string())),
            }
        )
        pq.write_table(table, path)
        paths.append(str(path))
    return paths


def read_shard(path: str) -> list[list[str]]:
    # Flatten once and slice: several times faster than ListArray.to_pylist() for short lists.
    tokens = pq.read_table(path, columns=["tokens"]).column("tokens").combine_chunks()
    words = tokens.flatten().to_numpy(zero_copy_only=False)
    offsets = (tokens.offsets.to_numpy() - tokens.offsets[0].as_py()).tolist()
    return [words[start:end].tolist() for start, end in zip(offsets[:-1], offsets[1:])]


# ---------------------------------------------------------------------------------------------
# measured tasks (each runs in a fresh spawned process)


def _rss() -> int:
    """Current RSS; also resets the kernel's peak-RSS mark (VmHWM) so `_peak_above` sees only
    what happens from here on, not transient peaks of imports and warm-up."""
    import psutil

    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass  # not Linux: ru_maxrss below may then include earlier peaks
    return psutil.Process().memory_info().rss


def _peak_above(baseline: int) -> int:
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 - baseline
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - baseline


def task_tfidf_time(paths: list[str], repeats: int) -> dict:
    import scipy.sparse as sp
    from sklearn.feature_extraction.text import TfidfVectorizer

    from koprep.stages.vectorize import TfidfParams, fit_vocabulary, transform

    shards = [read_shard(p) for p in paths]
    docs = [doc for shard in shards for doc in shard]
    params = TfidfParams(**TFIDF)
    ours, theirs = [], []  # (wall, cpu) per repeat; alternating, so machine load hits both alike
    for _ in range(repeats):
        with _Stopwatch(theirs):
            vectorizer = TfidfVectorizer(
                tokenizer=_identity, preprocessor=_identity, token_pattern=None, lowercase=False, **TFIDF
            )
            expected = vectorizer.fit_transform(docs)
        del expected
        with _Stopwatch(ours):
            fitted = fit_vocabulary(shards, params)
            blocks = [transform(shard, fitted, params) for shard in shards]
    matrix = sp.vstack(blocks, format="csr")
    expected = vectorizer.fit_transform(docs)
    stage = _tfidf_stage_times(paths, params, repeats)
    same = list(fitted.table["term"]) == list(vectorizer.get_feature_names_out())
    max_diff = abs(matrix - expected).max() if same else float("nan")
    return {
        "koprep_s": min(wall for wall, _ in ours),
        "sklearn_s": min(wall for wall, _ in theirs),
        "koprep_cpu_s": min(cpu for _, cpu in ours),
        "sklearn_cpu_s": min(cpu for _, cpu in theirs),
        "vocabulary": len(fitted.table),
        "nnz": matrix.nnz,
        "same_vocabulary": same,
        "max_abs_diff": float(max_diff),
        **stage,
    }


def _as_tokenize_output(paths: list[str]):
    """The shards' folder as a tokenize stage result, so the pipeline's own stages can run on it."""
    from koprep.pipeline.execution import StageResult

    return StageResult("tokenize", "bench", str(Path(paths[0]).parent), cached=False, seconds=0.0, rows=0)


def _run_stage(name: str, tokens, config, root: str):
    """Stage `name` of the stage graph over `tokens` into the store at `root`, as a run computes it."""
    from koprep.pipeline.graph import GRAPH
    from koprep.pipeline.resolve import Resolution
    from koprep.pipeline.runner import run_stage
    from koprep.store import ArtifactStore

    run = Resolution(ArtifactStore(root), None, config)
    key = GRAPH.key(GRAPH[name], run, {"tokenize": tokens.fingerprint})
    return run_stage(run, key, {"tokenize": tokens})


def _tfidf_stage_times(paths: list[str], params, repeats: int) -> dict:
    """The whole tfidf stage into a fresh store (reads the shards, writes vocabulary, matrix and
    document tables with checksums) vs reading the same shards + `fit_transform` + `save_npz`."""
    import scipy.sparse as sp
    from sklearn.feature_extraction.text import TfidfVectorizer

    from koprep.config import PipelineConfig

    tokens = _as_tokenize_output(paths)
    config = PipelineConfig(tfidf=params)
    ours, theirs = [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="koprep-bench-") as out:
            with _Stopwatch(theirs):
                docs = [doc for path in paths for doc in read_shard(path)]
                vectorizer = TfidfVectorizer(
                    tokenizer=_identity, preprocessor=_identity, token_pattern=None, lowercase=False, **TFIDF
                )
                sp.save_npz(Path(out) / "tfidf.npz", vectorizer.fit_transform(docs), compressed=False)
            with _Stopwatch(ours):
                _run_stage("tfidf", tokens, config, str(Path(out) / "store"))
    return {"koprep_stage_s": min(wall for wall, _ in ours), "sklearn_saved_s": min(wall for wall, _ in theirs)}


def _warm_up(paths: list[str], work) -> None:
    # Lazy imports, Arrow's reader and allocator pools: paid once by either side, so keep them
    # out of the measured peak.
    work(read_shard(paths[0])[:200])


def task_tfidf_memory_koprep(paths: list[str], ngram_range: tuple[int, int]) -> dict:
    from koprep.pipeline.readers import TokenShards
    from koprep.stages.vectorize import TfidfParams, fit_vocabulary, transform

    params = TfidfParams(**{**TFIDF, "ngram_range": ngram_range})
    _warm_up(paths, lambda docs: transform(docs, fit_vocabulary([docs], params), params))
    shards = TokenShards(Path(paths[0]).parent)  # read as the pipeline reads them: Arrow arrays
    baseline = _rss()
    start = time.perf_counter()
    fitted = fit_vocabulary(shards.token_arrays(), params)
    nnz = 0
    for tokens in shards.token_arrays():
        nnz += transform(tokens, fitted, params).nnz  # the pipeline writes it out and drops it
    seconds, peak = time.perf_counter() - start, _peak_above(baseline)
    return {"seconds": seconds, "peak_bytes": peak, "nnz": nnz, "distinct_ngrams": _distinct_ngrams(paths, ngram_range)}


def _distinct_ngrams(paths: list[str], ngram_range: tuple[int, int]) -> int:
    """Size of the pre-pruning n-gram table that fitting has to hold (min_df=1, everything kept)."""
    from koprep.pipeline.readers import TokenShards
    from koprep.stages.vectorize import CountParams, fit_vocabulary

    shards = TokenShards(Path(paths[0]).parent)
    return len(fit_vocabulary(shards.token_arrays(), CountParams(ngram_range=ngram_range)).table)


def task_tfidf_memory_sklearn(paths: list[str]) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer

    def fit_transform(docs):
        return TfidfVectorizer(
            tokenizer=_identity, preprocessor=_identity, token_pattern=None, lowercase=False, **TFIDF
        ).fit_transform(docs)

    _warm_up(paths, fit_transform)
    baseline = _rss()
    start = time.perf_counter()
    docs = [doc for path in paths for doc in read_shard(path)]
    vectorizer = TfidfVectorizer(tokenizer=_identity, preprocessor=_identity, token_pattern=None, lowercase=False, **TFIDF)
    matrix = vectorizer.fit_transform(docs)
    return {"seconds": time.perf_counter() - start, "peak_bytes": _peak_above(baseline), "nnz": matrix.nnz}


def task_word2vec(paths: list[str], workers: int, repeats: int) -> dict:
    from gensim.models import Word2Vec

    from koprep.pipeline.readers import Sentences, TokenShards, word_counts
    from koprep.stages.embed import Word2VecParams, train_word2vec

    params = Word2VecParams(**WORD2VEC, workers=workers)
    sentences = [doc for path in paths for doc in read_shard(path) if doc]
    shards = TokenShards(Path(paths[0]).parent)
    from koprep.config import PipelineConfig

    tokens = _as_tokenize_output(paths)
    config = PipelineConfig(word2vec=params)

    def gensim_saved():
        kv = Word2Vec(sentences=sentences, **params.gensim_kwargs()).wv
        with tempfile.TemporaryDirectory(prefix="koprep-bench-gensim-") as out:
            kv.save_word2vec_format(str(Path(out) / "vectors.bin"), binary=True)
        return kv

    def koprep_stage():
        # the whole stage into a fresh store: training, vectors.parquet, vectors.bin, checksums
        with tempfile.TemporaryDirectory(prefix="koprep-bench-store-") as root:
            _run_stage("word2vec", tokens, config, root)

    runs = {
        "gensim": lambda: Word2Vec(sentences=sentences, **params.gensim_kwargs()).wv,
        "koprep_in_memory": lambda: train_word2vec(sentences, params),
        # the training the pipeline's word2vec stage does with a tokenize output
        "koprep_streamed": lambda: train_word2vec(Sentences(shards), params, word_counts(shards)),
        "gensim_saved": gensim_saved,
        "koprep_stage": koprep_stage,
    }
    times: dict[str, list] = {name: [] for name in runs}
    vectors = {}
    for _ in range(repeats):  # interleaved, so machine load hits all alike
        for name, run in runs.items():
            with _Stopwatch(times[name]):
                vectors[name] = run()
    identical = workers == 1 and all(
        kv.index_to_key == vectors["gensim"].index_to_key and np.array_equal(kv.vectors, vectors["gensim"].vectors)
        for kv in vectors.values()
        if kv is not None
    )
    return {
        **{f"{name}_s": min(wall for wall, _ in record) for name, record in times.items()},
        "words": len(vectors["gensim"]),
        "identical_vectors": identical,
    }


class _Stopwatch:
    """Appends (wall seconds, process CPU seconds) of the block to `record`. CPU time is the
    steadier number on a shared machine; both are single-threaded here."""

    def __init__(self, record: list) -> None:
        self.record = record

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def __exit__(self, *exc):
        self.record.append((time.perf_counter() - self.wall, time.process_time() - self.cpu))


def _identity(doc):
    return doc


def task_downstream() -> dict:
    """NSMC sentiment: LogisticRegression(C=3) on TF-IDF from koprep's functions vs scikit-learn's,
    whitespace tokens, test split transformed with the train vocabulary (examples/nsmc_sentiment.py)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("nsmc_sentiment", REPO / "examples" / "nsmc_sentiment.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    return example.compare()


def measure(task, *args) -> dict:
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(task, *args).result()


# ---------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=150_000, help="number of documents (default: all 150k)")
    parser.add_argument("--tokens-parquet", help="Parquet file/directory with doc_id, tokens (default: NSMC whitespace)")
    parser.add_argument("--shard-size", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3, help="timing repeats; the best is reported")
    parser.add_argument("--w2v-workers", type=int, default=1)
    parser.add_argument("--skip-word2vec", action="store_true")
    parser.add_argument("--skip-accuracy", action="store_true", help="skip the NSMC sentiment accuracy step")
    args = parser.parse_args()

    doc_ids, tokens = load_token_lists(args)
    n_docs = len(tokens)
    print(f"{n_docs} documents, {sum(map(len, tokens))} tokens, shards of {args.shard_size}")
    print(f"TF-IDF params {TFIDF}; word2vec params {WORD2VEC}, workers={args.w2v_workers}\n")
    with tempfile.TemporaryDirectory(prefix="koprep-bench-") as tmp:
        paths = write_shards(Path(tmp) / "all", doc_ids, tokens, args.shard_size)

        timing = measure(task_tfidf_time, paths, args.repeats)
        print(
            f"TF-IDF fit+transform (best of {args.repeats}): koprep {timing['koprep_s']:.2f}s wall / "
            f"{timing['koprep_cpu_s']:.2f}s CPU, scikit-learn {timing['sklearn_s']:.2f}s wall / "
            f"{timing['sklearn_cpu_s']:.2f}s CPU; ratio {timing['koprep_s'] / timing['sklearn_s']:.2f}x wall, "
            f"{timing['koprep_cpu_s'] / timing['sklearn_cpu_s']:.2f}x CPU\n"
            f"  vocabulary {timing['vocabulary']}, nnz {timing['nnz']}, same vocabulary as scikit-learn: "
            f"{timing['same_vocabulary']}, max |weight difference| {timing['max_abs_diff']:.1e}\n"
            f"  with inputs read and outputs written: reading the shards + fit_transform + save_npz "
            f"{timing['sklearn_saved_s']:.2f}s; koprep's tfidf stage (reads shards, writes Parquet + checksums) "
            f"{timing['koprep_stage_s']:.2f}s ({timing['koprep_stage_s'] / timing['sklearn_saved_s']:.2f}x)"
        )
        print("\nPeak memory above the pre-work RSS (koprep streams Parquet shards; scikit-learn holds all in memory):")
        print(
            f"{'docs':>8} {'1-2-grams':>10} {'koprep MiB':>11} {'sklearn MiB':>12} {'ratio':>6} "
            f"{'koprep s':>9} {'sklearn s':>10} | {'unigrams':>9} {'koprep (1,1) MiB':>17}"
        )
        sizes = sorted({s for s in (25_000, 50_000, 100_000, 150_000) if s < n_docs} | {n_docs})
        for size in sizes:
            subset = write_shards(Path(tmp) / f"n{size}", doc_ids[:size], tokens[:size], args.shard_size)
            ours = measure(task_tfidf_memory_koprep, subset, (1, 2))
            theirs = measure(task_tfidf_memory_sklearn, subset)
            unigrams = measure(task_tfidf_memory_koprep, subset, (1, 1))
            assert ours["nnz"] == theirs["nnz"]
            print(
                f"{size:>8} {ours['distinct_ngrams']:>10} {ours['peak_bytes'] / 2**20:>11.0f} "
                f"{theirs['peak_bytes'] / 2**20:>12.0f} {ours['peak_bytes'] / theirs['peak_bytes']:>6.2f} "
                f"{ours['seconds']:>9.2f} {theirs['seconds']:>10.2f} | {unigrams['distinct_ngrams']:>9} "
                f"{unigrams['peak_bytes'] / 2**20:>17.0f}"
            )

        if not args.skip_word2vec:
            w2v = measure(task_word2vec, paths, args.w2v_workers, args.repeats)
            print(
                f"\nword2vec (best of {args.repeats}): gensim direct {w2v['gensim_s']:.2f}s; koprep on the list {w2v['koprep_in_memory_s']:.2f}s "
                f"({w2v['koprep_in_memory_s'] / w2v['gensim_s']:.2f}x); koprep streaming Parquet shards "
                f"{w2v['koprep_streamed_s']:.2f}s ({w2v['koprep_streamed_s'] / w2v['gensim_s']:.2f}x); "
                f"{w2v['words']} words; identical vectors: {w2v['identical_vectors']}\n"
                f"  with outputs written: gensim + save_word2vec_format {w2v['gensim_saved_s']:.2f}s; koprep's "
                f"word2vec stage (Parquet + word2vec binary + checksums) {w2v['koprep_stage_s']:.2f}s "
                f"({w2v['koprep_stage_s'] / w2v['gensim_saved_s']:.2f}x)"
            )

    if not args.skip_accuracy and not args.tokens_parquet:
        downstream = measure(task_downstream)
        print(
            f"\nNSMC sentiment (LogisticRegression C=3, whitespace tokens, test with the train vocabulary): "
            f"koprep TF-IDF accuracy {downstream['koprep_accuracy']:.4f}, scikit-learn direct "
            f"{downstream['sklearn_accuracy']:.4f} (anchor 0.7939). For Korean tokenizers through the whole "
            "flow, see bench/bench_downstream.py."
        )


if __name__ == "__main__":
    main()
