"""The embedding stages against the store: gensim Phrases (`phrases`, with `word2vec.phrases`),
Word2Vec (`word2vec`) and FastText (`fasttext`), all streamed from the tokenize output's shards."""

from __future__ import annotations

import logging
from typing import Any, TypeVar

from koprep.pipeline.datasets import FastTextFiles, Parts, PhraseTable, WordVectorFiles
from koprep.pipeline.execution import StageJob
from koprep.pipeline.readers import Phrased, Sentences, SplitSentences, TokenShards, has_column, word_counts
from koprep.pipeline.tokenize import SENTENCES_COLUMN
from koprep.progress import ProgressCounter
from koprep.stages import embed as embed_logic
from koprep.store import PendingEntry, fault_point

log = logging.getLogger(__name__)
_Params = TypeVar("_Params", bound=embed_logic.EmbeddingParams)


def learn_phrases(job: StageJob, pending: PendingEntry) -> tuple[int, dict[str, Any]]:
    """Collocations such as 국민_청원 learned from the tokens, as a table."""
    table = embed_logic.learn_phrases(_sentences(TokenShards(job.inputs["tokenize"].path)), job.run.config.word2vec)
    PhraseTable.write(pending, table)
    return len(table), {"phrases": len(table)}


def train_word2vec(job: StageJob, pending: PendingEntry) -> tuple[int, dict[str, Any]]:
    """gensim Word2Vec on the token shards (joined by the stored phrase table when there is one),
    stored with its training diagnostic. `on_progress(shards_done, shards)` counts shard reads over
    the vocabulary pass and every epoch. `epochs = "auto"` is resolved on the tokens' count."""
    phrases = job.inputs.get("phrases")
    params, counts, counter, sentences = _training_input(job, job.run.config.word2vec)
    if phrases is None:
        trained = embed_logic.train_word2vec_logged(sentences, params, _vocabulary_counts(sentences, counts, counter))
    else:
        table = PhraseTable.read(job.store.open_entry(phrases.path))
        trained = embed_logic.train_word2vec_logged(
            Phrased(sentences, table, params), params.model_copy(update={"phrases": False})
        )
    fault_point(f"{job.key.stage}.trained")
    diagnostic = _diagnosed(trained)
    WordVectorFiles.write_parquet(pending, trained.vectors)
    fault_point(f"{job.key.stage}.vectors-parquet-written")
    WordVectorFiles.write_binary(pending, trained.vectors)
    WordVectorFiles.write_diagnostic(pending, diagnostic)
    counter.finish()
    return _facts(trained, diagnostic)


def train_fasttext(job: StageJob, pending: PendingEntry) -> tuple[int, dict[str, Any]]:
    """gensim FastText on the token shards (words decomposed into jamo for `subwords = "jamo"`),
    stored in the fastText format with its vectors as Parquet and its training diagnostic."""
    from koprep.stages.subword_vectors import train_fasttext as train

    params, counts, counter, sentences = _training_input(job, job.run.config.fasttext)
    model, trained = train(sentences, params, _vocabulary_counts(sentences, counts, counter))
    fault_point(f"{job.key.stage}.trained")
    diagnostic = _diagnosed(trained, "fasttext") | {"subwords": params.subwords}
    FastTextFiles.write_parquet(pending, trained.vectors)
    fault_point(f"{job.key.stage}.vectors-parquet-written")
    FastTextFiles.write_model(pending, model)
    FastTextFiles.write_diagnostic(pending, diagnostic)
    counter.finish()
    return _facts(trained, diagnostic)


def _training_input(
    job: StageJob, params: _Params
) -> tuple[_Params, embed_logic.WordCounts, ProgressCounter, Sentences | SplitSentences]:
    """What word2vec and fastText train from: `params` with `epochs = "auto"` resolved on the tokens'
    count, the tokens' word counts, a progress counter over the vocabulary pass and every epoch's
    shard reads, and the sentences read through it."""
    tokens = job.inputs["tokenize"]
    counts = word_counts(TokenShards(tokens.path))
    params = params.model_copy(update={"epochs": params.epochs_for(sum(counts.counts.values()))})
    counter = ProgressCounter(job.on_progress, (int(params.epochs) + 1) * len(Parts.part_files(tokens.path)))
    return params, counts, counter, _sentences(TokenShards(tokens.path, counter))


def _diagnosed(trained: embed_logic.TrainedVectors, stage: str = "word2vec") -> dict[str, Any]:
    diagnostic = embed_logic.diagnose(trained, stage)
    if diagnostic["warning"]:
        log.warning(diagnostic["warning"])
    return diagnostic


def _facts(trained: embed_logic.TrainedVectors, diagnostic: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    kv = trained.vectors
    return len(kv), {
        "terms": len(kv), "vector_size": kv.vector_size, "epochs": trained.epochs,
        "coverage": diagnostic["coverage"], "neighbour_cosine": diagnostic["neighbour_cosine"]["mean"],
        "degenerate": diagnostic["degenerate"],
    }


def _sentences(shards: TokenShards) -> Sentences | SplitSentences:
    """What word2vec and phrases learn from: each document, or with `[clean] sentences` each sentence."""
    if shards.files and has_column(shards.files[0].parent, SENTENCES_COLUMN):
        return SplitSentences(shards, SENTENCES_COLUMN)
    return Sentences(shards)


def _vocabulary_counts(
    sentences: Sentences | SplitSentences, counts: embed_logic.WordCounts, counter: ProgressCounter
) -> embed_logic.WordCounts | None:
    """`counts` as gensim's vocabulary when it learns from whole documents (its vocabulary pass is
    then skipped, and counted as done); with `[clean] sentences` None, so gensim scans the sentences
    itself (Arrow's counts give the number of documents, not of sentences)."""
    if isinstance(sentences, SplitSentences):
        return None
    counter.advance(len(sentences.shards.files))
    return counts
