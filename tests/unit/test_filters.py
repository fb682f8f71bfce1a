"""Token filters: the packaged stopword list, user lists and files, tag and length filters."""

from __future__ import annotations

import unicodedata
from importlib import resources

import pytest
from pydantic import ValidationError

from koprep.stages.filters import (
    StopwordsFileError,
    TokenFilterParams,
    default_stopwords,
    filter_tokens,
    resolve_stopwords,
)
from koprep.tokenizers.okt import OKT_DEFAULT_DROP_TAGS
from koprep.tokenizers.sejong import SEJONG_DEFAULT_DROP_TAGS

# Tagged documents as the real analysers return them (konlpy 0.6.0 Okt.pos and kiwipiepy Kiwi.tokenize
# on these sentences, copied from their output), so no JVM is needed here.
OKT_BOOKS = [("책", "Noun"), ("을", "Josa"), ("사서", "Noun"), ("돈", "Noun"), ("이", "Josa"), ("없다", "Adjective"),
             (".", "Punctuation"), ("물", "Noun"), ("을", "Josa"), ("마셨다", "Verb"), ("!", "Punctuation")]
OKT_MOVIE = [("이", "Noun"), ("영화", "Noun"), ("는", "Josa"), ("볼", "Noun"), ("수", "Noun"), ("있는", "Adjective"),
             ("것", "Noun"), ("들", "Suffix"), ("중", "Noun"), ("최고", "Noun"), ("였다", "Verb"), ("ㅋㅋ", "KoreanParticle")]
KIWI_BOOKS = [("책", "NNG"), ("을", "JKO"), ("사", "VV"), ("어서", "EC"), ("돈", "NNG"), ("이", "JKS"), ("없", "VA"),
              ("다", "EF"), (".", "SF"), ("물", "NNG"), ("을", "JKO"), ("마시", "VV"), ("었", "EP"), ("다", "EF"), ("!", "SF")]
KIWI_MOVIE = [("이", "MM"), ("영화", "NNG"), ("는", "JX"), ("보", "VV"), ("ᆯ", "ETM"), ("수", "NNB"), ("있", "VA"),
              ("는", "ETM"), ("것", "NNB"), ("들", "XSN"), ("중", "NNB"), ("최고", "NNG"), ("이", "VCP"), ("었", "EP"),
              ("다", "EF"), ("ㅋㅋ", "SW")]

NO_STOPWORDS: frozenset[str] = frozenset()


