"""The embedding stages against the store: gensim Phrases (`phrases`, with `word2vec.phrases`) and
Word2Vec (`word2vec`), both streamed from the tokenize output's shards."""

from __future__ import annotations

from typing import Any

from koprep.pipeline.datasets import Parts, PhraseTable, WordVectorFiles
from koprep.pipeline.execution import StageJob
from koprep.pipeline.readers import Phrased, Sentences, SplitSentences, TokenShards, has_column, word_counts
from koprep.pipeline.tokenize import SENTENCES_COLUMN
from koprep.progress import ProgressCounter
from koprep.stages import embed as embed_logic
from koprep.store import PendingEntry, fault_point


def learn_phrases(job: StageJob, pending: PendingEntry) -> tuple[int, dict[str, Any]]:
    """Collocations such as 국민_청원 learned from the tokens, as a table."""
    table = embed_logic.learn_phrases(_sentences(TokenShards(job.inputs["tokenize"].path)), job.run.config.word2vec)
    PhraseTable.write(pending, table)
    return len(table), {"phrases": len(table)}


def train_word2vec(job: StageJob, pending: PendingEntry) -> tuple[int, dict[str, Any]]:
    """gensim Word2Vec on the token shards (joined by the stored phrase table when there is one).
    `on_progress(shards_done, shards)` counts shard reads over the vocabulary pass and every epoch."""
    params = job.run.config.word2vec
    tokens, phrases = job.inputs["tokenize"], job.inputs.get("phrases")
    counter = ProgressCounter(job.on_progress, (params.epochs + 1) * len(Parts.part_files(tokens.path)))
    shards = TokenShards(tokens.path, counter)
    sentences = _sentences(shards)
    if phrases is None:
        # Arrow's word counts are per document; with [clean] sentences gensim counts the sentences itself.
        counts = word_counts(shards) if isinstance(sentences, Sentences) else None
        kv = embed_logic.train_word2vec(sentences, params, counts)
    else:
        table = PhraseTable.read(job.store.open_entry(phrases.path))
        kv = embed_logic.train_word2vec(Phrased(sentences, table, params), params.model_copy(update={"phrases": False}))
    fault_point(f"{job.key.stage}.trained")
    WordVectorFiles.write_parquet(pending, kv)
    fault_point(f"{job.key.stage}.vectors-parquet-written")
    WordVectorFiles.write_binary(pending, kv)
    counter.finish()
    return len(kv), {"terms": len(kv), "vector_size": kv.vector_size}


def _sentences(shards: TokenShards) -> Sentences | SplitSentences:
    """What word2vec and phrases learn from: each document, or with `[clean] sentences` each sentence."""
    if shards.files and has_column(shards.files[0].parent, SENTENCES_COLUMN):
        return SplitSentences(shards, SENTENCES_COLUMN)
    return Sentences(shards)
