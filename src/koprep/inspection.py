"""Looking at what a run made: `koprep show` and the HTML report (koprep.report) format what these
return. Pure functions over the artifact store: nothing here prints or talks to Prefect. Store-wide
maintenance (`ls`, `gc`, `verify`) is in `koprep.maintenance`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from koprep.pipeline.datasets import MatrixFiles, Parts, WordVectorFiles, holds_word_vectors
from koprep.runs import RunRecord
from koprep.store import ArtifactStore, Entry, StoreError


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
    record = store.read_run(run)
    stages = record.stages
    if stage is not None and stage not in stages:
        raise StoreError(f"run {record.run_id} has no {stage!r} stage; it has {', '.join(stages)}")
    details = {}
    for name in [stage] if stage else list(stages):
        entry = store.open_entry(stages[name].path)
        details[name] = stage_details(
            store, record, name, entry, top=top, samples=samples, neighbours=neighbours, corpus=corpus
        )
    return {"run_id": record.run_id, "corpus": record.corpus, "backend": record.backend, "stages": details}


def stage_details(
    store: ArtifactStore, record: RunRecord, name: str, entry: Entry, *, top: int, samples: int, neighbours: int,
    corpus: str | None = None,
) -> dict[str, Any]:
    """What `name`'s entry holds, by the kind of its files."""
    base = {"rows": int(entry.manifest.get("rows", 0)), "fingerprint": entry.fingerprint, "path": str(entry.path)}
    if name == "clean":
        return base | clean_details(record, entry, samples, corpus)
    if name == "tokenize":
        clean = store.open_entry(record.stages["clean"].path) if "clean" in record.stages else None
        return base | token_details(entry, clean, top=top, samples=samples)
    if MatrixFiles.holds(entry):
        return base | vectorizer_details(entry, top)
    if holds_word_vectors(entry) is not None:
        return base | word2vec_details(entry, top=top, neighbours=neighbours)
    return base | {"extra": dict(entry.manifest.get("extra", {}))}


def clean_details(record: RunRecord, entry: Entry, samples: int, corpus: str | None = None) -> dict[str, Any]:
    extra = entry.manifest.get("extra", {})
    first = _first_rows(entry.path, ["doc_id", "text"], samples)
    raw = _raw_texts(record, entry, first["doc_id"].tolist(), corpus)
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
    files = Parts.part_files(path)
    if not files or n <= 0:
        return pd.DataFrame({c: [] for c in columns})
    return pq.ParquetFile(files[0]).read_row_group(0, columns=columns).slice(0, n).to_pandas()


def _raw_texts(record: RunRecord, clean: Entry, doc_ids: list[str], corpus: str | None) -> dict[str, str]:
    """The corpus texts of `doc_ids` as the run read them, when the corpus (`corpus`, else the name
    the run recorded) is there and its bytes are still those the clean entry was made from; {}
    otherwise (a moved or edited corpus shows no "before")."""
    from koprep import corpus as corpus_io
    from koprep.config import PipelineConfig

    if not doc_ids:
        return {}
    try:
        config = PipelineConfig.model_validate(record.config)
        recorded = record.corpus
        location = corpus or (None if recorded == corpus_io.DEFAULT_CORPUS else recorded)
        if corpus_io.corpus_fingerprint(location, config.corpus) != clean.manifest.get("inputs", {}).get("corpus"):
            return {}
        texts: dict[str, str] = {}
        for chunk in corpus_io.iter_corpus(location, config.corpus):  # read until every id is found
            chunk = chunk[chunk["doc_id"].isin(doc_ids)]
            texts.update(zip(chunk["doc_id"], chunk["text"]))
            if len(texts) == len(set(doc_ids)):
                break
    except Exception:  # noqa: BLE001 - any unreadable source just means no "before" column
        return {}
    return texts


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
    from koprep.pipeline.readers import TokenShards

    per_shard, lengths = [], []
    for tokens in TokenShards(tokenize_path).token_arrays():
        lengths.append(pc.list_value_length(tokens).to_numpy(zero_copy_only=False))
        found = pc.value_counts(tokens.flatten())
        per_shard.append(pa.table({"term": found.field("values"), "count": found.field("counts")}))
        if len(per_shard) >= _MERGE_EVERY:  # merged as it goes: held counts follow the vocabulary, not the corpus
            per_shard = [_summed(per_shard)]
    if per_shard:
        counts = _summed(per_shard)
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


_MERGE_EVERY = 32
"""Shards' token counts merged into one table every this many shards."""


def _summed(counts: list[pa.Table]) -> pa.Table:
    summed = pa.concat_tables(counts).group_by("term").aggregate([("count", "sum")])
    return pa.table({"term": summed.column("term"), "count": summed.column("count_sum")})


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
        "quarantined": quarantined(entry, clean),
    }