def stopword_file_lines() -> list[str]:
    text = resources.files("koprep").joinpath("data", "stopwords-ko.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


# --- The packaged list ----------------------------------------------------------------------------


def test_default_list_has_particles_but_not_meaningful_one_syllable_nouns():
    words = set(default_stopwords())
    assert {"은", "는", "이", "가", "을", "를", "의", "에", "에서", "으로", "와", "과", "도", "만"} <= words
    assert not {"책", "물", "돈", "집", "말", "눈", "안", "못", "없다", "좋다"} & words


def test_default_list_file_is_clean():
    lines = stopword_file_lines()
    assert len(lines) == len(set(lines)), "duplicate entries in stopwords-ko.txt"
    assert all(unicodedata.is_normalized("NFC", word) and len(word.split()) == 1 for word in lines)
    assert default_stopwords() == tuple(lines)
    header = resources.files("koprep").joinpath("data", "stopwords-ko.txt").read_text(encoding="utf-8").splitlines()[0]
    assert header.startswith("#")


def test_default_list_removes_what_okt_tags_as_nouns_but_is_grammar():
    # Okt tags the determiner 이 and the dependent nouns 수/것 as Noun, so the tag filter keeps them.
    tokens = filter_tokens(OKT_MOVIE, frozenset(default_stopwords()), OKT_DEFAULT_DROP_TAGS, 1)
    assert tokens == ["영화", "볼", "있는", "중", "최고", "였다", "ㅋㅋ"]


# --- resolve_stopwords ---------------------------------------------------------------------------


def test_resolve_merges_sorts_and_deduplicates():
    params = TokenFilterParams(extra_stopwords=("영화", "진짜", "영화", " 은 "))
    resolved = resolve_stopwords(params)
    assert resolved == tuple(sorted(set(default_stopwords()) | {"영화", "진짜"}))
    assert resolve_stopwords(TokenFilterParams(stopwords=False, extra_stopwords=("영화",))) == ("영화",)
    assert resolve_stopwords(TokenFilterParams(stopwords=False)) == ()


def test_stopwords_file_with_comments_bom_and_decomposed_hangul(tmp_path):
    path = tmp_path / "my-stopwords.txt"
    decomposed = unicodedata.normalize("NFD", "평점")
    path.write_text("\ufeff# my list\n영화\n\n  진짜  \n# 주석\n" + decomposed + "\n", encoding="utf-8")
    resolved = resolve_stopwords(TokenFilterParams(stopwords=False, stopwords_file=str(path)))
    assert resolved == ("영화", "진짜", "평점")
    combined = resolve_stopwords(TokenFilterParams(stopwords_file=str(path), extra_stopwords=("배우",)))
    assert set(combined) == set(default_stopwords()) | {"영화", "진짜", "평점", "배우"}


def test_the_list_not_the_path_is_what_counts(tmp_path):
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_text("영화\n", encoding="utf-8")
    second.write_text("# same words, other file\n영화\n", encoding="utf-8")
    assert resolve_stopwords(TokenFilterParams(stopwords_file=str(first))) == resolve_stopwords(
        TokenFilterParams(stopwords_file=str(second))
    )


def test_missing_stopwords_file_names_the_path(tmp_path):
    missing = tmp_path / "nope.txt"
    with pytest.raises(StopwordsFileError, match="nope.txt.*does not exist.*stopwords_file"):
        resolve_stopwords(TokenFilterParams(stopwords_file=str(missing)))


def test_unreadable_stopwords_files_say_why(tmp_path):
    cp949 = tmp_path / "cp949.txt"
    cp949.write_bytes("영화\n".encode("cp949"))
    with pytest.raises(StopwordsFileError, match="not UTF-8"):
        resolve_stopwords(TokenFilterParams(stopwords_file=str(cp949)))
    with pytest.raises(StopwordsFileError, match="cannot be read"):
        resolve_stopwords(TokenFilterParams(stopwords_file=str(tmp_path)))
    assert issubclass(StopwordsFileError, ValueError)


# --- filter_tokens -------------------------------------------------------------------------------


def test_okt_default_tags_drop_particles_endings_and_punctuation():
    assert filter_tokens(OKT_BOOKS, NO_STOPWORDS, OKT_DEFAULT_DROP_TAGS, 1) == [
        "책", "사서", "돈", "없다", "물", "마셨다"
    ]


def test_sejong_default_tags_drop_by_prefix():
    assert filter_tokens(KIWI_BOOKS, NO_STOPWORDS, SEJONG_DEFAULT_DROP_TAGS, 1) == ["책", "사", "돈", "없", "물", "마시"]
    kept = filter_tokens(KIWI_MOVIE, NO_STOPWORDS, SEJONG_DEFAULT_DROP_TAGS, 1)
    # J* and E* (including the conjoining-jamo ending ᆯ/ETM), XSN 들 and the symbol ㅋㅋ/SW are gone.
    assert kept == ["이", "영화", "보", "수", "있", "것", "중", "최고", "이"]


def test_prefix_and_exact_tag_matching():
    assert filter_tokens(KIWI_BOOKS, NO_STOPWORDS, ("JKO",), 1) == [t for t, tag in KIWI_BOOKS if tag != "JKO"]
    assert filter_tokens(KIWI_BOOKS, NO_STOPWORDS, ("J",), 1) == [t for t, tag in KIWI_BOOKS if not tag.startswith("J")]
    assert filter_tokens(OKT_BOOKS, NO_STOPWORDS, ("Josa",), 1) == [t for t, tag in OKT_BOOKS if tag != "Josa"]
    assert filter_tokens(OKT_BOOKS, NO_STOPWORDS, (), 1) == [token for token, _ in OKT_BOOKS]


def test_untagged_tokens_are_never_dropped_by_tag():
    untagged = [(token, "") for token in "아 더빙 진짜 짜증나네요 목소리".split()]
    assert filter_tokens(untagged, NO_STOPWORDS, SEJONG_DEFAULT_DROP_TAGS + OKT_DEFAULT_DROP_TAGS, 1) == [
        token for token, _ in untagged
    ]


def test_stopwords_min_length_and_blank_tokens():
    doc = [("책", "Noun"), ("을", "Josa"), ("영화", "Noun"), ("", "Noun"), ("  ", ""), ("ㅋㅋ", "KoreanParticle")]
    stopwords = frozenset(default_stopwords())
    assert filter_tokens(doc, stopwords, (), 1) == ["책", "영화", "ㅋㅋ"]
    assert filter_tokens(doc, stopwords, (), 2) == ["영화", "ㅋㅋ"]
    assert filter_tokens(doc, NO_STOPWORDS, (), 1) == ["책", "을", "영화", "ㅋㅋ"]


def test_empty_drop_tag_is_refused():
    with pytest.raises(ValueError, match="empty tag"):
        filter_tokens(OKT_BOOKS, NO_STOPWORDS, ("Josa", ""), 1)


# --- TokenFilterParams ---------------------------------------------------------------------------


def test_params_defaults_and_validation():
    params = TokenFilterParams()
    assert params.stopwords and params.min_length == 1 and params.drop_tags is None
    assert hash(params) == hash(TokenFilterParams())
    with pytest.raises(ValidationError, match=">= 1"):
        TokenFilterParams(min_length=0)
    with pytest.raises(ValidationError, match="empty tag"):
        TokenFilterParams(drop_tags=("J", ""))
    with pytest.raises(ValidationError, match="extra"):
        TokenFilterParams(stop_words=True)
    with pytest.raises(ValidationError):
        params.min_length = 2
    assert TokenFilterParams(drop_tags=()).drop_tags == ()
