"""Benchmark: jamo fastText against word2vec on Korean WS-353 and the Korean analogy set, and
koprep's fastText training time against gensim's FastText called directly on the same tokens.

    .venv/bin/python bench/bench_embeddings.py                        # NSMC train 50k and 150k, mecab
    .venv/bin/python bench/bench_embeddings.py --sizes 20000 --backend kiwi

For each size, koprep runs (or reuses, from --artifacts) clean → tokenize → word2vec and fasttext
with their default settings on the first N NSMC training reviews. Both vector sets are scored with
`koprep.evaluate` on every item (fastText answers every word; word2vec only its vocabulary's), and
fastText again on the items word2vec answers, so the two compare on the same items.

Timing (best of --repeats, wall and CPU time, one process, one worker each, gensim first): koprep's `train_fasttext` streaming the
tokenize stage's Parquet shards (word counts from Arrow, jamo keys looked up in Arrow), against
`gensim.models.FastText(sentences=list)` on the same tokens already decomposed into jamo and held in
memory (decomposing them is not timed for gensim). The store's writes (the fastText .bin, Parquet)
are reported apart. No Prefect server is involved: the runs are in-process.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPORA = REPO.parent / "shared" / "corpora"
NSMC_TRAIN = CORPORA / "nsmc" / "ratings_train.txt"
WS353 = CORPORA / "word2vec_eval" / "WS353_korean.csv"
ANALOGIES = CORPORA / "word2vec_eval" / "word_analogy_korean.txt"


def run_pipeline(store, size: int, backend: str):
    from koprep.config import load_config
    from koprep.pipeline.runner import run_and_record
    from koprep.plan import build_plan

    overrides = {"corpus.limit": size, "run.stages": ["clean", "tokenize", "word2vec", "fasttext"]}
    plan = build_plan(store, str(NSMC_TRAIN), load_config(None, overrides, backend))
    return run_and_record(plan, run_id=f"bench-embeddings-{backend}-{size}")


def scores(store, record) -> dict:
    from koprep.evaluate import evaluate_analogies, evaluate_similarity
    from koprep.pipeline.datasets import FastTextFiles, WordVectorFiles

    word2vec = WordVectorFiles.keyed_vectors(store.open_entry(record.stages["word2vec"].path))
    fasttext = FastTextFiles.keyed_vectors(store.open_entry(record.stages["fasttext"].path))
    covered = set(word2vec.key_to_index)
    result = {}
    for name, evaluate, headline in (("ws353", evaluate_similarity, "spearman"), ("analogies", evaluate_analogies, "overall_accuracy")):
        path = WS353 if name == "ws353" else ANALOGIES
        w2v = evaluate(word2vec, path)
        ft_all = evaluate(fasttext, path)
        ft_same = evaluate(fasttext, path, within=covered)
        result[name] = {
            "word2vec": {headline: w2v[headline], "evaluated": w2v["evaluated"], "total": w2v["total"]},
            "fasttext_all": {headline: ft_all[headline], "evaluated": ft_all["evaluated"], "total": ft_all["total"]},
            "fasttext_on_word2vec_items": {headline: ft_same[headline], "evaluated": ft_same["evaluated"]},
        }
    return result


def training_times(store, record, repeats: int) -> dict:
    from gensim.models import FastText

    from koprep.pipeline.readers import Sentences, TokenShards, word_counts
    from koprep.stages.fasttext import FastTextParams, decompose
    from koprep.stages.subword_vectors import train_fasttext

    tokens_path = store.open_entry(record.stages["tokenize"].path).path
    counts = word_counts(TokenShards(tokens_path))
    corpus_words = sum(counts.counts.values())
    params = FastTextParams()
    params = params.model_copy(update={"epochs": params.epochs_for(corpus_words)})
    in_memory = [[decompose(token) for token in sentence] for sentence in Sentences(TokenShards(tokens_path))]
    # Wall time and this process's CPU time (all its threads): on a loaded machine the CPU time
    # is the steadier measure. gensim goes first, so any warm-up favours it.
    times: dict[str, list[tuple[float, float]]] = {"gensim": [], "koprep": []}
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        reference = FastText(sentences=in_memory, **params.gensim_kwargs())
        times["gensim"].append((time.perf_counter() - wall, time.process_time() - cpu))
        del reference
        wall, cpu = time.perf_counter(), time.process_time()
        shards = TokenShards(tokens_path)
        model, _ = train_fasttext(Sentences(shards), params, word_counts(shards))
        times["koprep"].append((time.perf_counter() - wall, time.process_time() - cpu))
        del model
    best = {name: (min(w for w, _ in runs), min(c for _, c in runs)) for name, runs in times.items()}
    return {
        "corpus_tokens": corpus_words, "epochs": params.epochs,
        "koprep_wall_s": round(best["koprep"][0], 2), "gensim_wall_s": round(best["gensim"][0], 2),
        "wall_ratio": round(best["koprep"][0] / best["gensim"][0], 3),
        "koprep_cpu_s": round(best["koprep"][1], 2), "gensim_cpu_s": round(best["gensim"][1], 2),
        "cpu_ratio": round(best["koprep"][1] / best["gensim"][1], 3),
        "load_after": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[50_000, 150_000])
    parser.add_argument("--backend", default="mecab")
    parser.add_argument("--artifacts", default=str(REPO / "artifacts-bench-embeddings"))
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--no-timing", action="store_true", help="only the evaluation")
    args = parser.parse_args()

    from koprep.store import ArtifactStore

    store = ArtifactStore(args.artifacts)
    print(f"cores {os.cpu_count()}, load {os.getloadavg()[0]:.2f}, backend {args.backend}, no Prefect server (in-process runs)")
    for size in args.sizes:
        start = time.perf_counter()
        record = run_pipeline(store, size, args.backend)
        stages = {name: {"seconds": stage.seconds, "cached": stage.cached} for name, stage in record.stages.items()}
        row = {"size": size, "pipeline_s": round(time.perf_counter() - start, 1), "stages": stages,
               "scores": scores(store, record)}
        if not args.no_timing:
            row["training"] = training_times(store, record, args.repeats)
        print(json.dumps(row, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
