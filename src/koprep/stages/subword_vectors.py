"""gensim `FastText` trained on a restartable token stream, saved in Facebook's fastText `.bin`
format, and read back as KeyedVectors that answer any word (`SubwordVectors`).

Imports gensim: only what trains or loads fastText vectors imports this module.
"""

from __future__ import annotations

import os
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
from gensim.models import FastText
from gensim.models.fasttext import FastTextKeyedVectors, load_facebook_vectors, save_facebook_model

from koprep.stages.embed import TrainedVectors, WordCounts, fit_vectors
from koprep.stages.fasttext import FastTextParams, compose, decompose


class SubwordVectors(FastTextKeyedVectors):
    """gensim FastTextKeyedVectors keyed by words as the tokenizer wrote them (먹었다), although
    trained, with `subwords = "jamo"`, on their letters: an in-vocabulary word is looked up as it
    is, any other word by the n-grams of its decomposed form, as gensim looks up the words it
    trained on. Everything else (most_similar, similarity, evaluate_word_pairs, ...) is gensim's."""

    subwords: str = "char"

    def get_vector(self, key: Any, norm: bool = False) -> np.ndarray:
        if self.subwords == "jamo" and isinstance(key, str) and key not in self.key_to_index:
            key = decompose(key)
        return super().get_vector(key, norm=norm)


def displayed(kv: FastTextKeyedVectors, subwords: str) -> FastTextKeyedVectors:
    """`kv` (as gensim trained or loaded it) with its keys composed back into syllables for jamo
    subwords. Changes `kv` in place: the vectors are large and shared, not copied."""
    if subwords == "jamo":
        kv.index_to_key = [compose(key) for key in kv.index_to_key]
        kv.key_to_index = {key: index for index, key in enumerate(kv.index_to_key)}
    kv.__class__ = SubwordVectors  # same fields; only the lookup of unseen words differs
    kv.subwords = subwords
    return kv


class _Decomposed:
    """Restartable: the sentences with every token decomposed into letters."""

    def __init__(self, sentences: Iterable[Sequence[str]]) -> None:
        if iter(sentences) is sentences:
            raise TypeError("sentences must be restartable (gensim reads them once per epoch); pass a list")
        self.sentences = sentences

    def __iter__(self) -> Iterator[list[str]]:
        for sentence in self.sentences:
            yield [decompose(token) for token in sentence]


def train_fasttext(
    sentences: Iterable[Sequence[str]], params: FastTextParams, word_counts: WordCounts | None = None
) -> tuple[FastText, TrainedVectors]:
    """Train fastText on a restartable stream of token lists: the model (for `save_fasttext`) and
    its vectors, keyed as `displayed` keys them.

    With `workers = 1`, identical to `gensim.models.FastText(sentences=S, **params.gensim_kwargs(n))`
    where S are the token lists, each token decomposed for jamo subwords, and n their token count.
    `word_counts` (of these sentences, as the tokenizer wrote them) save gensim's vocabulary scan;
    `VocabularySentences` (the pipeline's shard reader) are read in their faster form. gensim does
    not compute FastText's training loss, so the loss per epoch stays empty.
    """
    jamo = params.subwords == "jamo"
    model = FastText(**params.gensim_kwargs())
    corpus: Iterable[Sequence[str]] = _Decomposed(sentences) if jamo else sentences
    counts = None
    if word_counts is not None and params.max_vocab_size is None:
        counts = word_counts
        if jamo:
            counts = WordCounts({decompose(w): c for w, c in word_counts.counts.items()}, word_counts.sentences)
    trained = fit_vectors(model, corpus, params, counts, sentences, compose if jamo else None)
    vectors = displayed(_copy_keys(model.wv), params.subwords)
    return model, TrainedVectors(vectors, trained.epochs, trained.corpus_words, trained.loss_per_epoch)


def _copy_keys(kv: FastTextKeyedVectors) -> FastTextKeyedVectors:
    """A view of `kv` sharing its arrays but with its own key lists, so that composing the keys for
    display leaves the model's (which `save_fasttext` writes) as trained."""
    view = object.__new__(type(kv))
    view.__dict__.update(kv.__dict__)
    view.index_to_key = list(kv.index_to_key)
    view.key_to_index = dict(kv.key_to_index)
    view.expandos = {name: values for name, values in kv.expandos.items()}
    return view


def save_fasttext(model: FastText, path: str | os.PathLike) -> None:
    """Facebook's fastText binary format (gensim `save_facebook_model`): the words as trained (jamo
    decomposed for jamo subwords), their vectors and the n-gram buckets. The fastText tools and
    gensim's `load_facebook_model` / `load_facebook_vectors` read it."""
    save_facebook_model(model, os.fspath(path))


def load_fasttext(path: str | os.PathLike, subwords: str) -> FastTextKeyedVectors:
    """The vectors `save_fasttext` wrote, keyed for display, answering any word."""
    return displayed(load_facebook_vectors(os.fspath(path)), subwords)
