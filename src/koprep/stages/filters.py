"""Token-level filters applied after tokenization: stopwords, part-of-speech tags, minimum length.

The stopword list that enters a fingerprint is the resolved list itself (`resolve_stopwords`), not
the path of a file it was read from, so editing the file invalidates the cache and moving it does not.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, field_validator

from koprep.errors import BadInputError
from koprep.tokenizers.base import tag_matches

_PACKAGED_STOPWORDS = "stopwords-ko.txt"


class StopwordsFileError(BadInputError):
    """The user's stopwords file cannot be read; the message names the file and what to do."""


class TokenFilterParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    stopwords: bool = True
    """Apply koprep's packaged Korean stopword list (particles and function words)."""
    extra_stopwords: tuple[str, ...] = ()
    """More stopwords, e.g. ["영화", "진짜"] for movie reviews."""
    stopwords_file: str | None = None
    """A UTF-8 file with more stopwords, one per line; lines starting with '#' are comments."""
    drop_tags: tuple[str, ...] | None = None
    """Tokens whose tag equals or starts with one of these are dropped; None: the backend's default, (): none."""
    min_length: int = 1
    """Tokens shorter than this many characters are dropped; 1 keeps one-syllable nouns (책, 돈)."""

    @field_validator("drop_tags")
    @classmethod
    def _no_empty_tag(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and any(not tag.strip() for tag in value):
            raise ValueError("drop_tags must not contain an empty tag (it would match every tag); use [] to drop nothing")
        return value

    @field_validator("min_length")
    @classmethod
    def _positive_length(cls, value: int) -> int:
        if value < 1:
            raise ValueError("min_length must be >= 1 (1 keeps every non-empty token)")
        return value


def _parse_stopword_lines(text: str) -> list[str]:
    words = (unicodedata.normalize("NFC", line.strip()) for line in text.splitlines())
    return [word for word in words if word and not word.startswith("#")]


@lru_cache(maxsize=1)
def default_stopwords() -> tuple[str, ...]:
    """koprep's packaged Korean stopword list, in file order."""
    text = resources.files("koprep").joinpath("data", _PACKAGED_STOPWORDS).read_text(encoding="utf-8")
    return tuple(dict.fromkeys(_parse_stopword_lines(text)))


def _read_stopwords_file(path: str) -> list[str]:
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise StopwordsFileError(
            f"stopwords_file {path!r} does not exist (relative paths are resolved against {Path.cwd()}); "
            "fix the path in [tokenize] stopwords_file or remove the setting"
        ) from None
    except UnicodeDecodeError as error:
        raise StopwordsFileError(
            f"stopwords_file {path!r} is not UTF-8 ({error.reason} at byte {error.start}); save it as UTF-8"
        ) from None
    except OSError as error:
        raise StopwordsFileError(f"stopwords_file {path!r} cannot be read: {error.strerror or error}") from None
    return _parse_stopword_lines(text)


def resolve_stopwords(params: TokenFilterParams) -> tuple[str, ...]:
    """The final stopword list: packaged (if enabled) + extra + file, NFC, deduplicated and sorted."""
    words = list(default_stopwords()) if params.stopwords else []
    words += (unicodedata.normalize("NFC", word.strip()) for word in params.extra_stopwords)
    if params.stopwords_file is not None:
        words += _read_stopwords_file(params.stopwords_file)
    return tuple(sorted({word for word in words if word}))


def filter_tokens(
    doc: list[tuple[str, str]], stopwords: frozenset[str], drop_tags: tuple[str, ...], min_length: int
) -> list[str]:
    """Tokens of one (token, tag) document that are not stopwords, dropped tags, too short or blank.

    A tag matches a `drop_tags` entry as `tag_matches` says: when it equals it or starts with it ("J"
    drops JKS, JKO, JX ...); the empty tag of untagged backends matches nothing.
    """
    prefixes = tuple(drop_tags)
    if any(not prefix for prefix in prefixes):
        raise ValueError("drop_tags must not contain an empty tag (it would match every tag)")
    return [
        token
        for token, tag in doc
        if token.strip() and len(token) >= min_length and token not in stopwords and not tag_matches(tag, prefixes)
    ]
