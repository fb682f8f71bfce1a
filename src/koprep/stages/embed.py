"""word2vec (gensim) over a stream of tokenized sentences, and the model as plain tables.

gensim reads the corpus epochs + 1 times (one vocabulary scan, then one pass per epoch), so the
sentences must come from a *restartable* iterable — e.g. an object whose `__iter__` re-reads the
Parquet shards — never a one-shot generator. Nothing here holds all sentences in memory.

Models leave this module as data: `vectors_table` (term, count, vector) and the phrase table
(phrase, score). The word2vec binary writer exists for interoperability with other tools.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Iterable, Iterator, Literal, Protocol, Self, Sequence, runtime_checkable

import numpy as np
import pandas as pd
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, model_validator

from koprep.errors import EmptyResultError

if TYPE_CHECKING:  # gensim takes a second to import: only the functions that train or load need it
    from gensim.models import KeyedVectors
    from gensim.models.phrases import FrozenPhrases

VERSION = "2"
"""2: `epochs = "auto"` by default (scaled to the corpus, see `auto_epochs`); a training diagnostic
is stored with the vectors."""

AUTO_TRAINED_WORDS = 2_000_000
"""With `epochs = "auto"`, word2vec trains for as many epochs as it takes to see about this many
tokens (at least gensim's 5, at most AUTO_MAX_EPOCHS). Measured on the default corpus (kolaw/kobill,
okt, 17k tokens; mean cosine of the 5 nearest neighbours of the 50 most frequent words): 5 epochs
0.999 (the vectors barely move from their shared start), 20 → 0.97, 50 → 0.85, 100 → 0.64,
200 → 0.49. Corpora of 400k tokens and more keep gensim's 5 epochs."""
AUTO_MIN_EPOCHS = 5
AUTO_MAX_EPOCHS = 100

DEGENERATE_PAIRWISE_COSINE = 0.8
"""Vectors whose most frequent words are on average more similar than this *to each other* are
reported as degenerate: they all point one way, and their neighbours say nothing. Measured: word2vec
after 5 epochs on the default corpus 0.999 (its neighbours' mean cosine 0.999); trained word2vec and
fastText on the default corpus and on NSMC 0.07-0.37. The neighbours' cosine alone would misjudge
fastText, whose neighbours share subwords and are close by design (0.92 on NSMC 50k)."""
DIAGNOSED_WORDS = 50
DIAGNOSED_NEIGHBOURS = 5


def auto_epochs(corpus_words: int, trained_words: int = AUTO_TRAINED_WORDS) -> int:
    """The epochs `epochs = "auto"` trains for on a corpus of `corpus_words` tokens: enough to see
    about `trained_words` tokens (word2vec's AUTO_TRAINED_WORDS unless a model says otherwise)."""
    wanted = math.ceil(trained_words / max(corpus_words, 1))
    return max(AUTO_MIN_EPOCHS, min(AUTO_MAX_EPOCHS, wanted))


