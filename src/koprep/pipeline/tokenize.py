"""The model and tokenize stages against the store.

`model`: a trainable backend (soynlp) learns its table from the cleaned corpus; the table is an
ordinary stage entry, and the tokenize stage reads it as an input.

`tokenize`: shard by shard. Each shard's tokens are a `tokenize-shard` entry keyed by its clean
shard and the tokenize settings; only the shards not in the store are tokenized (by
`tokenize_shards`, in this process or wherever an orchestrator runs it), and the `tokenize` entry
holds every shard's part (hard links) in corpus order. The backend (its JVM, its trained model) is
loaded only when some shard is tokenized.
"""

from __future__ import annotations

import functools
from collections import deque
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from koprep import parallel
from koprep.pipeline import dedup as dedup_stage
from koprep.pipeline.datasets import ModelTable, Parts, ShardPart
from koprep.pipeline.execution import StageJob, StageResult, compute_or_reuse
from koprep.pipeline.keys import StageKey, tokenize_shard_key
from koprep.progress import ProgressCallback, ProgressCounter
from koprep.store import CorruptArtifactError, PendingEntry, fault_point

if TYPE_CHECKING:
    from koprep.pipeline.resolve import Resolution

SHARD_COUNTS = ("documents", "empty_documents", "tokens")
SENTENCES_COLUMN = "sentence_lengths"
"""With `[clean] sentences`, the tokenize parts also hold each document's tokens per sentence (a
list of token counts that sum to the document's), which word2vec and phrases train on."""


def train_model(job: StageJob, pending: PendingEntry) -> tuple[int, dict[str, Any]]:
    clean = job.inputs["clean"]
    model = job.run.trainable_backend.fit(list(Parts.texts(clean.path)))
    ModelTable.write(pending, model)
    return len(model), {"backend": job.run.config.tokenize.backend, "trained_on": clean.fingerprint}


def shard_keys(run: Resolution, key: StageKey, clean_shards: list[str]) -> list[StageKey]:
    """The `tokenize-shard` key of each clean shard, in corpus order."""
    own, upstream = run.graph[key.stage].shards, run.graph["clean"].shards
    assert own is not None and upstream is not None
    return [tokenize_shard_key(key, upstream, fp, own) for fp in clean_shards]


def shard_fingerprints(run: Resolution, key: StageKey, upstream: dict[str, list[str]]) -> list[str]:
    return [shard.fingerprint for shard in shard_keys(run, key, upstream["clean"])]


def compute(job: StageJob, pending: PendingEntry) -> tuple[int, dict[str, Any]]:
    run, clean = job.run, job.inputs["clean"]
    keys = shard_keys(run, job.key, run.store.open_entry(clean.path).manifest["shards"])
    stored = [None] * len(keys) if job.force else run.store.lookup_many([(k.stage, k.fingerprint) for k in keys])
    missing = [index for index, entry in enumerate(stored) if entry is None]
    if job.map_shards is not None:
        run_shards = job.map_shards
    else:
        run_shards = functools.partial(tokenize_shards, run, job.key, job.inputs, on_progress=job.on_progress)
    how = run_shards(missing) if missing else "nothing to tokenize"
    totals = dict.fromkeys(SHARD_COUNTS, 0)
    dedup = job.inputs.get("dedup")
    dropped = dedup.extra["dropped_per_part"] if dedup is not None else [0] * len(keys)
    shard_extras = []
    for index, shard_key in enumerate(keys):
        entry = stored[index] or run.store.lookup(shard_key.stage, shard_key.fingerprint)
        if entry is None:
            raise CorruptArtifactError(f"tokenize shard {index} ({shard_key.fingerprint}) is missing right after it was computed")
        shard_extras.append(entry.manifest["extra"])
        if dropped[index]:
            # The dedup stage dropped documents of this shard: the part holds the tokens of the others.
            assert dedup is not None
            table = dedup_stage.kept_rows(Parts.part_files(dedup.path)[index], pq.read_table(entry.file(ShardPart.FILE)))
            pq.write_table(table, pending.path / Parts.PART.format(index))
            for name, count in _shard_counts(table).items():
                totals[name] += count
            continue
        Parts.link_shard(pending, entry, index)
        for name in totals:
            totals[name] += int(entry.manifest["extra"][name])
    pending.manifest["shards"] = [shard_key.fingerprint for shard_key in keys]
    quarantined = quarantined_documents(shard_extras)
    return totals["documents"], {
        "backend": run.config.tokenize.backend,
        "backend_version": run.backend.version(),
        **totals,
        "stopwords": len(run.token_filter.stopwords),
        "drop_tags": list(run.token_filter.drop_tags),
        "parallel": how,
        "shards": len(keys),
        "computed_shards": missing,
        **({"quarantined": quarantined} if quarantined else {}),
    }


