"""Duplicate documents, found on the cleaned text: pure logic of the `dedup` stage.

Two kinds, found in corpus order so that the first document of a group is the one kept:

    exact   the same cleaned text, character for character (what `pandas.Series.duplicated()` finds
            on the same texts: an empty text is a duplicate of the first empty text too)
    near    a Jaccard similarity of at least `near` between the documents' sets of character
            shingles (`shingle` characters, spaces included). Candidates come from MinHash-LSH
            (datasketch); each candidate pair is then checked on the real shingle sets, so a pair is
            only ever called near-duplicate when its true Jaccard similarity reaches the threshold.

Each document gets its *cluster*: the position of the first document of its group (itself when it
is not a duplicate). A near-duplicate joins the cluster of the first earlier document it is similar
to, so a cluster is a chain of similar documents led by its first one. `koprep compare` keeps every
cluster inside one fold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, field_validator

VERSION = "1"
SEED = 1
"""The MinHash permutations' seed: fixed, so a run finds the same candidates every time."""
SCHEME = "affine32"
"""datasketch's permutation scheme (its default since 2.0), named so that a new default cannot change
which candidates are found."""


class DedupParams(BaseModel):
    """The `[dedup]` settings (validated here, in one place)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    exact: bool = True
    """Documents whose cleaned text is identical to an earlier one's are duplicates."""
    near: float | Literal[False] = 0.8
    """Jaccard threshold over character shingles for near-duplicates (MinHash-LSH); false: off."""
    mode: Literal["drop", "mark"] = "drop"
    """drop: later stages never see a duplicate; mark: every document stays, with its cluster."""
    shingle: int = 3
    """Characters per shingle for `near`."""
    num_perm: int = 64
    """MinHash permutations for `near`'s candidates (more: fewer missed pairs, more time and memory)."""

    @field_validator("near", mode="before")
    @classmethod
    def _threshold(cls, value: object) -> object:
        if value is False or value is None:
            return False
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < float(value) <= 1:
            raise ValueError(
                f"near = {value!r}: give a Jaccard threshold above 0 and at most 1 (e.g. 0.8), or false to find "
                "exact duplicates only"
            )
        return float(value)

    @field_validator("shingle", "num_perm")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"{value}: give a positive whole number")
        return value

    @property
    def active(self) -> bool:
        return self.exact or self.near is not False


@dataclass
class Duplicates:
    """Each document's cluster (position of the first document of its group) and how it was found."""

    cluster: np.ndarray
    """int64, one per document: its own position when it leads its cluster."""
    kind: list[str | None] = field(default_factory=list)
    """'exact', 'near' or None (not a duplicate), one per document."""

    @property
    def duplicate(self) -> np.ndarray:
        return self.cluster != np.arange(len(self.cluster))

    def counts(self) -> dict[str, int]:
        return {
            "exact": sum(1 for k in self.kind if k == "exact"),
            "near": sum(1 for k in self.kind if k == "near"),
            "clusters": int(len(np.unique(self.cluster[self.duplicate]))) if len(self.cluster) else 0,
        }


def shingles(text: str, size: int) -> set[str]:
    """The text's character shingles (a text shorter than `size` is its own single shingle)."""
    if len(text) <= size:
        return {text}
    return {text[i : i + size] for i in range(len(text) - size + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    union = len(a | b)
    return len(a & b) / union if union else 1.0


def find_duplicates(texts: Sequence[str], params: DedupParams) -> Duplicates:
    """The duplicate groups of `texts` (cleaned), in order: see the module docstring."""
    cluster = np.arange(len(texts), dtype=np.int64)
    kind: list[str | None] = [None] * len(texts)
    first_of: dict[str, int] = {}
    if params.exact:
        for position, text in enumerate(texts):
            leader = first_of.setdefault(text, position)
            if leader != position:
                cluster[position], kind[position] = leader, "exact"
    if params.near is not False:
        _near(texts, params, cluster, kind)
    return Duplicates(cluster, kind)


def _near(texts: Sequence[str], params: DedupParams, cluster: np.ndarray, kind: list[str | None]) -> None:
    from datasketch import MinHash, MinHashLSH

    assert params.near is not False
    lsh = MinHashLSH(threshold=params.near, num_perm=params.num_perm)
    template = MinHash(num_perm=params.num_perm, seed=SEED, scheme=SCHEME)  # permutations computed once, then shared
    indexed: dict[str, int] = {}  # one document per distinct text enters the index
    for position, text in enumerate(texts):
        if kind[position] == "exact" or not text.strip():
            continue
        if text in indexed:  # with exact off, an identical text is a near-duplicate of Jaccard 1
            cluster[position], kind[position] = cluster[indexed[text]], "near"
            continue
        own = shingles(text, params.shingle)
        signature = MinHash(num_perm=params.num_perm, seed=SEED, permutations=template.permutations, scheme=SCHEME)
        signature.update_batch([s.encode("utf-8") for s in own])
        candidates = sorted(lsh.query(signature))
        for candidate in candidates:
            if jaccard(own, shingles(texts[candidate], params.shingle)) >= params.near:
                cluster[position], kind[position] = cluster[candidate], "near"
                break
        indexed[text] = position
        lsh.insert(position, signature, check_duplication=False)


def describe(params: DedupParams) -> list[str]:
    """What the stage does, in words (for the report and the manifest)."""
    found = []
    if params.exact:
        found.append("exact duplicates of the cleaned text")
    if params.near is not False:
        found.append(f"near-duplicates (Jaccard >= {params.near} over {params.shingle}-character shingles, MinHash-LSH)")
    return [("dropped: " if params.mode == "drop" else "marked: ") + f for f in found] or ["nothing (exact = false, near = false)"]
