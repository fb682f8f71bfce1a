"""User dictionaries (`tokenize.user_dictionary = "words.tsv"`): read and checked here, in one place,
then handed to the backend, which applies what it can.

The file: UTF-8, one entry per line, `word<TAB>tag[<TAB>score]`; blank lines and lines starting with
`#` are skipped. Tags are Sejong tags (NNP, NNG, VV, VA, ...; `SEJONG_TAGS`). A predicate (VV, VA, VX)
may be given in dictionary form (힙하다) or as its stem (힙하): the analysers take stems. The score
is optional and Kiwi's alone (`add_user_word`'s score, a log-probability; default 0); soynlp seeds
every word above its learned scores, and MeCab's costs are estimated by mecab-dict-index.

A malformed line or an unknown tag stops the run before any work (exit 2), naming the line and the
fix: Kiwi itself crashes on a malformed dictionary (bab2min/Kiwi#154), and a backend would otherwise
fail in a worker mid-run.

A backend applies a dictionary through an optional method of the backend contract,
`with_user_dictionary(dictionary) -> backend`, and says which tags it can apply in
`user_dictionary_tags`; `apply` warns once about the entries a backend cannot apply (a backend
without the method applies none).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from koprep.errors import BadInputError

log = logging.getLogger(__name__)

SEJONG_TAGS = frozenset({
    "NNG", "NNP", "NNB", "NR", "NP",  # nouns, numerals, pronouns
    "VV", "VA", "VX", "VCP", "VCN",  # predicates
    "MM", "MAG", "MAJ", "IC",  # determiners, adverbs, interjections
    "XPN", "XSN", "XSV", "XSA", "XR",  # affixes and roots
    "SL", "SH", "SN",  # foreign words, Hanja, numbers
})
"""The tags a user dictionary entry may carry: the Sejong tags of words (particles, endings and
punctuation are closed classes no user adds to)."""
NOUN_TAGS = frozenset({"NNG", "NNP", "NNB", "NR", "NP"})
PREDICATE_TAGS = frozenset({"VV", "VA", "VX"})


class UserDictionaryError(BadInputError):
    """The user dictionary cannot be read or has a malformed line; the message names the line and the fix."""


@dataclass(frozen=True)
class Word:
    word: str
    tag: str
    score: float | None = None

    @property
    def stem(self) -> str:
        """The form the analysers take: a predicate without its 다 (힙하다 → 힙하), anything else as given."""
        if self.tag in PREDICATE_TAGS and len(self.word) > 1 and self.word.endswith("다"):
            return self.word[:-1]
        return self.word


@dataclass(frozen=True)
class UserDictionary:
    """A checked user dictionary: its entries in file order and the digest of its content (what the
    tokenize stage's key hashes). Plain data: it pickles to worker processes."""

    words: tuple[Word, ...]
    sha256: str
    source: str = ""

    def only(self, tags: frozenset[str]) -> UserDictionary:
        return UserDictionary(tuple(w for w in self.words if w.tag in tags), self.sha256, self.source)

    def key(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "words": len(self.words)}


def parse(text: str, source: str = "user dictionary") -> UserDictionary:
    """The entries of a dictionary file's text; UserDictionaryError on the first bad line."""
    words: list[Word] = []
    seen: dict[tuple[str, str], int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        fields = [f.strip() for f in line.rstrip("\r\n").split("\t")]
        where = f"{source} line {number} ({line.strip()!r})"
        if len(fields) not in (2, 3):
            raise UserDictionaryError(
                f"{where}: expected `word<TAB>tag` or `word<TAB>tag<TAB>score`, found {len(fields)} tab-separated "
                "field(s); separate the fields with one tab each (e.g. 흑백요리사\\tNNP)"
            )
        word, tag = fields[0], fields[1]
        if not word or any(c.isspace() for c in word):
            raise UserDictionaryError(f"{where}: the word is empty or contains a space; give one word without spaces")
        if tag not in SEJONG_TAGS:
            raise UserDictionaryError(
                f"{where}: unknown tag {tag!r}; use a Sejong tag: {', '.join(sorted(SEJONG_TAGS))} "
                "(NNP for names, NNG for common nouns, VV / VA for verbs / adjectives)"
            )
        score = None
        if len(fields) == 3:
            try:
                score = float(fields[2])
            except ValueError:
                raise UserDictionaryError(f"{where}: the score {fields[2]!r} is not a number; give e.g. 0 or -5.5, or leave it out") from None
            if score != score or score in (float("inf"), float("-inf")):
                raise UserDictionaryError(f"{where}: the score must be a finite number")
        if (word, tag) in seen:
            raise UserDictionaryError(f"{where}: {word}/{tag} is already on line {seen[(word, tag)]}; keep one of them")
        seen[(word, tag)] = number
        words.append(Word(word, tag, score))
    return UserDictionary(tuple(words), hashlib.sha256(text.encode("utf-8")).hexdigest(), source)


def load(path: str | Path) -> UserDictionary:
    """The dictionary file at `path`, checked (UserDictionaryError names what is wrong and the fix)."""
    file = Path(path)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise UserDictionaryError(
            f"tokenize.user_dictionary {str(path)!r} cannot be read ({exc.strerror or exc}); give the path of a "
            "UTF-8 file with lines `word<TAB>tag[<TAB>score]` (relative paths are from the current folder)"
        ) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserDictionaryError(
            f"tokenize.user_dictionary {str(path)!r} is not UTF-8 (byte {exc.start}); save it as UTF-8"
        ) from None
    dictionary = parse(text, file.name)
    if not dictionary.words:
        raise UserDictionaryError(f"tokenize.user_dictionary {str(path)!r} has no entries; add lines `word<TAB>tag`")
    return dictionary


def apply(backend: Any, dictionary: UserDictionary | None) -> Any:
    """`backend` with `dictionary` applied to the entries it can apply; warns once about the others."""
    if dictionary is None:
        return backend
    name = getattr(backend, "name", type(backend).__name__)
    method = getattr(backend, "with_user_dictionary", None)
    if method is None:
        log.warning("backend %s cannot apply a user dictionary: the %d entries of %s are ignored",
                    name, len(dictionary.words), dictionary.source)
        return backend
    tags = frozenset(getattr(backend, "user_dictionary_tags", SEJONG_TAGS))
    skipped = sorted({w.tag for w in dictionary.words if w.tag not in tags})
    if skipped:
        count = sum(1 for w in dictionary.words if w.tag not in tags)
        log.warning("backend %s cannot apply user dictionary tags %s: %d entries of %s are ignored (it applies %s)",
                    name, ", ".join(skipped), count, dictionary.source, ", ".join(sorted(tags)))
    return method(dictionary.only(tags))
