"""fastText (gensim's `FastText`) over the token stream, with subwords made of Hangul letters.

fastText gives a word the sum of its character n-grams' vectors, so a word it never saw still has
one. For Korean, n-grams of *jamo* (the letters of a syllable) do better than n-grams of syllables
(Park, Lee, Lee and Kim, ACL 2018): 먹었다 and 먹는다 share 먹, and 갔 shares ㄱ+ㅏ with 가.

With `subwords = "jamo"`, every precomposed Hangul syllable of a token is decomposed into its
initial, medial and final letters (Unicode conjoining jamo, U+1100-U+11FF), with `EMPTY_FINAL` for
a syllable without a final consonant, so every syllable is three letters and n-grams stay aligned
to syllables (as in Park et al.). gensim trains on the decomposed words; koprep composes them back
for display (`compose` is the exact inverse of `decompose` on any text without conjoining jamo,
which cleaned text does not contain: Unicode normalization composes them). With `subwords =
"char"`, the n-grams are of the tokens' characters as they are.

This module holds only what the settings need (no gensim import, so `koprep --help` stays light);
training and the vectors that answer any word are in `koprep.stages.subword_vectors`.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Literal

from pydantic import Field, model_validator

from koprep.stages.embed import EmbeddingParams

VERSION = "2"
"""2: `epochs = "auto"` aims at FASTTEXT_AUTO_TRAINED_WORDS tokens (10 epochs on 500k tokens)."""

FASTTEXT_AUTO_TRAINED_WORDS = 5_000_000
"""With `epochs = "auto"`, fastText trains for as many epochs as it takes to see about this many
tokens (word2vec: 2,000,000; bounds as `auto_epochs`'). Measured on NSMC train 50k (mecab, 501k
tokens; WS-353 Spearman / analogy accuracy on the items word2vec covers): 5 epochs 0.104 / 9.6%
(seeds 2 and 3: 0.089 / 8.4%, 0.079 / 9.3%, all below word2vec's 0.109), 10 epochs 0.179 / 12.6%
(seed 2: 0.168 / 12.8%). Corpora of 1M tokens and more keep 5 epochs, so NSMC 150k (1.5M tokens)
trains as before (0.158 / 8.2%)."""

EMPTY_FINAL = "\u3164"
"""Stands for a missing final consonant in a decomposed syllable (HANGUL FILLER)."""

_SYLLABLES = range(0xAC00, 0xD7A4)
_JAMO_SYLLABLE = re.compile("([\u1100-\u1112])([\u1161-\u1175])([\u11a8-\u11c2\u3164])")


class FastTextParams(EmbeddingParams):
    """gensim `FastText` parameters (same names, meaning and defaults as `[word2vec]`'s shared ones,
    see `Word2VecParams`, except `sg = 1`), its character n-gram settings `min_n` (2), `max_n` (5)
    and `bucket`
    (500,000: gensim and fastText use 2,000,000, which makes an 800 MB model at vector_size 100;
    500,000 keeps it at 200 MB), and `subwords`: "jamo" (n-grams of Hangul letters, the default) or
    "char" (n-grams of the token's characters).

    Skip-gram and 2-5 letter n-grams are chosen by measurement (NSMC train 50k, mecab, on the WS-353
    pairs and analogies word2vec covers; Spearman / analogy accuracy): gensim's CBOW with 3-6
    n-grams 0.044 / 1.4%, skip-gram with 3-6 0.082 / 6.8%, skip-gram with 2-5 0.104 / 9.6%
    (word2vec, CBOW: 0.109 / 0.7%), all at 5 epochs. Skip-gram trains about 3x slower than CBOW.
    `epochs = "auto"` trains more epochs than word2vec's on mid-size corpora
    (`FASTTEXT_AUTO_TRAINED_WORDS`): 10 on NSMC 50k, where 2-5 n-grams still beat 3-6 (0.179 / 12.6%
    against 0.177 / 8.6%).
    """

    KOPREP_ONLY = ("subwords",)
    AUTO_TRAINED_WORDS = FASTTEXT_AUTO_TRAINED_WORDS

    subwords: Literal["jamo", "char"] = "jamo"
    sg: Literal[0, 1] = 1
    min_n: int = Field(2, ge=1)
    max_n: int = Field(5, ge=1)
    bucket: int = Field(500_000, ge=1)

    @model_validator(mode="after")
    def _check_ngrams(self) -> "FastTextParams":
        if self.max_n < self.min_n:
            raise ValueError(f"max_n={self.max_n} is below min_n={self.min_n}: n-grams run from min_n to max_n letters")
        return self


@lru_cache(maxsize=1)
def _decomposition() -> dict[int, str]:
    table = {}
    for code in _SYLLABLES:
        index = code - 0xAC00
        initial, medial, final = index // 588, (index % 588) // 28, index % 28
        table[code] = chr(0x1100 + initial) + chr(0x1161 + medial) + (chr(0x11A7 + final) if final else EMPTY_FINAL)
    return table


def decompose(word: str) -> str:
    """Each Hangul syllable of `word` as three letters (initial, medial, final or EMPTY_FINAL):
    '값이' → 'ᄀ ᅡ ᆹ ᄋ ᅵ EMPTY_FINAL' (without the spaces); other characters are kept."""
    return word.translate(_decomposition())


def _composed(match: re.Match[str]) -> str:
    initial, medial, final = (ord(letter) for letter in match.groups())
    offset = 0 if final == ord(EMPTY_FINAL) else final - 0x11A7
    return chr(0xAC00 + (initial - 0x1100) * 588 + (medial - 0x1161) * 28 + offset)


def compose(word: str) -> str:
    """The inverse of `decompose`: every initial-medial-final run of letters as its syllable."""
    return _JAMO_SYLLABLE.sub(_composed, word)
