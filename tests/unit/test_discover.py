"""`koprep discover` on the embedded corpus (kolaw + kobill) with MeCab: the file it writes is a valid
user dictionary; every word in it is one MeCab splits into nouns in its example today, and with
the file applied MeCab keeps it whole there."""

from __future__ import annotations

import json

import pytest

from koprep.cli import main
from koprep.discover import Candidate, _wordlike, check_split, dictionary_text
from koprep.tokenizers import get_tokenizer
from koprep.tokenizers.userdict import apply, load, parse

pytest.importorskip("mecab")


def test_discover_writes_a_dictionary_that_makes_mecab_keep_the_words_whole(tmp_path, capsys):
    words = tmp_path / "words.tsv"
    code = main(["discover", "--backend", "mecab", "--artifacts", str(tmp_path / "store"), "--min-count", "5",
                 "--top", "15", "--output", str(words), "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["backend"] == "mecab" and out["extractor"] == "soynlp" and out["documents"] == 2480
    assert 0 < out["split"] <= 15 < out["candidates"]
    dictionary = load(words)
    listed = [w.word for w in dictionary.words]
    assert listed == [w["word"] for w in out["words"]] and {w.tag for w in dictionary.words} == {"NNG"}
    frequencies = [w["frequency"] * w["score"] for w in out["words"]]
    assert frequencies == sorted(frequencies, reverse=True)
    examples = [w["examples"][0] for w in out["words"]]
    plain = get_tokenizer("mecab", {"lemma": False}).tokenize(examples)
    applied = apply(get_tokenizer("mecab", {"lemma": False}), dictionary).tokenize(examples)
    for word, before, after in zip(listed, plain, applied):
        assert word in examples[listed.index(word)]
        assert word not in [t for t, _ in before]
        assert word in [t for t, _ in after], (word, after)


def test_inflected_forms_and_non_words_are_not_proposed():
    mecab = get_tokenizer("mecab", {"lemma": False})
    candidates = [Candidate("배우들", 30, 1.0, examples=["배우들 연기가 좋다"]),
                  Candidate("말이", 20, 1.0, examples=["이건 말이 필요 없다"]),
                  Candidate("이영화", 20, 1.0, examples=["이영화 최고"]),  # a missing space: 이/MM 영화/NNG
                  Candidate("본방사수", 20, 1.0, examples=["본방사수 했어요"])]
    check_split(candidates, mecab.tokenize)
    assert [c.split for c in candidates] == [False, False, False, True]
    assert candidates[3].tokens == ["본방", "사수"]
    assert [w for w in ["10점", "ㄷㄷ", "꿀잼", "B급", "노잼"] if _wordlike(w)] == ["꿀잼", "B급", "노잼"]


def test_the_file_round_trips_through_the_user_dictionary_parser():
    text = dictionary_text([Candidate("본방사수", 20, 0.97, True, ["본방", "사수"], ["본방사수 했어요\n둘째 줄"])],
                           "reviews.tsv", "mecab", "soynlp")
    assert [(w.word, w.tag) for w in parse(text).words] == [("본방사수", "NNG")]
    assert "# 1. 20 times, score 0.97, mecab: 본방 + 사수 | 본방사수 했어요 둘째 줄" in text


def test_a_trainable_backend_is_refused(tmp_path, capsys):
    assert main(["discover", "--backend", "soynlp-word", "--artifacts", str(tmp_path)]) == 2
    assert "use --backend okt, kiwi or mecab" in capsys.readouterr().err


@pytest.mark.slow
def test_kiwi_extract_words_proposes_candidates_from_nsmc():
    """Kiwi's extract_words on 10,000 NSMC reviews: word-like candidates, each seen at least min_count times."""
    pytest.importorskip("kiwipiepy")
    from koprep.discover import extract, with_examples
    from tests.helpers import nsmc

    texts = nsmc(10000)["document"].tolist()
    scores = extract(texts, "kiwi", min_count=10)
    assert len(scores) > 10 and all(_wordlike(w) and freq >= 10 for w, (freq, _) in scores.items())
    candidates = with_examples(texts, scores)
    assert all(c.word in c.examples[0] for c in candidates)