def tokenize_shards(
    run: Resolution, key: StageKey, inputs: dict[str, StageResult], indices: list[int],
    on_progress: ProgressCallback | None = None,
) -> str:
    """Tokenize the clean output's shards `indices` in this process, on `run.workers` cores the way
    the backend parallelises best (`koprep.parallel`), and store each as its `tokenize-shard` entry.
    Returns how the work was spread."""
    clean, model = inputs["clean"], inputs.get("model")
    tokenizer, token_filter = run.ready_tokenizer(None if model is None else run.store.open_entry(model.path))
    keys = shard_keys(run, key, run.store.open_entry(clean.path).manifest["shards"])
    files = Parts.part_files(clean.path)
    sizes = [pq.ParquetFile(files[i]).metadata.num_rows for i in indices]
    counter = ProgressCounter(on_progress, sum(sizes))
    doc_ids: deque[pa.ChunkedArray] = deque()
    by_sentence = bool(run.config.clean.sentences)
    lines_per_doc: deque[list[int]] = deque()

    def shard_texts() -> Iterator[list[str]]:
        for index in indices:
            table = pq.read_table(files[index], columns=["doc_id", "text"])
            doc_ids.append(table.column("doc_id"))
            texts = table.column("text").to_pylist()
            if by_sentence:  # [clean] sentences: one sentence per line, each tokenized on its own
                lines = [text.split("\n") for text in texts]
                lines_per_doc.append([len(doc_lines) for doc_lines in lines])
                texts = [line for doc_lines in lines for line in doc_lines]
            yield texts

    how = parallel.plan(tokenizer, run.config.run.workers or parallel.default_workers(), sum(sizes), **supervision(run))
    force = key.stage in run.forced
    for index, shard in zip(indices, parallel.tokenize_shards(tokenizer, token_filter, shard_texts(), how)):
        columns = {"doc_id": doc_ids.popleft(), "tokens": shard.tokens}
        # A quarantined position counts what was tokenized: documents, or with [clean] sentences lines.
        positions = [q.position for q in shard.quarantined]
        if by_sentence:
            lines = lines_per_doc.popleft()
            columns["tokens"], columns[SENTENCES_COLUMN] = _documents_of_sentences(shard.tokens, lines)
            positions = np.searchsorted(np.cumsum(lines), positions, side="right").tolist()
        table = pa.table(columns)
        quarantined = [
            {"doc_id": str(table.column("doc_id")[position].as_py()), "reason": q.reason}
            for position, q in zip(positions, shard.quarantined)
        ]
        compute_or_reuse(run.store, keys[index], functools.partial(_write_shard, table, quarantined), force=force)
        fault_point(f"{key.stage}.part-written")
        counter.advance(table.num_rows)
    counter.finish()
    return str(how)


def _documents_of_sentences(sentences: pa.Array, lines_per_doc: list[int]) -> tuple[pa.Array, pa.Array]:
    """Token lists of sentences, in order, regrouped into documents of `lines_per_doc` sentences:
    (the documents' token lists, each document's sentence lengths)."""
    sentences = sentences.combine_chunks() if isinstance(sentences, pa.ChunkedArray) else sentences
    lengths = pc.list_value_length(sentences).to_numpy(zero_copy_only=False)
    sentence_offsets = np.concatenate([[0], np.cumsum(lines_per_doc)]).astype(np.int64)
    token_offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)[sentence_offsets]
    documents = pa.ListArray.from_arrays(pa.array(token_offsets.astype(np.int32)), sentences.flatten())
    per_document = pa.ListArray.from_arrays(pa.array(sentence_offsets.astype(np.int32)), pa.array(lengths, pa.int32()))
    return documents, per_document


def supervision(run: Resolution) -> dict[str, Any]:
    """`parallel.plan`'s supervision settings from the run's (`run.supervise`, `run.tokenize_timeout`)."""
    return {"supervise": run.config.run.supervise, "timeout": run.config.run.tokenize_timeout}


def quarantined_documents(shard_entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The documents quarantined in a stage's shards (their manifests' `extra`), in corpus order."""
    return [document for extra in shard_entries for document in extra.get("quarantined", [])]


def _write_shard(table: pa.Table, quarantined: list[dict[str, str]], pending: PendingEntry) -> tuple[int, dict[str, Any]]:
    ShardPart.write(pending, table)
    extra: dict[str, Any] = _shard_counts(table)
    if quarantined:  # only then: an entry without is byte-for-byte what koprep wrote before quarantines
        extra["quarantined"] = quarantined
    return table.num_rows, extra


def _shard_counts(table: pa.Table) -> dict[str, int]:
    lengths = pc.list_value_length(table.column("tokens"))
    return {
        "documents": table.num_rows,
        "empty_documents": pc.sum(pc.equal(lengths, 0)).as_py() or 0,
        "tokens": pc.sum(lengths).as_py() or 0,
    }
