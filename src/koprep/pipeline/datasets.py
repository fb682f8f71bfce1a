"""The files each kind of artifact holds, with their writer and their reader.

This module is the one place that names an artifact's files (`vocabulary.parquet`, `vectors.bin`,
...): stage nodes write through these classes, and the loaders, inspection, the report and the
evaluation read through them. The stage graph (`koprep.pipeline.graph`) says which dataset each
stage's entry is. Every data file is plain Parquet (or the word2vec binary format, or JSON), so a
run's outputs open without koprep too.

    Parts         clean/ tokenize/   part-NNNNN.parquet, one per shard, in corpus order
    ShardPart     clean-shard/ tokenize-shard/   part.parquet
    Table         model/ (model.parquet), phrases/ (phrases.parquet)
    MatrixFiles   bow/ ngram/ tfidf/ chargram/   vocabulary.parquet, matrix.parquet, documents.parquet
    WordVectorFiles   word2vec/      vectors.parquet, vectors.bin, diagnostic.json
    FastTextFiles     fasttext/      vectors.parquet, model.bin, diagnostic.json
    ReportFile    evaluate/          evaluation.json
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Iterator, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp

from koprep.store import Entry, PendingEntry, write_json_atomic

if TYPE_CHECKING:
    from gensim.models import KeyedVectors


def arrow_table(frame: pd.DataFrame) -> pa.Table:
    """pandas → Arrow with plain `string` columns (pandas 3 would write `large_string`), so the
    files' schemas are the documented ones whichever pandas wrote them."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    schema = pa.schema([f.with_type(pa.string()) if pa.types.is_large_string(f.type) else f for f in table.schema])
    return table.cast(schema)


class Dataset:
    """An artifact kind: the files its entries hold (names, or a pattern for numbered parts)."""

    files: ClassVar[tuple[str, ...]] = ()


class Parts(Dataset):
    """A stage output kept per shard (clean: doc_id, text and the corpus's other columns; tokenize:
    doc_id, tokens list<string>): one part per shard, in corpus order, each the very file of its
    shard entry (a hard link)."""

    PART = "part-{:05d}.parquet"
    files = ("part-NNNNN.parquet",)

    @staticmethod
    def part_files(path: str | Path) -> list[Path]:
        return sorted(Path(path).glob("part-*.parquet"))

    @classmethod
    def link_shard(cls, pending: PendingEntry, shard: Entry, index: int) -> None:
        pending.link(shard, ShardPart.FILE, cls.PART.format(index))

    @classmethod
    def tables(cls, path: str | Path, columns: list[str] | None = None) -> Iterator[pa.Table]:
        for file in cls.part_files(path):
            yield pq.read_table(file, columns=columns)

    @classmethod
    def texts(cls, path: str | Path) -> Iterator[str]:
        """A clean output's texts, in corpus order."""
        for table in cls.tables(path, ["text"]):
            yield from table.column("text").to_pylist()

    @classmethod
    def schema(cls, path: str | Path) -> pa.Schema:
        return pq.read_schema(cls.part_files(path)[0])


class ShardPart(Dataset):
    """One shard of a `Parts` output."""

    FILE = "part.parquet"
    files = (FILE,)

    @classmethod
    def write(cls, pending: PendingEntry, table: pa.Table) -> None:
        pq.write_table(table, pending.path / cls.FILE)


class Table(Dataset):
    """One Parquet table (a trained tokenizer model, a phrase table)."""

    FILE: ClassVar[str]

    @classmethod
    def write(cls, pending: PendingEntry, table: pd.DataFrame) -> None:
        pq.write_table(arrow_table(table), pending.path / cls.FILE)

    @classmethod
    def read(cls, entry: Entry) -> pd.DataFrame:
        return pd.read_parquet(entry.file(cls.FILE))


class ModelTable(Table):
    FILE = "model.parquet"
    files = (FILE,)


class PhraseTable(Table):
    FILE = "phrases.parquet"
    files = (FILE,)


def to_long(matrix: sp.spmatrix, doc_ids: Sequence[str]) -> pd.DataFrame:
    """One row per nonzero: doc_id (string), term_id (int32), value (int64 counts / float64 weights)."""
    csr = sp.csr_matrix(matrix)  # type: ignore[call-overload]  # stubs: spmatrix is a mixin there, not a _spbase
    if csr.shape[0] != len(doc_ids):
        raise ValueError(f"matrix has {csr.shape[0]} rows but {len(doc_ids)} doc_ids were given; pass one id per row")
    csr.sort_indices()
    rows = np.repeat(np.arange(csr.shape[0]), np.diff(csr.indptr))
    value_dtype = np.float64 if np.issubdtype(csr.dtype, np.floating) else np.int64
    return pd.DataFrame(
        {
            # Taken in Arrow: no Python string per nonzero.
            "doc_id": pd.array(pa.array(doc_ids, pa.string()).take(pa.array(rows)), dtype="string"),
            "term_id": csr.indices.astype(np.int32),
            "value": csr.data.astype(value_dtype),
        }
    )


