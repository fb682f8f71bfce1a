"""Named presets: configuration layers for a task, shipped as TOML files in this package.

    topic     the defaults (content words for TF-IDF search, keywords, word2vec)
    classify  sentiment, hate speech, intent: particles, endings and symbols kept, char n-grams added
    search    nouns and noun compounds for retrieval

A preset file is a config file (the same sections as `--config`) with two additions: a top-level
`description`, and `[backends.NAME.SECTION]` tables applied only when the resolved backend is NAME
(tokenizer options differ between backends: Okt's `stem` is Kiwi's and MeCab's `lemma`).
`koprep.config.load_config(preset=...)` layers it: defaults ← preset ← --config ← --backend ← --set.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import Any

from koprep.errors import BadInputError


class UnknownPresetError(BadInputError, LookupError):
    """No preset of that name ships with koprep; the message lists the ones that do.
    (`load_config` reports it as a ConfigError.)"""


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    settings: dict[str, Any]
    """Config sections, as in a config file."""
    per_backend: dict[str, dict[str, Any]]
    """backend name -> config sections applied on top of `settings` for that backend."""

    def layer(self, backend: str) -> dict[str, Any]:
        """The config sections this preset sets for `backend`."""
        merged = deep_merge({}, self.settings)
        return deep_merge(merged, self.per_backend.get(backend, {}))


def names() -> list[str]:
    return sorted(p.name.removesuffix(".toml") for p in resources.files(__name__).iterdir() if p.name.endswith(".toml"))


def load(name: str) -> Preset:
    available = names()
    if name not in available:
        raise UnknownPresetError(
            f"unknown preset {name!r}; the presets are {', '.join(available)} (`koprep presets` describes them)"
        )
    data = tomllib.loads(resources.files(__name__).joinpath(f"{name}.toml").read_text(encoding="utf-8"))
    description = data.pop("description", "")
    per_backend = data.pop("backends", {})
    return Preset(name, description, data, per_backend)


def deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """`top` over `base`, section by section (nested tables merge, other values replace); `base` is updated."""
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            deep_merge(base[key], value)
        else:
            base[key] = dict(value) if isinstance(value, dict) else value
    return base
