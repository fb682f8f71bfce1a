"""Reading a corpus into documents: `doc_id`, `text`, and any other columns passed through.

Formats: a UTF-8 text file (one document per line; also soynlp's DoublespaceLineCorpus, whose
sentences inside a line are separated by two spaces), a folder of `.txt` files (one document
each), TSV/CSV with a named text column, JSON Lines with a named text field, Parquet with a text
column. With no location, the embedded default corpus: konlpy's bundled Korean constitution
(`kolaw`) and ten National Assembly bills (`kobill`), one document per non-empty line.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from importlib import resources
from pathlib import Path
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, field_validator

from koprep.errors import BadInputError
from koprep.store import file_chunks

READER_VERSION = "1"
TEXT_COLUMN_GUESSES = ("document", "text", "content", "sentence", "Q")
ID_COLUMN_GUESSES = ("doc_id", "id")
DEFAULT_CORPUS = "konlpy:kolaw+kobill"

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

    @field_validator("limit")
    @classmethod
    def _positive(cls, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise ValueError("limit must be a positive number of documents")
        return value


def describe_location(location: str | None) -> str:
    return DEFAULT_CORPUS if location is None else str(Path(location).resolve())


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


def _default_files() -> list[tuple[str, object]]:
    data = resources.files("konlpy") / "data" / "corpus"
    files = [("kolaw/constitution.txt", data / "kolaw" / "constitution.txt")]
    files += sorted(
        (f"kobill/{entry.name}", entry) for entry in (data / "kobill").iterdir() if entry.name.endswith(".txt")
    )
    return files


# --------------------------------------------------------------------------------- read
def read_corpus(location: str | None, params: CorpusParams) -> pd.DataFrame:
    """Documents as a DataFrame: `doc_id` (str, unique), `text` (str), then passthrough columns."""
    if location is None:
        frame = _read_default()
    else:
        fmt = resolve_format(location, params)
        frame = _READERS[fmt](Path(location), params)
    if params.limit is not None:
        frame = frame.head(params.limit)
    frame = frame.reset_index(drop=True)
    duplicated = frame["doc_id"].duplicated()
    if duplicated.any():
        first = frame.loc[duplicated, "doc_id"].iloc[0]
        raise CorpusError(
            f"document ids are not unique (e.g. {first!r}); choose another corpus.id_column or unset it to number rows"
        )
    return frame


def resolve_format(location: str, params: CorpusParams) -> str:
    path = Path(location)
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
    with open(path, encoding="utf-8", errors="replace") as handle:
        header = handle.readline().rstrip("\n").split("\t")
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


def _read_text(path: Path, params: CorpusParams) -> pd.DataFrame:
    lines = _read_utf8(path).splitlines()
    return pd.DataFrame({"doc_id": [str(i) for i in range(len(lines))], "text": lines})


def _read_doublespace(path: Path, params: CorpusParams) -> pd.DataFrame:
    # soynlp's DoublespaceLineCorpus: sentences inside a document are separated by two spaces. Keep
    # them as line breaks so cleaning (which collapses spaces) cannot erase the boundaries.
    frame = _read_text(path, params)
    frame["text"] = [
        "\n".join(s.strip() for s in line.split("  ") if s.strip()) for line in frame["text"]
    ]
    return frame


def _read_folder(path: Path, params: CorpusParams) -> pd.DataFrame:
    files = corpus_files(str(path))
    return pd.DataFrame({"doc_id": [name for name, _ in files], "text": [_read_utf8(p) for _, p in files]})


def _read_delimited(path: Path, params: CorpusParams, sep: str) -> pd.DataFrame:
    # TSV corpora such as NSMC are unquoted and contain stray `"`: read them with QUOTE_NONE.
    quoting = csv.QUOTE_NONE if sep == "\t" else csv.QUOTE_MINIMAL
    try:
        frame = pd.read_csv(
            io.StringIO(_read_utf8(path)), sep=sep, quoting=quoting, dtype=str, keep_default_na=False
        )
    except (pd.errors.ParserError, csv.Error) as exc:
        raise CorpusError(f"{path} is not valid {'TSV' if sep == chr(9) else 'CSV'}: {exc}") from None
    return _with_text_and_id(frame, path, params)


def _read_jsonl(path: Path, params: CorpusParams) -> pd.DataFrame:
    records = []
    for number, line in enumerate(_read_utf8(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CorpusError(f"{path}:{number} is not valid JSON ({exc.msg}); JSON Lines needs one object per line") from None
        if not isinstance(record, dict):
            raise CorpusError(f"{path}:{number} is a JSON {type(record).__name__}, not an object")
        records.append(record)
    return _with_text_and_id(pd.DataFrame.from_records(records), path, params)


def _read_parquet(path: Path, params: CorpusParams) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a non-Parquet file
        raise CorpusError(f"{path} is not a readable Parquet file: {exc}") from None
    return _with_text_and_id(frame, path, params)


def _with_text_and_id(frame: pd.DataFrame, path: Path, params: CorpusParams) -> pd.DataFrame:
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
    if not all(isinstance(t, str) or t is None for t in texts):
        raise CorpusError(f"column {text_column!r} of {path} holds non-text values; choose a text column")
    out = pd.DataFrame(
        {
            "doc_id": frame[id_column].astype(str) if id_column else [str(i) for i in range(len(frame))],
            "text": texts.fillna("").astype(str),
        }
    )
    for column in columns:
        if column not in {text_column, id_column, "doc_id", "text"}:
            out[column] = frame[column].to_numpy()
    return out


def _read_utf8(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{path} is not UTF-8 (byte {exc.start}); convert it, e.g. `iconv -f cp949 -t utf-8`") from None


_READERS = {
    "text": _read_text,
    "doublespace": _read_doublespace,
    "folder": _read_folder,
    "tsv": lambda path, params: _read_delimited(path, params, "\t"),
    "csv": lambda path, params: _read_delimited(path, params, ","),
    "jsonl": _read_jsonl,
    "parquet": _read_parquet,
}
