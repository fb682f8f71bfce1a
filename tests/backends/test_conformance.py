"""Every available tokenizer backend keeps the `Tokenizer` contract, on real reviews and edge cases."""

from __future__ import annotations

import pytest

from koprep.tokenizers import BackendOptionError, BackendUnavailable, Tokenizer, available_backends, get_tokenizer
from koprep.tokenizers.registry import _BUILTIN

pytestmark = pytest.mark.slow  # every backend on NSMC reviews; Okt starts a JVM

BACKENDS = [
    pytest.param(info.name, marks=pytest.mark.skipif(not info.available, reason=info.problem))
    for info in available_backends()
]

OUTPUT_CHANGING = {
    "okt": [{"stem": False}, {"mode": "nouns"}, {"mode": "pos", "keep_tags": ["Noun"]}],
    "kiwi": [{"lemma": False}, {"mode": "nouns"}, {"mode": "pos", "keep_tags": ["NNG"]}],
    "mecab": [{"lemma": False}, {"mode": "nouns"}, {"mode": "pos", "keep_tags": ["NNG"]}],
    "soynlp-noun": [{"compose_compound": False}, {"min_noun_score": 0.6}],
    "soynlp-word": [{"tokenizer": "maxscore"}, {"score": "cohesion*entropy"}, {"remove_r": True}],
}
"""Options that change the tokens of the sample; each must also change `version()`."""

OUTPUT_PRESERVING = {"okt": {"threads": 1}, "kiwi": {"num_workers": 0}}
"""Options that only change how the work is done; they must change neither tokens nor `version()`."""


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request, build):
    tokenizer = build(request.param)
    try:
        tokenizer.tokenize(["준비"])  # a backend can be importable yet lack a runtime (Okt without a JVM)
    except BackendUnavailable as exc:
        pytest.skip(str(exc))
    return tokenizer


def test_satisfies_the_protocol(backend):
    assert isinstance(backend, Tokenizer)
    assert isinstance(backend.default_drop_tags, tuple)
    assert all(isinstance(tag, str) and tag for tag in backend.default_drop_tags)


def test_batch_and_single_calls_agree(backend, sample_texts):
    batch = backend.tokenize(sample_texts)
    assert len(batch) == len(sample_texts)
    assert batch == [backend.tokenize([text])[0] for text in sample_texts]


def test_blank_documents_give_no_tokens(backend, edge_texts):
    blanks = [text for text in edge_texts if not text.strip()]
    assert blanks
    assert backend.tokenize(blanks) == [[] for _ in blanks]
    assert backend.tokenize([]) == []


def test_is_deterministic(backend, sample_texts):
    assert backend.tokenize(sample_texts) == backend.tokenize(sample_texts)


def test_tokens_are_nonempty_strings_without_whitespace(backend, sample_texts):
    documents = backend.tokenize(sample_texts)
    assert sum(map(len, documents)) > len(sample_texts), "the sample should give tokens"
    for document in documents:
        for token, tag in document:
            assert isinstance(token, str) and isinstance(tag, str)
            assert token and not any(char.isspace() for char in token), repr(token)


def test_version_is_a_nonempty_string(backend):
    assert isinstance(backend.version(), str) and backend.version().strip()


def backends_in(table: dict) -> list:
    return [param for param in BACKENDS if param.values[0] in table]


def test_every_builtin_backend_with_options_has_output_changing_variants():
    for info in available_backends():
        if info.name in _BUILTIN and info.options and info.name not in OUTPUT_CHANGING:
            pytest.fail(f"add {info.name}'s output-changing options to OUTPUT_CHANGING")


@pytest.mark.parametrize("name", backends_in(OUTPUT_CHANGING))
def test_version_changes_with_every_option_that_changes_output(name, build, sample_texts):
    default = build(name)
    tokens = default.tokenize(sample_texts)
    versions = {default.version()}
    for options in OUTPUT_CHANGING[name]:
        variant = build(name, options)
        assert variant.tokenize(sample_texts) != tokens, f"{options} should change {name}'s output"
        versions.add(variant.version())
    assert len(versions) == 1 + len(OUTPUT_CHANGING[name])


@pytest.mark.parametrize("name", backends_in(OUTPUT_PRESERVING))
def test_work_only_options_change_neither_tokens_nor_version(name, build, sample_texts):
    default, variant = build(name), build(name, OUTPUT_PRESERVING[name])
    assert variant.tokenize(sample_texts) == default.tokenize(sample_texts)
    assert variant.version() == default.version()


@pytest.mark.parametrize("name", BACKENDS)
def test_unknown_option_is_refused_with_the_valid_ones(name):
    with pytest.raises(BackendOptionError, match="valid options") as error:
        get_tokenizer(name, {"no_such_option": 1})
    for option in get_tokenizer(name).Options.model_fields:
        assert option in str(error.value)
