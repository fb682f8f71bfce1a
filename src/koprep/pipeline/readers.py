"""Reading a stage's shards back: restartable iterables over the Parquet parts of a clean or
tokenize output, in groups of consecutive shards, as the stages after tokenize consume them (the
vectorizers' documents, word2vec's sentences). No stage holds the whole corpus in memory.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from koprep.pipeline.datasets import Parts
from koprep.progress import ProgressCounter
from koprep.stages import embed as embed_logic

log = logging.getLogger(__name__)

MAX_WORDS_IN_BATCH = 10_000
"""gensim's word2vec reads at most this many tokens of one sentence (gensim.models.word2vec)."""

READ_GROUP_DOCUMENTS = 20_000
"""The stages after tokenize read consecutive shards together, in groups of at least this many
documents: every read has fixed costs (opening a Parquet file, the vectorizers' per-batch n-gram
encoding, word2vec's reader hashing the whole vocabulary for `index_in`), which on ~2,000-document
shards cost more than the work (ngram on 200k NSMC reviews: 2.1-2.3 s in groups of 20,000, 2.9-3.8 s
shard by shard). Groups depend only on the shards, so every pass sees the same ones."""


class _ShardReader:
    """Restartable iteration over a stage's Parquet parts in groups of consecutive shards (see
    READ_GROUP_DOCUMENTS), so that no stage holds the whole corpus in memory. `counter` is advanced
    by one per shard once its group has been used (for progress reports)."""

    def __init__(self, path: str | Path, counter: ProgressCounter | None = None) -> None:
        self.files = Parts.part_files(path)
        self.counter = counter

    def _tables(self, columns: list[str]) -> Iterator[pa.Table]:
        group: list[pa.Table] = []
        held = 0
        for file in self.files:
            table = pq.read_table(file, columns=columns)
            group.append(table)
            held += table.num_rows
            if held >= READ_GROUP_DOCUMENTS:
                yield from self._used(group)
                group, held = [], 0
        if group:
            yield from self._used(group)

    def _used(self, group: list[pa.Table]) -> Iterator[pa.Table]:
        yield group[0] if len(group) == 1 else pa.concat_tables(group)
        if self.counter is not None:
            self.counter.advance(len(group))


class TokenShards(_ShardReader):
    """A tokenize output's token lists, as Arrow list<string> arrays, which the vectorizers and
    word2vec's reader consume without decoding every token to a Python string."""

    def __iter__(self) -> Iterator[tuple[list[str], pa.ListArray]]:
        """Each group's (doc_ids, tokens)."""
        for table in self._tables(["doc_id", "tokens"]):
            yield table.column("doc_id").to_pylist(), table.column("tokens").combine_chunks()

    def token_arrays(self) -> Iterator[pa.ListArray]:
        for table in self._tables(["tokens"]):
            yield table.column("tokens").combine_chunks()

    def documents(self) -> Iterator[pa.ListArray]:
        """What bow/ngram/tfidf fit on: each group's token lists."""
        return self.token_arrays()

    def token_lists(self) -> Iterator[list[list[str]]]:
        for tokens in self.token_arrays():
            yield tokens.to_pylist()


class Sentences:
    """Restartable flat iterable of documents' tokens (what gensim wants), skipping empty documents.
    gensim reads it once per epoch, one shard in memory at a time."""

    def __init__(self, shards: TokenShards) -> None:
        self.shards = shards

    def __iter__(self) -> Iterator[list[str]]:
        for tokens in self.shards.token_lists():
            for doc in tokens:
                if doc:
                    yield doc

    def with_vocabulary(self, keys: list[str], tokens: list[str] | None = None) -> "_VocabularySentences":
        """The same sentences, with each token that is in `keys` (or is `tokens[i]`) given as the
        very str object `keys[i]`, and every other token as None (see `embed.VocabularySentences`)."""
        return _VocabularySentences(self.shards, keys, tokens)


