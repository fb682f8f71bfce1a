"""The clean steps that need Kiwi or the `hanja` package: spacing, sentence boundaries, Hanja readings.

Spacing. Kiwi's `space()` restores missing spaces, but on text that is already spaced it also
inserts wrong ones (it splits compound nouns the writer joined, as Korean spacing rules allow): on
konlpy's kolaw as written, 19% of the spaces it outputs are not in the original (bench/bench_text.py).
So only eojeols that look glued are respaced, line by line:

- in a line without spaces, an eojeol of LONG_EOJEOL+ characters is analysed with Kiwi, and a
  space is inserted only where a particle or ending (J*, EF, EC, ETM) is followed by the start
  of a new word (noun, predicate, determiner, adverb, ...) - never between two nouns; one of
  GLUED_EOJEOL+ characters (a whole phrase or sentence without spaces) is given to Kiwi's
  `space()` as it is;
- in a line the writer did space, only eojeols of SPACED_LINE_EOJEOL+ characters are respaced,
  and only by the particle/ending rule: such a line already carries the writer's spacing, and
  every space added to a shorter eojeol there counts against the writer's text. On NSMC reviews as
  written this takes F1 from 0.968 to 0.981; on partly glued text it restores less (bench/bench_text.py).

Spaces are never removed. Measured with bench/bench_text.py (docs/korean-text.md). SPACING_RULES
names this rule set in the clean stage's cache key: change it whenever the output changes.

Sentences. Kiwi's `split_into_sents` cuts each line into sentences, which become lines; the clean
stage keeps line breaks, soynlp's extractors learn per line, and the tokenize stage records each
document's sentences for word2vec.
"""

from __future__ import annotations

import re
from importlib.metadata import version as dist_version
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kiwipiepy import Kiwi

LONG_EOJEOL = 8
GLUED_EOJEOL = 16
SPACED_LINE_EOJEOL = 10
SPACING_RULES = "2"
_ENDS_WORD = ("J", "EF", "EC", "ETM")
_STARTS_WORD = ("NN", "NP", "NR", "VV", "VA", "VX", "MM", "MAG", "MAJ", "IC", "XPN", "SL", "SN", "SH", "XR")
_HANJA_CHAR = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f\U00030000-\U000323af]")
_EOJEOL = re.compile(r"\S+")


def _kiwi() -> Kiwi:
    from koprep.tokenizers.kiwi import shared_kiwi

    # One thread: the clean stage calls it text by text; the multi-word dictionary plays no part in spacing.
    return shared_kiwi(0, "none", False)


def kiwi_version() -> str:
    return f"kiwipiepy-{dist_version('kiwipiepy')}:model-{dist_version('kiwipiepy_model')}"


def _respace_eojeol(kiwi: Kiwi, eojeol: str, *, whole_phrase: bool = True) -> str:
    if whole_phrase and len(eojeol) >= GLUED_EOJEOL:
        return " ".join(kiwi.space(eojeol, reset_whitespace=False).split())
    tokens = kiwi.tokenize(eojeol)
    cuts = {
        after.start
        for before, after in zip(tokens, tokens[1:])
        if 0 < after.start < len(eojeol)
        and before.start + before.len <= after.start
        and before.tag.startswith(_ENDS_WORD)
        and after.tag.startswith(_STARTS_WORD)
    }
    if not cuts:
        return eojeol
    return "".join(" " + char if index in cuts else char for index, char in enumerate(eojeol))


def restore_spacing(text: str) -> str:
    """`text` with spaces inserted into glued eojeols (see the module docstring); other text unchanged."""
    if not any(len(eojeol) >= LONG_EOJEOL for eojeol in text.split()):
        return text
    kiwi = _kiwi()
    return "".join(_respace_line(kiwi, line) for line in text.splitlines(keepends=True))


def _respace_line(kiwi: Kiwi, line: str) -> str:
    spaced = len(line.split()) > 1
    shortest = SPACED_LINE_EOJEOL if spaced else LONG_EOJEOL

    def respace(match: re.Match[str]) -> str:
        eojeol = match.group()
        return _respace_eojeol(kiwi, eojeol, whole_phrase=not spaced) if len(eojeol) >= shortest else eojeol

    return _EOJEOL.sub(respace, line)


def split_sentences(text: str) -> str:
    """`text` with every sentence Kiwi finds on its own line."""
    if not text.strip():
        return text
    kiwi = _kiwi()
    lines: list[str] = []
    for line in text.split("\n"):
        if line.strip():
            lines.extend(sentence.text for sentence in kiwi.split_into_sents(line))
        else:
            lines.append(line)
    return "\n".join(lines)


def hanja_to_hangul(text: str) -> str:
    """Hanja replaced by their Hangul readings (the `hanja` package, initial-sound rule applied: 李 -> 이)."""
    if not _HANJA_CHAR.search(text):
        return text
    import hanja  # type: ignore[import-untyped]

    return str(hanja.translate(text, "substitution"))


def remove_hanja(text: str) -> str:
    return _HANJA_CHAR.sub("", text)


def hanja_version() -> str:
    return f"hanja-{dist_version('hanja')}"