def from_long(long: pd.DataFrame, doc_ids: Sequence[str], n_terms: int) -> sp.csr_matrix:
    """Inverse of `to_long`: rows follow `doc_ids` (documents without terms become empty rows)."""
    row_index = pd.Index(np.asarray(doc_ids, dtype=object))
    if not row_index.is_unique:
        raise ValueError("doc_ids must be unique: each one names a row of the matrix")
    rows = row_index.get_indexer(long["doc_id"].astype(object))
    if (rows < 0).any():
        missing = long["doc_id"][rows < 0].iloc[0]
        raise ValueError(f"doc_id {missing!r} appears in the long table but not in doc_ids; pass every document's id")
    columns = long["term_id"].to_numpy(dtype=np.int64)
    if len(columns) and (columns.min() < 0 or columns.max() >= n_terms):
        raise ValueError(f"term_id outside 0..{n_terms - 1}: pass n_terms = the vocabulary size")
    values = long["value"].to_numpy()
    matrix = sp.csr_matrix((values, (rows, columns)), shape=(len(row_index), n_terms), dtype=values.dtype)
    matrix.sum_duplicates()
    return matrix


@dataclass(frozen=True)
class Matrix:
    matrix: sp.csr_matrix
    """Rows follow `doc_ids`; columns follow `vocabulary.term_id`."""
    vocabulary: pd.DataFrame
    """term_id, term, df (and idf for tfidf)."""
    doc_ids: list[str]

    @property
    def terms(self) -> list[str]:
        return self.vocabulary["term"].tolist()


class MatrixFiles(Dataset):
    """A fitted vectorizer and its document-term matrix in long form.

    vocabulary.parquet  term_id int32, term string, df int64 (idf float64 for TF-IDF)
    matrix.parquet      doc_id string, term_id int32, value int64 (counts) / float64 (weights), one row per nonzero
    documents.parquet   row int64, doc_id string: every document, in matrix row order
    """

    VOCABULARY = "vocabulary.parquet"
    MATRIX = "matrix.parquet"
    DOCUMENTS = "documents.parquet"
    files = (VOCABULARY, MATRIX, DOCUMENTS)

    @classmethod
    def holds(cls, entry: Entry) -> bool:
        return all(entry.file(name).is_file() for name in (cls.VOCABULARY, cls.MATRIX))

    @classmethod
    def vocabulary(cls, entry: Entry) -> pd.DataFrame:
        return pd.read_parquet(entry.file(cls.VOCABULARY))

    @classmethod
    def read(cls, entry: Entry) -> Matrix:
        vocabulary = cls.vocabulary(entry)
        doc_ids = pd.read_parquet(entry.file(cls.DOCUMENTS))["doc_id"].tolist()
        long = pd.read_parquet(entry.file(cls.MATRIX))
        return Matrix(from_long(long, doc_ids, len(vocabulary)), vocabulary, doc_ids)

    class Writer:
        """Writes a vectorizer entry: the vocabulary, then the matrix shard by shard (streamed), then
        the documents."""

        def __init__(self, pending: PendingEntry) -> None:
            self.folder = pending.path
            # The documents' ids as Arrow strings, one array per shard: a Python list of str would
            # hold ~72 bytes per document until `close` (144 MiB at 2M documents, in each of
            # bow/ngram/tfidf side by side), where Arrow holds the id's bytes and an offset.
            self._doc_ids: list[pa.Array] = []
            self._matrix: pq.ParquetWriter | None = None

        def vocabulary(self, table: pd.DataFrame) -> None:
            pq.write_table(arrow_table(table), self.folder / MatrixFiles.VOCABULARY)

        def matrix_shard(self, matrix: sp.spmatrix, doc_ids: list[str]) -> None:
            """The rows of `matrix`, one per document of `doc_ids`, in long form."""
            table = arrow_table(to_long(matrix, doc_ids))
            if self._matrix is None:
                self._matrix = pq.ParquetWriter(self.folder / MatrixFiles.MATRIX, table.schema)
            self._matrix.write_table(table)
            self._doc_ids.append(pa.array(doc_ids, pa.string()))

        @property
        def documents(self) -> int:
            """The documents written so far (the rows of `documents.parquet`)."""
            return sum(len(ids) for ids in self._doc_ids)

        def close(self) -> int:
            """Finish the matrix and write the documents; returns the number of nonzeros."""
            if self._matrix is None:
                nonzeros = 0
            else:
                self._matrix.close()
                self._matrix = None
                nonzeros = pq.ParquetFile(self.folder / MatrixFiles.MATRIX).metadata.num_rows
            pq.write_table(self._documents_table(), self.folder / MatrixFiles.DOCUMENTS)
            return nonzeros

        def _documents_table(self) -> pa.Table:
            """row int64, doc_id string: the very table (and file bytes) that `arrow_table` of a
            DataFrame of these columns gives, built without a Python object per document."""
            if not self.documents:  # no documents: pandas' own choice of type for an empty column
                return arrow_table(pd.DataFrame({"row": np.arange(0, dtype=np.int64), "doc_id": []}))
            doc_ids = pa.concat_arrays(self._doc_ids)  # one contiguous array: the same pages as before
            return pa.table({"row": pa.array(np.arange(len(doc_ids), dtype=np.int64)), "doc_id": doc_ids})

        def abort(self) -> None:
            if self._matrix is not None:
                self._matrix.close()
                self._matrix = None


