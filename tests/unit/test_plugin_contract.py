"""A third-party tokenizer backend written from `koprep.tokenizers.base` alone: it registers through
the `koprep.tokenizers` entry point group (a real dist-info on sys.path) and through
`register_backend`, shows in `koprep backends`, and runs through the pipeline's tokenize stage."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from koprep.pipeline.execution import StageResult
from koprep.cli import main
from koprep.config import load_config
from koprep.stages.clean import CleanParams, clean_text
from koprep.stages.filters import default_stopwords
from koprep.store import ArtifactStore
from tests.helpers import plugin_on_path
from tests.runs import run_stages
from koprep.tokenizers import BackendUnavailable, get_tokenizer, register_backend
from koprep.tokenizers.base import Tokenizer, TrainableTokenizer
from koprep.tokenizers.registry import BackendSpec

PLUGIN = "koprep_syllable_backend"

PLUGIN_SOURCE = '''
"""Splits words and tags each piece: "H" for Hangul words, "P" for punctuation, "O" for the rest."""

import re

from koprep.tokenizers.base import BackendOptions

PIECES = re.compile(r"[가-힣]+|[^\\w\\s]+|\\w+")


class SyllableTokenizer:
    name = "syllables"
    default_drop_tags = ("P",)

    class Options(BackendOptions):
        execution_only = frozenset({"workers"})
        max_syllables: int = 0
        """Cut Hangul words to at most this many syllables; 0 keeps them whole."""
        workers: int = 1

    def __init__(self, **options):
        self.options = self.Options(**options)

    def version(self):
        return "syllables-1:" + ",".join(f"{k}={v}" for k, v in self.options.affecting_output().items())

    def _tag(self, piece):
        if re.fullmatch(r"[가-힣]+", piece):
            limit = self.options.max_syllables
            return (piece[:limit] if limit else piece), "H"
        return piece, "P" if re.fullmatch(r"[^\\w\\s]+", piece) else "O"

    def tokenize(self, texts):
        return [[self._tag(piece) for piece in PIECES.findall(text)] for text in texts]
'''

ENTRY_POINTS = f"""[koprep.tokenizers]
syllables = {PLUGIN}:SyllableTokenizer
"""

TEXTS = ["영화 정말 재밌다!!", "OST 10점... 최고", "", "ㅋㅋ 배우들 연기가 좋았어요."]


def expected_tokens(text: str, max_syllables: int = 0) -> list[str]:
    """The plug-in's rule applied by hand, then the default filter (its "P" tags, koprep's stopwords)."""
    tokens = []
    for piece in re.findall(r"[가-힣]+|[^\w\s]+|\w+", text):
        if re.fullmatch(r"[^\w\s]+", piece):
            continue
        if re.fullmatch(r"[가-힣]+", piece) and max_syllables:
            piece = piece[:max_syllables]
        if piece not in default_stopwords():
            tokens.append(piece)
    return tokens


@pytest.fixture
def installed_plugin(tmp_path, monkeypatch):
    """The plug-in as pip would leave it: its module and a dist-info with entry_points.txt on sys.path."""
    site = tmp_path / "site"
    with plugin_on_path(site, monkeypatch, PLUGIN, PLUGIN_SOURCE, "koprep-syllable-backend", ENTRY_POINTS):
        yield site


def test_entry_point_backend_keeps_the_contract_and_tokenizes(installed_plugin):
    tokenizer = get_tokenizer("syllables", {"max_syllables": 2})
    assert isinstance(tokenizer, Tokenizer) and not isinstance(tokenizer, TrainableTokenizer)
    assert tokenizer.tokenize(["영화 정말!!"]) == [[("영화", "H"), ("정말", "H"), ("!!", "P")]]
    assert tokenizer.version() == get_tokenizer("syllables", {"max_syllables": 2, "workers": 8}).version()


def test_entry_point_backend_shows_in_koprep_backends(installed_plugin, capsys):
    assert main(["backends", "--json"]) == 0
    infos = {info["name"]: info for info in json.loads(capsys.readouterr().out)}
    plugin = infos["syllables"]
    assert plugin["available"] and not plugin["trainable"]
    assert plugin["description"] == "third-party backend from koprep-syllable-backend"
    assert plugin["default_drop_tags"] == ["P"]
    assert set(plugin["options"]) == {"max_syllables", "workers"}
    assert main(["backends"]) == 0
    assert "--set tokenize.options.max_syllables=" in capsys.readouterr().out


def run_tokenize(tmp_path: Path, backend: str, **options) -> tuple[StageResult, list[list[str]]]:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    config = load_config(overrides={"tokenize.backend": backend, "tokenize.options": options, "run.stages": ["tokenize"]})
    result = run_stages(ArtifactStore(tmp_path / "artifacts"), str(corpus), config)["tokenize"]
    table = pq.read_table(Path(result.path), columns=["doc_id", "tokens"])
    return result, table.column("tokens").to_pylist()


def test_entry_point_backend_runs_through_the_tokenize_stage(installed_plugin, tmp_path):
    result, tokens = run_tokenize(tmp_path, "syllables", max_syllables=2)
    assert tokens == [expected_tokens(clean_text(text, CleanParams()), 2) for text in TEXTS]
    assert tokens[0] == ["영화", "정말", "재밌"]
    assert result.extra["drop_tags"] == ["P"] and result.extra["backend"] == "syllables"
    again, _ = run_tokenize(tmp_path, "syllables", max_syllables=2, workers=4)
    assert again.cached and again.fingerprint == result.fingerprint
    whole, _ = run_tokenize(tmp_path, "syllables")
    assert not whole.cached


def test_register_backend_adds_the_same_class_under_another_name(installed_plugin, tmp_path):
    register_backend("syllables-too", BackendSpec(f"{PLUGIN}:SyllableTokenizer", "registered in code", "built in"))
    _, tokens = run_tokenize(tmp_path, "syllables-too")
    assert tokens[3] == ["ㅋㅋ", "배우들", "연기가", "좋았어요"]


def test_a_class_that_breaks_the_contract_is_refused_with_what_it_lacks(installed_plugin):
    (installed_plugin / "koprep_broken_backend.py").write_text(
        "class Broken:\n    name = 'broken'\n    def tokenize(self, texts):\n        return []\n", encoding="utf-8"
    )
    register_backend("broken", BackendSpec("koprep_broken_backend:Broken", "lacks most of the contract", "n/a"))
    try:
        with pytest.raises(BackendUnavailable, match="'Options'.*'default_drop_tags'|'default_drop_tags'") as error:
            get_tokenizer("broken")
        assert "'version'" in str(error.value)
    finally:
        sys.modules.pop("koprep_broken_backend", None)


@pytest.mark.parametrize("declared, problem", [
    ("threads", "its parallelism 'threads' is not one of processes, own, none"),
    ("own", 'its parallelism is "own" but it has no with_workers(n) method'),
])
def test_a_parallelism_the_pipeline_cannot_honour_is_a_contract_problem(declared, problem):
    from koprep.tokenizers.base import contract_problems
    from koprep.tokenizers.whitespace import WhitespaceTokenizer

    assert contract_problems(WhitespaceTokenizer) == []
    assert contract_problems(type("Declared", (WhitespaceTokenizer,), {"parallelism": declared})) == [problem]
