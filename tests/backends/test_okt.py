"""Okt gives what konlpy's Okt gives when called directly with the same options."""

from __future__ import annotations

import pytest

from koprep.tokenizers import BackendUnavailable, get_tokenizer
from koprep.tokenizers.registry import backend_class

try:
    backend_class("okt")
except BackendUnavailable as exc:
    pytest.skip(f"okt is not available here: {exc}", allow_module_level=True)

from konlpy.tag import Okt  # noqa: E402  (only importable when the backend is available)

from koprep.tokenizers.jvm import ensure_jvm  # noqa: E402

pytestmark = pytest.mark.slow  # starts the JVM


@pytest.fixture(scope="module")
def okt():
    try:
        ensure_jvm()  # the process's one JVM, shared with the backend
    except BackendUnavailable as exc:
        pytest.skip(f"okt needs a JVM: {exc}")
    return Okt()


@pytest.fixture(scope="module")
def texts(sample_texts):
    return [text for text in sample_texts if text.strip()][:120]


@pytest.mark.parametrize("stem, norm", [(True, True), (False, False)])
def test_morphs_mode_is_okt_pos(okt, texts, stem, norm):
    ours = get_tokenizer("okt", {"stem": stem, "norm": norm}).tokenize(texts)
    assert ours == [[pair for pair in okt.pos(text, stem=stem, norm=norm) if pair[0].strip()] for text in texts]


def test_morphs_mode_without_stem_or_norm_has_okt_morphs_tokens(okt, texts):
    ours = get_tokenizer("okt", {"stem": False, "norm": False}).tokenize(texts)
    assert [[token for token, _ in doc] for doc in ours] == [okt.morphs(text) for text in texts]


def test_nouns_mode_is_okt_nouns(okt, texts):
    ours = get_tokenizer("okt", {"mode": "nouns"}).tokenize(texts)
    assert [[token for token, _ in doc] for doc in ours] == [okt.nouns(text) for text in texts]
    assert {tag for doc in ours for _, tag in doc} == {"Noun"}


def test_pos_mode_keeps_only_the_chosen_tags(okt, texts):
    keep = ("Noun", "Adjective")
    ours = get_tokenizer("okt", {"mode": "pos", "keep_tags": keep}).tokenize(texts)
    assert ours == [[p for p in okt.pos(text, stem=True, norm=True) if p[1] in keep] for text in texts]
