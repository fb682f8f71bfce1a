"""The backend registry: lookup by name, optional libraries, third-party entry points."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import pytest

from koprep.tokenizers import (
    BackendOptionError,
    BackendUnavailable,
    available_backends,
    get_tokenizer,
    register_backend,
    registry,
)
from koprep.tokenizers.registry import ENTRY_POINT_GROUP, BackendSpec, backend_class
from koprep.tokenizers.whitespace import WhitespaceTokenizer


@pytest.fixture
def fresh_registry(monkeypatch):
    """The built-in table only, entry points not yet read; restored after the test."""
    monkeypatch.setattr(registry, "_registry", dict(registry._BUILTIN))
    monkeypatch.setattr(registry, "_entry_points_loaded", False)


@pytest.fixture
def no_entry_points(monkeypatch, fresh_registry):
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda **_: importlib.metadata.EntryPoints(()))


def test_unknown_name_lists_the_backends(no_entry_points):
    with pytest.raises(BackendOptionError) as error:
        get_tokenizer("komoran")
    for name in registry._BUILTIN:
        assert name in str(error.value)


def test_builtin_backends_are_registered_with_install_hints():
    assert {"okt", "kiwi", "mecab", "soynlp-noun", "soynlp-word", "whitespace"} <= set(registry._BUILTIN)
    assert "koprep[kiwi]" in registry._BUILTIN["kiwi"].install_hint
    assert "koprep[mecab]" in registry._BUILTIN["mecab"].install_hint


@pytest.mark.parametrize("name", sorted(registry._BUILTIN))
def test_each_available_builtin_has_the_backend_shape(name):
    try:
        cls = backend_class(name)
    except BackendUnavailable as exc:
        pytest.skip(str(exc))
    assert cls.name == name
    assert isinstance(cls.default_drop_tags, tuple)
    assert cls.Options.model_config.get("frozen") and cls.Options.model_config.get("extra") == "forbid"


def test_missing_library_is_unavailable_with_the_install_hint(no_entry_points):
    spec = BackendSpec("koprep_ghost_backend.module:Ghost", "its module is not installed", "pip install koprep-ghost")
    register_backend("ghost", spec)
    with pytest.raises(BackendUnavailable, match="pip install koprep-ghost"):
        get_tokenizer("ghost")
    (info,) = [info for info in available_backends() if info.name == "ghost"]
    assert not info.available and info.install_hint == "pip install koprep-ghost" and "koprep-ghost" in info.problem


def test_missing_required_module_is_unavailable_before_import(no_entry_points):
    spec = BackendSpec(
        "koprep.tokenizers.whitespace:WhitespaceTokenizer", "needs a library", "pip install ghostlib", ("ghostlib",)
    )
    register_backend("needs-ghostlib", spec)
    with pytest.raises(BackendUnavailable, match="'ghostlib'.*pip install ghostlib"):
        get_tokenizer("needs-ghostlib")


def test_register_backend_refuses_to_replace_unless_clobber(no_entry_points):
    other = BackendSpec("koprep.tokenizers.whitespace:WhitespaceTokenizer", "another", "built in")
    with pytest.raises(ValueError, match="clobber"):
        register_backend("okt", other)
    register_backend("okt", other, clobber=True)
    assert isinstance(get_tokenizer("okt"), WhitespaceTokenizer)


def test_entry_point_backend_is_discovered(monkeypatch, fresh_registry):
    seen_groups = []

    def entry_points(*, group):
        seen_groups.append(group)
        return importlib.metadata.EntryPoints(
            [
                importlib.metadata.EntryPoint("plugin-ws", "koprep.tokenizers.whitespace:WhitespaceTokenizer", group),
                importlib.metadata.EntryPoint("okt", "somewhere.else:NotOkt", group),
            ]
        )

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    assert isinstance(get_tokenizer("plugin-ws"), WhitespaceTokenizer)
    assert seen_groups == [ENTRY_POINT_GROUP]
    assert registry._registry["okt"] == registry._BUILTIN["okt"], "a plug-in cannot shadow a built-in"
    assert "plugin-ws" in {info.name for info in available_backends()}


def test_invalid_option_value_names_the_valid_options():
    with pytest.raises(BackendOptionError, match="mode"):
        get_tokenizer("okt", {"mode": "sentences"})


def test_whitespace_backend_imports_no_analyser():
    code = (
        "import sys; from koprep.tokenizers import get_tokenizer, available_backends; "
        "get_tokenizer('whitespace').tokenize(['a b']); available_backends(); "
        "heavy = {'konlpy', 'jpype', 'kiwipiepy', 'mecab', 'soynlp'} & set(sys.modules); "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
