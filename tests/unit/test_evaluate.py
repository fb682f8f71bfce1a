"""Analogy and WS-353 evaluation on the Korean sets, with OOV rates recomputed independently."""

from __future__ import annotations

import numpy as np
import pytest
from gensim.models import KeyedVectors
from scipy import stats

from koprep.evaluate import evaluate_analogies, evaluate_similarity
from koprep.stages.embed import Word2VecParams, train_word2vec
from tests.helpers import W2V_EVAL, nsmc, require

pytestmark = pytest.mark.slow  # the shared word2vec evaluation sets and NSMC


@pytest.fixture(scope="module")
def analogy_path():
    return require(W2V_EVAL / "word_analogy_korean.txt")


@pytest.fixture(scope="module")
def ws353_path():
    return require(W2V_EVAL / "WS353_korean.csv")


@pytest.fixture(scope="module")
def nsmc_vectors() -> KeyedVectors:
    sentences = [text.split() for text in nsmc(5000)["document"]]
    return train_word2vec(sentences, Word2VecParams(vector_size=32, epochs=3, min_count=2))


def _analogy_items(path) -> list[tuple[str, list[str]]]:
    items, section = [], None
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith(":"):
            section = line[1:].strip()
        elif line.strip():
            items.append((section, line.split()))
    return items


def _ws353_pairs(path) -> list[tuple[str, str, float]]:
    rows = path.read_text(encoding="utf-8-sig").splitlines()[1:]
    return [(a, b, float(score)) for a, b, score in (row.split(",") for row in rows if row.strip())]


def test_analogies_on_a_small_nsmc_model(nsmc_vectors, analogy_path):
    result = evaluate_analogies(nsmc_vectors, analogy_path)
    items = _analogy_items(analogy_path)
    missing = [any(w not in nsmc_vectors.key_to_index for w in words) for _, words in items]

    assert result["total"] == len(items) == 10_000
    assert result["oov_rate"] == pytest.approx(np.mean(missing))
    assert 0.0 <= result["oov_rate"] <= 1.0
    assert result["evaluated"] == len(items) - sum(missing)
    assert len(result["sections"]) == 10 and all(s["total"] == 1000 for s in result["sections"].values())
    for name, section in result["sections"].items():
        in_section = [m for (s, _), m in zip(items, missing) if s == name]
        assert section["oov_rate"] == pytest.approx(np.mean(in_section))
        assert section["accuracy"] is None if section["evaluated"] == 0 else 0 <= section["accuracy"] <= 1
    assert sum(s["correct"] for s in result["sections"].values()) == result["correct"]


def test_analogy_accuracy_counts_gensims_verdicts(analogy_path):
    # Vectors in which country = capital + one shared offset, so b - a + c = d holds for the
    # first section's items and gensim answers them; every other section is out of vocabulary.
    items = [words for section, words in _analogy_items(analogy_path) if section.startswith("sem1")]
    capital_of = {country: capital for a, b, c, d in items for capital, country in ((a, b), (c, d))}
    capitals = sorted(set(capital_of.values()))
    rng = np.random.default_rng(0)
    capital_vectors = dict(zip(capitals, rng.normal(size=(len(capitals), 64))))
    offset = rng.normal(size=64)
    vectors = {**capital_vectors, **{country: capital_vectors[capital] + offset for country, capital in capital_of.items()}}
    kv = KeyedVectors(vector_size=64, count=0, dtype=np.float32)
    kv.add_vectors(list(vectors), np.array(list(vectors.values()), dtype=np.float32))
    result = evaluate_analogies(kv, analogy_path)
    first = result["sections"]["sem1_capital-conturies"]
    assert first["evaluated"] == 1000 and first["oov_rate"] == 0.0
    assert all(s["oov_rate"] == 1.0 and s["accuracy"] is None for n, s in result["sections"].items() if n != "sem1_capital-conturies")
    direct_score, direct_sections = kv.evaluate_word_analogies(str(analogy_path))
    assert first["correct"] == len(direct_sections[0]["correct"])
    assert result["overall_accuracy"] == pytest.approx(direct_score)
    assert first["accuracy"] > 0.9


def test_similarity_on_a_small_nsmc_model(nsmc_vectors, ws353_path):
    result = evaluate_similarity(nsmc_vectors, ws353_path)
    pairs = _ws353_pairs(ws353_path)
    known = [(a, b, s) for a, b, s in pairs if a in nsmc_vectors.key_to_index and b in nsmc_vectors.key_to_index]
    assert result["total"] == len(pairs) == 353
    assert result["evaluated"] == len(known)
    assert result["oov_rate"] == pytest.approx(1 - len(known) / len(pairs))
    model = [nsmc_vectors.similarity(a, b) for a, b, _ in known]
    gold = [s for _, _, s in known]
    assert result["spearman"] == pytest.approx(stats.spearmanr(gold, model).statistic)
    assert result["pearson"] == pytest.approx(stats.pearsonr(gold, model).statistic)


def test_similarity_with_full_coverage_and_tab_separated_input(ws353_path, tmp_path):
    pairs = _ws353_pairs(ws353_path)
    words = sorted({w for a, b, _ in pairs for w in (a, b)})
    kv = KeyedVectors(vector_size=16, count=0, dtype=np.float32)
    kv.add_vectors(words, np.random.default_rng(1).normal(size=(len(words), 16)).astype(np.float32))
    result = evaluate_similarity(kv, ws353_path)
    assert result["oov_rate"] == 0.0 and result["evaluated"] == 353
    cosine = [
        float(np.dot(kv[a], kv[b]) / (np.linalg.norm(kv[a]) * np.linalg.norm(kv[b]))) for a, b, _ in pairs
    ]
    assert result["pearson"] == pytest.approx(stats.pearsonr([s for *_, s in pairs], cosine).statistic, abs=1e-6)

    tsv = tmp_path / "ws353.tsv"
    tsv.write_text("# word1\tword2\tscore\n" + "".join(f"{a}\t{b}\t{s}\n" for a, b, s in pairs), encoding="utf-8")
    assert evaluate_similarity(kv, tsv) == pytest.approx(result)


def test_similarity_without_any_known_pair_reports_no_correlation(ws353_path):
    kv = KeyedVectors(vector_size=4, count=0, dtype=np.float32)
    kv.add_vectors(["없는단어"], np.ones((1, 4), dtype=np.float32))
    result = evaluate_similarity(kv, ws353_path)
    assert result["oov_rate"] == 1.0 and result["pearson"] is None and result["spearman"] is None
