"""User dictionaries: the file is checked in one place (a bad line stops with exit 2 naming it and the
fix); every backend that can applies it, so the listed words come out as single tokens where the
backend split them without it; a backend that cannot apply a tag says so once; the file's content
enters the tokenize key."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from koprep.config import load_config
from koprep.errors import exit_code_for
from koprep.plan import build_plan
from koprep.store import ArtifactStore
from koprep.tokenizers import get_tokenizer
from koprep.tokenizers.userdict import UserDictionaryError, apply, load, parse

WORDS = """# 도메인 사전: word<TAB>tag[<TAB>score]
삼성바이오로직스\tNNP
디즈니플러스\tNNP
흑백요리사\tNNP
로보카폴리\tNNP
갤럭시버즈프로\tNNP\t-1.5

무빙\tNNP
"""
SENTENCES = [
    "삼성바이오로직스 주가가 사흘 연속 올랐다.",
    "디즈니플러스에서 무빙 정주행했는데 류승룡 연기가 대박",
    "흑백요리사 너무 재밌어서 밤새 봤어요",
    "조카가 로보카폴리 보고 울었다",
    "갤럭시버즈프로 샀는데 음질이 좋다",
]
LISTED = ["삼성바이오로직스", "디즈니플러스", "흑백요리사", "로보카폴리", "갤럭시버즈프로", "무빙"]


def _whole_words(tagged_documents) -> set[str]:
    return {token for document in tagged_documents for token, _ in document}


def _check_backend(name: str, *options: dict) -> None:
    """Without the dictionary the backend splits some listed words; with it, every listed word that
    occurs in the sentences is one token. For each of `options` (every tokenizer without the
    dictionary runs first: Okt's dictionary is process-wide)."""
    every = options or ({},)
    before = [_whole_words(get_tokenizer(name, o).tokenize(SENTENCES)) for o in every]
    after = [_whole_words(apply(get_tokenizer(name, o), parse(WORDS)).tokenize(SENTENCES)) for o in every]
    for o, split, whole in zip(every, before, after):
        assert set(LISTED) - split, f"{name} {o} already keeps every listed word whole: the test could not fail"
        assert set(LISTED) <= whole, (o, sorted(set(LISTED) - whole))


def test_the_file_format_comments_blank_lines_and_scores():
    dictionary = parse(WORDS, "words.tsv")
    assert [w.word for w in dictionary.words] == LISTED[:5] + ["무빙"]
    assert dictionary.words[4].score == -1.5 and dictionary.words[0].score is None
    assert parse("힙하다\tVA\n").words[0].stem == "힙하" and parse("힙하\tVA\n").words[0].stem == "힙하"
    assert len(dictionary.sha256) == 64 and parse(WORDS + "#\n").sha256 != dictionary.sha256


@pytest.mark.parametrize("text, fragments", [
    ("흑백요리사 NNP\n", ["line 1", "found 1 tab-separated field", "one tab each"]),
    ("# ok\n무빙\tNNP\n흑백요리사\tNOUN\n", ["line 3", "unknown tag 'NOUN'", "NNP for names"]),
    ("무빙\tNNP\tmany\n", ["line 1", "score 'many' is not a number"]),
    ("무빙\tNNP\t1\textra\n", ["line 1", "found 4"]),
    ("무 빙\tNNP\n", ["line 1", "without spaces"]),
    ("무빙\tNNP\n무빙\tNNP\n", ["line 2", "already on line 1"]),
])
def test_a_bad_line_is_named_with_its_fix(text, fragments):
    with pytest.raises(UserDictionaryError) as raised:
        parse(text, "words.tsv")
    assert exit_code_for(raised.value) == 2
    for fragment in fragments:
        assert fragment in str(raised.value)


def test_a_file_that_cannot_be_used_stops_the_plan_before_any_work(tmp_path):
    (tmp_path / "latin1.tsv").write_bytes("caf\xe9\tNNG\n".encode("latin-1"))
    (tmp_path / "empty.tsv").write_text("# nothing yet\n", encoding="utf-8")
    for name, fragment in [("missing.tsv", "cannot be read"), ("latin1.tsv", "not UTF-8"), ("empty.tsv", "no entries")]:
        config = load_config(None, {"tokenize.user_dictionary": str(tmp_path / name)}, "whitespace")
        with pytest.raises(UserDictionaryError, match=fragment):
            build_plan(ArtifactStore(tmp_path / "store"), None, config)
        assert not (tmp_path / "store" / "clean").exists()


def test_the_content_enters_the_tokenize_key_and_only_when_set(tmp_path, caplog):
    store = ArtifactStore(tmp_path / "store")
    words = tmp_path / "words.tsv"

    def keys(**settings):
        plan = build_plan(store, None, load_config(None, settings, "whitespace"))
        return plan.stages["clean"].fingerprint, plan.stages["tokenize"].fingerprint

    plain = keys()
    words.write_text(WORDS, encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        first = keys(**{"tokenize.user_dictionary": str(words)})
    assert [r.getMessage() for r in caplog.records].count(
        "backend whitespace cannot apply a user dictionary: the 6 entries of words.tsv are ignored") == 1
    words.write_text(WORDS + "어쩔티비\tNNG\n", encoding="utf-8")
    second = keys(**{"tokenize.user_dictionary": str(words)})
    assert plain[0] == first[0] == second[0]
    assert len({plain[1], first[1], second[1]}) == 3
    assert keys() == plain


def test_a_tag_a_backend_cannot_apply_is_reported_once(caplog):
    class NounsOnly:
        name = "nouns-only"
        user_dictionary_tags = frozenset({"NNP"})

        def with_user_dictionary(self, dictionary):
            self.applied = dictionary
            return self

    with caplog.at_level(logging.WARNING):
        backend = apply(NounsOnly(), parse("무빙\tNNP\n힙하다\tVA\n킹받다\tVA\n"))
    assert [w.word for w in backend.applied.words] == ["무빙"]
    (message,) = [r.getMessage() for r in caplog.records]
    assert "cannot apply user dictionary tags VA: 2 entries" in message


def test_mecab_keeps_every_listed_word_whole():
    pytest.importorskip("mecab")
    _check_backend("mecab")


def test_mecab_compiles_in_a_spawned_worker_too(tmp_path):
    """Worker processes get the entries (plain data) and compile or reuse the dictionary themselves."""
    pytest.importorskip("mecab")
    words = tmp_path / "words.tsv"
    words.write_text(WORDS, encoding="utf-8")
    code = (
        "import pickle, sys; from koprep.tokenizers import get_tokenizer; from koprep.tokenizers.userdict import apply, load;"
        f"t = pickle.loads(pickle.dumps(apply(get_tokenizer('mecab', {{}}), load({str(words)!r}))));"
        "print(' '.join(w for w, _ in t.tokenize(['흑백요리사 너무 재밌어서 밤새 봤어요'])[0]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split()[0] == "흑백요리사"


@pytest.mark.slow
def test_kiwi_keeps_every_listed_word_whole():
    pytest.importorskip("kiwipiepy")
    _check_backend("kiwi", {"num_workers": 0}, {"mode": "nouns", "num_workers": 0})


@pytest.mark.slow
def test_okt_keeps_every_listed_noun_whole_in_its_own_process(tmp_path):
    """Okt's noun dictionary is the JVM's, process-wide: checked in a process of its own."""
    code = (
        "from tests.backends.test_user_dictionary import _check_backend; _check_backend('okt', {}, {'mode': 'nouns'})"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)


@pytest.mark.slow
def test_okt_refuses_a_second_dictionary_in_the_same_process(tmp_path):
    code = (
        "from koprep.tokenizers import get_tokenizer, BackendOptionError; from koprep.tokenizers.userdict import apply, parse\n"
        "apply(get_tokenizer('okt', {}), parse('흑백요리사\\tNNP\\n')).tokenize(['흑백요리사 재밌다'])\n"
        "try:\n    get_tokenizer('okt', {}).tokenize(['흑백요리사 재밌다'])\nexcept BackendOptionError as e:\n    print('refused', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True).stdout
    assert out.startswith("refused") and "its own process" in out


@pytest.mark.slow
def test_soynlp_word_seeds_the_listed_words(tmp_path):
    """soynlp-word trained on 4,000 NSMC reviews: the seeded words outscore what it learned."""
    from tests.backends.conftest import nsmc_documents

    backend = get_tokenizer("soynlp-word")
    model = backend.fit(list(nsmc_documents()))
    plain = _whole_words(backend.with_model(model).tokenize(SENTENCES))
    seeded = apply(get_tokenizer("soynlp-word"), parse(WORDS)).with_model(model)
    after = _whole_words(seeded.tokenize(SENTENCES))
    assert set(LISTED) - plain and set(LISTED) <= after
    nouns = apply(get_tokenizer("soynlp-noun"), parse(WORDS))
    noun_model = get_tokenizer("soynlp-noun").fit(list(nsmc_documents()))
    assert set(LISTED) <= _whole_words(nouns.with_model(noun_model).tokenize(SENTENCES))


def test_load_reads_a_file_with_a_bom(tmp_path):
    path = tmp_path / "words.tsv"
    path.write_bytes("\ufeff무빙\tNNP\n".encode())
    assert [w.word for w in load(path).words] == ["무빙"]
