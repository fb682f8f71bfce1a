"""The tokenize fingerprint hashes the normalised options that affect output, and nothing else:
defaults filled in, execution-only options (okt `threads`, kiwi `num_workers`) and options the
chosen mode ignores left out. No JVM: okt's version() reads only konlpy's version."""

from __future__ import annotations

from pathlib import Path

import pytest

from koprep.config import load_config
from koprep.pipeline.execution import StageResult
from koprep.pipeline.graph import GRAPH
from koprep.pipeline.resolve import Resolution
from koprep.pipeline.runner import execute
from koprep.plan import build_plan
from koprep.store import ArtifactStore
from koprep.tokenizers import BackendUnavailable, get_tokenizer
from tests.unit.korean_samples import REVIEWS as SAMPLE_REVIEWS

REVIEWS = SAMPLE_REVIEWS[:8]
"""Reviews written for the tests (tests/unit/korean_samples.py), so that these tests need no shared corpus."""


def tokenize_key(backend: str, options: dict) -> str:
    """The tokenize stage's fingerprint for `options` over a fixed clean input (the key the stage
    graph builds; the store is never read)."""
    config = load_config(overrides={"tokenize.backend": backend, "tokenize.options": options})
    run = Resolution(ArtifactStore("unused"), None, config)
    return GRAPH.key(GRAPH["tokenize"], run, {"clean": "0" * 32}).fingerprint


def backend_or_skip(name: str) -> None:
    try:
        get_tokenizer(name).version()
    except BackendUnavailable as exc:
        pytest.skip(str(exc))


SAME = [
    ("okt", {}, {"threads": 7}),
    ("okt", {}, {"mode": "morphs", "stem": True, "norm": True, "threads": 2}),
    ("okt", {}, {"keep_tags": ["Noun"]}),
    ("okt", {"mode": "nouns"}, {"mode": "nouns", "stem": False, "norm": False, "keep_tags": ["Verb"], "threads": 1}),
    ("okt", {"mode": "pos"}, {"mode": "pos", "keep_tags": ["Noun", "Verb", "Adjective"]}),
    ("kiwi", {}, {"num_workers": 0}),
    ("kiwi", {}, {"lemma": True, "model_type": "none", "multi_word_nouns": True}),
    ("kiwi", {"mode": "nouns"}, {"mode": "nouns", "lemma": False, "keep_tags": ["NNG"]}),
    ("mecab", {}, {"keep_tags": ["NNG"]}),
    ("mecab", {"mode": "nouns"}, {"mode": "nouns", "lemma": False}),
    ("soynlp-noun", {}, {"min_noun_score": 0.3, "compose_compound": True}),
    ("soynlp-word", {"tokenizer": "maxscore"}, {"tokenizer": "maxscore", "remove_r": False, "tolerance": 0.0}),
    ("whitespace", {}, {}),
]

DIFFERENT = [
    ("okt", {}, {"stem": False}),
    ("okt", {}, {"norm": False}),
    ("okt", {}, {"mode": "nouns"}),
    ("okt", {"mode": "pos"}, {"mode": "pos", "keep_tags": ["Noun"]}),
    ("kiwi", {}, {"lemma": False}),
    ("kiwi", {"mode": "pos"}, {"mode": "pos", "keep_tags": ["NNG"]}),
    ("mecab", {}, {"lemma": False}),
    ("soynlp-noun", {}, {"compose_compound": False}),
    ("soynlp-word", {}, {"tokenizer": "maxscore"}),
]


def cases(rows: list[tuple[str, dict, dict]]) -> list:
    """Kiwi's version() loads its model (seconds on a busy machine): those cases belong to the slow tier."""
    return [
        pytest.param(*row, id=f"{row[0]}-{i}", marks=[pytest.mark.slow] if row[0] == "kiwi" else [])
        for i, row in enumerate(rows)
    ]


@pytest.mark.parametrize("backend, first, second", cases(SAME))
def test_options_that_cannot_change_the_output_give_the_same_fingerprint(backend, first, second):
    backend_or_skip(backend)
    assert tokenize_key(backend, first) == tokenize_key(backend, second)
    assert get_tokenizer(backend, first).version() == get_tokenizer(backend, second).version()


@pytest.mark.parametrize("backend, first, second", cases(DIFFERENT))
def test_options_that_change_the_output_change_the_fingerprint(backend, first, second):
    backend_or_skip(backend)
    assert tokenize_key(backend, first) != tokenize_key(backend, second)


def test_execution_only_options_are_declared_by_the_backends():
    from koprep.tokenizers.kiwi import KiwiTokenizer
    from koprep.tokenizers.okt import OktTokenizer

    assert OktTokenizer.Options.execution_only == {"threads", "max_heap_mb"}
    assert KiwiTokenizer.Options.execution_only == {"num_workers"}
    assert "threads" not in OktTokenizer(threads=3).options.affecting_output()
    assert "max_heap_mb" not in OktTokenizer(max_heap_mb=2048).options.affecting_output()


def write_corpus(path: Path) -> Path:
    path.write_text("\n".join(REVIEWS) + "\n", encoding="utf-8")
    return path


def run_stages(store: ArtifactStore, corpus: Path, **overrides) -> dict[str, StageResult]:
    config = load_config(overrides={"run.shard_size": 3, "run.stages": ["bow", "ngram", "tfidf"], **overrides})
    return execute(build_plan(store, str(corpus), config))


@pytest.mark.slow  # three Kiwi loads (one per num_workers), 5-15 s on two shared cores
def test_a_run_with_only_num_workers_changed_is_cached_end_to_end(tmp_path):
    """The stage functions themselves, with Kiwi (no JVM): a second run that changes only the
    execution-only option, or spells a default out, reuses every stored stage."""
    backend_or_skip("kiwi")
    store = ArtifactStore(tmp_path / "artifacts")
    corpus = write_corpus(tmp_path / "reviews.txt")
    first = run_stages(store, corpus, **{"tokenize.backend": "kiwi", "tokenize.options": {"num_workers": 1}})
    assert not any(result.cached for result in first.values())
    for options in ({"num_workers": 0}, {"num_workers": 2, "lemma": True, "keep_tags": ["NNG"]}):
        again = run_stages(store, corpus, **{"tokenize.backend": "kiwi", "tokenize.options": options})
        assert {name: result.cached for name, result in again.items()} == dict.fromkeys(first, True)
        assert {n: r.fingerprint for n, r in again.items()} == {n: r.fingerprint for n, r in first.items()}
    changed = run_stages(store, corpus, **{"tokenize.backend": "kiwi", "tokenize.options": {"lemma": False}})
    assert {name: result.cached for name, result in changed.items()} == {
        "clean": True, "tokenize": False, "bow": False, "ngram": False, "tfidf": False,
    }
