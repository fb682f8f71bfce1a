"""What the Sejong-tagset analysers (Kiwi, MeCab-ko) share: output modes, tag selection, dropped tags.

Both tag with the 21st Sejong tagset (NNG/NNP/NNB/NR/NP nouns, VV/VA/VX/VCP/VCN predicates,
J* particles, E* endings, S* symbols ...), each with a few extensions (Kiwi: W_URL, Z_CODA, VV-I
for irregular conjugation; MeCab-ko: NNBC, merged tags such as VV+EP for inflected forms). Tags are
matched the way the pipeline's token filter matches them (`base.tag_matches`): a tag matches a
pattern when it equals it or starts with it, so "V" selects every predicate and "E" every ending.
"""

from __future__ import annotations

from typing import Iterable, Literal

from pydantic import model_validator

from koprep.tokenizers.base import BackendOptions, Tagged, tag_matches

SEJONG_DEFAULT_DROP_TAGS = ("J", "E", "XS", "SF", "SP", "SS", "SE", "SO", "SW", "SY", "SC", "Z_")
"""Sejong-style tags (Kiwi, MeCab-ko), matched by prefix: particles J*, endings E*, derivational
suffixes XS* (공부+하+다 keeps 공부), punctuation and symbols S[FPSEOWYC]* (ㅋㅋ is SW in Kiwi;
MeCab-ko tags it IC and keeps it), Kiwi's Z_CODA/Z_SIOT. Nouns, predicates, adverbs, foreign words
(SL), numbers (SN), Hanja (SH) and Kiwi's W_* (URLs, ...) are kept."""

NOUN_TAG_PREFIX = "N"
"""`nouns` mode keeps NNG, NNP, NNB(C), NR and NP: the same rule as python-mecab-ko's `MeCab.nouns`."""

PREDICATE_TAGS = ("VV", "VA", "VX", "VCP", "VCN")
"""The tags whose lemma is stem + 다 (as Kiwi's `Token.lemma` does it; derivational XSV/XSA are not lemmatised)."""


class SejongOptions(BackendOptions):
    """Options every Sejong-tagset backend takes; a backend's `Options` extends this."""

    mode: Literal["morphs", "nouns", "pos"] = "morphs"
    """`morphs`: every morpheme; `nouns`: tags starting with N; `pos`: tags matching `keep_tags`."""
    keep_tags: tuple[str, ...] = ("NNG", "NNP", "VV", "VA", "XR", "SL")
    """Only used in `pos` mode; a tag is kept when it equals or starts with one of these."""
    lemma: bool = True
    """Predicates (VV, VA, VX, VCP, VCN) in dictionary form, stem + 다 (먹었다 → 먹다 + 었 + 다).
    Not used in `nouns` mode: only predicates are lemmatised, and that mode keeps no predicate."""

    @model_validator(mode="after")
    def _check_keep_tags(self) -> "SejongOptions":
        if self.mode == "pos" and not self.keep_tags:
            raise ValueError("mode='pos' needs at least one tag in keep_tags, e.g. ['NNG', 'NNP', 'VV', 'VA']")
        return self

    def ignored(self) -> frozenset[str]:
        if self.mode == "nouns":
            return frozenset({"keep_tags", "lemma"})
        return frozenset() if self.mode == "pos" else frozenset({"keep_tags"})


def select(pairs: Iterable[tuple[str, str]], options: SejongOptions) -> Tagged:
    """Apply the output mode; drop tokens that are empty or whitespace."""
    if options.mode == "nouns":
        pairs = (pair for pair in pairs if pair[1].startswith(NOUN_TAG_PREFIX))
    elif options.mode == "pos":
        pairs = (pair for pair in pairs if tag_matches(pair[1], options.keep_tags))
    return [(token, tag) for token, tag in pairs if token.strip()]
