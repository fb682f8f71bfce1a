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

import functools
import hashlib
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from importlib.metadata import version as dist_version
from typing import TYPE_CHECKING, Any, Callable, Sequence

from koprep.tokenizers.base import BackendOptionError, Tagged, options_key
from koprep.tokenizers.sejong import PREDICATE_TAGS, SEJONG_DEFAULT_DROP_TAGS, SejongOptions, select
from koprep.tokenizers.userdict import SEJONG_TAGS, UserDictionary

if TYPE_CHECKING:
    from mecab import MeCab

_taggers: dict[tuple[int, str], MeCab] = {}
_taggers_lock = threading.Lock()

_HAS_EXPRESSION = ("Inflect", "Preanalysis")
USER_WORD_COST = 0
"""The word cost of user dictionary entries: the lowest of mecab-ko-dic's word costs, so a listed
word wins over the known words it would otherwise be cut into."""


def shared_mecab(user_dictionary: UserDictionary | None = None) -> MeCab:
    """This process's MeCab tagger, created on first use (keyed by pid: never reuse one across fork),
    with the user dictionary compiled for it when one is given."""
    key = (os.getpid(), "" if user_dictionary is None else user_dictionary.sha256)
    with _taggers_lock:
        tagger = _taggers.get(key)
        if tagger is None:
            import mecab

            compiled = None if user_dictionary is None else str(compiled_user_dictionary(user_dictionary))
            tagger = mecab.MeCab(user_dictionary_path=compiled)
            _taggers[key] = tagger
        return tagger


def _has_coda(word: str) -> str:
    """mecab-ko-dic's 종성 column: T when the last syllable has a final consonant."""
    last = word[-1]
    return "T" if "가" <= last <= "힣" and (ord(last) - 0xAC00) % 28 else "F"


def compiled_user_dictionary(dictionary: UserDictionary) -> Path:
    """The dictionary compiled for python-mecab-ko by its own `mecab-dict-index` (`python -m mecab
    dict-index`, which ships with it: nothing is downloaded), with context ids estimated by
    mecab-ko-dic's model and a word cost of USER_WORD_COST (the estimated cost loses to known words:
    초등학교 stays 초등 + 학교 with it). Cached by content in the temporary folder; written to a
    temporary name and renamed, so a concurrent process never reads a half-written file."""
    # Named by what it is compiled from: the entries, how they are written (USER_WORD_COST) and the
    # system dictionary whose context ids it uses.
    made_from = f"{dictionary.sha256}:{USER_WORD_COST}:{dist_version('python-mecab-ko-dic')}"
    target = Path(tempfile.gettempdir()) / f"koprep-mecab-user-{hashlib.sha256(made_from.encode()).hexdigest()[:16]}.dic"
    if target.is_file():
        return target
    with tempfile.TemporaryDirectory(prefix="koprep-mecab-") as folder:
        source = Path(folder) / "user.csv"
        # surface,left-id,right-id (empty: estimated),cost,POS,semantic class,coda,reading,type,start,end,expression
        source.write_text("".join(
            f"{w.stem},,,{USER_WORD_COST},{w.tag},*,{_has_coda(w.stem)},{w.stem},*,*,*,*\n" for w in dictionary.words
        ), encoding="utf-8")
        built = Path(folder) / "user.dic"
        done = subprocess.run(
            [sys.executable, "-m", "mecab", "dict-index", "-u", str(built), "-f", "utf-8", "-t", "utf-8", str(source)],
            capture_output=True, text=True, check=False,
        )
        if done.returncode != 0 or not built.is_file():
            raise BackendOptionError(
                f"mecab-dict-index could not compile user dictionary {dictionary.source}: "
                f"{(done.stderr or done.stdout).strip()[-500:]}"
            )
        os.replace(built, target)
    return target


Morphemes = list[tuple[str, list[str]]]
"""(surface, feature fields) per morpheme; the fields as mecab-ko-dic writes them, "*" for none:
pos, semantic class, has coda, reading, type, start pos, end pos, expression (`mecab.Feature`)."""


def morphemes(tagger: MeCab, text: str) -> Morphemes:
    """The morphemes `tagger.parse(text)` finds, read from MeCab's lattice with python-mecab-ko's own
    steps (`mecab.utils.create_lattice`, the tagger it wraps). Its `parse` also makes a `Morpheme`
    and a `Feature` namedtuple (through a dict) of each morpheme, which took half of its time and
    more than koprep's lemmas and token filter together; koprep reads four fields. A python-mecab-ko
    without those steps is called through `parse`. tests/backends/test_mecab.py checks both agree."""
    native, create_lattice = getattr(tagger, "_tagger", None), _lattice_maker()
    if create_lattice is None or native is None:
        return [(m.surface, str(m.feature).split(",")) for m in tagger.parse(text)]
    lattice = create_lattice(text)
    if not native.parse(lattice):
        from mecab import MeCabError

        raise MeCabError(native.what())
    return [(node.surface, node.feature.split(",")) for _, node in lattice]


@functools.cache
def _lattice_maker() -> Callable[[str], Any] | None:
    try:
        from mecab.utils import create_lattice
    except ImportError:
        return None
    return create_lattice


def lemma_pair(surface: str, feature: list[str]) -> tuple[str, str]:
    """(stem + 다, head tag) for a predicate morpheme; (surface, tag) for anything else."""
    pos, kind, start_pos, expression = feature[0], feature[4], feature[5], feature[7]
    head = start_pos if start_pos != "*" and start_pos else pos.split("+")[0]
    if head not in PREDICATE_TAGS:
        return surface, pos
    stem = surface
    if kind in _HAS_EXPRESSION and expression != "*" and expression:
        stem = expression.split("+")[0].split("/")[0]
    return stem + "다", head


class MecabTokenizer:
    name = "mecab"
    default_drop_tags = SEJONG_DEFAULT_DROP_TAGS
    parallelism = "processes"
    """The tagger holds the GIL: spawned worker processes, one tagger each (koprep.parallel)."""

    class Options(SejongOptions):
        pass

    user_dictionary_tags = SEJONG_TAGS
    """mecab-dict-index estimates context ids and costs for any tag of mecab-ko-dic's tag set."""

    def __init__(self, **options: object) -> None:
        self.options = self.Options(**options)
        self.user_dictionary: UserDictionary | None = None

    def with_user_dictionary(self, dictionary: UserDictionary | None) -> "MecabTokenizer":
        """This tokenizer with `dictionary` compiled for its tagger (in the process that tokenizes)."""
        applied = type(self)(**self.options.model_dump(exclude_unset=True))
        applied.user_dictionary = dictionary
        return applied

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
        found = morphemes(shared_mecab(self.user_dictionary), text)
        if self.options.lemma:
            pairs = (lemma_pair(surface, feature) for surface, feature in found)
        else:
            pairs = ((surface, feature[0]) for surface, feature in found)
        return select(pairs, self.options)

    def tokenize(self, texts: Sequence[str]) -> list[Tagged]:
        return [self._one(text) for text in texts]
