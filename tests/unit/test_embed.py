"""word2vec / Phrases from a restartable shard stream against gensim called directly on a list."""

from __future__ import annotations

import inspect
from collections import Counter

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from gensim.models import KeyedVectors, Word2Vec
from gensim.models.phrases import Phrases
from pydantic import ValidationError

from koprep.stages.embed import (
    AUTO_MAX_EPOCHS,
    AUTO_MIN_EPOCHS,
    AUTO_TRAINED_WORDS,
    DEGENERATE_PAIRWISE_COSINE,
    Word2VecParams,
    apply_phrases,
    auto_epochs,
    diagnose,
    learn_phrases,
    train_word2vec,
    train_word2vec_logged,
    vectors_table,
    write_word2vec_binary,
)
from tests.helpers import nsmc
from tests.unit.korean_samples import law_documents

SMALL = Word2VecParams(vector_size=24, epochs=2, min_count=2, seed=7)


class ParquetLikeShards:
    """Restartable stream of sentences shaped like the pipeline's: shards whose token lists are
    numpy object arrays (what a Parquet list<string> column gives back), counting full passes."""

    def __init__(self, sentences: list[list[str]], shard_size: int) -> None:
        self._shards = [
            [np.array(tokens, dtype=object) for tokens in sentences[i : i + shard_size]]
            for i in range(0, len(sentences), shard_size)
        ]
        self.passes = 0

    def __iter__(self):
        for shard in self._shards:
            yield from shard
        self.passes += 1


@pytest.fixture(scope="module")
def sentences() -> list[list[str]]:
    return [text.split() for text in nsmc(3000)["document"]]


@pytest.fixture(scope="module")
def trained(sentences) -> KeyedVectors:
    return train_word2vec(ParquetLikeShards(sentences, 700), SMALL)


def _assert_same_keyed_vectors(ours: KeyedVectors, theirs: KeyedVectors) -> None:
    assert ours.index_to_key == theirs.index_to_key
    np.testing.assert_array_equal(ours.expandos["count"], theirs.expandos["count"])
    np.testing.assert_array_equal(ours.vectors, theirs.vectors)


@pytest.mark.slow  # NSMC reviews
def test_streamed_training_equals_gensim_on_the_list(sentences, trained):
    stream = ParquetLikeShards(sentences, 700)
    ours = train_word2vec(stream, SMALL)
    assert stream.passes == SMALL.epochs + 1  # one vocabulary scan, then one pass per epoch
    theirs = Word2Vec(sentences=sentences, **SMALL.gensim_kwargs()).wv
    _assert_same_keyed_vectors(ours, theirs)
    _assert_same_keyed_vectors(trained, theirs)  # and shard size does not matter
    counts = pd.Series([w for s in sentences for w in s]).value_counts()
    assert all(ours.get_vecattr(word, "count") == counts[word] for word in ours.index_to_key[:50])


@pytest.mark.slow  # NSMC reviews
def test_one_shot_iterators_are_refused(sentences):
    with pytest.raises(TypeError, match="restartable"):
        train_word2vec((s for s in sentences), SMALL)
    with pytest.raises(TypeError, match="restartable"):
        train_word2vec(iter(sentences), SMALL)


@pytest.mark.slow  # NSMC reviews
def test_too_high_min_count_gives_a_clear_error(sentences):
    with pytest.raises(ValueError, match="min_count"):
        train_word2vec(sentences[:20], Word2VecParams(min_count=10_000, epochs=1))


@pytest.mark.slow  # NSMC reviews
def test_vectors_table_round_trips_exactly(trained, tmp_path):
    table = vectors_table(trained)
    assert table.schema.names == ["term", "count", "vector"]
    assert [str(t) for t in table.schema.types] == ["string", "int64", "list<item: float>"]  # float32
    pq.write_table(table, tmp_path / "vectors.parquet")
    stored = pq.read_table(tmp_path / "vectors.parquet")
    assert stored.column("term").to_pylist() == list(trained.index_to_key)
    np.testing.assert_array_equal(stored.column("count").to_numpy(), trained.expandos["count"])
    vectors = stored.column("vector").combine_chunks().flatten().to_numpy().reshape(len(trained), -1)
    assert vectors.dtype == np.float32
    np.testing.assert_array_equal(vectors, trained.vectors)


@pytest.mark.slow  # NSMC reviews
def test_word2vec_binary_is_readable_by_gensim(trained, tmp_path):
    write_word2vec_binary(trained, tmp_path / "vectors.bin")
    loaded = KeyedVectors.load_word2vec_format(tmp_path / "vectors.bin", binary=True)
    assert sorted(loaded.index_to_key) == sorted(trained.index_to_key)
    for word in trained.index_to_key:
        np.testing.assert_array_equal(loaded[word], trained[word])


PHRASES = Word2VecParams(
    vector_size=16, epochs=1, phrases=True, phrases_min_count=3, phrases_threshold=5.0, seed=3
)


