"""The vectorizer stages against the store: bow, ngram and tfidf over the tokenize output's token
lists, chargram over the clean output's texts (character n-grams). Each fits its vocabulary shard
by shard (or, with `run.fitted_from`, takes the fitted run's), then transforms shard by shard,
streaming the matrix to Parquet (`MatrixFiles`)."""

from __future__ import annotations

from typing import Any

from koprep.pipeline.datasets import MatrixFiles, Parts
from koprep.pipeline.execution import StageJob, StageResult
from koprep.pipeline.readers import TextShards, TokenShards
from koprep.progress import ProgressCounter
from koprep.stages import vectorize as vectorize_logic
from koprep.store import PendingEntry, fault_point


def of_tokens(job: StageJob, pending: PendingEntry) -> tuple[int, dict[str, Any]]:
    """bow / ngram / tfidf: the token lists of the stage's one input (tokenize)."""
    return _vectorize(job, pending, TokenShards, job.inputs["tokenize"])


def of_texts(job: StageJob, pending: PendingEntry) -> tuple[int, dict[str, Any]]:
    """chargram: TF-IDF over character n-grams of the cleaned texts (`[chargram]`), without the
    duplicates the dedup stage dropped when the run chose it."""
    return _vectorize(job, pending, TextShards, job.inputs.get("dedup") or job.inputs["clean"])


def _vectorize(
    job: StageJob, pending: PendingEntry, shard_reader: type[TokenShards] | type[TextShards], upstream: StageResult
) -> tuple[int, dict[str, Any]]:
    """`shard_reader(path, counter)` yields each shard group's (doc_ids, documents) for transforming,
    and its `documents()` the documents alone for fitting. `on_progress(shards_done, shards)` counts
    shard reads: the fitting pass and the transform pass."""
    name = job.key.stage
    params = getattr(job.run.config, name)
    fitted_entry = job.run.fitted.get(name)
    passes = 1 if fitted_entry is not None else 2
    counter = ProgressCounter(job.on_progress, passes * len(Parts.part_files(upstream.path)))
    shards = shard_reader(upstream.path, counter)
    if fitted_entry is None:
        # Fitted on these very shards: the transform maps each shard's terms by the fit's own
        # integer maps, without building or looking up n-gram strings a second time.
        shardwise = vectorize_logic.fit_shards(shards.documents(), params)
        fitted = shardwise.vocabulary
    else:
        fitted = vectorize_logic.FittedVocabulary(
            MatrixFiles.vocabulary(fitted_entry), fitted_entry.manifest["extra"]["fitted_documents"], params
        )
    writer = MatrixFiles.Writer(pending)
    writer.vocabulary(fitted.table)
    fault_point(f"{name}.vocabulary-written")
    try:
        for index, (shard_ids, shard_documents) in enumerate(shards):
            if fitted_entry is None:
                matrix = shardwise.transform_shard(index, shard_documents)
            else:
                matrix = vectorize_logic.transform(shard_documents, fitted, params)
            writer.matrix_shard(matrix, shard_ids)
            fault_point(f"{name}.matrix-shard-written")
    except BaseException:
        writer.abort()
        raise
    nonzeros = writer.close()
    counter.finish()
    return writer.documents, {
        "documents": writer.documents,
        "terms": len(fitted.table),
        "nonzeros": nonzeros,
        "fitted_documents": fitted.n_docs,
        "fitted_on": fitted_entry.fingerprint if fitted_entry else upstream.fingerprint,
    }