def quarantined(tokens: Entry, clean: Entry | None) -> list[dict[str, Any]]:
    """The documents the analyser could not get through (`koprep.supervised`): doc_id, why, and the
    start of their cleaned text; kept in the outputs with empty tokens."""
    documents = [dict(document) for document in tokens.manifest.get("extra", {}).get("quarantined", [])]
    if documents and clean is not None:
        wanted = pa.array([document["doc_id"] for document in documents])
        texts: dict[str, str] = {}
        for part in Parts.part_files(clean.path):
            table = pq.read_table(part, columns=["doc_id", "text"])
            table = table.filter(pc.is_in(table.column("doc_id").cast(pa.string()), value_set=wanted))
            texts.update(zip(map(str, table.column("doc_id").to_pylist()), table.column("text").to_pylist()))
        for document in documents:
            document["text"] = texts.get(document["doc_id"], "")[:200]
    return documents


_MATRIX_BATCH = 1_000_000
"""Matrix rows summed at once by `vectorizer_details`."""


def vectorizer_details(entry: Entry, top: int) -> dict[str, Any]:
    """Vocabulary size and the top terms by document frequency and by summed matrix value (total
    count for bow/ngram, total TF-IDF weight for tfidf)."""
    vocabulary = pq.read_table(entry.file(MatrixFiles.VOCABULARY))
    matrix = pq.ParquetFile(entry.file(MatrixFiles.MATRIX))
    # Summed batch by batch: the whole matrix (its nonzeros follow the corpus) is never in memory.
    totals = np.zeros(vocabulary.num_rows)
    for batch in _batches(matrix, ["term_id", "value"], _MATRIX_BATCH):
        totals += np.bincount(batch.column("term_id").to_numpy(), weights=batch.column("value").to_numpy(),
                              minlength=vocabulary.num_rows)
    weight = "tfidf" if pa.types.is_floating(matrix.schema_arrow.field("value").type) else "count"
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
        "nonzeros": extra.get("nonzeros", matrix.metadata.num_rows),
        "weight": weight,
        "top_by_df": rows(_top(table, "df", top)),
        f"top_by_{weight}": rows(_top(table, "total", top)),
    }


def _batches(file: pq.ParquetFile, columns: list[str], size: int) -> Iterator[pa.Table]:
    """`file.iter_batches(size, columns)`'s batches (the same rows in each, so sums over them are
    the same to the bit), read row group by row group: pyarrow's batch reader kept ~165 MiB in
    Arrow's pool for a 2M-document 1-2-gram matrix (44M rows), one row group at a time ~25 MiB."""
    held: list[pa.Table] = []
    rows = 0
    for group in range(file.num_row_groups):
        table = file.read_row_group(group, columns=columns)
        held.append(table)
        rows += table.num_rows
        while rows >= size:
            joined = pa.concat_tables(held)
            yield joined.slice(0, size).combine_chunks()
            held, rows = [joined.slice(size)], rows - size
    if rows:
        yield pa.concat_tables(held).combine_chunks()


@dataclass(frozen=True)
class WordVectors:
    vectors: Any
    """gensim KeyedVectors read from the entry's word2vec binary or fastText model, as `koprep
    similar` reads them."""
    counts: np.ndarray
    """Each word's corpus count (from vectors.parquet), in `vectors.index_to_key` order."""

    def most_frequent(self, n: int) -> list[str]:
        order = np.argsort(-self.counts, kind="stable")[:n]
        return [self.vectors.index_to_key[i] for i in order]

    def count(self, word: str) -> int:
        return int(self.counts[self.vectors.key_to_index[word]])


def word_vectors(entry: Entry) -> WordVectors:
    """A word2vec or fastText entry's vectors and word counts (an entry never changes once written, so the last
    few loaded are kept)."""
    return _load_vectors(str(entry.path))


@lru_cache(maxsize=2)
def _load_vectors(folder: str) -> WordVectors:
    vectors = (holds_word_vectors(Path(folder)) or WordVectorFiles).keyed_vectors(Path(folder))
    by_term = WordVectorFiles.counts(Path(folder))
    return WordVectors(vectors, np.array([by_term[w] for w in vectors.index_to_key], dtype=np.int64))


def word2vec_details(entry: Entry, *, top: int, neighbours: int) -> dict[str, Any]:
    """The `top` most frequent words with their nearest neighbours by cosine similarity, and the
    training diagnostic stored with the vectors (None for entries written before it was)."""
    loaded = word_vectors(entry)
    kv = loaded.vectors
    return {
        "terms": len(kv),
        "vector_size": kv.vector_size,
        "diagnostic": WordVectorFiles.diagnostic(entry),
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
