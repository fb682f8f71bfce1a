"""End-to-end: koprep's pipeline vs the hand-written notebook way, in the same process.

The baseline is what teams copy today: a regex clean, an `Okt().morphs(stem=True, norm=True)`
loop, `CountVectorizer` (1-gram and 1–2-gram), `TfidfVectorizer` and gensim `Word2Vec`.
koprep runs the same stages through `koprep.pipeline` (cold: empty store), then again (warm:
everything cached). Prints seconds and ratios against the baseline measured in this run.

    .venv/bin/python bench/bench_pipeline.py --docs 20000
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from pathlib import Path

import pandas as pd

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpora" / "nsmc" / "ratings_train.txt"


def baseline(texts: list[str], w2v: dict) -> dict[str, float]:
    from gensim.models import Word2Vec
    from konlpy.tag import Okt
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

    times = {}
    start = time.perf_counter()
    cleaned = [re.sub(r"[^가-힣ㄱ-ㅎㅏ-ㅣa-zA-Z0-9 ]", " ", t) for t in texts]
    times["clean"] = time.perf_counter() - start
    okt = Okt()
    start = time.perf_counter()
    tokens = [okt.morphs(t, stem=True, norm=True) for t in cleaned]
    times["tokenize"] = time.perf_counter() - start
    identity = dict(tokenizer=lambda d: d, preprocessor=lambda d: d, token_pattern=None, lowercase=False)
    start = time.perf_counter()
    CountVectorizer(**identity).fit_transform(tokens)
    CountVectorizer(ngram_range=(1, 2), **identity).fit_transform(tokens)
    TfidfVectorizer(**identity).fit_transform(tokens)
    times["vectorize"] = time.perf_counter() - start
    start = time.perf_counter()
    Word2Vec([t for t in tokens if t], **w2v)
    times["word2vec"] = time.perf_counter() - start
    return times


def koprep_run(corpus: Path, root: Path, w2v: dict) -> dict[str, float]:
    from koprep import pipeline
    from koprep.config import load_config
    from koprep.store import ArtifactStore

    config = load_config(overrides={f"word2vec.{k}": v for k, v in w2v.items()})
    store = ArtifactStore(root)
    times = {}
    start = time.perf_counter()
    clean = pipeline.clean_stage(store, str(corpus), config)
    times["clean"] = time.perf_counter() - start
    start = time.perf_counter()
    tokens, _ = pipeline.tokenize_stage(store, clean, config)
    times["tokenize"] = time.perf_counter() - start
    start = time.perf_counter()
    for name in pipeline.VECTORIZER_STAGES:
        pipeline.vectorize_stage(store, name, tokens, config)
    times["vectorize"] = time.perf_counter() - start
    start = time.perf_counter()
    pipeline.word2vec_stage(store, tokens, config)
    times["word2vec"] = time.perf_counter() - start
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=20_000)
    args = parser.parse_args()
    frame = pd.read_csv(CORPUS, sep="\t", quoting=3, dtype=str, keep_default_na=False, nrows=args.docs)
    w2v = {"vector_size": 100, "window": 5, "min_count": 2, "epochs": 5, "seed": 1, "workers": 1, "sg": 0}

    from koprep.tokenizers.okt import shared_okt

    okt = shared_okt()  # start the JVM and warm the JIT once, for both sides alike
    for text in frame["document"].head(500):
        okt.morphs(text, stem=True, norm=True)

    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "nsmc.tsv"
        frame.to_csv(corpus, sep="\t", index=False, quoting=3)
        base = baseline(frame["document"].tolist(), w2v)
        cold = koprep_run(corpus, Path(tmp) / "artifacts", w2v)
        warm = koprep_run(corpus, Path(tmp) / "artifacts", w2v)

    print(f"NSMC reviews: {args.docs}")
    print(f"{'stage':<10} {'baseline s':>10} {'koprep cold s':>14} {'ratio':>6} {'koprep warm s':>14} {'ratio':>7}")
    for stage in list(base) + ["total"]:
        b = sum(base.values()) if stage == "total" else base[stage]
        c = sum(cold.values()) if stage == "total" else cold[stage]
        w = sum(warm.values()) if stage == "total" else warm[stage]
        print(f"{stage:<10} {b:>10.2f} {c:>14.2f} {c / b:>6.2f} {w:>14.3f} {w / b:>7.4f}")


if __name__ == "__main__":
    main()
