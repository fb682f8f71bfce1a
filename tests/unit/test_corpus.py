"""Reading every corpus format into doc_id/text(+passthrough), on the real shared corpora."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from koprep.corpus import CorpusError, CorpusParams, corpus_fingerprint, read_corpus, resolve_format
from tests.helpers import CHATBOT, NSMC_TEST, PETITIONS, nsmc, require

DEFAULT = CorpusParams()


def test_default_corpus_is_konlpys_kolaw_and_kobill():
    from konlpy.corpus import kobill, kolaw

    frame = read_corpus(None, DEFAULT)
    constitution = [line for line in kolaw.open("constitution.txt").read().splitlines() if line.strip()]
    bills = sum(
        len([line for line in kobill.open(f).read().splitlines() if line.strip()]) for f in kobill.fileids()
    )
    assert len(frame) == len(constitution) + bills
    assert frame["text"].iloc[0] == constitution[0]
    assert frame["doc_id"].iloc[0] == "kolaw/constitution.txt:1"
    assert frame["doc_id"].is_unique


@pytest.mark.slow  # the shared corpora
def test_nsmc_txt_with_header_is_read_as_tsv_with_label_passthrough():
    path = require(NSMC_TEST)
    assert resolve_format(str(path), DEFAULT) == "tsv"
    frame = read_corpus(str(path), CorpusParams(limit=1000))
    direct = nsmc(1000, "test")
    assert list(frame.columns) == ["doc_id", "text", "label"]
    assert frame["doc_id"].tolist() == direct["id"].tolist()
    assert frame["text"].tolist() == direct["document"].tolist()
    assert frame["label"].tolist() == direct["label"].tolist()


@pytest.mark.slow  # the shared corpora
def test_nsmc_quotes_are_kept_verbatim():
    path = require(NSMC_TEST)
    frame = read_corpus(str(path), DEFAULT)
    assert len(frame) == 50_000
    assert frame["text"].str.contains('"').sum() > 0  # QUOTE_NONE: no quote eating, no merged rows
    assert (frame["text"] == "").sum() == 3  # the corpus README: 3 empty test documents


@pytest.mark.slow  # the shared corpora
def test_jsonl_petitions_with_named_field_and_id():
    path = require(PETITIONS / "petitions_2019-06.jsonl")
    frame = read_corpus(str(path), CorpusParams(text_column="content", id_column="petition_idx"))
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(frame) == len(records) == 572
    assert frame["doc_id"].tolist() == [r["petition_idx"] for r in records]
    assert frame["text"].iloc[0] == records[0]["content"]
    assert "title" in frame.columns and "petition_idx" not in frame.columns


@pytest.mark.slow  # the shared corpora
def test_csv_chatbot_guesses_q_column():
    path = require(CHATBOT)
    frame = read_corpus(str(path), DEFAULT)
    direct = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert frame["text"].tolist() == direct["Q"].tolist()
    assert frame["A"].tolist() == direct["A"].tolist()
    assert frame["doc_id"].tolist() == [str(i) for i in range(len(direct))]


@pytest.mark.slow  # the shared corpora
def test_text_folder_and_parquet(tmp_path):
    reviews = nsmc(30)["document"].tolist()
    text = tmp_path / "reviews.txt"
    text.write_text("\n".join(reviews) + "\n", encoding="utf-8")
    assert read_corpus(str(text), DEFAULT)["text"].tolist() == reviews

    folder = tmp_path / "docs"
    folder.mkdir()
    for i, review in enumerate(reviews[:5]):
        (folder / f"r{i}.txt").write_text(review, encoding="utf-8")
    frame = read_corpus(str(folder), DEFAULT)
    assert frame["doc_id"].tolist() == [f"r{i}.txt" for i in range(5)]
    assert frame["text"].tolist() == reviews[:5]

    parquet = tmp_path / "reviews.parquet"
    pd.DataFrame({"body": reviews, "stars": range(30)}).to_parquet(parquet)
    frame = read_corpus(str(parquet), CorpusParams(text_column="body"))
    assert frame["text"].tolist() == reviews and frame["stars"].tolist() == list(range(30))


def test_doublespace_corpus_keeps_sentence_boundaries(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("영화 정말 재밌다  배우 연기도 좋다\n두번째 문서  문장 둘\n", encoding="utf-8")
    frame = read_corpus(str(path), CorpusParams(format="doublespace"))
    assert frame["text"].tolist() == ["영화 정말 재밌다\n배우 연기도 좋다", "두번째 문서\n문장 둘"]


def test_fingerprint_follows_content_not_name(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("영화\n", encoding="utf-8")
    b.write_text("영화\n", encoding="utf-8")
    first = corpus_fingerprint(str(a), DEFAULT)
    assert first == corpus_fingerprint(str(a), DEFAULT)
    a.write_text("영화 좋다\n", encoding="utf-8")
    assert corpus_fingerprint(str(a), DEFAULT) != first
    assert corpus_fingerprint(str(a), CorpusParams(limit=1)) != corpus_fingerprint(str(a), DEFAULT)


@pytest.mark.parametrize(
    "content, params, message",
    [
        (b"\xb0\xa1\xb0\xa2\n", CorpusParams(format="text"), "not UTF-8"),
        (b'{"content": "a"}\n[1]\n', CorpusParams(format="jsonl"), "not an object"),
        (b'{"content": "a"\n', CorpusParams(format="jsonl"), "not valid JSON"),
        (b"a,b\n1,2\n", CorpusParams(format="csv"), "corpus.text_column"),
        (b"id\tdocument\n1\tx\n1\ty\n", CorpusParams(format="tsv"), "not unique"),
        ("영화 좋다\n".encode("cp949"), CorpusParams(format="text"), "CP949/EUC-KR.*corpus.encoding=cp949"),
        (b"a\nb\0c\n", CorpusParams(format="text"), "bad:2 contains a NUL byte"),
        (b"", CorpusParams(format="text"), "is empty"),
        (b" \n\t\n", CorpusParams(format="text"), "every document .* is empty or whitespace only"),
        (b"Q,A\n1,2\n3\n", CorpusParams(format="csv"), "bad:3 has 1 fields but the header has 2"),
        (b'Q,A\n"open,2\n', CorpusParams(format="csv"), "bad:2 is not valid CSV: unexpected end of data"),
        (b"document\tlabel\nx\t1\ty\n", CorpusParams(format="tsv"), "bad:2 has 3 fields"),
        (b'{"content": 3}\n', CorpusParams(format="jsonl"), "non-text values .*document 0"),
    ],
)
def test_bad_input_gets_a_clear_error(tmp_path, content, params, message):
    path = tmp_path / "bad"
    path.write_bytes(content)
    with pytest.raises(CorpusError, match=message):
        read_corpus(str(path), params)


def test_missing_corpus_is_a_clear_error(tmp_path):
    with pytest.raises(CorpusError, match="does not exist"):
        corpus_fingerprint(str(tmp_path / "nope.txt"), DEFAULT)


def test_cp949_is_read_with_the_encoding_setting_which_changes_the_fingerprint(tmp_path):
    path = tmp_path / "windows.txt"
    path.write_bytes("영화 정말 좋다\n배우 연기\n".encode("cp949"))
    frame = read_corpus(str(path), CorpusParams(encoding="cp949"))
    assert frame["text"].tolist() == ["영화 정말 좋다", "배우 연기"]
    assert CorpusParams(encoding="CP949").encoding == "cp949"  # normalised codec name
    assert corpus_fingerprint(str(path), CorpusParams(encoding="cp949")) != corpus_fingerprint(str(path), DEFAULT)


def test_missing_text_values_are_empty_documents_that_keep_their_ids(tmp_path):
    path = tmp_path / "gaps.jsonl"
    path.write_text('{"text": "좋다"}\n{"text": null}\n{"other": 1}\n{"text": "별로"}\n', encoding="utf-8")
    frame = read_corpus(str(path), CorpusParams())
    assert frame["doc_id"].tolist() == ["0", "1", "2", "3"]
    assert frame["text"].tolist() == ["좋다", "", "", "별로"]


STREAMED = {
    "text.txt": ("영화 정말 좋다\r\n\n배우\u2028연기\n" * 7, CorpusParams()),
    "pairs.txt": ("첫 문장  둘째 문장\n" * 9, CorpusParams(format="doublespace")),
    "ids.tsv": ("id\tdocument\tlabel\n" + "".join(f"{i}\t리뷰 {i}\t{i % 2}\n\n" for i in range(11)), CorpusParams()),
    "rows.tsv": ("document\tlabel\n" + "".join(f"리뷰 {i}\t{i % 2}\n" for i in range(11)), CorpusParams()),
    "qa.csv": ("Q,A\n" + "".join(f'"질문 {i},\n줄바꿈",답 {i}\r\n' for i in range(10)), CorpusParams()),
    "limited.tsv": ("document\n" + "".join(f"리뷰 {i}\n" for i in range(20)), CorpusParams(limit=8)),
    "records.jsonl": ("".join(json.dumps({"text": f"글 {i}", "n": i if i % 4 else None}) + "\n" for i in range(10)), CorpusParams()),
}


@pytest.mark.parametrize("name", sorted(STREAMED))
def test_a_corpus_read_in_chunks_is_the_corpus_read_whole(tmp_path, name):
    from koprep import shards
    from koprep.corpus import iter_corpus

    content, params = STREAMED[name]
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    whole = list(iter_corpus(str(path), params, chunk_rows=10**6))
    chunks = list(iter_corpus(str(path), params, chunk_rows=3))
    assert len(whole) == 1 and len(chunks) > 1 and all(len(chunk) <= 3 for chunk in chunks)
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), whole[0])
    # Same documents, same types: the same document digests, so the same shards.
    assert shards.document_digests(whole[0]) == [d for chunk in chunks for d in shards.document_digests(chunk)]
    streamed = [(shard, rows) for shard, rows in shards.stream(chunks, 2)]
    assert [shard for shard, _ in streamed] == shards.split(whole[0], 2)
    pd.testing.assert_frame_equal(pd.concat([rows for _, rows in streamed], ignore_index=True), whole[0])


def test_text_ids_count_lines_across_chunks_and_limit_stops_reading(tmp_path):
    from koprep.corpus import iter_corpus

    path = tmp_path / "lines.txt"
    path.write_text("".join(f"{i}번째 줄\n" for i in range(10)), encoding="utf-8")
    chunks = list(iter_corpus(str(path), CorpusParams(limit=7), chunk_rows=3))
    assert [chunk["doc_id"].tolist() for chunk in chunks] == [["0", "1", "2"], ["3", "4", "5"], ["6"]]
    assert chunks[2]["text"].tolist() == ["6번째 줄"]


@pytest.mark.parametrize(
    "content, message",
    [
        ("id\tdocument\n" + "".join(f"{i}\t리뷰\n" for i in range(9)) + "4\t다시\n", "not unique \\(e.g. '4'\\)"),
        ("id\tdocument\n" + "".join(f"{i}\t리뷰\n" for i in range(7)) + "8\t하나\n8\t둘\n", "not unique \\(e.g. '8'\\)"),
        ("document\n" + "리뷰\n" * 8 + "나쁜\0리뷰\n", "bad.tsv:10 contains a NUL byte"),
        ("document\n" + " \n" * 8, "every document .* \\(8\\) is empty or whitespace only"),
    ],
)
def test_bad_input_in_a_later_chunk_is_refused_as_when_read_whole(tmp_path, content, message):
    """Duplicate ids across chunks (and within the last one), a NUL byte past the first chunk (with
    its line number), a corpus whose every chunk is blank."""
    from koprep.corpus import iter_corpus

    path = tmp_path / "bad.tsv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CorpusError, match=message):
        list(iter_corpus(str(path), CorpusParams(), chunk_rows=3))
    with pytest.raises(CorpusError, match=message):
        read_corpus(str(path), CorpusParams())
