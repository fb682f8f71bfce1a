"""MeCab-ko gives what python-mecab-ko gives when called directly; its lemma rule on real analyses."""

from __future__ import annotations

import pickle
from importlib.metadata import version
from types import SimpleNamespace

import pytest

from koprep.tokenizers import BackendUnavailable, get_tokenizer
from koprep.tokenizers.registry import backend_class
from koprep.tokenizers.sejong import PREDICATE_TAGS

try:
    backend_class("mecab")
except BackendUnavailable as exc:
    pytest.skip(f"mecab is not available here: {exc}", allow_module_level=True)

import mecab  # noqa: E402  (only importable when the backend is available)

from koprep.tokenizers.mecab import morphemes, shared_mecab  # noqa: E402

pytestmark = pytest.mark.slow  # NSMC reviews and petitions from the shared corpora


@pytest.fixture(scope="module")
def tagger():
    return mecab.MeCab()


@pytest.fixture(scope="module")
def texts(sample_texts, petitions):
    return sample_texts + [petition[:400] for petition in petitions[:20]]


def blank_aware(function, text):
    return function(text) if text.strip() else []


def test_without_lemma_morphs_mode_is_mecab_pos(tagger, texts):
    ours = get_tokenizer("mecab", {"lemma": False}).tokenize(texts)
    assert ours == [blank_aware(tagger.pos, text) for text in texts]


def test_nouns_mode_is_mecab_nouns(tagger, texts):
    ours = get_tokenizer("mecab", {"mode": "nouns", "lemma": False}).tokenize(texts)
    assert [[token for token, _ in doc] for doc in ours] == [blank_aware(tagger.nouns, text) for text in texts]


def test_lemma_changes_only_predicates(tagger, texts):
    lemmas = get_tokenizer("mecab").tokenize(texts)
    for text, doc in zip(texts, lemmas):
        morphemes = blank_aware(tagger.parse, text)
        assert len(doc) == len(morphemes)
        for (token, tag), morpheme in zip(doc, morphemes):
            head = morpheme.feature.start_pos or morpheme.pos
            if head in PREDICATE_TAGS:
                assert token.endswith("다") and tag == head
            else:
                assert (token, tag) == (morpheme.surface, morpheme.pos)


def test_lemma_restores_the_stem_of_an_inflected_form(tagger):
    # Derived from python-mecab-ko's own analysis: 불렀 is VV+EP with expression 부르/VV/*+었/EP/*,
    # 아름다운 is VA+ETM with expression 아름답/VA/*+ᆫ/ETM/*, 먹 is a plain VV.
    text = "노래를 불렀다 아름다운 하늘 밥을 먹었다"
    stems = {m.feature.expression.split("/")[0] for m in tagger.parse(text) if m.feature.type == "Inflect"}
    assert {"부르", "아름답"} <= stems
    ours = get_tokenizer("mecab").tokenize([text])[0]
    assert {("부르다", "VV"), ("아름답다", "VA"), ("먹다", "VV")} <= set(ours)


def test_version_names_the_dictionary():
    found = get_tokenizer("mecab").version()
    assert f"python-mecab-ko-{version('python-mecab-ko')}" in found
    assert f"mecab-ko-dic-{version('python-mecab-ko-dic')}" in found


def test_one_tagger_per_process_and_none_on_the_tokenizer():
    tokenizer = get_tokenizer("mecab")
    tokenizer.tokenize(["영화 재밌다"])
    assert shared_mecab() is shared_mecab()
    # The tagger lives in the process (shared_mecab), never on the instance: that would make it unpicklable.
    assert not any(isinstance(value, mecab.MeCab) for value in vars(tokenizer).values())
    assert vars(pickle.loads(pickle.dumps(tokenizer))).keys() == vars(tokenizer).keys()


def test_the_lattice_is_read_as_python_mecab_ko_parses_it(tagger, texts):
    """koprep reads MeCab's lattice itself (`morphemes`), skipping `MeCab.parse`'s namedtuples."""
    for text in texts:
        expected = [(m.surface, m.feature) for m in tagger.parse(text)]
        assert [(surface, mecab.Feature._from_feature(",".join(fields))) for surface, fields in morphemes(tagger, text)] == expected
        # a python-mecab-ko whose tagger is not where koprep looks for it: read through its parse
        through_parse = SimpleNamespace(parse=tagger.parse)
        assert morphemes(through_parse, text) == morphemes(tagger, text)  # type: ignore[arg-type]
