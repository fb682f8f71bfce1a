"""Reading a corpus into documents: `doc_id`, `text`, and any other columns passed through.

Formats: a UTF-8 text file (one document per line; also soynlp's DoublespaceLineCorpus, whose
sentences inside a line are separated by two spaces), a folder of `.txt` files (one document
each), TSV/CSV with a named text column, JSON Lines with a named text field, Parquet with a text
column. With no location, the embedded default corpus: konlpy's bundled Korean constitution
(`kolaw`) and ten National Assembly bills (`kobill`), one document per non-empty line.

`iter_corpus` reads a corpus in chunks of rows, so a pipeline run holds one chunk (and one shard),
not the corpus: text, doublespace, TSV, CSV and folder corpora are streamed from the file(s);
JSON Lines and Parquet are read whole and then handed out in chunks, because their columns' types
(and so the documents' digests, `koprep.shards`) are inferred over the whole file. `read_corpus` is
the chunks put together.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import itertools
import json
import logging
import re
from contextlib import closing
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Generator, Iterable, Iterator, Literal, TypeVar

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, field_validator

from koprep.corpus_urls import local_corpus, source_name
from koprep.storage import is_url, parse_location
from koprep.errors import BadInputError
from koprep.store import file_chunks

READER_VERSION = "2"
"""2: lines split at "\n" only (str.splitlines also splits at U+2028, form feeds, ..., which shifted
the ids of every later line); delimited files read with the csv module (ragged rows refused)."""
TEXT_COLUMN_GUESSES = ("document", "text", "content", "sentence", "Q")
ID_COLUMN_GUESSES = ("doc_id", "id")
DEFAULT_CORPUS = "konlpy:kolaw+kobill"
UTF8 = "utf-8"
_HANGUL = re.compile("[\uac00-\ud7a3]")
CHUNK_ROWS = 50_000
"""Rows per chunk of `iter_corpus`: large enough that per-chunk work (pandas, the duplicate-id
check's merge) is negligible, small enough that a chunk is a few MiB."""

log = logging.getLogger(__name__)

T = TypeVar("T")

Format = Literal["auto", "text", "doublespace", "folder", "tsv", "csv", "jsonl", "parquet"]


class CorpusError(BadInputError):
    """The corpus cannot be read as asked; the message says what to change."""


class CorpusParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Format = "auto"
    """`auto` decides by suffix (a `.txt` whose header row names a text column is read as TSV, as NSMC's is)."""
    text_column: str | None = None
    """Column/field holding the text; guessed from document/text/content/sentence/Q when unset."""
    id_column: str | None = None
    """Column with unique document ids; `doc_id` or `id` when present, else the row number."""
    limit: int | None = None
    """Read only the first N documents (quick trials on big corpora)."""
    encoding: str = UTF8
    """Text encoding of the corpus files, e.g. `cp949` for Korean files saved by Windows tools."""

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            return codecs.lookup(value).name
        except LookupError:
            raise ValueError(f"unknown encoding {value!r}; use a Python codec name such as utf-8, cp949 or euc-kr") from None

    @field_validator("limit")
    @classmethod
    def _positive(cls, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise ValueError("limit must be a positive number of documents")
        return value


def describe_location(location: str | None) -> str:
    if location is not None and is_url(location):
        return str(parse_location(location))  # a URL without its secrets
    return DEFAULT_CORPUS if location is None else str(Path(location).resolve())


def describe_source(location: str | None) -> str:
    """The corpus as recorded in artifacts and run records: its file or folder name, never an
    absolute path of the machine that ran it (nor a bucket)."""
    if location is not None and is_url(location):
        return source_name(location)
    return DEFAULT_CORPUS if location is None else Path(location).resolve().name


# --------------------------------------------------------------------------- fingerprint
def corpus_fingerprint(location: str | None, params: CorpusParams) -> str:
    """Content hash of the corpus bytes plus how they are read; changes iff the documents may change."""
    digest = hashlib.sha256()
    digest.update(f"reader={READER_VERSION};params={params.model_dump_json()}".encode())
    for name, path in corpus_files(location):
        digest.update(name.encode("utf-8") + b"\0")
        for block in file_chunks(path):
            digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()[:32]


def corpus_files(location: str | None) -> list[tuple[str, Path]]:
    location = local_corpus(location)
    if location is None:
        return [(name, Path(str(path))) for name, path in _default_files()]
    path = Path(location)
    if not path.exists():
        raise CorpusError(f"corpus {location!r} does not exist; pass a file or folder (or nothing, for the default corpus)")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.txt") if p.is_file())
        if not files:
            raise CorpusError(f"folder {location!r} has no .txt files; a folder corpus is one document per .txt file")
        return [(p.relative_to(path).as_posix(), p) for p in files]
    return [(path.name, path)]


def _default_files() -> list[tuple[str, Traversable]]:
    data = resources.files("konlpy") / "data" / "corpus"
    files = [("kolaw/constitution.txt", data / "kolaw" / "constitution.txt")]
    files += sorted(
        (f"kobill/{entry.name}", entry) for entry in (data / "kobill").iterdir() if entry.name.endswith(".txt")
    )
    return files


# --------------------------------------------------------------------------------- read
def read_corpus(location: str | None, params: CorpusParams) -> pd.DataFrame:
    """Documents as a DataFrame: `doc_id` (str, unique), `text` (str), then passthrough columns."""
    return pd.concat(list(iter_corpus(location, params)), ignore_index=True)


def iter_corpus(location: str | None, params: CorpusParams, chunk_rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """The documents of `read_corpus` in chunks of at most `chunk_rows` rows, in corpus order (each
    chunk's index counts from 0). Duplicate ids are refused in the chunk that repeats one; an empty
    corpus, or one whose every document is empty, when the last chunk has been read: a consumer that
    acts on chunks as they come must hold back what bad input must not leave behind."""
    location = local_corpus(location)
    if location is None:
        chunks: Iterable[pd.DataFrame] = [_read_default()]
    else:
        fmt = resolve_format(location, params)
        chunks = _READERS[fmt](Path(location), params, chunk_rows)
    distinct, documents, empty = _DistinctIds(), 0, 0
    empty_ids: list[str] = []
    for chunk in chunks:
        if params.limit is not None:
            chunk = chunk.head(params.limit - documents)
        if len(chunk) == 0:
            continue
        chunk = chunk.reset_index(drop=True)
        repeated = distinct.first_repeat(chunk["doc_id"].tolist())
        if repeated is not None:
            raise CorpusError(
                f"document ids are not unique (e.g. {repeated!r}); choose another corpus.id_column or unset it to number rows"
            )
        blank = chunk["text"].str.strip() == ""
        documents, empty = documents + len(chunk), empty + int(blank.sum())
        empty_ids += chunk.loc[blank, "doc_id"].head(5 - len(empty_ids)).tolist()
        yield chunk
        if params.limit is not None and documents >= params.limit:
            break
    _check_not_empty(documents, empty, empty_ids, location)


class _DistinctIds:
    """Document ids seen so far, as 128-bit hashes in a sorted array (16 bytes a document, not a
    Python string each): two 64-bit hashes under different keys, so a false repeat needs a 128-bit
    collision."""

    _KEYS = ("koprep-doc-ids-1", "koprep-doc-ids-2")

    def __init__(self) -> None:
        self.seen = np.empty(0, dtype="S16")

    def first_repeat(self, ids: list[str]) -> str | None:
        """The first of `ids` (in order) that is an earlier id or repeats one before it in `ids`;
        else None, and `ids` are remembered."""
        values = np.array(ids, dtype=object)
        digests = np.ascontiguousarray(
            np.stack([pd.util.hash_array(values, hash_key=key) for key in self._KEYS], axis=1)
        ).view("S16").ravel()
        at = np.searchsorted(self.seen, digests)
        earlier = self.seen[np.minimum(at, len(self.seen) - 1)] == digests if len(self.seen) else np.zeros(len(ids), bool)
        repeated = earlier | pd.Series(digests).duplicated().to_numpy()
        if repeated.any():
            return ids[int(np.argmax(repeated))]
        digests.sort()
        self.seen = np.insert(self.seen, np.searchsorted(self.seen, digests), digests)
        return None


def _check_not_empty(documents: int, empty: int, empty_ids: list[str], location: str | None) -> None:
    """Refuse a corpus without text; count (and warn about) empty documents, which are kept, with
    their ids, so that no other document's id changes."""
    source = describe_location(location)
    if documents == 0:
        raise CorpusError(f"corpus {source} is empty: it holds no documents; pass a file with one document per line")
    if empty == documents:
        raise CorpusError(
            f"every document of corpus {source} ({documents}) is empty or whitespace only; "
            "is corpus.text_column the column that holds the text?"
        )
    if empty:
        log.warning(
            "%d of %d documents of %s are empty or whitespace only (e.g. ids %s); they are kept, with empty text",
            empty, documents, source, ", ".join(empty_ids),
        )


def resolve_format(location: str, params: CorpusParams) -> str:
    path = Path(local_corpus(location) or location)
    if params.format != "auto":
        return params.format
    if path.is_dir():
        return "folder"
    suffix = path.suffix.lower()
    if suffix in {".jsonl", ".ndjson", ".json"}:
        return "jsonl"
    if suffix in {".parquet", ".pq"}:
        return "parquet"
    if suffix == ".csv":
        return "csv"
    if suffix == ".tsv":
        return "tsv"
    with open(path, encoding=_codec(params), errors="replace") as handle:
        header = handle.readline().rstrip("\r\n").split("\t")
    wanted = {params.text_column} if params.text_column else set(TEXT_COLUMN_GUESSES)
    if len(header) > 1 and wanted & set(header):
        return "tsv"
    return "text"


def _read_default() -> pd.DataFrame:
    rows = []
    for name, entry in _default_files():
        for number, line in enumerate(entry.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip():
                rows.append((f"{name}:{number}", line))
    return pd.DataFrame(rows, columns=["doc_id", "text"])


def _read_text(path: Path, params: CorpusParams, chunk_rows: int) -> Iterator[pd.DataFrame]:
    start = 0
    for lines in batches(_lines(path, params), chunk_rows):
        yield pd.DataFrame({"doc_id": [str(i) for i in range(start, start + len(lines))], "text": lines})
        start += len(lines)


def _lines(path: Path, params: CorpusParams) -> Generator[str, None, None]:
    """Lines split at "\n" (and "\r\n") only, as editors and `wc -l` count them (str.splitlines
    would also split at U+2028, form feeds, ...)."""
    for line in _checked(path, params, newline="\n"):
        line = line[:-1] if line.endswith("\n") else line
        yield line[:-1] if line.endswith("\r") else line


def batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """`items` in lists of `size` (the last one shorter), taken as they come."""
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def _read_doublespace(path: Path, params: CorpusParams, chunk_rows: int) -> Iterator[pd.DataFrame]:
    # soynlp's DoublespaceLineCorpus: sentences inside a document are separated by two spaces. Keep
    # them as line breaks so cleaning (which collapses spaces) cannot erase the boundaries.
    for frame in _read_text(path, params, chunk_rows):
        frame["text"] = [
            "\n".join(s.strip() for s in line.split("  ") if s.strip()) for line in frame["text"]
        ]
        yield frame


def _read_folder(path: Path, params: CorpusParams, chunk_rows: int) -> Iterator[pd.DataFrame]:
    files = corpus_files(str(path))
    for start in range(0, len(files), chunk_rows):
        batch = files[start : start + chunk_rows]
        yield pd.DataFrame({"doc_id": [name for name, _ in batch], "text": [_decode(p, params) for _, p in batch]})


def _read_delimited(path: Path, params: CorpusParams, chunk_rows: int, sep: str) -> Iterator[pd.DataFrame]:
    """A header row, then one document per row; a row with another number of fields than the header
    is refused with its line number (pandas would silently pad or shift it). Blank lines are skipped."""
    lines: Generator[str, None, None]
    if sep == "\t":
        # TSV corpora such as NSMC are unquoted and contain stray `"`: fields are split at tabs only.
        kind, hint = "TSV", "remove tabs inside texts"
        lines = _lines(path, params)
        records = ((number, line.split("\t")) for number, line in enumerate(lines, start=1) if line)
    else:
        kind, hint = "CSV", "quote texts that contain commas, quotes or line breaks"
        lines = _checked(path, params, newline="")
        reader = csv.reader(lines, strict=True)
        records = ((reader.line_num, row) for row in reader if row)
    with closing(lines):
        try:
            number, header = next(records, (0, None))
            if header is None:
                raise CorpusError(f"{path} is empty: a {kind} corpus needs a header row naming its columns, then one row per document")
            rows: list[list[str]] = []
            start = 0
            for number, row in records:
                if len(row) != len(header):
                    raise CorpusError(
                        f"{path}:{number} has {len(row)} fields but the header has {len(header)} "
                        f"({', '.join(header)}); every {kind} row needs one value per column: {hint}"
                    )
                rows.append(row)
                if len(rows) == chunk_rows:
                    yield _delimited_frame(header, rows, path, params, start)
                    start, rows = start + len(rows), []
        except csv.Error as exc:
            raise CorpusError(f"{path}:{reader.line_num} is not valid {kind}: {exc}") from None
        if rows or start == 0:  # a header without rows still names (or lacks) the text column
            yield _delimited_frame(header, rows, path, params, start)


def _delimited_frame(header: list[str], rows: list[list[str]], path: Path, params: CorpusParams, start: int) -> pd.DataFrame:
    columns = list(zip(*rows)) if rows else [()] * len(header)
    return _with_text_and_id(pd.DataFrame(dict(zip(header, map(list, columns)))), path, params, start)


def _read_jsonl(path: Path, params: CorpusParams, chunk_rows: int) -> Iterator[pd.DataFrame]:
    records = []
    for number, line in enumerate(_lines(path, params), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CorpusError(f"{path}:{number} is not valid JSON ({exc.msg}); JSON Lines needs one object per line") from None
        if not isinstance(record, dict):
            raise CorpusError(f"{path}:{number} is a JSON {type(record).__name__}, not an object")
        records.append(record)
    # Read whole: pandas infers each field's type over every record (ints with a missing value are
    # floats), and the types are part of the documents' digests.
    yield from _in_chunks(_with_text_and_id(pd.DataFrame.from_records(records), path, params), chunk_rows)


def _read_parquet(path: Path, params: CorpusParams, chunk_rows: int) -> Iterator[pd.DataFrame]:
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a non-Parquet file
        raise CorpusError(f"{path} is not a readable Parquet file: {exc}") from None
    # Read whole, as JSON Lines: pandas' column types depend on the whole column (nulls in ints).
    yield from _in_chunks(_with_text_and_id(frame, path, params), chunk_rows)


def _in_chunks(frame: pd.DataFrame, chunk_rows: int) -> Iterator[pd.DataFrame]:
    for start in range(0, max(len(frame), 1), chunk_rows):
        yield frame.iloc[start : start + chunk_rows]


def _with_text_and_id(frame: pd.DataFrame, path: Path, params: CorpusParams, start: int = 0) -> pd.DataFrame:
    """`frame`'s text and id columns as `text` and `doc_id` (row numbers from `start` when the
    corpus has no ids), then its other columns."""
    columns = list(frame.columns)
    text_column = params.text_column or next((c for c in TEXT_COLUMN_GUESSES if c in columns), None)
    if text_column is None or text_column not in columns:
        raise CorpusError(
            f"{path} has no text column {text_column!r}; its columns are {columns}. "
            "Choose one with --set corpus.text_column=NAME"
        )
    id_column = params.id_column or next((c for c in ID_COLUMN_GUESSES if c in columns), None)
    if params.id_column and params.id_column not in columns:
        raise CorpusError(f"{path} has no id column {params.id_column!r}; its columns are {columns}")
    texts = frame[text_column]
    # A missing value (JSON null or an absent field) is an empty document, kept with its id.
    wrong = [] if isinstance(texts.dtype, pd.StringDtype) else [
        i for i, t in enumerate(texts.tolist()) if not (isinstance(t, str) or t is None or (isinstance(t, float) and t != t))
    ]
    if wrong:
        raise CorpusError(
            f"column {text_column!r} of {path} holds non-text values (first in document {start + wrong[0]}: "
            f"{texts.iloc[wrong[0]]!r}); choose the text column with --set corpus.text_column=NAME"
        )
    out = pd.DataFrame(
        {
            "doc_id": frame[id_column].astype(str) if id_column else [str(i) for i in range(start, start + len(frame))],
            "text": texts.fillna("").astype(str),
        }
    )
    for column in columns:
        if column not in {text_column, id_column, "doc_id", "text"}:
            out[column] = frame[column].to_numpy()
    return out


def _codec(params: CorpusParams) -> str:
    return "utf-8-sig" if params.encoding == UTF8 else params.encoding


def _checked(path: Path, params: CorpusParams, newline: str) -> Generator[str, None, None]:
    """The file's lines (with their ends; `newline` as for `open`), read as they come; a file that
    is not text in the encoding is refused by `_decode` (reading it whole only then, for the line
    number and the advice)."""
    nul_is_text = params.encoding.startswith(("utf-16", "utf-32"))
    try:
        with open(path, encoding=_codec(params), newline=newline) as handle:
            for line in handle:
                if "\0" in line and not nul_is_text:
                    break
                yield line
            else:
                return
    except UnicodeDecodeError:
        pass
    _decode(path, params)
    raise AssertionError(f"{path}: _decode accepted a file its streamed read refused")  # pragma: no cover


def _decode(path: Path, params: CorpusParams) -> str:
    """A corpus file's text. Refuses, naming the line and what to do: binary files (NUL bytes),
    UTF-16 without the setting, and bytes that are not in the encoding; a UTF-8 read of a CP949 /
    EUC-KR file (Korean text from Windows tools) says so and how to read it."""
    data = path.read_bytes()
    utf8 = params.encoding == UTF8
    if utf8 and data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        raise CorpusError(f"{path} is UTF-16 text; read it with --set corpus.encoding=utf-16, or convert it to UTF-8")
    nul = data.find(b"\0")
    if nul >= 0 and not params.encoding.startswith(("utf-16", "utf-32")):
        raise CorpusError(
            f"{path}:{_line_of(data, nul)} contains a NUL byte (at byte {nul}): it looks like a binary "
            "file, not text. Pass a text corpus (one document per line, CSV/TSV, JSON Lines or Parquet)"
        )
    try:
        return data.decode(_codec(params))
    except UnicodeDecodeError as exc:
        where = f"{path}:{_line_of(data, exc.start)} (byte {exc.start})"
        if utf8 and _looks_like_cp949(data):
            raise CorpusError(
                f"{where} is not UTF-8: the file is CP949/EUC-KR, the usual encoding of Korean files from Windows "
                "tools. Read it with --set corpus.encoding=cp949, or convert it: iconv -f cp949 -t utf-8"
            ) from None
        raise CorpusError(
            f"{where} is not valid {params.encoding} text; give the file's encoding with --set corpus.encoding=NAME "
            "(e.g. cp949), or convert it to UTF-8"
        ) from None


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _looks_like_cp949(data: bytes) -> bool:
    try:
        return bool(_HANGUL.search(data.decode("cp949")))
    except UnicodeDecodeError:
        return False


_READERS = {
    "text": _read_text,
    "doublespace": _read_doublespace,
    "folder": _read_folder,
    "tsv": lambda path, params, chunk_rows: _read_delimited(path, params, chunk_rows, "\t"),
    "csv": lambda path, params, chunk_rows: _read_delimited(path, params, chunk_rows, ","),
    "jsonl": _read_jsonl,
    "parquet": _read_parquet,
}
