"""The clean stage against the store: the corpus read, cut into content-defined shards
(`koprep.shards`), each shard cleaned (`koprep.stages.clean`) into its own `clean-shard` entry keyed
by its documents' bytes and the clean settings, and the `clean` entry assembled from every shard's
part (hard links), in corpus order. A changed corpus recomputes only the shards whose documents
changed."""

from __future__ import annotations

import functools
from contextlib import closing
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generator

import pandas as pd
import pyarrow as pa

from koprep import corpus as corpus_io
from koprep import shards as shards_logic
from koprep.errors import EmptyResultError
from koprep.pipeline.datasets import Parts, ShardPart, arrow_table
from koprep.pipeline.execution import StageJob, compute_or_reuse
from koprep.pipeline.keys import StageKey, clean_shard_key
from koprep.stages import clean as clean_logic
from koprep.store import PendingEntry, fault_point

if TYPE_CHECKING:
    from koprep.pipeline.resolve import Resolution
    from koprep.stages.clean import CleanParams

log = logging.getLogger(__name__)

COUNTS = ("documents", "empty_documents", "empty_after_clean", "emptied")


@dataclass
class ShardedCorpus:
    """A corpus as read and cut into shards, each shard's `clean-shard` entry in the store: the ones
    that were not are cleaned and written as the corpus is read (a chunk of rows at a time), so
    neither the corpus as read nor its cleaned text is ever held whole (memory would follow the
    corpus's size): only the shards' digests and counts are kept."""

    shards: list[shards_logic.Shard]
    keys: list[StageKey]
    """Each shard's `clean-shard` key."""
    written: set[int]
    """The shards cleaned and written while the corpus was read (a forced run does not write them twice)."""
    totals: dict[str, int]
    """documents, empty_documents (before cleaning), empty_after_clean, emptied, over every shard."""


class _CheckedCorpus:
    """The corpus `check_corpus` read, handed to the clean stage in this process (at most one corpus
    is kept, so checking several configurations in turn does not hold several corpora)."""

    def __init__(self) -> None:
        self.fingerprint: str | None = None
        self.corpus: ShardedCorpus | None = None

    def keep(self, fingerprint: str, corpus: ShardedCorpus) -> None:
        self.fingerprint, self.corpus = fingerprint, corpus

    def take(self, fingerprint: str) -> ShardedCorpus | None:
        if fingerprint != self.fingerprint:
            return None
        corpus, self.fingerprint, self.corpus = self.corpus, None, None
        return corpus


_checked = _CheckedCorpus()


def check_corpus(run: Resolution, key: StageKey) -> None:
    """The clean stage's preflight: the corpus can be read and yields text after cleaning. The corpus
    read, cut into shards and cleaned (the shards not in the store yet) is kept for the clean stage
    in this process, so checking it costs no second read; a corpus whose `clean` output is already
    stored was checked when it was made and is not read again."""
    if _checked.fingerprint != key.fingerprint and run.store.lookup(key.stage, key.fingerprint) is None:
        _checked.keep(key.fingerprint, read_sharded_corpus(run, key.stage))


def clean_documents(frame: pd.DataFrame, params: CleanParams) -> tuple[pd.DataFrame, dict[str, int], pd.Series]:
    """Documents (doc_id, text, passthrough columns) with their text cleaned; counts of the
    documents, of those empty before cleaning, of those empty after, and of those cleaning emptied;
    and the mask of the emptied ones."""
    was_empty = frame["text"].str.strip() == ""
    frame = frame.copy()
    frame["text"] = clean_logic.clean_texts(frame["text"].tolist(), params)
    empty = frame["text"].str.strip() == ""
    emptied = empty & ~was_empty
    facts = {
        "documents": len(frame),
        "empty_documents": int(was_empty.sum()),
        "empty_after_clean": int(empty.sum()),
        "emptied": int(emptied.sum()),
    }
    return frame, facts, emptied


def corpus_shards(run: Resolution, stage: str) -> Generator[tuple[shards_logic.Shard, StageKey, pd.DataFrame], None, None]:
    """The corpus's shards as it is read (chunk by chunk, `koprep.corpus.iter_corpus`), each with its
    shard-entry key and its documents."""
    spec = run.graph[stage]
    assert spec.shards is not None
    chunks = corpus_io.iter_corpus(run.location, run.config.corpus)
    for shard, rows in shards_logic.stream(chunks, run.config.run.shard_size):
        yield shard, clean_shard_key(spec.shards, spec.version, shard.digest, run), rows


def shard_fingerprints(run: Resolution, key: StageKey, upstream: dict[str, list[str]]) -> list[str]:
    """The clean shards' fingerprints, for the plan: from the stored entry, else by reading the corpus."""
    stored = run.store.lookup(key.stage, key.fingerprint)
    if stored is not None:
        return list(stored.manifest["shards"])
    return [shard_key.fingerprint for _, shard_key, _ in corpus_shards(run, key.stage)]


LOOKUP_GROUP = 32
"""Shards whose stored entries are looked up in one batch while the corpus is read (a chunk of
`koprep.corpus.iter_corpus` is about 25 default shards, so a group holds a chunk or two of rows)."""


