"""Benchmark: the `search` and `topic` presets against simple pipelines a user would write with the
libraries directly, on the petitions (../shared/corpora/petitions, 3,691 with title, content, category).

    .venv/bin/python bench/bench_presets.py            # kiwi, every petition
    .venv/bin/python bench/bench_presets.py --limit 1500

search: title -> content retrieval. Every content is indexed (TF-IDF fitted on the contents), each
title is a query, contents are ranked by cosine similarity; MRR and recall@1/@10 over all titles.
topic: category prediction, 5-fold LogisticRegression (C=3, as `koprep compare`) on TF-IDF; accuracy and
macro-F1.

Every variant tokenizes with the same Kiwi analysis (kiwipiepy, lemmas, all tags), filtered as the
variant says; the preset rows apply koprep's own token filter for that preset (stopwords, drop_tags)
and its tfidf settings, as `load_config(preset=..., backend="kiwi")` resolves them.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Callable

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from koprep.config import load_config
from koprep.stages.clean import clean_texts
from koprep.stages.filters import filter_tokens, resolve_stopwords
from koprep.tokenizers.kiwi import KiwiTokenizer

PETITIONS = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "petitions"
Tagged = list[tuple[str, str]]
LIGHT = {"하다", "되다", "있다", "없다", "않다", "같다", "이다", "아니다", "받다", "주다", "보다", "지다", "싶다", "않"}


def load(limit: int | None) -> list[dict]:
    rows = [json.loads(line) for file in sorted(PETITIONS.glob("*.jsonl")) for line in file.open(encoding="utf-8")]
    rows = [row for row in rows if row.get("title") and row.get("content")]
    return rows[:limit] if limit else rows


def preset_filter(preset: str) -> Callable[[Tagged], list[str]]:
    config = load_config(None, {}, "kiwi", preset)
    tokenize = config.tokenize
    drop = tuple(tokenize.drop_tags if tokenize.drop_tags is not None else KiwiTokenizer.default_drop_tags)
    stopwords = frozenset(resolve_stopwords(tokenize))
    nouns = tokenize.options.get("mode") == "nouns"
    return lambda doc: filter_tokens([p for p in doc if not nouns or p[1].startswith("N")], stopwords, drop,
                                     tokenize.min_length)


def tags(*prefixes: str, light: bool = True, numbers: bool = True) -> Callable[[Tagged], list[str]]:
    def select(doc: Tagged) -> list[str]:
        return [t for t, tag in doc if tag.startswith(prefixes) and (light or t not in LIGHT)
                and (numbers or not t.isdigit()) and t.strip()]
    return select


def tfidf(ngrams: tuple[int, int] = (1, 1), min_df: int = 2) -> TfidfVectorizer:
    return TfidfVectorizer(analyzer=lambda x: x, min_df=min_df, sublinear_tf=True) if ngrams == (1, 1) else \
        TfidfVectorizer(tokenizer=lambda x: x, preprocessor=lambda x: x, token_pattern=None, lowercase=False,
                        ngram_range=ngrams, min_df=min_df, sublinear_tf=True)


def retrieval(queries: list, documents: list, vectorizer: TfidfVectorizer) -> dict[str, float]:
    index = vectorizer.fit_transform(documents)
    asked = vectorizer.transform(queries)
    scores = (asked @ index.T).toarray()
    correct = scores[np.arange(len(queries)), np.arange(len(queries))]
    ranks = 1 + (scores > correct[:, None]).sum(axis=1)
    return {"MRR": float(np.mean(1 / ranks)), "R@1": float(np.mean(ranks <= 1)), "R@10": float(np.mean(ranks <= 10))}


def classification(documents: list, labels: list[str], vectorizer: TfidfVectorizer) -> dict[str, float]:
    matrix = vectorizer.fit_transform(documents)
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    predicted = cross_val_predict(LogisticRegression(C=3, max_iter=2000), matrix, labels, cv=folds)
    return {"accuracy": float(np.mean(predicted == np.array(labels))), "macro_f1": float(f1_score(labels, predicted, average="macro"))}


def analysed(titles: list[str], contents: list[str], cache: Path | None) -> tuple[list[Tagged], list[Tagged]]:
    if cache is not None and cache.exists():
        stored = json.loads(cache.read_text(encoding="utf-8"))
        if stored["titles"] == titles:
            return ([[tuple(p) for p in d] for d in stored["tagged_titles"]],  # type: ignore[misc]
                    [[tuple(p) for p in d] for d in stored["tagged_contents"]])
    kiwi = KiwiTokenizer(mode="morphs", lemma=True)
    tagged = kiwi.tokenize(titles), kiwi.tokenize(contents)
    if cache is not None:
        cache.write_text(json.dumps({"titles": titles, "tagged_titles": tagged[0], "tagged_contents": tagged[1]},
                                    ensure_ascii=False), encoding="utf-8")
    return tagged


class Combined:
    """Word TF-IDF and character n-gram TF-IDF side by side (rows re-normalised), on (tokens, text) pairs."""

    def __init__(self, words: TfidfVectorizer, chars: TfidfVectorizer, weight: float) -> None:
        self.words, self.chars, self.weight = words, chars, weight

    def fit_transform(self, pairs: list) -> object:
        return self._join(self.words.fit_transform([p[0] for p in pairs]), self.chars.fit_transform([p[1] for p in pairs]))

    def transform(self, pairs: list) -> object:
        return self._join(self.words.transform([p[0] for p in pairs]), self.chars.transform([p[1] for p in pairs]))

    def _join(self, words: object, chars: object) -> object:
        from scipy.sparse import hstack
        from sklearn.preprocessing import normalize

        return normalize(hstack([words, chars * self.weight]).tocsr())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--cache", type=Path, default=None,
                        help="a JSON file keeping Kiwi's analysis between runs (written when missing)")
    parser.add_argument("--only", choices=["search", "topic"], default=None)
    args = parser.parse_args()
    rows = load(args.limit)
    print(f"{len(rows)} petitions; cores {os.cpu_count()}, load {os.getloadavg()[0]:.2f}; no Prefect server")
    started = time.perf_counter()
    config = load_config(None, {}, "kiwi")
    titles = clean_texts([row["title"] for row in rows], config.clean)
    contents = clean_texts([row["content"] for row in rows], config.clean)
    tagged_titles, tagged_contents = analysed(titles, contents, args.cache)
    print(f"kiwi analysis {time.perf_counter() - started:.0f} s")

    if args.only != "topic":
        search(titles, contents, tagged_titles, tagged_contents)
    if args.only != "search":
        topic([row["category"] for row in rows], tagged_titles, tagged_contents)
    print(f"\ntotal {time.perf_counter() - started:.0f} s, load {os.getloadavg()[0]:.2f}")


def search(titles: list[str], contents: list[str], tagged_titles: list[Tagged], tagged_contents: list[Tagged]) -> None:
    search_variants: dict[str, tuple[Callable[[Tagged], list[str]], tuple[int, int]]] = {
        "search preset (kiwi nouns incl. NNB/NR/NP, +noun bigrams)": (preset_filter("search"), (1, 2)),
        "search preset tokens, unigrams only": (preset_filter("search"), (1, 1)),
        "NNG+NNP+SL (nouns without NNB/NR/NP), unigrams": (tags("NNG", "NNP", "SL", "SH"), (1, 1)),
        "NNG+NNP+SL, +bigrams": (tags("NNG", "NNP", "SL", "SH"), (1, 2)),
        "content words (NNG NNP VV VA XR SL), lemmas": (tags("NNG", "NNP", "VV", "VA", "XR", "SL", "SH", light=False), (1, 1)),
        "topic preset (default)": (preset_filter("topic"), (1, 1)),
    }
    print("\nsearch: title -> content retrieval")
    for name, (select, ngrams) in search_variants.items():
        result = retrieval([select(d) for d in tagged_titles], [select(d) for d in tagged_contents], tfidf(ngrams))
        print(f"  {name:<58} " + "  ".join(f"{k} {v:.4f}" for k, v in result.items()))
    chargram = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 3), min_df=2, sublinear_tf=True)
    result = retrieval(titles, contents, chargram)
    print(f"  {'character 2-3-grams (char_wb)':<58} " + "  ".join(f"{k} {v:.4f}" for k, v in result.items()))
    for low, high in ((1, 3), (2, 4)):
        chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(low, high), min_df=2, sublinear_tf=True)
        result = retrieval(titles, contents, chars)
        print(f"  {f'character {low}-{high}-grams (char_wb)':<58} " + "  ".join(f"{k} {v:.4f}" for k, v in result.items()))
    select = preset_filter("search")
    both = Combined(tfidf((1, 2)), TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 3), min_df=2, sublinear_tf=True), 1.0)
    result = retrieval(list(zip([select(d) for d in tagged_titles], titles)),
                       list(zip([select(d) for d in tagged_contents], contents)), both)  # type: ignore[arg-type]
    print(f"  {'search preset words + char 2-3-grams':<58} " + "  ".join(f"{k} {v:.4f}" for k, v in result.items()))



def topic(labels: list[str], tagged_titles: list[Tagged], tagged_contents: list[Tagged]) -> None:
    topic_variants = {
        "topic preset (default: morphs, lemmas, content filter)": preset_filter("topic"),
        "topic without light verbs and bare numbers": lambda d: [t for t in preset_filter("topic")(d)
                                                                 if t not in LIGHT and not t.isdigit()],
        "nouns NNG+NNP+SL": tags("NNG", "NNP", "SL", "SH"),
        "content words (NNG NNP VV VA XR SL), no light verbs": tags("NNG", "NNP", "VV", "VA", "XR", "SL", "SH", light=False, numbers=False),
    }
    print(f"\ntopic: category prediction ({len(set(labels))} categories, 5 folds)")
    for name, select in topic_variants.items():
        documents = [select(t) + select(c) for t, c in zip(tagged_titles, tagged_contents)]
        result = classification(documents, labels, tfidf())
        print(f"  {name:<58} " + "  ".join(f"{k} {v:.4f}" for k, v in result.items()))


if __name__ == "__main__":
    main()
