"""soynlp backends: fit = soynlp's extractor, tokenize = soynlp's tokenizer built from the same table."""

from __future__ import annotations

import pandas as pd
import pytest
from pandas.api.types import is_object_dtype

from koprep.tokenizers import BackendOptionError, BackendUnavailable, get_tokenizer
from koprep.tokenizers.registry import backend_class

try:
    backend_class("soynlp-word")
except BackendUnavailable as exc:
    pytest.skip(f"soynlp is not available here: {exc}", allow_module_level=True)

from soynlp.noun import LRNounExtractor_v2  # noqa: E402
from soynlp.tokenizer import LTokenizer, MaxScoreTokenizer, NounLMatchTokenizer  # noqa: E402
from soynlp.word import WordExtractor  # noqa: E402

from koprep.tokenizers.soynlp import NotFittedError, split_sentences  # noqa: E402

pytestmark = pytest.mark.slow  # trains on thousands of NSMC reviews


@pytest.fixture(scope="module")
def noun_model(fit_texts):
    return get_tokenizer("soynlp-noun").fit(fit_texts)


@pytest.fixture(scope="module")
def word_model(fit_texts):
    return get_tokenizer("soynlp-word").fit(fit_texts)


def test_noun_fit_is_lr_noun_extractor_v2(noun_model, fit_texts):
    nouns = LRNounExtractor_v2(verbose=False).train_extract(fit_texts)
    assert len(noun_model) == len(nouns) > 500
    direct = pd.DataFrame(
        {
            "term": list(nouns),
            "score": [s.score for s in nouns.values()],
            "frequency": [s.frequency for s in nouns.values()],
        }
    )
    direct = direct.sort_values("term", ignore_index=True)
    pd.testing.assert_frame_equal(noun_model, direct, check_dtype=False)


def test_word_fit_is_word_extractor_cohesion(word_model, fit_texts):
    extractor = WordExtractor(verbose_points=0)
    extractor.train(fit_texts)
    words = extractor.extract()
    assert dict(zip(word_model["term"], word_model["score"])) == pytest.approx(
        {word: score.cohesion_forward for word, score in words.items()}
    )


@pytest.mark.parametrize("name", ["soynlp-noun", "soynlp-word"])
def test_model_is_a_plain_table(name, noun_model, word_model):
    model = noun_model if name == "soynlp-noun" else word_model
    assert {"term", "score"} <= set(model.columns)
    for column in model.columns:
        if is_object_dtype(model[column]):
            assert all(isinstance(value, str) for value in model[column]), column
    assert model["term"].is_unique and model["term"].str.len().min() > 0


@pytest.mark.parametrize("compose_compound", [True, False])
def test_noun_tokens_are_noun_l_match_tokenizer(noun_model, petitions, compose_compound):
    ours = get_tokenizer("soynlp-noun", {"compose_compound": compose_compound}).with_model(noun_model)
    direct = NounLMatchTokenizer(set(noun_model["term"]))
    expected = [[(t, "Noun") for t in direct.tokenize(p, compose_compound=compose_compound)] for p in petitions]
    assert ours.tokenize(petitions) == expected


@pytest.mark.parametrize(
    "options, direct_call",
    [
        ({}, lambda scores, text: LTokenizer(scores=scores).tokenize(text)),
        (
            {"remove_r": True, "tolerance": 0.1},
            lambda scores, text: LTokenizer(scores=scores).tokenize(text, tolerance=0.1, remove_r=True),
        ),
        ({"tokenizer": "maxscore"}, lambda scores, text: MaxScoreTokenizer(scores=scores).tokenize(text)),
    ],
)
def test_word_tokens_are_the_soynlp_tokenizer_on_the_same_scores(word_model, petitions, options, direct_call):
    scores = dict(zip(word_model["term"], word_model["score"]))
    ours = get_tokenizer("soynlp-word", options).with_model(word_model)
    assert ours.tokenize(petitions) == [[(t, "") for t in direct_call(scores, p)] for p in petitions]


@pytest.mark.parametrize("name", ["soynlp-noun", "soynlp-word"])
def test_model_from_reviews_tokenizes_petitions_after_a_parquet_round_trip(
    name, noun_model, word_model, petitions, tmp_path
):
    model = noun_model if name == "soynlp-noun" else word_model
    model.to_parquet(tmp_path / "model.parquet")
    reloaded = pd.read_parquet(tmp_path / "model.parquet")
    first, second = get_tokenizer(name).with_model(model), get_tokenizer(name).with_model(reloaded)
    tokens = first.tokenize(petitions)
    assert all(tokens), "every petition gets tokens from a model learned on movie reviews"
    assert second.tokenize(petitions) == tokens and second.version() == first.version()


@pytest.mark.parametrize("name", ["soynlp-noun", "soynlp-word"])
def test_unfitted_backend_says_to_fit_first(name):
    with pytest.raises(NotFittedError, match=r"fit\(texts\) first"):
        get_tokenizer(name).tokenize(["영화 재밌다"])


def test_version_follows_the_model(noun_model):
    smaller = noun_model[noun_model["frequency"] >= 3]
    tokenizer = get_tokenizer("soynlp-noun")
    assert "unfitted" in tokenizer.version()
    assert tokenizer.with_model(noun_model).version() != tokenizer.with_model(smaller).version()


def test_with_model_refuses_a_table_without_the_needed_columns(noun_model):
    with pytest.raises(BackendOptionError, match="score"):
        get_tokenizer("soynlp-word").with_model(noun_model.drop(columns="score"))


def test_ltokenizer_options_are_refused_with_maxscore():
    with pytest.raises(BackendOptionError, match="remove_r"):
        get_tokenizer("soynlp-word", {"tokenizer": "maxscore", "remove_r": True})


def test_fit_needs_text():
    with pytest.raises(ValueError, match="no text"):
        get_tokenizer("soynlp-word").fit(["", "   "])


def test_documents_are_split_into_sentences_at_double_spaces_and_line_breaks(fit_texts):
    documents = ["첫 문장.  둘째 문장   셋째", "", "  넷째 \n다섯째 문장", "한 문장 하나"]
    assert split_sentences(documents) == ["첫 문장.", "둘째 문장", "셋째", "넷째", "다섯째 문장", "한 문장 하나"]
    reviews = fit_texts[:2000]
    documents = ["  ".join(reviews[i : i + 4]) for i in range(0, len(reviews), 4)]
    tokenizer = get_tokenizer("soynlp-word")
    pd.testing.assert_frame_equal(tokenizer.fit(documents), tokenizer.fit(reviews))
    # WordExtractor reads branching entropy across the words of a sentence: unsplit documents differ.
    unsplit, split = WordExtractor(verbose_points=0), WordExtractor(verbose_points=0)
    unsplit.train(documents)
    split.train(reviews)
    assert unsplit.word_scores() != split.word_scores()