def read_sharded_corpus(run: Resolution, stage: str) -> ShardedCorpus:
    """The corpus read and cut into shards, with the shards not in the store cleaned and written
    (`clean-shard` entries, as the clean stage would write them). Documents that come out of
    cleaning empty are kept with their ids and counted, with a warning; if every document does,
    EmptyResultError says which setting to look at."""
    shards: list[shards_logic.Shard] = []
    keys: list[StageKey] = []
    force = stage in run.forced
    written: set[int] = set()
    totals = dict.fromkeys(COUNTS, 0)
    examples: list[str] = []
    # Shards are written as they are cleaned, so the cleaned corpus is never held whole. Until one
    # document survives cleaning they are held instead: a corpus that cleans to nothing is bad input,
    # and bad input leaves nothing in the store (the held shards are all empty text, so small). The
    # corpus is read a chunk at a time: a duplicate id found in a later chunk leaves the shards before
    # it in the store, complete and keyed by their documents (a corrected corpus reuses them).
    held: list[tuple[StageKey, tuple[pa.Table, dict[str, int]]]] = []
    # Which shards are stored: one batch of lookups per group of shards as they are read (one round
    # trip per group on a store in a bucket; the corpus is streamed, so its keys are not known at once).
    for group in corpus_io.batches(corpus_shards(run, stage), LOOKUP_GROUP):
        with run.store.prefetched([] if force else [(key.stage, key.fingerprint) for _, key, _ in group]):
            for shard, key, rows in group:
                shards.append(shard)
                keys.append(key)
                entry = None if force else run.store.lookup(key.stage, key.fingerprint)
                if entry is not None:
                    facts = entry.manifest["extra"]
                else:
                    part, facts, emptied = clean_documents(rows, run.config.clean)
                    held.append((key, (arrow_table(part), facts)))
                    written.add(shard.index)
                    if len(examples) < 5:
                        examples += part.loc[emptied, "doc_id"].head(5 - len(examples)).tolist()
                for name in totals:
                    totals[name] += int(facts[name])
                if totals["empty_after_clean"] < totals["documents"]:
                    for held_key, cleaned in held:
                        compute_or_reuse(run.store, held_key, functools.partial(_write_cleaned, cleaned), force=force)
                    held.clear()
    source = corpus_io.describe_location(run.location)
    if totals["empty_after_clean"] == totals["documents"]:
        raise EmptyResultError(
            f"every document of {source} ({totals['documents']}) is empty after cleaning, so there is nothing to "
            f"tokenize. Check that corpus.text_column names the text, or keep more characters with [clean] settings "
            f"(e.g. --set clean.keep_hanja=true, clean.keep_chars=...); `koprep clean-preview TEXT` shows each step"
        )
    if totals["emptied"]:
        log.warning(
            "%d of %d documents of %s are empty after cleaning%s; they are kept, with empty text",
            totals["emptied"], totals["documents"], source, f" (e.g. ids {', '.join(examples)})" if examples else "",
        )
    return ShardedCorpus(shards, keys, written, totals)


def compute(job: StageJob, pending: PendingEntry) -> tuple[int, dict[str, Any]]:
    """Every shard's `clean-shard` entry (computed only when not in the store), linked into the
    `clean` entry in corpus order."""
    run, stage = job.run, job.key.stage
    corpus = _checked.take(job.key.fingerprint) or read_sharded_corpus(run, stage)
    fault_point(f"{stage}.read")
    computed = []
    for shard, shard_key in zip(corpus.shards, corpus.keys):
        write = functools.partial(_write_shard, run, stage, shard)
        done_now = shard.index in corpus.written
        entry, cached = compute_or_reuse(run.store, shard_key, write, force=job.force and not done_now)
        if done_now or not cached:
            computed.append(shard.index)
        Parts.link_shard(pending, entry, shard.index)
        fault_point(f"{stage}.part-written")
    pending.manifest["shards"] = [shard_key.fingerprint for shard_key in corpus.keys]
    return corpus.totals["documents"], {
        "source": corpus_io.describe_source(run.location),
        "documents": corpus.totals["documents"],
        "empty_documents": corpus.totals["empty_documents"],
        "empty_after_clean": corpus.totals["empty_after_clean"],
        "steps": clean_logic.describe(run.config.clean),
        "shards": len(corpus.shards),
        "computed_shards": computed,
    }


def _write_shard(run: Resolution, stage: str, shard: shards_logic.Shard, pending: PendingEntry) -> tuple[int, dict[str, int]]:
    """A shard that was in the store when the corpus was read and is gone now (removed meanwhile,
    or forced): the corpus is read again for it."""
    with closing(corpus_shards(run, stage)) as shards:
        rows = next(rows for read, _, rows in shards if read.index == shard.index)
    part, facts, _ = clean_documents(rows, run.config.clean)
    return _write_cleaned((arrow_table(part), facts), pending)


def _write_cleaned(cleaned: tuple[pa.Table, dict[str, int]], pending: PendingEntry) -> tuple[int, dict[str, int]]:
    table, facts = cleaned
    ShardPart.write(pending, table)
    return table.num_rows, facts
