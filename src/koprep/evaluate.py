"""Intrinsic evaluation of word vectors on the Korean analogy and WS-353 sets (Park et al., 2018).

Scores come from gensim's own `evaluate_word_analogies` / `evaluate_word_pairs`; this module adds
what they only log: how many items were skipped because a word is not in the vocabulary, per
section and overall, as a rate in [0, 1]. Coverage matters as much as accuracy for Korean, where
the tokenizer decides whether inflected forms such as 갔다 exist as words at all.

fastText vectors answer every word (from its subwords), which gensim's evaluators ignore: they
skip pairs and items outside the vocabulary. For them, and when `within` restricts the items to
those whose words are all in a given set (to compare two models on the items both answer), the
same measures are computed here: cosine similarity against the scores (Spearman, Pearson), and
3CosAdd over the vocabulary as gensim does it (the first of the 5 nearest words to b - a + c that
is none of a, b, c).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from koprep.errors import BadInputError

if TYPE_CHECKING:  # gensim takes a second to import; the vectors passed in bring it
    from gensim.models import KeyedVectors

VERSION = "2"
"""2: vectors that answer any word (fastText) are scored on every item."""
"""The code version of the `evaluate` stage (its report's content)."""

# gensim's defaults, kept explicit because the OOV count must use the same vocabulary view.
RESTRICT_VOCAB = 300_000
CASE_INSENSITIVE = True


class EvaluationFileError(BadInputError):
    """An evaluation file is missing, not UTF-8, or holds no items in the expected format."""


@dataclass(frozen=True)
class _AnalogyItem:
    section: str
    words: tuple[str, str, str, str]


def evaluate_analogies(kv: KeyedVectors, path: str | os.PathLike, within: set[str] | None = None) -> dict:
    """Analogy accuracy (3CosAdd, gensim `evaluate_word_analogies`) on a Google-format file.

    Returns {"overall_accuracy", "correct", "evaluated", "total", "oov_rate", "sections"}, where
    "sections" maps each section name to the same keys (without "sections"). Accuracy is over the
    items whose four words are all in the vocabulary (None when there are none); `oov_rate` is the
    share of items with at least one word missing.
    """
    items = _read_analogies(path)
    if not items:
        raise EvaluationFileError(f"{path} holds no analogy items; expected ': section' headers followed by 'a b c d' lines")
    if within is not None or answers_any_word(kv):
        return _own_analogies(kv, items, within)
    _, gensim_sections = kv.evaluate_word_analogies(
        os.fspath(path), restrict_vocab=RESTRICT_VOCAB, case_insensitive=CASE_INSENSITIVE
    )
    correct_by_section = {s["section"]: len(s["correct"]) for s in gensim_sections[:-1]}
    evaluated_by_section = {s["section"]: len(s["correct"]) + len(s["incorrect"]) for s in gensim_sections[:-1]}

    totals: dict[str, int] = {}
    for item in items:
        totals[item.section] = totals.get(item.section, 0) + 1
    sections = {
        name: _accuracy_summary(correct_by_section.get(name, 0), evaluated_by_section.get(name, 0), total)
        for name, total in totals.items()
    }
    overall = _accuracy_summary(
        sum(s["correct"] for s in sections.values()),
        sum(s["evaluated"] for s in sections.values()),
        len(items),
    )
    return {
        "overall_accuracy": overall["accuracy"],
        **{key: value for key, value in overall.items() if key != "accuracy"},
        "sections": sections,
    }


def _own_analogies(kv: KeyedVectors, items: list[_AnalogyItem], within: set[str] | None) -> dict:
    answerable = _answerable(kv, within)
    totals: dict[str, int] = {}
    correct: dict[str, int] = {}
    evaluated: dict[str, int] = {}
    for item in items:
        totals[item.section] = totals.get(item.section, 0) + 1
        if not all(answerable(word) for word in item.words):
            continue
        a, b, c, expected = item.words
        evaluated[item.section] = evaluated.get(item.section, 0) + 1
        nearest = kv.most_similar(positive=[b, c], negative=[a], topn=5, restrict_vocab=RESTRICT_VOCAB)
        predicted = next((word for word, _ in nearest if word not in (a, b, c)), None)
        correct[item.section] = correct.get(item.section, 0) + (predicted == expected)
    sections = {name: _accuracy_summary(correct.get(name, 0), evaluated.get(name, 0), total) for name, total in totals.items()}
    overall = _accuracy_summary(sum(correct.values()), sum(evaluated.values()), len(items))
    return {
        "overall_accuracy": overall["accuracy"],
        **{key: value for key, value in overall.items() if key != "accuracy"},
        "sections": sections,
    }


def answers_any_word(kv: KeyedVectors) -> bool:
    """Whether `kv` gives a vector to words outside its vocabulary (fastText with subwords)."""
    from gensim.models.fasttext import FastTextKeyedVectors

    return isinstance(kv, FastTextKeyedVectors) and kv.bucket > 0


def _answerable(kv: KeyedVectors, within: set[str] | None) -> Any:
    any_word = answers_any_word(kv)

    def answerable(word: str) -> bool:
        return (within is None or word in within) and (any_word or word in kv.key_to_index)

    return answerable


def _accuracy_summary(correct: int, evaluated: int, total: int) -> dict:
    return {
        "accuracy": correct / evaluated if evaluated else None,
        "correct": correct,
        "evaluated": evaluated,
        "total": total,
        "oov_rate": (total - evaluated) / total if total else 0.0,
    }


def _read_analogies(path: str | os.PathLike) -> list[_AnalogyItem]:
    # The items gensim counts: lines of exactly four words after a ': section' header.
    items: list[_AnalogyItem] = []
    section = None
    for line in _lines(path):
        if line.startswith(": "):
            section = line.lstrip(": ").strip()
            continue
        words = line.split()
        if len(words) == 4 and section is not None:
            items.append(_AnalogyItem(section, (words[0], words[1], words[2], words[3])))
    return items


def evaluate_similarity(kv: KeyedVectors, path: str | os.PathLike, within: set[str] | None = None) -> dict:
    """Correlation of cosine similarity with human scores (gensim `evaluate_word_pairs`).

    Accepts the Korean WS-353 CSV (UTF-8 with BOM, comma-separated, header line) and gensim's
    tab-separated format (`#` comments). Returns {"pearson", "pearson_pvalue", "spearman",
    "spearman_pvalue", "evaluated", "total", "oov_rate"}; correlations are None when no pair is
    fully in the vocabulary.
    """
    delimiter = _pair_delimiter(path)
    if within is not None or answers_any_word(kv):
        return _own_similarity(kv, path, delimiter, within)
    total, evaluated = _count_pairs(kv, path, delimiter)
    result = {"evaluated": evaluated, "total": total, "oov_rate": (total - evaluated) / total if total else 0.0}
    if total == 0:
        raise EvaluationFileError(f"{path} holds no word pairs; expected lines 'word1{delimiter}word2{delimiter}score'")
    if evaluated < 2:
        return {"pearson": None, "pearson_pvalue": None, "spearman": None, "spearman_pvalue": None, **result}
    pearson, spearman, _ = kv.evaluate_word_pairs(
        os.fspath(path),
        delimiter=delimiter,
        encoding="utf-8-sig",
        restrict_vocab=RESTRICT_VOCAB,
        case_insensitive=CASE_INSENSITIVE,
    )
    return {
        "pearson": float(pearson[0]),
        "pearson_pvalue": float(pearson[1]),
        "spearman": float(spearman[0]),
        "spearman_pvalue": float(spearman[1]),
        **result,
    }


def _own_similarity(kv: KeyedVectors, path: str | os.PathLike, delimiter: str, within: set[str] | None) -> dict:
    from scipy import stats

    answerable = _answerable(kv, within)
    pairs = _pairs(path, delimiter)
    if not pairs:
        raise EvaluationFileError(f"{path} holds no word pairs; expected lines 'word1{delimiter}word2{delimiter}score'")
    kept = [(a, b, score) for a, b, score in pairs if answerable(a) and answerable(b)]
    result = {"evaluated": len(kept), "total": len(pairs), "oov_rate": (len(pairs) - len(kept)) / len(pairs)}
    if len(kept) < 2:
        return {"pearson": None, "pearson_pvalue": None, "spearman": None, "spearman_pvalue": None, **result}
    similarities = [float(kv.similarity(a, b)) for a, b, _ in kept]
    scores = [score for _, _, score in kept]
    pearson = stats.pearsonr(similarities, scores)
    spearman = stats.spearmanr(similarities, scores)
    return {
        "pearson": float(pearson[0]), "pearson_pvalue": float(pearson[1]),
        "spearman": float(spearman[0]), "spearman_pvalue": float(spearman[1]),
        **result,
    }


def _pairs(path: str | os.PathLike, delimiter: str) -> list[tuple[str, str, float]]:
    """The word pairs and scores, parsed the way gensim parses them."""
    pairs = []
    for line in _lines(path):
        if not line or line.startswith("#"):
            continue
        fields = line.split(delimiter)
        if len(fields) != 3:
            continue
        try:
            score = float(fields[2])
        except ValueError:
            continue  # header line
        pairs.append((fields[0], fields[1], score))
    return pairs


def _pair_delimiter(path: str | os.PathLike) -> str:
    for line in _lines(path):
        if line.strip() and not line.startswith("#"):
            return "\t" if "\t" in line else ","
    return ","


def _lines(path: str | os.PathLike) -> list[str]:
    """The file's lines (with their line ends, as gensim reads them); a clear error when the file
    is missing or not UTF-8."""
    try:
        with open(path, encoding="utf-8-sig") as handle:
            return handle.readlines()
    except FileNotFoundError:
        raise EvaluationFileError(f"evaluation file {path} does not exist") from None
    except UnicodeDecodeError as exc:
        raise EvaluationFileError(
            f"evaluation file {path} is not UTF-8 (byte {exc.start}); convert it, e.g. `iconv -f cp949 -t utf-8`"
        ) from None


def _count_pairs(kv: KeyedVectors, path: str | os.PathLike, delimiter: str) -> tuple[int, int]:
    """(valid pairs, pairs with both words in the vocabulary), parsed the way gensim parses them."""
    vocabulary = _vocabulary_view(kv)
    pairs = _pairs(path, delimiter)
    return len(pairs), sum(_fold(a) in vocabulary and _fold(b) in vocabulary for a, b, _ in pairs)


def _vocabulary_view(kv: KeyedVectors) -> set[str]:
    return {_fold(word) for word in kv.index_to_key[:RESTRICT_VOCAB]}


def _fold(word: str) -> str:
    return word.upper() if CASE_INSENSITIVE else word