class EmbeddingParams(BaseModel):
    """The parameters gensim's `Word2Vec` and `FastText` share (same names and meaning), with
    koprep's defaults (see `Word2VecParams`). `KOPREP_ONLY` names a subclass's settings that are
    not gensim's."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    KOPREP_ONLY: ClassVar[tuple[str, ...]] = ()
    AUTO_TRAINED_WORDS: ClassVar[int] = AUTO_TRAINED_WORDS

    vector_size: int = Field(100, ge=1)
    window: int = Field(5, ge=1)
    min_count: int = Field(2, ge=1)
    sg: Literal[0, 1] = 0
    hs: Literal[0, 1] = 0
    negative: int = Field(5, ge=0)
    ns_exponent: float = 0.75
    cbow_mean: Literal[0, 1] = 1
    epochs: Annotated[int, Field(ge=1)] | Literal["auto"] = "auto"
    seed: int = 1
    workers: int = Field(1, ge=1)
    sample: float = Field(1e-3, ge=0.0)
    alpha: float = Field(0.025, gt=0.0)
    min_alpha: float = Field(0.0001, ge=0.0)
    max_vocab_size: int | None = Field(None, ge=1)
    max_final_vocab: int | None = Field(None, ge=1)
    shrink_windows: bool = True

    @model_validator(mode="after")
    def _check_training_objective(self) -> Self:
        if self.hs == 0 and self.negative == 0:
            raise ValueError(
                "hs=0 with negative=0 trains nothing: set negative > 0 (negative sampling, e.g. 5) or hs=1"
            )
        if self.min_alpha > self.alpha:
            raise ValueError(f"min_alpha={self.min_alpha} exceeds alpha={self.alpha}: the learning rate only decays")
        return self

    def gensim_kwargs(self, corpus_words: int | None = None) -> dict:
        """Keyword arguments for gensim (everything but koprep's own options), with
        `epochs = "auto"` resolved for a corpus of `corpus_words` tokens (left out when not given)."""
        kwargs = self.model_dump(exclude=set(self.KOPREP_ONLY))
        if self.epochs == "auto":
            del kwargs["epochs"]
            if corpus_words is not None:
                kwargs["epochs"] = self.epochs_for(corpus_words)
        return kwargs

    def epochs_for(self, corpus_words: int) -> int:
        return auto_epochs(corpus_words, self.AUTO_TRAINED_WORDS) if self.epochs == "auto" else self.epochs


class Word2VecParams(EmbeddingParams):
    """gensim `Word2Vec` parameters (same names and meaning) plus an optional gensim `Phrases` step.

    Defaults are gensim's except `min_count=2` (small Korean corpora), `workers=1`: with one
    worker and a fixed `seed`, training is reproducible bit for bit; more workers are faster but
    not deterministic (gensim's own caveat), and `epochs = "auto"`: gensim's 5 on corpora of 400k
    tokens or more, more on smaller ones (`auto_epochs`), where 5 epochs leave every vector near
    the same point. Give a number to train exactly that many.
    """

    KOPREP_ONLY = ("phrases", "phrases_min_count", "phrases_threshold", "phrases_scoring", "phrases_delimiter")

    phrases: bool = False
    phrases_min_count: int = Field(5, ge=1)
    phrases_threshold: float = 10.0
    phrases_scoring: Literal["default", "npmi"] = "default"
    phrases_delimiter: str = Field("_", min_length=1)


class _RestartableSentences:
    """Re-iterable view of `source` yielding each sentence as a list of str.

    gensim's Cython training loop tests `if not sentence`, which fails on the numpy arrays that
    Parquet list columns come back as; lists also make the Phrases step behave.
    """

    def __init__(self, source: Iterable[Sequence[str]], phrases: FrozenPhrases | None = None) -> None:
        if iter(source) is source:
            raise TypeError(
                "sentences must be restartable (gensim reads them once per epoch), but got a one-shot "
                "iterator/generator; pass a list or an object whose __iter__ re-reads the shards"
            )
        self._source = source
        self._phrases = phrases

    def __iter__(self) -> Iterator[list[str]]:
        for sentence in self._source:
            tokens = sentence if isinstance(sentence, list) else list(sentence)
            yield tokens if self._phrases is None else self._phrases[tokens]


@runtime_checkable
class VocabularySentences(Protocol):
    """Restartable sentences that can also be read with the trained vocabulary's own key objects.

    `with_vocabulary(keys)` yields the same sentences, each in-vocabulary token as the identical str
    object from `keys` and every other token as None (with `tokens`, the token `tokens[i]` is
    given as `keys[i]`: how fastText's jamo keys are read from syllable tokens) (gensim skips both alike, and sentence lengths,
    hence job batches, learning rates and random draws, are unchanged: vectors stay bit-identical).
    gensim's training loop looks every token up in `key_to_index`; with the key's own object the
    hash is already cached and the match is by identity, so streaming from disk costs about what an
    in-memory list does, where freshly decoded strings cost ~25% more (bench/bench_vectorize.py).
    """

    def __iter__(self) -> Iterator[Sequence[str]]: ...

    def with_vocabulary(self, keys: list[str], tokens: list[str] | None = None) -> Iterable[Sequence[str | None]]: ...


@dataclass(frozen=True)
class WordCounts:
    """What gensim's vocabulary scan computes: each word's count, in order of first occurrence
    (gensim breaks frequency ties by that order), and the number of sentences."""

    counts: dict[str, int]
    sentences: int


@dataclass(frozen=True)
class TrainedVectors:
    """Word vectors and how their training went."""

    vectors: KeyedVectors
    epochs: int
    corpus_words: int
    """Tokens in the corpus gensim trained on (after phrase joining), every occurrence counted."""
    loss_per_epoch: list[float] = field(default_factory=list)
    """gensim's training loss summed over each epoch (`compute_loss`; gensim sums it in float32, so
    on large corpora read it as a trend, not to the digit)."""


def train_word2vec(
    sentences: Iterable[Sequence[str]], params: Word2VecParams, word_counts: WordCounts | None = None
) -> KeyedVectors:
    """Train word2vec on a restartable stream of token lists; returns the word vectors.

    Identical to `gensim.models.Word2Vec(sentences=list_of_token_lists, **params.gensim_kwargs(n))`
    where n is the corpus's token count (with `params.phrases`, on the phrase-joined sentences).
    Word counts are in `kv.get_vecattr(word, "count")`. `word_counts` of exactly these sentences,
    when the caller can count faster than gensim's Python scan (e.g. in Arrow), saves one pass over
    the corpus; it is ignored with `phrases` or `max_vocab_size`, which change what the scan sees.
    Sentences that are `VocabularySentences` (as the pipeline's shard reader is) are trained on in
    that faster form. `train_word2vec_logged` also returns the epochs and the loss per epoch.
    """
    return train_word2vec_logged(sentences, params, word_counts).vectors


def train_word2vec_logged(
    sentences: Iterable[Sequence[str]], params: Word2VecParams, word_counts: WordCounts | None = None
) -> TrainedVectors:
    """`train_word2vec`, with the epochs it trained for and gensim's loss per epoch (computing the
    loss leaves the vectors bit-identical)."""
    from gensim.models import Word2Vec

    frozen = _frozen_phrases(learn_phrases(sentences, params), params) if params.phrases else None
    counted = word_counts if not params.phrases and params.max_vocab_size is None else None
    return fit_vectors(
        Word2Vec(**params.gensim_kwargs(), compute_loss=True), _RestartableSentences(sentences, frozen), params,
        counted, sentences if frozen is None else None,
    )


def fit_vectors(
    model: Any, corpus: Iterable[Sequence[str | None]], params: EmbeddingParams, word_counts: WordCounts | None,
    streamed: Iterable[Sequence[str]] | None, as_read: Any = None,
) -> TrainedVectors:
    """The two calls gensim's `Word2Vec(sentences=...)` / `FastText(sentences=...)` make on an
    untrained `model`, split to refuse an empty vocabulary clearly and to resolve `epochs = "auto"`
    once the corpus's size is known. `word_counts` (of exactly `corpus`) replace the vocabulary scan;
    `streamed`, when it is `VocabularySentences`, is trained on in that faster form, its tokens read
    as `as_read(key)` for each vocabulary key (the key itself by default). gensim's loss is kept
    per epoch when `model.compute_loss` is on."""
    if word_counts is not None:
        model.build_vocab_from_freq(dict(word_counts.counts), corpus_count=word_counts.sentences)
        model.corpus_total_words = sum(word_counts.counts.values())
    else:
        model.build_vocab(corpus_iterable=corpus)
    if len(model.wv) == 0:
        raise EmptyResultError(
            f"{type(model).__name__} vocabulary is empty: no token occurs min_count={params.min_count} times; "
            "lower min_count or give a larger corpus"
        )
    if isinstance(streamed, VocabularySentences):
        keys = model.wv.index_to_key
        corpus = streamed.with_vocabulary(keys, None if as_read is None else [as_read(key) for key in keys])
    model.epochs = params.epochs_for(model.corpus_total_words)
    losses = _epoch_losses()
    model.train(
        corpus_iterable=corpus,
        total_examples=model.corpus_count,
        total_words=model.corpus_total_words,
        epochs=model.epochs,
        start_alpha=model.alpha,
        end_alpha=model.min_alpha,
        compute_loss=model.compute_loss,
        callbacks=[losses] if model.compute_loss else [],
    )
    return TrainedVectors(model.wv, model.epochs, int(model.corpus_total_words), losses.per_epoch())


def _mean_pairwise_cosine(vectors: np.ndarray) -> float:
    """The mean cosine over every pair of distinct rows."""
    unit = vectors.astype(np.float64)
    unit /= np.maximum(np.linalg.norm(unit, axis=1, keepdims=True), 1e-12)
    cosines = unit @ unit.T
    n = len(unit)
    return float((cosines.sum() - np.trace(cosines)) / (n * (n - 1)))


def _epoch_losses() -> Any:
    """A gensim callback keeping the running loss at the end of each epoch (gensim's loss is a
    running sum over one `train` call)."""
    from gensim.models.callbacks import CallbackAny2Vec

    class EpochLosses(CallbackAny2Vec):
        def __init__(self) -> None:
            self.running: list[float] = []

        def on_epoch_end(self, model: Any) -> None:
            self.running.append(float(model.get_latest_training_loss()))

        def per_epoch(self) -> list[float]:
            return [round(b - a, 2) for a, b in zip([0.0, *self.running[:-1]], self.running)]

    return EpochLosses()


def diagnose(trained: TrainedVectors, stage: str = "word2vec") -> dict[str, Any]:
    """What says whether the vectors trained: the loss per epoch, how much of the corpus the
    vocabulary covers, the spread of the cosines between the most frequent words and their nearest
    neighbours, their mean cosine with each other, the share of variance on the first principal
    component of those words' vectors, and
    a plain warning when the vectors are degenerate (all pointing one way), naming `stage`'s settings."""
    kv = trained.vectors
    covered = int(np.asarray(kv.expandos["count"], dtype=np.int64).sum()) if "count" in kv.expandos else None
    words = list(kv.index_to_key[:DIAGNOSED_WORDS])  # gensim sorts its vocabulary by count
    topn = min(DIAGNOSED_NEIGHBOURS, len(kv) - 1)
    cosines = np.array([s for w in words for _, s in kv.most_similar(w, topn=topn)] if topn > 0 else [])
    pairwise = _mean_pairwise_cosine(np.stack([kv[w] for w in words])) if len(words) > 1 else None
    per_word = cosines.reshape(len(words), topn).mean(axis=1) if topn > 0 else cosines
    spread = (
        {"mean": round(float(cosines.mean()), 4), "min": round(float(cosines.min()), 4),
         "median": round(float(np.median(cosines)), 4), "max": round(float(cosines.max()), 4),
         "words_above_0.9": int((per_word > 0.9).sum())}
        if cosines.size else {"mean": None, "min": None, "median": None, "max": None, "words_above_0.9": 0}
    )
    first_component = None
    if len(words) >= 3:
        vectors = np.stack([kv[w] for w in words]).astype(np.float64)
        singular = np.linalg.svd(vectors - vectors.mean(axis=0), compute_uv=False)
        variance = singular**2
        first_component = round(float(variance[0] / variance.sum()), 4) if variance.sum() else None
    warning = None
    if spread["mean"] is None or pairwise is None:
        warning = f"{stage} learned only {len(kv)} word(s): there are no neighbours to speak of; give a larger corpus or lower min_count"
    elif pairwise > DEGENERATE_PAIRWISE_COSINE:
        warning = (
            f"{stage} vectors look degenerate: the {len(words)} most frequent words have a mean cosine of "
            f"{pairwise:.2f} with each other (above {DEGENERATE_PAIRWISE_COSINE}), so every word seems similar to every "
            f"other and neighbours (mean cosine {spread['mean']:.2f}) mean little. Train longer ({stage}.epochs, now "
            f"{trained.epochs}) or on a larger corpus (it has {trained.corpus_words:,} tokens)."
        )
    return {
        "epochs": trained.epochs,
        "loss_per_epoch": trained.loss_per_epoch,
        "corpus_tokens": trained.corpus_words,
        "vocabulary": len(kv),
        "coverage": round(covered / trained.corpus_words, 4) if covered is not None and trained.corpus_words else None,
        "neighbour_cosine": {"words": len(words), "neighbours": max(topn, 0), **spread},
        "pairwise_cosine": None if pairwise is None else round(pairwise, 4),
        "first_component_share": first_component,
        "degenerate": warning is not None,
        "warning": warning,
    }


def learn_phrases(sentences: Iterable[Sequence[str]], params: Word2VecParams) -> pd.DataFrame:
    """gensim `Phrases` learned from the sentences, as a table: phrase (string, tokens joined with
    `params.phrases_delimiter`), score (float64), sorted by phrase."""
    from gensim.models.phrases import Phrases

    model = Phrases(
        _RestartableSentences(sentences),
        min_count=params.phrases_min_count,
        threshold=params.phrases_threshold,
        delimiter=params.phrases_delimiter,
        scoring=params.phrases_scoring,
    )
    exported = model.export_phrases()
    table = pd.DataFrame(
        {
            "phrase": pd.array(list(exported.keys()), dtype="string"),
            "score": np.fromiter(exported.values(), dtype=np.float64, count=len(exported)),
        }
    )
    return table.sort_values("phrase", ignore_index=True)


def apply_phrases(
    sentences: Iterable[Sequence[str]], phrases: pd.DataFrame, params: Word2VecParams
) -> Iterator[list[str]]:
    """Join the phrases of a phrase table inside each sentence, exactly as gensim's FrozenPhrases does."""
    frozen = _frozen_phrases(phrases, params)
    for sentence in sentences:
        yield frozen[sentence if isinstance(sentence, list) else list(sentence)]


def _frozen_phrases(phrases: pd.DataFrame, params: Word2VecParams) -> FrozenPhrases:
    from gensim.models.phrases import FrozenPhrases, Phrases

    # FrozenPhrases keeps only the settings and a phrase -> score dict; fill that dict from the table.
    frozen = FrozenPhrases(
        Phrases(
            min_count=params.phrases_min_count,
            threshold=params.phrases_threshold,
            delimiter=params.phrases_delimiter,
            scoring=params.phrases_scoring,
        )
    )
    frozen.phrasegrams = dict(zip(phrases["phrase"].tolist(), phrases["score"].astype(float).tolist()))
    return frozen


def vectors_table(kv: KeyedVectors) -> pa.Table:
    """term (string), count (int64), vector (list<float32>), one row per word in `kv` index order.

    Built in Arrow from the vector matrix as it is (no per-row Python objects), so writing it costs
    little next to training; `.to_pandas()` gives one float32 array per row.
    """
    if "count" not in kv.expandos:
        raise ValueError("these KeyedVectors carry no word counts; pass the vectors train_word2vec returned")
    vectors = np.ascontiguousarray(kv.vectors, dtype=np.float32)
    offsets = np.arange(0, vectors.size + 1, kv.vector_size, dtype=np.int32)
    return pa.table(
        {
            "term": pa.array(list(kv.index_to_key), pa.string()),
            "count": pa.array(np.asarray(kv.expandos["count"], dtype=np.int64)),
            "vector": pa.ListArray.from_arrays(pa.array(offsets), pa.array(vectors.reshape(-1))),
        }
    )


def write_word2vec_binary(kv: KeyedVectors, path: str | os.PathLike) -> None:
    """Write gensim's / the original C tool's binary word2vec format to `path` (given by the caller).

    Read back with `KeyedVectors.load_word2vec_format(path, binary=True)`. As gensim does, words are
    written in descending count order.
    """
    kv.save_word2vec_format(os.fspath(path), binary=True)