@pytest.mark.slow  # NSMC reviews
def test_phrase_table_equals_gensim_phrases(sentences):
    table = learn_phrases(ParquetLikeShards(sentences, 1000), PHRASES)
    direct = Phrases(sentences, min_count=3, threshold=5.0)
    assert len(table) > 10
    assert dict(zip(table["phrase"], table["score"])) == direct.export_phrases()
    assert table["phrase"].is_monotonic_increasing and table["score"].dtype == np.float64

    frozen = direct.freeze()
    applied = list(apply_phrases(ParquetLikeShards(sentences, 1000), table, PHRASES))
    assert applied == [frozen[s] for s in sentences]
    assert any("_" in token for sentence in applied for token in sentence)


@pytest.mark.slow  # NSMC reviews
def test_training_with_phrases_equals_gensim_on_phrased_sentences(sentences):
    ours = train_word2vec(ParquetLikeShards(sentences, 1000), PHRASES)
    frozen = Phrases(sentences, min_count=3, threshold=5.0).freeze()
    theirs = Word2Vec(sentences=[frozen[s] for s in sentences], **PHRASES.gensim_kwargs()).wv
    _assert_same_keyed_vectors(ours, theirs)
    assert any("_" in word for word in ours.index_to_key)


def test_params_map_onto_gensim():
    accepted = set(inspect.signature(Word2Vec).parameters)
    assert set(Word2VecParams().gensim_kwargs()) <= accepted
    defaults = {name: p.default for name, p in inspect.signature(Word2Vec).parameters.items()}
    ours = Word2VecParams().gensim_kwargs()
    differing = {name for name in ours if ours[name] != defaults[name]}
    assert differing == {"min_count", "workers"}  # the two documented departures from gensim


@pytest.mark.parametrize(
    "bad", [{"hs": 0, "negative": 0}, {"sg": 2}, {"vector_size": 0}, {"min_alpha": 0.5}, {"epoch": 3}], ids=repr
)
def test_invalid_params_are_rejected(bad):
    with pytest.raises(ValidationError):
        Word2VecParams(**bad)


# ------------------------------------------------------------------------- training diagnostic
@pytest.fixture(scope="module")
def syllables() -> list[list[str]]:
    """600 documents of the default corpus as syllables: few, very frequent tokens, the kind of corpus
    on which gensim's 5 epochs leave every vector pointing one way."""
    return [list(text.replace(" ", "")) for text in law_documents()[:600] if text.strip()]


def test_auto_epochs_scale_with_the_corpus_within_bounds():
    sizes = [1, 17_000, 100_000, 400_000, 10_000_000]
    epochs = [auto_epochs(n) for n in sizes]
    assert epochs == sorted(epochs, reverse=True)
    assert epochs[0] == AUTO_MAX_EPOCHS and epochs[-1] == AUTO_MIN_EPOCHS == 5  # gensim's default on large corpora
    assert epochs[2] * 100_000 >= AUTO_TRAINED_WORDS > (epochs[2] - 1) * 100_000  # enough epochs, not more


def test_auto_epochs_train_as_gensim_called_with_the_resolved_epochs(syllables):
    tokens = sum(map(len, syllables))
    ours = train_word2vec_logged(syllables, Word2VecParams(vector_size=24))
    theirs = Word2Vec(syllables, **Word2VecParams(vector_size=24).gensim_kwargs(tokens))
    assert ours.epochs == theirs.epochs == auto_epochs(tokens) > 5
    assert ours.corpus_words == tokens
    _assert_same_keyed_vectors(ours.vectors, theirs.wv)


def test_diagnostic_warns_about_degenerate_vectors_and_not_about_trained_ones(syllables):
    untrained = diagnose(train_word2vec_logged(syllables, Word2VecParams(epochs=5)))
    trained = diagnose(train_word2vec_logged(syllables, Word2VecParams()))
    assert untrained["degenerate"] and untrained["pairwise_cosine"] > DEGENERATE_PAIRWISE_COSINE
    assert untrained["neighbour_cosine"]["mean"] > 0.9
    assert trained["pairwise_cosine"] < trained["neighbour_cosine"]["mean"]  # neighbours are nearer than words at large
    assert "word2vec.epochs, now 5" in untrained["warning"]
    assert not trained["degenerate"] and trained["warning"] is None
    assert trained["neighbour_cosine"]["mean"] <= 0.9
    assert trained["neighbour_cosine"]["min"] <= trained["neighbour_cosine"]["median"] <= trained["neighbour_cosine"]["max"]
    for diagnostic in (untrained, trained):
        losses = diagnostic["loss_per_epoch"]
        assert len(losses) == diagnostic["epochs"] and all(loss > 0 for loss in losses)
        assert losses[-1] < losses[0]  # gensim's loss falls as it trains
    assert len(trained["loss_per_epoch"]) > len(untrained["loss_per_epoch"])


def test_diagnostic_coverage_is_the_share_of_corpus_tokens_in_the_vocabulary(syllables):
    counts = Counter(token for sentence in syllables for token in sentence)
    params = Word2VecParams(epochs=1, min_count=20)
    diagnostic = diagnose(train_word2vec_logged(syllables, params))
    kept = sum(count for count in counts.values() if count >= params.min_count)
    assert diagnostic["coverage"] == round(kept / sum(counts.values()), 4) < 1
    assert diagnostic["vocabulary"] == sum(1 for count in counts.values() if count >= params.min_count)
