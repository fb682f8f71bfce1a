"""Named presets: shipped, layered as defaults ← preset ← --config ← --backend ← --set, listed by
`koprep presets`, and an unknown name is bad input (exit 2) naming the ones that exist."""

from __future__ import annotations

import json

import pytest

from koprep import presets
from koprep.cli import main
from koprep.config import ConfigError, PipelineConfig, load_config


def test_the_presets_ship_with_the_package():
    assert presets.names() == ["classify", "search", "topic"]
    for name in presets.names():
        assert presets.load(name).description


def test_topic_is_the_defaults():
    assert load_config(preset="topic") == PipelineConfig()
    assert load_config(backend="mecab", preset="topic") == load_config(backend="mecab")


def test_classify_keeps_signal_and_adds_chargram():
    config = load_config(backend="mecab", preset="classify")
    assert config.clean.filter_chars is False
    assert config.tokenize.stopwords is False and config.tokenize.drop_tags == ()
    assert config.tokenize.options == {"lemma": False}
    assert "chargram" in config.run.stages and "tfidf" in config.run.stages
    assert config.chargram.analyzer == "char_wb" and config.tfidf.sublinear_tf is True
    # The per-backend table follows the backend finally chosen, wherever it was chosen.
    assert load_config(backend="okt", preset="classify").tokenize.options == {"stem": False}
    assert load_config(overrides=["tokenize.backend=kiwi"], preset="classify").tokenize.options == {"lemma": False}
    assert load_config(overrides=["tokenize.backend=whitespace"], preset="classify").tokenize.options == {}


def test_search_uses_nouns_and_character_ngrams():
    config = load_config(backend="kiwi", preset="search")
    assert config.tokenize.options == {"mode": "nouns"}
    assert config.run.stages == ("clean", "tokenize", "ngram", "tfidf", "chargram")
    assert config.chargram.analyzer == "char_wb" and config.chargram.ngram_range == (2, 3)


def test_each_layer_overrides_the_previous(tmp_path):
    # defaults: tfidf.min_df 1, ngram_range (1, 1), sublinear_tf False, backend okt.
    # preset classify sets min_df 2, ngram_range (1, 2), sublinear_tf True, filter_chars False.
    config_file = tmp_path / "koprep.toml"
    config_file.write_text(
        '[tfidf]\nmin_df = 3\nngram_range = [1, 3]\n[tokenize]\nbackend = "kiwi"\noptions = { mode = "morphs" }\n',
        encoding="utf-8",
    )
    config = load_config(config_file, ["tfidf.min_df=4"], backend="mecab", preset="classify")
    assert config.tfidf.min_df == 4  # --set over --config over preset
    assert config.tfidf.ngram_range == (1, 3)  # --config over preset
    assert config.tfidf.sublinear_tf is True  # preset over defaults
    assert config.clean.filter_chars is False  # preset over defaults
    assert config.chargram.min_df == 2  # preset over defaults
    assert config.tokenize.backend == "mecab"  # --backend over --config
    # Nested tables merge: the file's option joins the preset's mecab option.
    assert config.tokenize.options == {"lemma": False, "mode": "morphs"}
    assert config.bow.min_df == 1  # untouched: defaults
    without_set = load_config(config_file, [], backend="mecab", preset="classify")
    assert without_set.tfidf.min_df == 3


def test_unknown_preset_is_a_config_error_naming_the_presets():
    with pytest.raises(ConfigError, match="unknown preset 'sentiment'.*classify, search, topic"):
        load_config(preset="sentiment")
    with pytest.raises(presets.UnknownPresetError, match="unknown preset 'sentiment'"):
        presets.load("sentiment")


@pytest.mark.parametrize("command", [["run"], ["clean-preview", "텍스트"], ["compare", "x.tsv", "--label-column", "label"]])
def test_unknown_preset_exits_2(command, capsys):
    assert main([*command, "--preset", "nope"]) == 2
    captured = capsys.readouterr()
    assert "unknown preset 'nope'" in captured.err and "classify, search, topic" in captured.err
    assert "Traceback" not in captured.err


def test_presets_command_lists_changes(capsys):
    assert main(["presets", "--json"]) == 0
    listing = {p["name"]: p for p in json.loads(capsys.readouterr().out.strip().splitlines()[-1])["presets"]}
    assert listing["topic"]["changes"] == []
    classify = {(c["setting"], c["backend"]): c for c in listing["classify"]["changes"]}
    assert classify[("clean.filter_chars", None)] == {
        "setting": "clean.filter_chars", "default": True, "value": False, "backend": None,
    }
    assert classify[("tokenize.options.lemma", "mecab")]["default"] is True
    assert classify[("tokenize.options.stem", "okt")]["value"] is False
    assert classify[("run.stages", None)]["value"] == ["clean", "tokenize", "tfidf", "chargram"]

    assert main(["presets"]) == 0
    text = capsys.readouterr().out
    assert "classify:" in text and "clean.filter_chars = false  (default true)" in text
    assert "tokenize.options.mode = \"nouns\"  (default \"morphs\")  [mecab only]" in text
