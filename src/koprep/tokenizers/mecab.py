"""MeCab-ko through python-mecab-ko, with the mecab-ko-dic dictionary it ships (python-mecab-ko-dic).

MeCab keeps an inflected form as one token with a merged tag (불렀 VV+EP) and records its
morphemes in the feature's `expression` (부르/VV/*+었/EP/*). With `lemma` (the default) a token
whose head tag is a predicate (VV, VA, VX, VCP, VCN) becomes stem + 다 tagged with the head tag
(불렀/VV+EP → 부르다/VV; 먹/VV → 먹다/VV), the rule Kiwi's `Token.lemma` follows; an ending merged
into such a token (the 었 of 불렀) is not emitted separately. Without `lemma` the tokens and tags
are exactly `MeCab.pos`.

The tagger is C++ that holds the GIL while it parses, so threads do not speed it up; use processes.
It cannot be pickled either: each process creates its own on first use (`shared_mecab`).
"""

from __future__ import annotations

import os
import threading
from importlib.metadata import version as dist_version
from typing import TYPE_CHECKING, Sequence

from koprep.tokenizers.base import Tagged, options_key
from koprep.tokenizers.sejong import PREDICATE_TAGS, SEJONG_DEFAULT_DROP_TAGS, SejongOptions, select

if TYPE_CHECKING:
    from mecab import MeCab, Morpheme

_taggers: dict[int, MeCab] = {}
_taggers_lock = threading.Lock()

_HAS_EXPRESSION = ("Inflect", "Preanalysis")


def shared_mecab() -> MeCab:
    """This process's MeCab tagger, created on first use (keyed by pid: never reuse one across fork)."""
    pid = os.getpid()
    with _taggers_lock:
        tagger = _taggers.get(pid)
        if tagger is None:
            import mecab

            tagger = mecab.MeCab()
            _taggers[pid] = tagger
        return tagger


def lemma_pair(morpheme: Morpheme) -> tuple[str, str]:
    """(stem + 다, head tag) for a predicate morpheme; (surface, tag) for anything else."""
    feature = morpheme.feature
    head = feature.start_pos or feature.pos.split("+")[0]
    if head not in PREDICATE_TAGS:
        return morpheme.surface, feature.pos
    stem = morpheme.surface
    if feature.type in _HAS_EXPRESSION and feature.expression:
        stem = feature.expression.split("+")[0].split("/")[0]
    return stem + "다", head


class MecabTokenizer:
    name = "mecab"
    default_drop_tags = SEJONG_DEFAULT_DROP_TAGS
    parallelism = "processes"
    """The tagger holds the GIL: spawned worker processes, one tagger each (koprep.parallel)."""

    class Options(SejongOptions):
        pass

    def __init__(self, **options: object) -> None:
        self.options = self.Options(**options)

    def version(self) -> str:
        dictionary = shared_mecab().dictionary[0]
        return (
            f"python-mecab-ko-{dist_version('python-mecab-ko')}:mecab-ko-dic-{dist_version('python-mecab-ko-dic')}"
            f"(format {dictionary.version}, {dictionary.number_of_words} entries)"
            f":{options_key(self.options.affecting_output())}"
        )

    def _one(self, text: str) -> Tagged:
        if not text.strip():
            return []
        morphemes = shared_mecab().parse(text)
        if self.options.lemma:
            pairs = (lemma_pair(m) for m in morphemes)
        else:
            pairs = ((m.surface, m.pos) for m in morphemes)
        return select(pairs, self.options)

    def tokenize(self, texts: Sequence[str]) -> list[Tagged]:
        return [self._one(text) for text in texts]