class WordVectorFiles(Dataset):
    """word2vec vectors, twice: as Parquet (term string, count int64, vector list<float32>, in the
    model's index order) and in the binary word2vec format gensim and the original C tool read;
    with the training diagnostic (`koprep.stages.embed.diagnose`) as JSON."""

    PARQUET = "vectors.parquet"
    BINARY = "vectors.bin"
    DIAGNOSTIC = "diagnostic.json"
    files = (PARQUET, BINARY, DIAGNOSTIC)

    @classmethod
    def write_parquet(cls, pending: PendingEntry, kv: KeyedVectors) -> None:
        from koprep.stages.embed import vectors_table

        pq.write_table(vectors_table(kv), pending.path / cls.PARQUET)

    @classmethod
    def write_binary(cls, pending: PendingEntry, kv: KeyedVectors) -> None:
        from koprep.stages.embed import write_word2vec_binary

        write_word2vec_binary(kv, pending.path / cls.BINARY)

    @classmethod
    def write_diagnostic(cls, pending: PendingEntry, diagnostic: dict[str, Any]) -> None:
        write_json_atomic(pending.path / cls.DIAGNOSTIC, diagnostic)

    @classmethod
    def diagnostic(cls, entry: Entry | Path) -> dict[str, Any] | None:
        """The training diagnostic, or None for an entry written before koprep stored one."""
        folder = entry.path if isinstance(entry, Entry) else Path(entry)
        file = folder / cls.DIAGNOSTIC
        return json.loads(file.read_text(encoding="utf-8")) if file.is_file() else None

    @classmethod
    def keyed_vectors(cls, entry: Entry | Path) -> KeyedVectors:
        from gensim.models import KeyedVectors

        folder = entry.path if isinstance(entry, Entry) else Path(entry)
        return KeyedVectors.load_word2vec_format(str(folder / cls.BINARY), binary=True)

    @classmethod
    def counts(cls, folder: Path) -> dict[str, int]:
        table = pq.read_table(folder / cls.PARQUET, columns=["term", "count"])
        return dict(zip(table.column("term").to_pylist(), table.column("count").to_pylist()))


class FastTextFiles(WordVectorFiles):
    """fastText vectors: as Parquet (term string as displayed, count int64, vector list<float32>,
    in the model's index order), the model in Facebook's fastText binary format (words as trained:
    jamo-decomposed for `subwords = "jamo"`; with the n-gram buckets that answer unseen words), and
    the training diagnostic as JSON, which also says how words were split into subwords
    (`subwords`). No pickle: gensim's own `.save` pickles, the fastText format does not."""

    MODEL = "model.bin"
    files = (WordVectorFiles.PARQUET, MODEL, WordVectorFiles.DIAGNOSTIC)

    @classmethod
    def write_model(cls, pending: PendingEntry, model: Any) -> None:
        from koprep.stages.subword_vectors import save_fasttext

        save_fasttext(model, pending.path / cls.MODEL)

    @classmethod
    def keyed_vectors(cls, entry: Entry | Path) -> KeyedVectors:
        """gensim FastTextKeyedVectors keyed by the words as the tokenizer wrote them, answering
        out-of-vocabulary words from their subwords."""
        from koprep.stages.subword_vectors import load_fasttext

        folder = entry.path if isinstance(entry, Entry) else Path(entry)
        return load_fasttext(folder / cls.MODEL, (cls.diagnostic(folder) or {}).get("subwords", "char"))


def holds_word_vectors(entry: Entry | Path) -> type[WordVectorFiles] | None:
    """The dataset of an entry holding word vectors (word2vec or fastText), if it holds any."""
    folder = entry.path if isinstance(entry, Entry) else Path(entry)
    for dataset in (WordVectorFiles, FastTextFiles):
        if (folder / dataset.files[1]).is_file():
            return dataset
    return None


class ReportFile(Dataset):
    """An evaluation report (`koprep evaluate`) as JSON."""

    FILE = "evaluation.json"
    files = (FILE,)

    @classmethod
    def write(cls, pending: PendingEntry, report: dict[str, Any]) -> None:
        write_json_atomic(pending.path / cls.FILE, report)

    @classmethod
    def read(cls, entry: Entry | Path) -> dict[str, Any]:
        folder = entry.path if isinstance(entry, Entry) else Path(entry)
        result: dict[str, Any] = json.loads((folder / cls.FILE).read_text(encoding="utf-8"))
        return result
