"""The fastText stage: jamo subwords that compose back exactly, training identical to gensim's
FastText called directly on the decomposed tokens, a model file that gensim and Facebook's fastText
read, and vectors that answer words the corpus never had, through open_run, similar and evaluate."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import fasttext as facebook_fasttext
import numpy as np
import pytest
from gensim.models import FastText
from gensim.models.fasttext import load_facebook_model
from scipy.stats import spearmanr

from koprep.config import load_config
from koprep.loaders import open_run
from koprep.pipeline.datasets import FastTextFiles, ReportFile
from koprep.pipeline.evaluate import evaluate_vectors
from koprep.plan import build_plan
from koprep.stages.embed import AUTO_MAX_EPOCHS, Word2VecParams, auto_epochs
from koprep.stages.fasttext import EMPTY_FINAL, FASTTEXT_AUTO_TRAINED_WORDS, FastTextParams, compose, decompose
from koprep.stages.subword_vectors import SubwordVectors, load_fasttext, save_fasttext, train_fasttext
from koprep.store import ArtifactStore
from tests.runs import record_pipeline_run
from tests.unit.korean_samples import law_documents

SMALL = FastTextParams(vector_size=16, epochs=2, bucket=20_000, seed=3)
UNSEEN = "헌법재판소에서는요"  # not a token of the default corpus


@pytest.fixture(scope="module")
def sentences() -> list[list[str]]:
    return [text.split() for text in law_documents() if text.split()]


@pytest.fixture(scope="module")
def trained(sentences):
    return train_fasttext(sentences, SMALL)


def test_jamo_decomposition_is_three_letters_a_syllable_and_composes_back_exactly():
    syllables = [chr(code) for code in range(0xAC00, 0xD7A4)]
    decomposed = [decompose(s) for s in syllables]
    assert all(len(d) == 3 for d in decomposed) and len(set(decomposed)) == len(syllables)
    assert [compose(d) for d in decomposed] == syllables
    # the letters are Unicode's own: NFD gives the same initial and medial, and the final when there is one
    for syllable, letters in zip(syllables[::97], decomposed[::97]):
        assert unicodedata.normalize("NFD", syllable) == letters.replace(EMPTY_FINAL, "")
    mixed = "값이 3,000원 ABC ㄱㄴ 😀"
    assert compose(decompose(mixed)) == mixed
    assert decompose("ABC ㄱㄴ") == "ABC ㄱㄴ"  # only syllables are split


def test_training_is_gensim_fasttext_on_the_decomposed_tokens(sentences, trained):
    model, result = trained
    reference = FastText(
        [[decompose(t) for t in s] for s in sentences], **SMALL.gensim_kwargs(sum(map(len, sentences)))
    )
    np.testing.assert_array_equal(model.wv.vectors, reference.wv.vectors)
    np.testing.assert_array_equal(model.wv.vectors_ngrams, reference.wv.vectors_ngrams)
    kv = result.vectors
    assert isinstance(kv, SubwordVectors)
    assert kv.index_to_key == [compose(key) for key in reference.wv.index_to_key]  # displayed as syllables
    assert model.wv.index_to_key == reference.wv.index_to_key  # the model keeps the trained form
    np.testing.assert_array_equal(kv["헌법"], reference.wv[decompose("헌법")])
    assert UNSEEN not in kv.key_to_index
    np.testing.assert_array_equal(kv[UNSEEN], reference.wv[decompose(UNSEEN)])
    assert result.epochs == 2 and result.loss_per_epoch == []  # gensim computes no FastText loss


def test_char_subwords_train_on_the_tokens_as_they_are(sentences):
    params = SMALL.model_copy(update={"subwords": "char"})
    model, result = train_fasttext(sentences, params)
    reference = FastText(sentences, **params.gensim_kwargs(sum(map(len, sentences))))
    np.testing.assert_array_equal(model.wv.vectors, reference.wv.vectors)
    assert result.vectors.index_to_key == reference.wv.index_to_key
    np.testing.assert_array_equal(result.vectors[UNSEEN], reference.wv[UNSEEN])


def test_the_model_file_loads_in_gensim_and_in_facebook_fasttext(trained, tmp_path):
    model, result = trained
    path = tmp_path / "model.bin"
    save_fasttext(model, path)
    assert path.read_bytes()[:4] != b"\x80\x04\x95"[:4]  # not a pickle: fastText's own header
    loaded = load_fasttext(path, "jamo")
    assert loaded.index_to_key == result.vectors.index_to_key
    np.testing.assert_allclose(loaded.vectors, result.vectors.vectors, atol=1e-6)
    np.testing.assert_allclose(loaded[UNSEEN], result.vectors[UNSEEN], atol=1e-6)
    gensim_model = load_facebook_model(str(path))
    np.testing.assert_allclose(gensim_model.wv[decompose(UNSEEN)], result.vectors[UNSEEN], atol=1e-6)
    facebook = facebook_fasttext.load_model(str(path))
    assert facebook.get_words()[:5] == model.wv.index_to_key[:5]
    for word in ("헌법", UNSEEN):
        np.testing.assert_allclose(facebook.get_word_vector(decompose(word)), result.vectors[word], atol=1e-5)


def test_auto_epochs_train_mid_size_corpora_longer_than_word2vec():
    # NSMC train 50k (mecab) has 501,486 tokens: fastText 10 epochs (5 scored below word2vec there),
    # word2vec 5; at 150k (1,493,354 tokens) both keep gensim's 5. Small corpora: both at the cap.
    fasttext, word2vec = FastTextParams(), Word2VecParams()
    assert [fasttext.epochs_for(n) for n in (501_486, 1_493_354, 17_000)] == [10, 5, AUTO_MAX_EPOCHS]
    assert [word2vec.epochs_for(n) for n in (501_486, 1_493_354, 17_000)] == [5, 5, AUTO_MAX_EPOCHS]
    assert fasttext.epochs_for(501_486) == auto_epochs(501_486, FASTTEXT_AUTO_TRAINED_WORDS)
    assert fasttext.gensim_kwargs(501_486)["epochs"] == 10 and FastTextParams(epochs=7).epochs_for(501_486) == 7


def test_invalid_params_are_rejected():
    with pytest.raises(ValueError, match="max_n"):
        FastTextParams(min_n=5, max_n=3)
    with pytest.raises(ValueError):
        FastTextParams(subwords="syllable")


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> ArtifactStore:
    store = ArtifactStore(tmp_path_factory.mktemp("store"))
    overrides = {"run.stages": ["clean", "tokenize", "word2vec", "fasttext"], "fasttext.bucket": 20_000,
                 "fasttext.vector_size": 16, "fasttext.epochs": 3, "word2vec.vector_size": 16, "word2vec.epochs": 2}
    record_pipeline_run(store, None, "with-fasttext", overrides=overrides)
    return store


def test_fasttext_runs_only_when_chosen(store, tmp_path):
    plain = build_plan(store, None, load_config(None, {}, "whitespace"))
    assert "fasttext" not in plain.stages and "word2vec" in plain.stages


def test_a_run_s_fasttext_vectors_answer_unseen_words(store):
    run = open_run(store.root, "with-fasttext")
    kv = run.word_vectors("fasttext")
    assert isinstance(kv, SubwordVectors) and kv.subwords == "jamo"
    assert UNSEEN not in kv.key_to_index and kv[UNSEEN].shape == (16,)
    neighbours = run.similar(UNSEEN, 5, stage="fasttext")
    assert len(neighbours) == 5 and all(word in kv.key_to_index for word, _ in neighbours)
    assert UNSEEN not in [word for word, _ in neighbours]
    with pytest.raises(KeyError, match="fastText"):
        run.similar(UNSEEN, 5)  # word2vec does not know it
    entry = run.entry("fasttext")
    diagnostic = FastTextFiles.diagnostic(entry)
    assert diagnostic["subwords"] == "jamo" and diagnostic["epochs"] == 3
    assert entry.manifest["extra"]["terms"] == len(kv)


def test_evaluate_scores_fasttext_on_every_pair(store, tmp_path):
    run = open_run(store.root, "with-fasttext")
    pairs = tmp_path / "pairs.csv"
    rows = [("헌법", "법률", 8.0), (UNSEEN, "헌법재판소", 9.0), ("대통령", "국회의원들은요", 6.0), ("법률", "사과나무를", 1.0)]
    pairs.write_text("word 1,word 2,score\n" + "".join(f"{a},{b},{s}\n" for a, b, s in rows), encoding="utf-8")
    fasttext = ReportFile.read(Path(evaluate_vectors(run.store, run.entry("fasttext"), similarity=str(pairs)).path))
    word2vec = ReportFile.read(Path(evaluate_vectors(run.store, run.entry("word2vec"), similarity=str(pairs)).path))
    assert fasttext["similarity"]["evaluated"] == fasttext["similarity"]["total"] == 4
    assert fasttext["similarity"]["oov_rate"] == 0.0
    assert word2vec["similarity"]["evaluated"] < 4  # word2vec cannot answer the unseen words
    kv = run.word_vectors("fasttext")
    expected = spearmanr([kv.similarity(a, b) for a, b, _ in rows], [s for _, _, s in rows])[0]
    assert fasttext["similarity"]["spearman"] == pytest.approx(expected)
