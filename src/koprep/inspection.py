"""Looking at what a run made, what the store holds, and removing what no recent run uses.

Pure functions over the artifact store: nothing here prints or talks to Prefect. `koprep show`,
`koprep ls`, `koprep gc` (koprep.cli) and the HTML report (koprep.report) format what they return.

What a run *uses*: the entries its record names (every stage, the soynlp `model`, the `phrases`
behind word2vec), every entry those were computed from (manifest `inputs`, e.g. a `fitted_from`
run's vocabularies), the runs its config names (`run.fitted_from`, `tokenize.model` = RUN_ID),
and `evaluate` reports computed from its vectors.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from koprep.store import RUNS, ArtifactStore, Entry, RunRecord, StoreError, named_entries, read_manifest

ON_DEMAND_STAGES = frozenset({"evaluate"})
"""Stages that run records never name: computed on demand from a run's outputs (`koprep evaluate`)."""
VECTORIZER_FILES = ("vocabulary.parquet", "matrix.parquet")
DEFAULT_KEEP_RUNS = 10
DEFAULT_GRACE_SECONDS = 3600.0
"""gc keeps entries younger than this: a run still in progress has written them but not yet its record."""


# ------------------------------------------------------------------------------------------- runs
# ---------------------------------------------------------------------------------------- entries
@dataclass(frozen=True)
class StoredEntry:
    stage: str
    fingerprint: str
    path: Path
    bytes: int
    created: float
    """Creation time from the manifest (seconds since the epoch); the folder's mtime without one."""
    complete: bool
    """False for a folder without a valid manifest: never used as a cache hit, only garbage."""
    inputs: dict[str, str] = field(default_factory=dict)
    shards: tuple[str, ...] = ()
    """The per-shard entries a `clean` or `tokenize` entry was assembled from (its manifest's `shards`)."""

    @property
    def key(self) -> tuple[str, str]:
        return (self.stage, self.fingerprint)


