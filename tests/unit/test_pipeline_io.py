"""Reading token shards back: what word2vec streams equals what gensim would see from the list."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
from gensim.models import Word2Vec

from koprep.pipeline import Sentences, TokenShards, word_counts
from tests.helpers import nsmc


def write_shards(tmp_path, docs, size):
    for index, start in enumerate(range(0, len(docs), size)):
        chunk = docs[start : start + size]
        table = pa.table({"doc_id": [str(i) for i in range(start, start + len(chunk))],
                          "tokens": pa.array(chunk, type=pa.list_(pa.string()))})
        pq.write_table(table, tmp_path / f"part-{index:05d}.parquet")
    return TokenShards(tmp_path)


def test_sentences_and_word_counts_match_gensims_scan(tmp_path):
    docs = [review.split() for review in nsmc(3000)["document"]]
    docs[5:5] = [[]]
    docs[1400:1400] = [[], []]  # empty documents (as after cleaning) are skipped alike
    shards = write_shards(tmp_path, docs, 700)
    nonempty = [d for d in docs if d]
    assert [list(s) for s in Sentences(shards)] == nonempty
    assert [list(s) for s in Sentences(shards)] == nonempty  # restartable

    model = Word2Vec(min_count=1)
    total_words, corpus_count = model.scan_vocab(corpus_iterable=nonempty)
    counts = word_counts(shards)
    assert list(counts.counts.items()) == list(model.raw_vocab.items())  # same order: gensim's tie-break
    assert counts.sentences == corpus_count
    assert sum(counts.counts.values()) == total_words
