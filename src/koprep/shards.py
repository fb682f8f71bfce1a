"""Shards: how a corpus is cut into the units that `clean` and `tokenize` compute and cache.

A shard is a run of consecutive documents. Its boundaries are *content-defined*: a shard ends after
a document whose digest, taken as a number, is divisible by `target // 2` (once the shard holds at
least `target // 2` documents), or when it reaches `2 * target` documents, or at the end of the
corpus. Whether a document ends a shard depends only on that document and on where the current
shard began, so

- appending documents changes only the last shard (it ended at the old end of the corpus) and adds
  new ones;
- editing, inserting or deleting a document changes its own shard, and at most the next shard or
  two until a boundary falls where it fell before;

and every other shard keeps its documents, hence its fingerprint, and is reused from the store.
Shards hold `target` documents on average.

A document's digest covers every column of its row (doc_id, text, passthrough columns), so a shard's
fingerprint changes exactly when one of its rows does. Corpora whose ids are line numbers (plain text
files) renumber every line after an inserted or deleted one, so there an insertion recomputes the
shards after it; appends and in-place edits stay local.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

import pandas as pd

DIGEST_BYTES = 16
SHARD_KEY_VERSION = "1"


@dataclass(frozen=True)
class Shard:
    """Documents [start, stop) of the corpus as read, and the digest of their rows."""

    index: int
    start: int
    stop: int
    digest: str

    @property
    def documents(self) -> int:
        return self.stop - self.start


def document_digests(frame: pd.DataFrame) -> list[bytes]:
    """One digest per row over every column's value (length-prefixed UTF-8 text, so no choice of
    characters can make two different rows hash alike), in column order."""
    columns = [frame[name].tolist() for name in frame.columns]
    header = "\0".join(f"{name}:{frame[name].dtype}" for name in frame.columns).encode("utf-8")
    digests = []
    for row in zip(*columns):
        digest = hashlib.blake2b(header, digest_size=DIGEST_BYTES)
        for value in row:
            encoded = value.encode("utf-8") if isinstance(value, str) else repr(value).encode("utf-8")
            digest.update(len(encoded).to_bytes(8, "little"))
            digest.update(encoded)
        digests.append(digest.digest())
    return digests


class _Cutter:
    """Decides, document by document, where shards end (see the module doc)."""

    def __init__(self, target: int) -> None:
        self.minimum = max(1, target // 2)
        self.divisor = max(1, target - self.minimum)
        self.maximum = 2 * target
        self.length = 0

    def ends_shard(self, digest: bytes) -> bool:
        """Whether the document with this digest, next in the corpus, ends its shard."""
        self.length += 1
        if self.length >= self.maximum or (
            self.length >= self.minimum and int.from_bytes(digest[:8], "little") % self.divisor == 0
        ):
            self.length = 0
            return True
        return False


def boundaries(digests: Sequence[bytes], target: int) -> list[tuple[int, int]]:
    """(start, stop) of each shard over documents with these digests; see the module doc."""
    cutter = _Cutter(target)
    spans: list[tuple[int, int]] = []
    start = 0
    for position, digest in enumerate(digests):
        if cutter.ends_shard(digest):
            spans.append((start, position + 1))
            start = position + 1
    if start < len(digests) or not spans:
        spans.append((start, len(digests)))
    return spans


def split(frame: pd.DataFrame, target: int) -> list[Shard]:
    """The shards of a corpus read as `frame` (see `koprep.corpus.read_corpus`); an empty corpus is
    one empty shard."""
    return [shard for shard, _ in stream([frame], target)]


def stream(chunks: Iterable[pd.DataFrame], target: int) -> Iterator[tuple[Shard, pd.DataFrame]]:
    """The shards of a corpus read in chunks of rows (`koprep.corpus.iter_corpus`), each with its
    rows (indexed from 0) as soon as its last document has been read: the same shards as `split`
    over the chunks put together, holding at most a chunk and a shard."""
    cutter = _Cutter(target)
    pieces: list[pd.DataFrame] = []
    digests: list[bytes] = []
    index = start = 0
    for chunk in chunks:
        chunk_digests = document_digests(chunk)
        begin = 0
        for position, digest in enumerate(chunk_digests):
            if cutter.ends_shard(digest):
                pieces.append(chunk.iloc[begin : position + 1])
                digests += chunk_digests[begin : position + 1]
                yield _shard(index, start, digests), pd.concat(pieces, ignore_index=True)
                index, start, begin = index + 1, start + len(digests), position + 1
                pieces, digests = [], []
        pieces.append(chunk.iloc[begin:])
        digests += chunk_digests[begin:]
    if digests or index == 0:
        yield _shard(index, start, digests), pd.concat(pieces, ignore_index=True) if pieces else pd.DataFrame()


def _shard(index: int, start: int, digests: list[bytes]) -> Shard:
    digest = hashlib.sha256(SHARD_KEY_VERSION.encode())
    for document in digests:
        digest.update(document)
    return Shard(index, start, start + len(digests), digest.hexdigest()[:32])
