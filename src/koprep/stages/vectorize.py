"""Bag-of-words, n-gram and TF-IDF vectors from tokenized documents, computed shard by shard.

The results are scikit-learn's `CountVectorizer` / `TfidfVectorizer` fitted on the whole token
list, but fitting works the way Spark's `CountVectorizer` + `IDF` do: every shard is reduced to
per-term counts (total and document frequency), the shard tables are merged into one global
table, and `min_df` / `max_df` / `max_features` are applied to the global table. Memory therefore
grows with the number of distinct n-grams seen, never with the number of documents.

Inside a shard, n-grams are not built as strings per occurrence (what makes scikit-learn slow):
tokens are factorized to integer codes, an n-gram is the pair (id of its (n-1)-gram prefix, code
of its last token), and only the *distinct* n-grams of a shard are turned into " "-joined strings
— the same strings scikit-learn's `_word_ngrams` produces, so the vocabularies are identical. Those
strings are joined, merged across shards and sorted in Arrow, never as Python objects.

The pipeline transforms the very shards it fitted on: `fit_shards` keeps, for each shard, where
its distinct n-grams went in the vocabulary, so `ShardwiseFit.transform_shard` turns the shard's
occurrences into matrix columns by integer lookups, with no string built or looked up again.
`transform` is for other documents (a stored vocabulary applied to a new corpus).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from itertools import repeat
from numbers import Integral
from typing import Iterable, Literal, Sequence, TypeAlias, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator, model_validator

from koprep.errors import EmptyResultError

VERSION = "1"

DocumentFrequency = int | float

# Tokenized documents: token lists, or an Arrow list<string> array (a tokenize shard's column,
# read without decoding it to Python lists). With ChargramParams: texts (a str is a Sequence[str]), cast back.
Documents: TypeAlias = Iterable[Sequence[str]] | pa.ListArray | pa.LargeListArray
_ARROW_LISTS = (pa.ListArray, pa.LargeListArray)


class CountParams(BaseModel):
    """Bag-of-words / n-gram count parameters. Defaults and meaning are scikit-learn's CountVectorizer's.

    `min_df` / `max_df`: an int is an absolute number of documents, a float in [0, 1] a proportion
    of the documents. `max_features` keeps the terms with the highest total count (after df pruning).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    ngram_range: tuple[int, int] = (1, 1)
    min_df: DocumentFrequency = 1
    max_df: DocumentFrequency = 1.0
    max_features: int | None = None
    binary: bool = False

    @field_validator("ngram_range")
    @classmethod
    def _check_ngram_range(cls, value: tuple[int, int]) -> tuple[int, int]:
        low, high = value
        if not 1 <= low <= high:
            raise ValueError(
                f"ngram_range={value} is invalid: use (min_n, max_n) with 1 <= min_n <= max_n, "
                "e.g. (1, 1) for words or (1, 2) for words and bigrams"
            )
        return value

    @field_validator("min_df", "max_df", mode="before")
    @classmethod
    def _check_document_frequency(cls, value: object, info: ValidationInfo) -> object:
        name = info.field_name
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(
                f"{name}={value!r} is invalid: give an int >= 1 (a number of documents) "
                "or a float in [0.0, 1.0] (a proportion of documents)"
            )
        if isinstance(value, int) and value < 1:
            raise ValueError(
                f"{name}={value} is invalid: an int {name} counts documents and must be >= 1; "
                f"for a proportion write a float such as {name}=0.0"
            )
        if isinstance(value, float) and not 0.0 <= value <= 1.0:
            raise ValueError(
                f"{name}={value} is invalid: a float {name} is a proportion of documents in [0.0, 1.0]; "
                f"for a number of documents write an int such as {name}={max(1, int(value))}"
            )
        return value

    @field_validator("max_features")
    @classmethod
    def _check_max_features(cls, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise ValueError(f"max_features={value} is invalid: give an int >= 1, or None to keep every term")
        return value

    @model_validator(mode="after")
    def _check_df_bounds(self) -> "CountParams":
        # Only comparable without knowing the corpus size when both are of the same kind.
        same_kind = isinstance(self.min_df, int) == isinstance(self.max_df, int)
        if same_kind and self.max_df < self.min_df:
            raise ValueError(
                f"max_df={self.max_df} is below min_df={self.min_df}: no term could be kept; "
                "raise max_df or lower min_df"
            )
        return self


class TfidfParams(CountParams):
    """TF-IDF parameters. Defaults and meaning are scikit-learn's TfidfVectorizer's."""

    norm: Literal["l1", "l2"] | None = "l2"
    use_idf: bool = True
    smooth_idf: bool = True
    sublinear_tf: bool = False


class ChargramParams(TfidfParams):
    """TF-IDF over character n-grams of the cleaned text: scikit-learn's
    `TfidfVectorizer(analyzer=..., ngram_range=..., lowercase=..., <TfidfParams>)`.

    `char_wb` (the default) builds n-grams only inside words, each word padded with one space on
    either side (" 재밌 " gives " 재", "재밌", "밌 "); `char` slides over the whole text, spaces
    included. `ngram_range` counts characters here.
    """

    analyzer: Literal["char_wb", "char"] = "char_wb"
    ngram_range: tuple[int, int] = (1, 3)
    lowercase: bool = True

    def term_params(self) -> TfidfParams:
        """The same counting and weighting with each character n-gram taken as one term: what the
        shared machinery applies to the n-gram lists `char_ngrams` makes."""
        return TfidfParams(**self.model_dump(exclude={"analyzer", "lowercase", "ngram_range"}))


def char_ngrams(texts: Iterable[str], params: ChargramParams) -> list[list[str]]:
    """Each text's character n-grams, in order, made by scikit-learn's own analyzer for `params`
    (so preprocessing, whitespace handling and short-word rules are scikit-learn's exactly)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    analyze = TfidfVectorizer(
        analyzer=params.analyzer, ngram_range=params.ngram_range, lowercase=params.lowercase
    ).build_analyzer()
    return [analyze(text) for text in texts]


@dataclass(frozen=True)
class FittedVocabulary:
    """A fitted vocabulary.

    `table` has columns term_id (int32, 0..V-1, row i has term_id i), term (string), df (int64,
    documents containing the term) and, for `TfidfParams(use_idf=True)`, idf (float64).
    `n_docs` is the number of documents the vocabulary was fitted on (empty documents included).
    To rebuild one from a stored table: `FittedVocabulary(table, n_docs, params)`.
    """

    table: pd.DataFrame
    n_docs: int
    params: CountParams

    @cached_property
    def term_index(self) -> dict[str, int]:
        return dict(zip(self.table["term"].tolist(), range(len(self.table))))


# ---------------------------------------------------------------------------------------------
# n-gram extraction inside one shard (or one transform chunk)


@dataclass(frozen=True)
class _Occurrences:
    """Every n-gram occurrence of a batch of documents, as (document row, local term id) pairs."""

    n_docs: int
    doc: np.ndarray  # int64, row of the document each occurrence belongs to
    term: np.ndarray  # int64, local term id: an index into `terms`
    n_terms: int
    terms: pa.Array | None  # the distinct n-gram strings, joined with " " (None when not asked for)


def _encode_lists(docs: Iterable[Sequence[str]]) -> tuple[np.ndarray, pa.Array, np.ndarray]:
    """(token codes, distinct tokens, document lengths) of Python token lists."""
    lengths: list[int] = []
    flat: list[str] = []
    for tokens in docs:
        if isinstance(tokens, str):
            raise TypeError(
                "a document must be a sequence of tokens, got a str; tokenize first "
                "(or wrap a single pre-split document as [tokens])"
            )
        before = len(flat)
        flat.extend(tokens)
        lengths.append(len(flat) - before)
    codes, uniques = pd.factorize(np.asarray(flat, dtype=object), use_na_sentinel=True)
    if (codes < 0).any():
        raise TypeError("tokens must be strings; found None or NaN among the tokens")
    try:
        distinct = pa.array(np.asarray(uniques, dtype=object), pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        raise TypeError("tokens must be strings") from None
    return codes, distinct, np.asarray(lengths, dtype=np.int64)


def _encode_arrow(docs: pa.ListArray | pa.LargeListArray) -> tuple[np.ndarray, pa.Array, np.ndarray]:
    """The same from an Arrow list<string> array, encoded in Arrow: no token becomes a Python
    string (a Parquet tokens column never has to be decoded to lists)."""
    flat = docs.flatten()
    if flat.null_count:
        raise TypeError("tokens must be strings; found nulls among the tokens")
    encoded = pc.dictionary_encode(flat)
    lengths = np.diff(docs.offsets.to_numpy()).astype(np.int64, copy=False)
    return encoded.indices.to_numpy(), encoded.dictionary, lengths


def _ngram_occurrences(docs: Documents, ngram_range: tuple[int, int], strings: bool = True) -> _Occurrences:
    """The n-gram occurrences of `docs`. Local term ids depend only on `docs` and `ngram_range`
    (not on `strings`), so a second call on the same documents numbers the terms the same way:
    the fit keeps each shard's local id → term id map and the transform reuses it without strings."""
    codes, uniques, doc_lengths = _encode_arrow(docs) if isinstance(docs, _ARROW_LISTS) else _encode_lists(docs)
    n_docs = len(doc_lengths)
    empty = np.empty(0, dtype=np.int64)
    if len(codes) == 0:
        return _Occurrences(n_docs, empty, empty, 0, pa.array([], pa.string()) if strings else None)
    # A token containing a space makes different n-grams give the same string (("a b", "c") and
    # ("a", "b c"), or the unigram "a b" and the bigram a+b); scikit-learn counts them as one
    # feature, so such batches merge terms by their strings. Without such tokens every string is distinct.
    merge_by_string = pc.any(pc.match_substring(uniques, " ")).as_py() or False
    strings = strings or merge_by_string

    codes = codes.astype(np.int64, copy=False)
    n_tokens = len(codes)
    doc_of_token = np.repeat(np.arange(n_docs, dtype=np.int64), doc_lengths)
    doc_starts = np.concatenate(([0], np.cumsum(doc_lengths)[:-1]))
    # Tokens from each position to the end of its document, itself included.
    remaining = doc_lengths[doc_of_token] - (np.arange(n_tokens, dtype=np.int64) - doc_starts[doc_of_token])

    min_n, max_n = ngram_range
    level_docs: list[np.ndarray] = []
    level_ids: list[np.ndarray] = []
    level_strings: list[pa.Array] = []
    n_distinct_so_far = 0
    prefix_ids = codes  # id of the (n-1)-gram starting at each position (valid where remaining >= n-1)
    for n in range(1, max_n + 1):
        starts = np.flatnonzero(remaining >= n)
        if len(starts) == 0:
            break
        if n == 1:
            ids, n_distinct = codes, len(uniques)
        else:
            # Both factors are < n_tokens, so the key fits int64 for any batch below ~3e9 tokens.
            key = prefix_ids[starts] * len(uniques) + codes[starts + (n - 1)]
            ids_at_starts, distinct_keys = pd.factorize(key)
            ids = np.full(n_tokens, -1, dtype=np.int64)
            ids[starts] = ids_at_starts
            n_distinct = len(distinct_keys)
        if n >= min_n:
            ids_at_starts = ids[starts]
            level_docs.append(doc_of_token[starts])
            level_ids.append(ids_at_starts + n_distinct_so_far)
            if strings:
                level_strings.append(_ngram_strings(uniques, codes, starts, ids_at_starts, n, n_distinct))
            n_distinct_so_far += n_distinct
        prefix_ids = ids

    if not level_docs:
        return _Occurrences(n_docs, empty, empty, 0, pa.array([], pa.string()) if strings else None)
    doc, term = np.concatenate(level_docs), np.concatenate(level_ids)
    terms = pa.concat_arrays([level.cast(pa.string()) for level in level_strings]) if strings else None
    if merge_by_string:
        encoded = pc.dictionary_encode(terms)
        term = encoded.indices.to_numpy().astype(np.int64, copy=False)[term]
        terms = encoded.dictionary
        n_distinct_so_far = len(terms)
    return _Occurrences(n_docs, doc, term, n_distinct_so_far, terms)


def _ngram_strings(
    uniques: pa.Array, codes: np.ndarray, starts: np.ndarray, ids_at_starts: np.ndarray, n: int, n_distinct: int
) -> pa.Array:
    """The " "-joined string of every distinct n-gram, built once (in Arrow) from its first occurrence."""
    if n == 1:
        return uniques
    first_start = np.empty(n_distinct, dtype=np.int64)
    first_start[ids_at_starts[::-1]] = starts[::-1]
    parts = [uniques.take(pa.array(codes[first_start + k])) for k in range(n)]
    return pc.binary_join_element_wise(*parts, " ")


def _document_frequencies(occ: _Occurrences) -> np.ndarray:
    n_terms = occ.n_terms
    doc_term = pd.unique(occ.doc * n_terms + occ.term)
    return np.bincount(doc_term % n_terms, minlength=n_terms).astype(np.int64, copy=False)


# ---------------------------------------------------------------------------------------------
# fit


class _TermCounts:
    """Global term -> (total count, document frequency), merged from per-shard tables; it also
    remembers where each shard's local terms went (`shard_codes`).

    Terms are split into `_BUCKETS` buckets by a hash of their bytes, and each bucket is merged on
    its own: merging hashes every term held so far, and Arrow's hash pass holds its own copy of
    the strings and a hash table besides the input and the result, so merging one bucket at a time
    keeps that transient to a fraction of the distinct terms (at 1M NSMC-like documents, the
    1-2-gram fit's peak fell by several hundred MiB; bench/README.md). A bucket's shard tables are
    buffered and merged in one Arrow hash pass once the buffers are as large as the merged terms
    (at least `_MIN_MERGE_ROWS` rows), so the merge cost per shard stays proportional to the
    shard. The merged terms are distinct and come first in each merge, so they keep their codes
    within the bucket: a shard's codes, once known, never change. `finish` lays the buckets end
    to end; which code a term gets does not matter to the fit (it sorts the kept terms by string).
    """

    _MIN_MERGE_ROWS = 1 << 18
    _BUCKETS = 16

    def __init__(self) -> None:
        self.terms: pa.Array = pa.array([], pa.large_string())
        self.tf = np.empty(0, dtype=np.int64)
        self.df = np.empty(0, dtype=np.int64)
        self.shard_codes: list[np.ndarray] = []
        """Per added shard: its local term id → code in `terms` (complete after `finish`)."""
        self._buckets = [_TermBucket() for _ in range(self._BUCKETS)]
        self._shard_buckets: list[np.ndarray] = []
        """Per added shard: the bucket of each local term (uint8), until `finish`."""
        self._pending_rows = 0

    def add(self, terms: pa.Array, tf: np.ndarray, df: np.ndarray) -> None:
        shard = len(self.shard_codes)
        buckets = _bucket_of(terms, self._BUCKETS)
        self.shard_codes.append(np.empty(len(terms), dtype=np.int32))
        self._shard_buckets.append(buckets)
        order = np.argsort(buckets, kind="stable").astype(np.int32)
        bounds = np.searchsorted(buckets[order], np.arange(self._BUCKETS + 1))
        for bucket, (low, high) in enumerate(zip(bounds[:-1], bounds[1:])):
            if high > low:
                rows = order[low:high]
                self._buckets[bucket].pending.append((shard, rows, terms.take(pa.array(rows)), tf[rows], df[rows]))
        self._pending_rows += len(terms)
        if self._pending_rows >= max(sum(len(b.terms) for b in self._buckets), self._MIN_MERGE_ROWS):
            self.merge()

    def merge(self) -> None:
        for bucket in self._buckets:
            bucket.merge(self.shard_codes)
        self._pending_rows = 0

    def finish(self) -> None:
        """Merge what is pending and lay the buckets end to end: `terms`, `tf`, `df` and every
        shard's codes are then global."""
        self.merge()
        offsets = np.cumsum([0] + [len(b.terms) for b in self._buckets])
        self.terms = pa.concat_arrays([b.terms for b in self._buckets])
        self.tf = np.concatenate([b.tf for b in self._buckets])
        self.df = np.concatenate([b.df for b in self._buckets])
        self._buckets = [_TermBucket() for _ in range(self._BUCKETS)]
        bucket_offset = offsets[:-1].astype(np.int32)
        for codes, buckets in zip(self.shard_codes, self._shard_buckets):
            codes += bucket_offset[buckets]
        self._shard_buckets = []


class _TermBucket:
    """One bucket of `_TermCounts`: its distinct terms with their counts, and shard tables not yet merged."""

    def __init__(self) -> None:
        self.terms: pa.Array = pa.array([], pa.large_string())
        self.tf = np.empty(0, dtype=np.int64)
        self.df = np.empty(0, dtype=np.int64)
        self.pending: list[tuple[int, np.ndarray, pa.Array, np.ndarray, np.ndarray]] = []
        """(shard, the shard's local term ids in this bucket, their terms, tf, df)"""

    def merge(self, shard_codes: list[np.ndarray]) -> None:
        """Merge the pending tables, writing each shard's codes (within this bucket) into `shard_codes`."""
        if not self.pending:
            return
        merged = len(self.terms)
        chunks = [self.terms, *(terms.cast(pa.large_string()) for _, _, terms, _, _ in self.pending)]
        encoded = pc.dictionary_encode(pa.concat_arrays(chunks))
        del chunks
        codes = encoded.indices.to_numpy()
        self.terms = encoded.dictionary
        n_terms = len(self.terms)
        tf = np.zeros(n_terms, dtype=np.int64)
        df = np.zeros(n_terms, dtype=np.int64)
        tf[:merged], df[:merged] = self.tf, self.df
        offset = merged
        for shard, rows, terms, shard_tf, shard_df in self.pending:
            codes_here = codes[offset : offset + len(terms)].astype(np.int32, copy=False)
            offset += len(terms)
            # A shard's terms are distinct, so each code occurs once per shard: no duplicates to add up.
            tf[codes_here] += shard_tf
            df[codes_here] += shard_df
            shard_codes[shard][rows] = codes_here
        self.tf, self.df = tf, df
        self.pending = []


def _bucket_of(terms: pa.Array, buckets: int) -> np.ndarray:
    """Each string's bucket (uint8), from its length and its last two bytes: the same string gets
    the same bucket in every shard. The last bytes vary most in Korean UTF-8 (a syllable's final
    byte is a continuation byte that changes with its final consonant)."""
    if len(terms) == 0:
        return np.empty(0, dtype=np.uint8)
    strings = terms.cast(pa.large_string())
    offsets = np.frombuffer(strings.buffers()[1], dtype=np.int64)[strings.offset : strings.offset + len(strings) + 1]
    data_buffer = strings.buffers()[2]
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None else np.empty(0, np.uint8)
    ends, lengths = offsets[1:], np.diff(offsets)
    # Padding the bytes with two zeros in front keeps the look-ups in range for strings shorter than two bytes.
    padded = np.concatenate((np.zeros(2, np.uint8), data))
    last = np.where(lengths >= 1, padded[ends + 1], 0).astype(np.int64)
    before_last = np.where(lengths >= 2, padded[ends], 0).astype(np.int64)
    return ((last * 31 + before_last * 7 + lengths) % buckets).astype(np.uint8)


@dataclass(frozen=True)
class ShardwiseFit:
    """A vocabulary fitted on shards, with what transforming those very shards needs: for each
    shard, its local term ids' columns in the vocabulary (-1 for pruned terms), so `transform_shard`
    maps occurrences to columns by integer lookups, without building or hashing any n-gram string."""

    vocabulary: FittedVocabulary
    shard_columns: list[np.ndarray]

    def transform_shard(self, index: int, docs: Documents) -> sp.csr_matrix:
        """The document-term matrix of shard `index`, which must be the documents fitted as that
        shard; equal to `transform(docs, self.vocabulary, params)`."""
        params = self.vocabulary.params
        if isinstance(params, ChargramParams):
            docs, params = char_ngrams(cast(Iterable[str], docs), params), params.term_params()
        occ = _ngram_occurrences(docs, params.ngram_range, strings=False)
        columns = self.shard_columns[index]
        if occ.n_terms != len(columns):
            raise ValueError(f"shard {index} is not the one fitted: {occ.n_terms} terms, {len(columns)} were fitted")
        n_terms = len(self.vocabulary.table)
        column = columns[occ.term]
        known = column >= 0
        counts = sp.csr_matrix(
            (np.ones(int(known.sum()), dtype=np.int64), (occ.doc[known], column[known])), shape=(occ.n_docs, n_terms),
        )
        counts.sum_duplicates()
        return _weighted(counts, self.vocabulary.table, params)


def fit_vocabulary(shards: Iterable[Documents], params: CountParams) -> FittedVocabulary:
    """Learn the vocabulary (and idf for TF-IDF) from shards of tokenized documents (each shard a
    list of token lists or an Arrow list<string> array).

    Equals scikit-learn's `CountVectorizer(...).fit(all_docs).vocabulary_` (and `TfidfVectorizer`'s
    `idf_`) for the same parameters, independently of how the documents are split into shards.
    With `ChargramParams` the shards hold texts (lists of str), and each text's character n-grams
    are counted as its terms.
    Each shard is read once and dropped; what stays in memory is the table of every distinct
    n-gram seen so far with its counts (pruning needs global counts, as in Spark), so memory
    follows the number of distinct n-grams, not the number of documents.
    """
    return fit_shards(shards, params).vocabulary


def fit_shards(shards: Iterable[Documents], params: CountParams) -> ShardwiseFit:
    """`fit_vocabulary`, keeping for each shard where its terms went, so that the same shards can
    then be transformed (`ShardwiseFit.transform_shard`) without looking any n-gram string up.
    Besides the vocabulary this keeps one int32 per distinct term of each shard."""
    if isinstance(params, ChargramParams):
        fitted = fit_shards((char_ngrams(cast(Iterable[str], texts), params) for texts in shards), params.term_params())
        return ShardwiseFit(
            FittedVocabulary(fitted.vocabulary.table, fitted.vocabulary.n_docs, params), fitted.shard_columns
        )
    counts = _TermCounts()
    n_docs = 0
    for shard in shards:
        occ = _ngram_occurrences(shard, params.ngram_range)
        n_docs += occ.n_docs
        tf = np.bincount(occ.term, minlength=occ.n_terms).astype(np.int64, copy=False)
        counts.add(occ.terms, tf, _document_frequencies(occ))
    counts.finish()
    if len(counts.terms) == 0:
        raise EmptyResultError(
            "empty vocabulary: the documents contain no tokens; check that the tokenize stage produced tokens "
            "(a tokenizer mode, drop_tags, stopwords or min_length that removes every token)"
        )
    terms, tf, df = counts.terms, counts.tf, counts.df
    if params.binary:
        tf = df  # scikit-learn ranks max_features on the binarized counts

    # The same expressions as CountVectorizer.fit_transform / _limit_features, so float
    # thresholds compare identically.
    max_doc_count = params.max_df if isinstance(params.max_df, Integral) else params.max_df * n_docs
    min_doc_count = params.min_df if isinstance(params.min_df, Integral) else params.min_df * n_docs
    if max_doc_count < min_doc_count:
        raise EmptyResultError(
            f"max_df={params.max_df} corresponds to fewer documents ({max_doc_count}) than "
            f"min_df={params.min_df} ({min_doc_count}) in this corpus of {n_docs} documents; "
            "raise max_df or lower min_df"
        )
    kept = np.flatnonzero((df <= max_doc_count) & (df >= min_doc_count))
    # Sorting only the kept terms gives the same order as sorting all and then masking. Arrow
    # compares UTF-8 bytes, which orders strings as Python (and scikit-learn's sorted()) does: by code point.
    kept = kept[pc.sort_indices(terms.take(pa.array(kept))).to_numpy()]
    if params.max_features is not None and len(kept) > params.max_features:
        # Exactly scikit-learn's selection (same array, same argsort), so ties break the same way.
        top = (-tf[kept]).argsort()[: params.max_features]
        kept = kept[np.sort(top)]
    if len(kept) == 0:
        raise EmptyResultError(
            f"after pruning with min_df={params.min_df}, max_df={params.max_df}, no terms remain; "
            "lower min_df or raise max_df"
        )

    table = pd.DataFrame(
        {
            "term_id": np.arange(len(kept), dtype=np.int32),
            "term": pd.array(terms.take(pa.array(kept)), dtype="string"),
            "df": df[kept],
        }
    )
    if isinstance(params, TfidfParams) and params.use_idf:
        table["idf"] = _idf(df[kept], n_docs, params.smooth_idf)
    column_of_code = np.full(len(terms), -1, dtype=np.int32)
    column_of_code[kept] = np.arange(len(kept), dtype=np.int32)
    return ShardwiseFit(
        FittedVocabulary(table=table, n_docs=n_docs, params=params),
        [column_of_code[codes] for codes in counts.shard_codes],
    )


def _idf(df: np.ndarray, n_docs: int, smooth_idf: bool) -> np.ndarray:
    # Step by step as TfidfTransformer.fit does, so the floats are bit-identical.
    smoothed_df = df.astype(np.float64) + float(smooth_idf)
    idf = np.full_like(smoothed_df, fill_value=n_docs + int(smooth_idf), dtype=np.float64)
    idf /= smoothed_df
    np.log(idf, out=idf)
    idf += 1.0
    return idf


# ---------------------------------------------------------------------------------------------
# transform

_TRANSFORM_CHUNK_DOCS = 20_000


def transform(docs: Documents, vocabulary: FittedVocabulary | pd.DataFrame, params: CountParams) -> sp.csr_matrix:
    """Document-term matrix of `docs` (token lists or an Arrow list<string> array; one row per
    document, in order) over a fitted vocabulary.

    Values are scikit-learn's: counts (int64), 0/1 for `binary`, or TF-IDF (float64) with
    `sublinear_tf`, idf and `norm` for `TfidfParams`. Terms outside the vocabulary are ignored.
    `vocabulary` is a `FittedVocabulary` or its `table`. With `ChargramParams`, `docs` are texts.
    """
    if isinstance(params, ChargramParams):
        return transform(char_ngrams(cast(Iterable[str], docs), params), vocabulary, params.term_params())
    table = vocabulary.table if isinstance(vocabulary, FittedVocabulary) else vocabulary
    term_index = vocabulary.term_index if isinstance(vocabulary, FittedVocabulary) else _term_index(table)
    n_terms = len(table)
    use_idf = isinstance(params, TfidfParams) and params.use_idf
    if use_idf and "idf" not in table.columns:
        raise ValueError(
            "params ask for idf weighting but the vocabulary has no idf column: fit it with "
            "TfidfParams(use_idf=True), or transform with use_idf=False"
        )

    blocks = [_count_block(chunk, term_index, n_terms, params.ngram_range) for chunk in _chunks(docs)]
    if blocks:
        counts = sp.vstack(blocks, format="csr", dtype=np.int64)
    else:
        counts = sp.csr_matrix((0, n_terms), dtype=np.int64)  # type: ignore[arg-type]  # stubs: (M, N) only as float64
    return _weighted(counts, table, params)


def _weighted(counts: sp.csr_matrix, table: pd.DataFrame, params: CountParams) -> sp.csr_matrix:
    """Counts as the vectorizer gives them: 0/1 for `binary`, and TF-IDF weights for `TfidfParams`."""
    use_idf = isinstance(params, TfidfParams) and params.use_idf
    if params.binary:
        counts.data.fill(1)
    if not isinstance(params, TfidfParams):
        return counts

    weights = counts.astype(np.float64)
    if params.sublinear_tf:
        np.log(weights.data, out=weights.data)
        weights.data += 1.0
    if use_idf:
        weights.data *= table["idf"].to_numpy(dtype=np.float64)[weights.indices]
    if params.norm is not None:
        from sklearn.preprocessing import normalize  # scikit-learn is slow to import; only tfidf needs it

        weights = normalize(weights, norm=params.norm, copy=False)
    return sp.csr_matrix(weights)


def _term_index(table: pd.DataFrame) -> dict[str, int]:
    expected = np.arange(len(table))
    if not np.array_equal(table["term_id"].to_numpy(), expected):
        raise ValueError("the vocabulary table must be sorted by term_id and hold term_id 0..V-1 (as fit_vocabulary returns it)")
    return dict(zip(table["term"].tolist(), range(len(table))))


def _chunks(docs: Documents) -> Iterable[Documents]:
    if isinstance(docs, _ARROW_LISTS):
        yield from (docs.slice(start, _TRANSFORM_CHUNK_DOCS) for start in range(0, len(docs), _TRANSFORM_CHUNK_DOCS))
        return
    chunk: list[Sequence[str]] = []
    for doc in docs:
        chunk.append(doc)
        if len(chunk) == _TRANSFORM_CHUNK_DOCS:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _count_block(
    chunk: Documents, term_index: dict[str, int], n_terms: int, ngram_range: tuple[int, int]
) -> sp.csr_matrix:
    occ = _ngram_occurrences(chunk, ngram_range)
    assert occ.terms is not None  # strings=True
    terms = occ.terms.to_numpy(zero_copy_only=False)
    local_to_global = np.fromiter(map(term_index.get, terms, repeat(-1)), dtype=np.int64, count=len(terms))
    column = local_to_global[occ.term]
    known = column >= 0
    block = sp.csr_matrix(
        (np.ones(int(known.sum()), dtype=np.int64), (occ.doc[known], column[known])),
        shape=(occ.n_docs, n_terms),
    )
    block.sum_duplicates()
    return block