def stored_entries(store: ArtifactStore) -> list[StoredEntry]:
    """Every `<stage>/<fingerprint>/` folder in the store (temporary `.tmp-*` folders excluded)."""
    if not store.root.is_dir():
        return []
    entries = []
    for stage_dir in sorted(store.root.iterdir()):
        if not stage_dir.is_dir() or stage_dir.name.startswith(".") or stage_dir.name == RUNS:
            continue
        for folder in sorted(stage_dir.iterdir()):
            if not folder.is_dir() or folder.name.startswith("."):
                continue
            try:
                entry = store.lookup(stage_dir.name, folder.name)
            except StoreError:
                entry = None
            manifest = entry.manifest if entry is not None else (read_manifest(folder) or {})
            entries.append(
                StoredEntry(
                    stage=stage_dir.name,
                    fingerprint=folder.name,
                    path=folder,
                    bytes=_folder_bytes(folder),
                    created=_created(manifest, folder),
                    complete=entry is not None,
                    inputs={k: str(v) for k, v in (manifest.get("inputs") or {}).items()},
                    shards=tuple(str(fp) for fp in manifest.get("shards") or ()),
                )
            )
    return entries


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _created(manifest: Mapping[str, Any], folder: Path) -> float:
    try:
        return dt.datetime.fromisoformat(manifest["created"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return folder.stat().st_mtime


def _named_entries(summary: Mapping[str, Any]) -> set[tuple[str, str]]:
    """(stage, fingerprint) of every entry a run record names."""
    return set(named_entries(summary).items())


def _named_runs(summary: Mapping[str, Any], known: Iterable[str]) -> set[str]:
    """Runs a run's config refers to by id: `run.fitted_from`, and `tokenize.model` when it is a run id."""
    config = summary.get("config") or {}
    candidates = {(config.get("run") or {}).get("fitted_from"), (config.get("tokenize") or {}).get("model")}
    return {c for c in candidates if isinstance(c, str)} & set(known)


def entries_used(named: set[tuple[str, str]], entries: Iterable[StoredEntry]) -> set[tuple[str, str]]:
    """`named` plus everything those entries were computed from (transitively, via manifest inputs
    and the shard entries they were assembled from) and the on-demand entries (evaluate reports)
    computed from any of them."""
    entries = list(entries)
    by_fingerprint: dict[str, list[StoredEntry]] = {}
    for entry in entries:
        by_fingerprint.setdefault(entry.fingerprint, []).append(entry)
    by_key = {entry.key: entry for entry in entries}
    used = set(named)
    pending = list(named)
    while pending:
        entry = by_key.get(pending.pop())
        if entry is None:
            continue
        for value in (*entry.inputs.values(), *entry.shards):
            for source in by_fingerprint.get(value, []):
                if source.key not in used:
                    used.add(source.key)
                    pending.append(source.key)
    fingerprints = {fp for _, fp in used}
    used |= {
        e.key for e in entries if e.stage in ON_DEMAND_STAGES and fingerprints & set(e.inputs.values())
    }
    return used


def users_by_entry(records: list[RunRecord], entries: list[StoredEntry]) -> dict[tuple[str, str], list[str]]:
    """For each entry, the ids of the runs that use it (newest run first)."""
    users: dict[tuple[str, str], list[str]] = {}
    for record in records:
        for key in entries_used(_named_entries(record.summary), entries):
            users.setdefault(key, []).append(record.run_id)
    return users


# --------------------------------------------------------------------------------------------- ls
def listing(store: ArtifactStore, now: float | None = None) -> dict[str, Any]:
    """`koprep ls`: every stored entry with its size, age and the runs that use it, and the runs."""
    now = time.time() if now is None else now
    records = store.run_records()
    entries = stored_entries(store)
    users = users_by_entry(records, entries)
    return {
        "root": str(store.root),
        "entries": [
            {
                "stage": e.stage,
                "fingerprint": e.fingerprint,
                "bytes": e.bytes,
                "age_seconds": round(max(now - e.created, 0.0), 1),
                "complete": e.complete,
                "runs": users.get(e.key, []),
                "path": str(e.path),
            }
            for e in entries
        ],
        "runs": [
            {"run_id": r.run_id, "age_seconds": round(max(now - r.recorded, 0.0), 1), "corpus": r.summary.get("corpus"),
             "backend": r.summary.get("backend")}
            for r in records
        ],
        "total_bytes": _disk_bytes(e.path for e in entries),
    }


def _disk_bytes(folders: Iterable[Path]) -> int:
    """Bytes the folders take on disk, a file hard-linked into several of them (a shard's part in
    its shard entry and its stage entry) counted once."""
    seen: dict[tuple[int, int], int] = {}
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file():
                stat = path.stat()
                seen[(stat.st_dev, stat.st_ino)] = stat.st_size
    return sum(seen.values())


# --------------------------------------------------------------------------------------------- gc
@dataclass(frozen=True)
class GcPlan:
    kept_runs: list[str]
    removed_runs: list[RunRecord]
    kept_entries: list[StoredEntry]
    removed_entries: list[StoredEntry]
    young_entries: list[StoredEntry]
    """Unused, but younger than the grace period (perhaps a run in progress): kept."""
    remove_latest: bool

    @property
    def freed_bytes(self) -> int:
        return sum(e.bytes for e in self.removed_entries)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kept_runs": self.kept_runs,
            "removed_runs": [r.run_id for r in self.removed_runs],
            "removed_entries": [{"stage": e.stage, "fingerprint": e.fingerprint, "bytes": e.bytes} for e in self.removed_entries],
            "kept_entries": len(self.kept_entries),
            "young_entries": [{"stage": e.stage, "fingerprint": e.fingerprint} for e in self.young_entries],
            "freed_bytes": self.freed_bytes,
        }


def plan_gc(
    store: ArtifactStore, keep_runs: int = DEFAULT_KEEP_RUNS, grace_seconds: float = DEFAULT_GRACE_SECONDS,
    now: float | None = None,
) -> GcPlan:
    """Which run records and entries `koprep gc` removes: the newest `keep_runs` runs (and the runs
    their configs name) stay with everything they use; older run records go, and every entry no
    kept run uses, unless it is younger than `grace_seconds`."""
    if keep_runs < 0:
        raise StoreError(f"--keep-runs must be 0 or more, not {keep_runs}")
    now = time.time() if now is None else now
    records = store.run_records()
    known = {r.run_id for r in records}
    kept = {r.run_id for r in records[:keep_runs]}
    frontier = list(kept)
    by_id = {r.run_id: r for r in records}
    while frontier:
        for named in _named_runs(by_id[frontier.pop()].summary, known) - kept:
            kept.add(named)
            frontier.append(named)
    entries = stored_entries(store)
    named_entries = set().union(*(_named_entries(by_id[run].summary) for run in kept)) if kept else set()
    used = entries_used(named_entries, entries)
    kept_entries, removed, young = [], [], []
    for entry in entries:
        if entry.key in used:
            kept_entries.append(entry)
        elif now - entry.created < grace_seconds:
            young.append(entry)
        else:
            removed.append(entry)
    return GcPlan(
        kept_runs=[r.run_id for r in records if r.run_id in kept],
        removed_runs=[r for r in records if r.run_id not in kept],
        kept_entries=kept_entries,
        removed_entries=removed,
        young_entries=young,
        remove_latest=not kept,
    )


def collect_garbage(store: ArtifactStore, plan: GcPlan) -> None:
    """Carry out a plan. Run records go first, so an interruption leaves unused entries (removed by
    the next gc), never a run record naming entries that are gone. Each entry folder is renamed
    aside before it is deleted, so no reader ever sees a half-deleted entry."""
    runs = store.inside(RUNS)
    for record in plan.removed_runs:
        for path in (record.path, runs / f"{record.run_id}.html"):
            path.unlink(missing_ok=True)
    if plan.remove_latest:
        for name in ("latest.json", "latest.html"):
            (runs / name).unlink(missing_ok=True)
    for entry in plan.removed_entries:
        folder = store.entry_path(entry.stage, entry.fingerprint)
        doomed = folder.parent / f".gc-{entry.fingerprint}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            os.rename(folder, doomed)
        except FileNotFoundError:
            continue
        shutil.rmtree(doomed, ignore_errors=True)


# ------------------------------------------------------------------------------------------- show
def show(
    store: ArtifactStore, run: str = "latest", stage: str | None = None, *, top: int = 20, samples: int = 3,
    neighbours: int = 5, corpus: str | None = None,
) -> dict[str, Any]:
    """`koprep show`: what a run's stages hold (rows, vocabulary sizes, top terms by frequency and
    by TF-IDF, token-length distributions, sample documents before/after cleaning and tokenization,
    word2vec neighbours). With `stage`, that stage only. `corpus` is the file or folder the run read,
    for the "before" samples: run records hold only its name, so by default that name is looked up
    in the current folder."""
    summary = store.read_run(run)
    stages = summary["stages"]
    if stage is not None and stage not in stages:
        raise StoreError(f"run {summary['run_id']} has no {stage!r} stage; it has {', '.join(stages)}")
    details = {}
    for name in [stage] if stage else list(stages):
        entry = store.open_entry(stages[name]["path"])
        details[name] = stage_details(
            store, summary, name, entry, top=top, samples=samples, neighbours=neighbours, corpus=corpus
        )
    return {
        "run_id": summary["run_id"],
        "corpus": summary.get("corpus"),
        "backend": summary.get("backend"),
        "stages": details,
    }


def stage_details(
    store: ArtifactStore, summary: Mapping[str, Any], name: str, entry: Entry, *, top: int, samples: int, neighbours: int,
    corpus: str | None = None,
) -> dict[str, Any]:
    base = {"rows": int(entry.manifest.get("rows", 0)), "fingerprint": entry.fingerprint, "path": str(entry.path)}
    if name == "clean":
        return base | clean_details(summary, entry, samples, corpus)
    if name == "tokenize":
        clean = store.open_entry(summary["stages"]["clean"]["path"]) if "clean" in summary["stages"] else None
        return base | token_details(entry, clean, top=top, samples=samples)
    if all(entry.file(f).is_file() for f in VECTORIZER_FILES):
        return base | vectorizer_details(entry, top)
    if name == "word2vec":
        return base | word2vec_details(entry, top=top, neighbours=neighbours)
    return base | {"extra": dict(entry.manifest.get("extra", {}))}


def clean_details(summary: Mapping[str, Any], entry: Entry, samples: int, corpus: str | None = None) -> dict[str, Any]:
    extra = entry.manifest.get("extra", {})
    first = _first_rows(entry.path, ["doc_id", "text"], samples)
    raw = _raw_texts(summary, entry, first["doc_id"].tolist(), corpus)
    return {
        "documents": extra.get("documents", int(entry.manifest.get("rows", 0))),
        "empty_after_clean": extra.get("empty_after_clean", 0),
        "steps": extra.get("steps"),
        "samples": [
            {"doc_id": doc_id, "raw": raw.get(doc_id), "clean": text}
            for doc_id, text in zip(first["doc_id"], first["text"])
        ],
    }


def _first_rows(path: Path, columns: list[str], n: int) -> pd.DataFrame:
    from koprep.pipeline import part_files

    files = part_files(path)
    if not files or n <= 0:
        return pd.DataFrame({c: [] for c in columns})
    return pq.ParquetFile(files[0]).read_row_group(0, columns=columns).slice(0, n).to_pandas()


def _raw_texts(summary: Mapping[str, Any], clean: Entry, doc_ids: list[str], corpus: str | None) -> dict[str, str]:
    """The corpus texts of `doc_ids` as the run read them, when the corpus (`corpus`, else the name
    the run recorded) is there and its bytes are still those the clean entry was made from; {}
    otherwise (a moved or edited corpus shows no "before")."""
    from koprep import corpus as corpus_io
    from koprep.config import PipelineConfig

    if not doc_ids:
        return {}
    try:
        config = PipelineConfig.model_validate(summary["config"])
        recorded = summary.get("corpus")
        location = corpus or (None if recorded == corpus_io.DEFAULT_CORPUS else recorded)
        if corpus_io.corpus_fingerprint(location, config.corpus) != clean.manifest.get("inputs", {}).get("corpus"):
            return {}
        frame = corpus_io.read_corpus(location, config.corpus)
    except Exception:  # noqa: BLE001 - any unreadable source just means no "before" column
        return {}
    frame = frame[frame["doc_id"].isin(doc_ids)]
    return dict(zip(frame["doc_id"], frame["text"]))


@dataclass(frozen=True)
class TokenStatistics:
    documents: int
    tokens: int
    empty_documents: int
    counts: pa.Table
    """term (string), count (int64): every distinct token once."""
    tokens_per_document: np.ndarray

    @property
    def vocabulary(self) -> int:
        return self.counts.num_rows

    def top_terms(self, n: int) -> list[dict[str, Any]]:
        """The `n` most frequent tokens (ties by term)."""
        return [{"term": row["term"], "count": row["count"]} for row in _top(self.counts, "count", n)]

    def characters_per_token(self) -> dict[int, int]:
        """Token occurrences by length in characters."""
        lengths = pc.utf8_length(self.counts.column("term")).to_numpy(zero_copy_only=False)
        by_length = np.bincount(lengths, weights=self.counts.column("count").to_numpy(), minlength=1)
        return {length: int(count) for length, count in enumerate(by_length) if count}


def _top(table: pa.Table, column: str, n: int) -> list[dict[str, Any]]:
    """The `n` rows with the largest `column`, ties broken by term, computed in Arrow (vocabularies
    of millions of n-grams are never sorted whole)."""
    if n <= 0 or table.num_rows == 0:
        return []
    threshold = pc.select_k_unstable(table, k=min(n, table.num_rows), sort_keys=[(column, "descending")])
    floor = table.column(column)[threshold[-1].as_py()]
    candidates = table.filter(pc.greater_equal(table.column(column), floor))
    ordered = candidates.sort_by([(column, "descending"), ("term", "ascending")])
    return ordered.slice(0, n).to_pylist()


def token_statistics(tokenize_path: str | Path) -> TokenStatistics:
    """Token counts and lengths of a tokenize output, shard by shard in Arrow."""
    from koprep.pipeline import TokenShards

    per_shard, lengths = [], []
    for tokens in TokenShards(tokenize_path).token_arrays():
        lengths.append(pc.list_value_length(tokens).to_numpy(zero_copy_only=False))
        found = pc.value_counts(tokens.flatten())
        per_shard.append(pa.table({"term": found.field("values"), "count": found.field("counts")}))
    if per_shard:
        summed = pa.concat_tables(per_shard).group_by("term").aggregate([("count", "sum")])
        counts = pa.table({"term": summed.column("term"), "count": summed.column("count_sum")})
    else:
        counts = pa.table({"term": pa.array([], pa.string()), "count": pa.array([], pa.int64())})
    per_document = np.concatenate(lengths).astype(np.int64) if lengths else np.zeros(0, np.int64)
    return TokenStatistics(
        documents=len(per_document),
        tokens=int(per_document.sum()),
        empty_documents=int((per_document == 0).sum()),
        counts=counts,
        tokens_per_document=per_document,
    )


def histogram(values: np.ndarray, bins: int = 30) -> dict[str, Any]:
    """Counts in up to `bins` equal integer-width bins from 0 to the 99th percentile; longer values
    are counted in `above`."""
    if len(values) == 0:
        return {"edges": [0, 1], "counts": [0], "above": 0}
    upper = max(int(np.percentile(values, 99)), 1)
    width = max(int(np.ceil((upper + 1) / bins)), 1)
    edges = np.arange(0, upper + width + 1, width)
    counts, _ = np.histogram(values[values < edges[-1]], bins=edges)
    return {"edges": edges.tolist(), "counts": counts.tolist(), "above": int((values >= edges[-1]).sum())}


def token_details(entry: Entry, clean: Entry | None, *, top: int, samples: int) -> dict[str, Any]:
    stats = token_statistics(entry.path)
    lengths = stats.tokens_per_document
    first = _first_rows(entry.path, ["doc_id", "tokens"], samples)
    texts: dict[str, str] = {}
    if clean is not None:
        rows = _first_rows(clean.path, ["doc_id", "text"], samples)
        texts = dict(zip(rows["doc_id"], rows["text"]))
    return {
        "documents": stats.documents,
        "tokens": stats.tokens,
        "vocabulary": stats.vocabulary,
        "empty_documents": stats.empty_documents,
        "top_terms": stats.top_terms(top),
        "tokens_per_document": {
            "mean": round(float(lengths.mean()), 2) if len(lengths) else 0.0,
            "median": float(np.median(lengths)) if len(lengths) else 0.0,
            "max": int(lengths.max()) if len(lengths) else 0,
            "histogram": histogram(lengths),
        },
        "characters_per_token": {str(k): v for k, v in stats.characters_per_token().items()},
        "samples": [
            {"doc_id": doc_id, "clean": texts.get(doc_id), "tokens": list(tokens)}
            for doc_id, tokens in zip(first["doc_id"], first["tokens"])
        ],
    }


def vectorizer_details(entry: Entry, top: int) -> dict[str, Any]:
    """Vocabulary size and the top terms by document frequency and by summed matrix value (total
    count for bow/ngram, total TF-IDF weight for tfidf)."""
    vocabulary = pq.read_table(entry.file("vocabulary.parquet"))
    matrix = pq.read_table(entry.file("matrix.parquet"), columns=["term_id", "value"])
    term_ids = matrix.column("term_id").to_numpy()
    totals = np.bincount(term_ids, weights=matrix.column("value").to_numpy(), minlength=vocabulary.num_rows)
    weight = "tfidf" if pa.types.is_floating(matrix.schema.field("value").type) else "count"
    table = vocabulary.append_column("total", pa.array(totals if weight == "tfidf" else totals.round().astype(np.int64)))
    extra = entry.manifest.get("extra", {})

    def rows(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for row in found:
            item = {"term": row["term"], "df": int(row["df"]),
                    weight: round(float(row["total"]), 4) if weight == "tfidf" else int(row["total"])}
            if "idf" in row:
                item["idf"] = round(float(row["idf"]), 4)
            out.append(item)
        return out

    return {
        "terms": vocabulary.num_rows,
        "documents": extra.get("documents"),
        "nonzeros": extra.get("nonzeros", matrix.num_rows),
        "weight": weight,
        "top_by_df": rows(_top(table, "df", top)),
        f"top_by_{weight}": rows(_top(table, "total", top)),
    }


@dataclass(frozen=True)
class WordVectors:
    vectors: Any
    """gensim KeyedVectors read from the entry's word2vec binary, as `koprep similar` reads them."""
    counts: np.ndarray
    """Each word's corpus count (from vectors.parquet), in `vectors.index_to_key` order."""

    def most_frequent(self, n: int) -> list[str]:
        order = np.argsort(-self.counts, kind="stable")[:n]
        return [self.vectors.index_to_key[i] for i in order]

    def count(self, word: str) -> int:
        return int(self.counts[self.vectors.key_to_index[word]])


def word_vectors(entry: Entry) -> WordVectors:
    """A word2vec entry's vectors and word counts (an entry never changes once written, so the last
    few loaded are kept)."""
    return _load_vectors(str(entry.path))


@lru_cache(maxsize=2)
def _load_vectors(folder: str) -> WordVectors:
    from gensim.models import KeyedVectors

    vectors = KeyedVectors.load_word2vec_format(str(Path(folder) / "vectors.bin"), binary=True)
    table = pq.read_table(Path(folder) / "vectors.parquet", columns=["term", "count"])
    by_term = dict(zip(table.column("term").to_pylist(), table.column("count").to_pylist()))
    return WordVectors(vectors, np.array([by_term[w] for w in vectors.index_to_key], dtype=np.int64))


def word2vec_details(entry: Entry, *, top: int, neighbours: int) -> dict[str, Any]:
    """The `top` most frequent words with their nearest neighbours by cosine similarity."""
    loaded = word_vectors(entry)
    kv = loaded.vectors
    return {
        "terms": len(kv),
        "vector_size": kv.vector_size,
        "neighbours": [
            {"word": word, "count": loaded.count(word),
             "similar": [[w, round(float(s), 4)] for w, s in kv.most_similar(word, topn=neighbours)] if len(kv) > 1 else []}
            for word in loaded.most_frequent(top)
        ],
    }


def projection(entry: Entry, n: int = 60) -> dict[str, Any]:
    """2-D PCA of the `n` most frequent words' vectors (centred, via SVD): words, x, y and the share
    of variance each axis explains."""
    loaded = word_vectors(entry)
    words = loaded.most_frequent(n)
    vectors = np.stack([loaded.vectors[w] for w in words]).astype(np.float64) if words else np.zeros((0, 1))
    centred = vectors - vectors.mean(axis=0) if words else vectors
    if len(words) < 3:
        return {"words": words, "x": [0.0] * len(words), "y": [0.0] * len(words), "explained": [0.0, 0.0]}
    _, singular, components = np.linalg.svd(centred, full_matrices=False)
    points = centred @ components[:2].T
    variance = singular**2
    return {
        "words": words,
        "x": points[:, 0].tolist(),
        "y": points[:, 1].tolist(),
        "explained": (variance[:2] / variance.sum()).tolist() if variance.sum() else [0.0, 0.0],
    }
