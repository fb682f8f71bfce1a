"""Kiwi gives what kiwipiepy's Kiwi gives when called directly with the same options."""

from __future__ import annotations

import re
from importlib.metadata import version

import pytest

from koprep.tokenizers import BackendUnavailable, get_tokenizer
from koprep.tokenizers.registry import backend_class

try:
    backend_class("kiwi")
except BackendUnavailable as exc:
    pytest.skip(f"kiwi is not available here: {exc}", allow_module_level=True)

from kiwipiepy import Kiwi  # noqa: E402  (only importable when the backend is available)

pytestmark = pytest.mark.slow  # NSMC reviews and petitions from the shared corpora


@pytest.fixture(scope="module")
def kiwi():
    return Kiwi()


@pytest.fixture(scope="module")
def texts(sample_texts, petitions):
    sentences = [s for petition in petitions[:5] for s in re.split(r"(?<=[.?!])\s+", petition) if s.strip()]
    return sample_texts + sentences[:100]


def expected(kiwi, text, *, lemma=True, normalize_coda=False, keep=lambda tag: True):
    """Kiwi called directly: Token.lemma or Token.form, with a multi-word noun's space written as "_"."""
    if not text.strip():
        return []
    tokens = kiwi.tokenize(text, normalize_coda=normalize_coda)
    return [((t.lemma if lemma else t.form).replace(" ", "_"), t.tag) for t in tokens if keep(t.tag)]


@pytest.mark.parametrize("lemma", [True, False])
@pytest.mark.parametrize("normalize_coda", [False, True])
def test_morphs_mode_is_kiwi_tokenize(kiwi, texts, lemma, normalize_coda):
    ours = get_tokenizer("kiwi", {"lemma": lemma, "normalize_coda": normalize_coda}).tokenize(texts)
    assert ours == [expected(kiwi, t, lemma=lemma, normalize_coda=normalize_coda) for t in texts]


def test_nouns_mode_keeps_the_noun_tags(kiwi, texts):
    ours = get_tokenizer("kiwi", {"mode": "nouns"}).tokenize(texts)
    assert ours == [expected(kiwi, t, keep=lambda tag: tag.startswith("N")) for t in texts]
    assert {tag for doc in ours for _, tag in doc} <= {"NNG", "NNP", "NNB", "NR", "NP"}


def test_pos_mode_matches_tags_by_prefix(kiwi, texts):
    ours = get_tokenizer("kiwi", {"mode": "pos", "keep_tags": ["NNG", "VA"]}).tokenize(texts)
    assert ours == [expected(kiwi, t, keep=lambda tag: tag == "NNG" or tag.startswith("VA")) for t in texts]
    assert any(tag == "VA-I" for doc in ours for _, tag in doc), "irregular adjectives (VA-I) match the VA prefix"


def test_lemma_puts_predicates_in_dictionary_form(texts):
    lemmas = get_tokenizer("kiwi", {"mode": "pos", "keep_tags": ["VV", "VA"]}).tokenize(texts)
    forms = get_tokenizer("kiwi", {"mode": "pos", "keep_tags": ["VV", "VA"], "lemma": False}).tokenize(texts)
    pairs = [(lemma, form) for l_doc, f_doc in zip(lemmas, forms) for (lemma, _), (form, _) in zip(l_doc, f_doc)]
    # Kiwi's forms are already stems (걸었다 → 걷/VV-I 었 다), so the lemma is the form + 다.
    assert pairs and all(lemma == form + "다" for lemma, form in pairs)


def test_multi_word_nouns_are_one_token_without_spaces(kiwi, texts):
    multi = [t.form for text in texts if text.strip() for t in kiwi.tokenize(text) if " " in t.form]
    assert multi, "the sample holds a multi-word proper noun"
    tokens = {token for doc in get_tokenizer("kiwi").tokenize(texts) for token, _ in doc}
    assert {form.replace(" ", "_") for form in multi} <= tokens
    split = {token for doc in get_tokenizer("kiwi", {"multi_word_nouns": False}).tokenize(texts) for token, _ in doc}
    assert not any("_" in token for token in split - tokens)


def test_version_names_kiwipiepy_and_its_model():
    found = get_tokenizer("kiwi").version()
    assert f"kiwipiepy-{version('kiwipiepy')}" in found and f"model-{version('kiwipiepy_model')}" in found
