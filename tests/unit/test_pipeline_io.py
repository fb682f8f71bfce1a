"""Reading token shards back: what word2vec streams equals what gensim would see from the list,
and training from the shards gives gensim's vectors bit for bit."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from gensim.models import Word2Vec

from koprep.pipeline.readers import Sentences, TokenShards, word_counts
from koprep.stages.embed import VocabularySentences, Word2VecParams, train_word2vec
from tests.helpers import nsmc

pytestmark = pytest.mark.slow  # thousands of NSMC reviews


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


# Shards are read in groups of at least READ_GROUP_DOCUMENTS documents: one shard per group,
# groups ending inside, at and beyond the end of the corpus.
@pytest.mark.parametrize("group_documents", [1, 1000, 1200, 10**6])
def test_sentences_with_vocabulary_hand_out_the_vocabularys_own_objects(tmp_path, monkeypatch, group_documents):
    from koprep.pipeline import readers

    monkeypatch.setattr(readers, "READ_GROUP_DOCUMENTS", group_documents)
    docs = [review.split() for review in nsmc(2000)["document"]]
    docs[3:3] = [[]]
    shards = write_shards(tmp_path, docs, 600)
    nonempty = [d for d in docs if d]
    keys = sorted({w for d in nonempty for w in d})[::3]  # a third of the words, the rest are out of it
    in_vocabulary = {key: key for key in keys}
    sentences = Sentences(shards)
    assert isinstance(sentences, VocabularySentences)  # so train_word2vec takes this path
    for _ in range(2):  # restartable
        got = list(sentences.with_vocabulary(keys))
        assert [len(s) for s in got] == [len(d) for d in nonempty]  # gensim batches by these lengths
        assert [[w if w in in_vocabulary else None for w in d] for d in nonempty] == got
        assert all(w is None or w is in_vocabulary[w] for s in got for w in s)


@pytest.mark.parametrize(
    "options",
    [dict(sg=0), dict(sg=1), dict(sg=1, hs=1, negative=0), dict(sample=0.0, min_count=3, window=3)],
    ids=["cbow", "skipgram", "hierarchical-softmax", "no-sampling"],
)
def test_word2vec_streamed_from_shards_is_bit_identical_to_gensim_on_the_list(tmp_path, options):
    docs = [review.split() for review in nsmc(3000)["document"]]
    shards = write_shards(tmp_path, docs, 700)
    params = Word2VecParams(vector_size=16, epochs=2, seed=3, **options)
    ours = train_word2vec(Sentences(shards), params, word_counts(shards))
    theirs = Word2Vec(sentences=[d for d in docs if d], **params.gensim_kwargs()).wv
    assert ours.index_to_key == theirs.index_to_key
    np.testing.assert_array_equal(ours.expandos["count"], theirs.expandos["count"])
    np.testing.assert_array_equal(ours.vectors, theirs.vectors)
