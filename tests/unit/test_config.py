"""Configuration: defaults, TOML file, --backend and --set layering, and clear errors."""

from __future__ import annotations

import pytest

from koprep.config import ConfigError, PipelineConfig, load_config, parse_override


def test_defaults():
    config = load_config()
    assert config == PipelineConfig()
    assert config.tokenize.backend == "okt"
    assert config.bow.ngram_range == (1, 1)
    assert config.ngram.ngram_range == (1, 2)


def test_layering_file_then_backend_then_overrides(tmp_path):
    path = tmp_path / "koprep.toml"
    path.write_text(
        '[tokenize]\nbackend = "kiwi"\nmin_length = 2\n[ngram]\nngram_range = [1, 3]\nmin_df = 2\n',
        encoding="utf-8",
    )
    config = load_config(path, ["ngram.min_df=3", "tokenize.options.mode=nouns"], backend="okt")
    assert config.tokenize.backend == "okt"
    assert config.tokenize.min_length == 2
    assert config.tokenize.options == {"mode": "nouns"}
    assert config.ngram.ngram_range == (1, 3)
    assert config.ngram.min_df == 3


@pytest.mark.parametrize(
    "raw, value",
    [("2", 2), ("0.5", 0.5), ("true", True), ("[1, 3]", [1, 3]), ('{mode = "nouns"}', {"mode": "nouns"}), ("영화", "영화")],
)
def test_override_values_are_parsed(raw, value):
    assert parse_override(f"x.y={raw}") == ("x.y", value)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["nosuch.key=1"], "unknown config section"),
        (["ngram.nosuch=1"], "ngram.nosuch"),
        (["ngram.min_df=-1"], "ngram.min_df"),
        (["word2vec.vector_size=abc"], "word2vec.vector_size"),
        (["ngram_range"], "SECTION.KEY=VALUE"),
        (["run.shard_size=0"], "shard_size"),
    ],
)
def test_bad_settings_name_the_setting(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(overrides=overrides)


def test_bad_config_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[ngram\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)


def test_the_shipped_sentiment_example_config_is_valid_for_mecab_and_kiwi():
    from koprep.tokenizers import get_tokenizer
    from tests.helpers import REPO

    config = load_config(REPO / "examples" / "sentiment.toml")
    assert config.tokenize.drop_tags == () and not config.tokenize.stopwords and not config.clean.filter_chars
    assert config.tfidf.ngram_range == (1, 2) and config.tfidf.sublinear_tf
    for backend in ("mecab", "kiwi"):
        get_tokenizer(backend, config.tokenize.options)


def test_setting_one_ngram_option_keeps_its_bigrams():
    """`--set ngram.min_df=2` used to rebuild [ngram] from CountVectorizer's defaults, silently
    dropping the stage's 1-2-gram default (`koprep status` showed `ngram_range changed: [1, 2] → [1, 1]`)."""
    config = load_config(None, ["ngram.min_df=2"])
    assert config.ngram.ngram_range == (1, 2) and config.ngram.min_df == 2
    assert load_config(None, ["bow.min_df=2"]).bow.ngram_range == (1, 1)
    assert load_config().ngram.model_dump() == {**load_config().bow.model_dump(), "ngram_range": (1, 2)}