class _VocabularySentences:
    """Restartable. Decodes a shard by looking its tokens up in the vocabulary inside Arrow
    (`index_in`), then taking the vocabulary's own objects: no string is decoded from Parquet."""

    def __init__(self, shards: TokenShards, keys: list[str], tokens: list[str] | None = None) -> None:
        self.shards = shards
        self.value_set = pa.array(keys if tokens is None else tokens, pa.string())
        self.objects = np.empty(len(keys) + 1, dtype=object)
        self.objects[: len(keys)] = keys  # the last slot stays None: out of vocabulary

    def __iter__(self) -> Iterator[list[str | None]]:
        out_of_vocabulary = len(self.objects) - 1
        for tokens in self.shards.token_arrays():
            positions = pc.index_in(tokens.flatten(), value_set=self.value_set).fill_null(out_of_vocabulary)
            words = self.objects[positions.to_numpy()].tolist()
            offsets = (tokens.offsets.to_numpy() - tokens.offsets[0].as_py()).tolist()
            for start, end in zip(offsets[:-1], offsets[1:]):
                if end > start:
                    yield words[start:end]


class TextShards(_ShardReader):
    """A clean output's texts."""

    def __iter__(self) -> Iterator[tuple[list[str], list[str]]]:
        """Each group's (doc_ids, texts)."""
        for table in self._tables(["doc_id", "text"]):
            yield table.column("doc_id").to_pylist(), table.column("text").to_pylist()

    def documents(self) -> Iterator[list[str]]:
        """What chargram fits on: each group's texts."""
        for table in self._tables(["text"]):
            yield table.column("text").to_pylist()


def word_counts(shards: TokenShards) -> embed_logic.WordCounts:
    """Word counts of the token shards, in first-occurrence order, counted by Arrow: what gensim's
    vocabulary scan would compute, without a Python pass over every token."""
    counts: dict[str, int] = {}
    sentences = too_long = 0
    for tokens in shards.token_arrays():
        lengths = pc.list_value_length(tokens)
        sentences += pc.sum(pc.greater(lengths, 0)).as_py() or 0
        too_long += pc.sum(pc.greater(lengths, MAX_WORDS_IN_BATCH)).as_py() or 0
        found = pc.value_counts(tokens.flatten())  # in order of first occurrence
        for word, count in zip(found.field("values").to_pylist(), found.field("counts").to_pylist()):
            counts[word] = counts.get(word, 0) + count
    if too_long:
        log.warning(
            "%d document(s) have more than %d tokens; gensim's word2vec trains on the first %d tokens of each "
            "(split long documents into lines or sentences to train on all of them)",
            too_long, MAX_WORDS_IN_BATCH, MAX_WORDS_IN_BATCH,
        )
    return embed_logic.WordCounts(counts, sentences)


class Phrased:
    """Restartable: the sentences with a learned phrase table applied on every pass."""

    def __init__(self, sentences: "Sentences | SplitSentences", table: pd.DataFrame, params: embed_logic.Word2VecParams) -> None:
        self.sentences, self.table, self.params = sentences, table, params

    def __iter__(self) -> Iterator[list[str]]:
        return embed_logic.apply_phrases(self.sentences, self.table, self.params)


class SplitSentences:
    """Restartable: the tokens of each sentence (`[clean] sentences`: the tokenize parts record each
    document's sentence lengths), for word2vec and phrases to learn within sentences only."""

    def __init__(self, shards: TokenShards, lengths_column: str) -> None:
        self.shards, self.lengths_column = shards, lengths_column

    def __iter__(self) -> Iterator[list[str]]:
        for table in self.shards._tables(["tokens", self.lengths_column]):
            for tokens, lengths in zip(table.column("tokens").to_pylist(), table.column(self.lengths_column).to_pylist()):
                start = 0
                for length in lengths:
                    if length:
                        yield tokens[start : start + length]
                    start += length


def has_column(path: str | Path, column: str) -> bool:
    """Whether a stage's Parquet parts hold `column` (all parts of an entry share one schema)."""
    files = Parts.part_files(path)
    return bool(files) and column in pq.read_schema(files[0]).names
