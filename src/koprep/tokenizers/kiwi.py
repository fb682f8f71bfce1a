"""Kiwi (kiwipiepy): a fast Korean morphological analyser with a neural language model, Sejong tags.

Texts go through Kiwi's batch API (`Kiwi.tokenize(iterable)`), which analyses them on Kiwi's own
thread pool (`num_workers`). On several cores koprep runs one Kiwi per worker process, each on the
cores left to it (one thread when there are as many processes as cores): Kiwi builds each result's
Python `Token` objects, and koprep filters them, under its process's one GIL, which the threads of
one Kiwi would share. With `lemma` (the default) tokens are Kiwi's own `Token.lemma`:
predicates in dictionary form (먹었다 → 먹다/VV 었/EP 다/EF); other tokens are their surface form.

Kiwi's multi-word dictionary (WikiData proper nouns) yields tokens that contain a space, such as
커스틴 던스트/NNP; tokens never contain whitespace here, so that space becomes "_" (커스틴_던스트).
`multi_word_nouns=False` does not load that dictionary: such names come out word by word.
"""

from __future__ import annotations

import os
import re
import threading
import warnings
from importlib.metadata import version as dist_version
from typing import TYPE_CHECKING, Literal, Sequence

from pydantic import Field

from koprep.tokenizers.base import Tagged, options_key
from koprep.tokenizers.sejong import SEJONG_DEFAULT_DROP_TAGS, SejongOptions, select
from koprep.tokenizers.userdict import SEJONG_TAGS, UserDictionary

if TYPE_CHECKING:
    from kiwipiepy import Kiwi, Token

_WHITESPACE = re.compile(r"\s+")
_kiwis: dict[tuple[int, int, str, bool, str], Kiwi] = {}
_kiwis_lock = threading.Lock()


def shared_kiwi(
    num_workers: int, model_type: str, multi_word_nouns: bool, user_dictionary: UserDictionary | None = None
) -> Kiwi:
    """One loaded Kiwi per process and configuration (loading takes about a second), with the user
    dictionary's words added (`add_user_word`).

    Keyed by the process id too: a Kiwi inherited through `fork` has lost its worker threads.
    Kiwi objects cannot be pickled, so tokenizers hold only their options (and the dictionary's
    entries, plain data) and call this in whichever process tokenizes.
    """
    digest = "" if user_dictionary is None else user_dictionary.sha256
    key = (os.getpid(), num_workers, model_type, multi_word_nouns, digest)
    with _kiwis_lock:
        kiwi = _kiwis.get(key)
        if kiwi is None:
            from kiwipiepy import Kiwi

            with warnings.catch_warnings():  # 0 = one thread since kiwipiepy 0.21, as documented in Options
                warnings.filterwarnings("ignore", "behavior of `num_workers=0`", DeprecationWarning)
                kiwi = Kiwi(num_workers=num_workers, model_type=model_type, load_multi_dict=multi_word_nouns)
            for word in user_dictionary.words if user_dictionary is not None else ():
                kiwi.add_user_word(word.stem, word.tag, 0.0 if word.score is None else word.score)
            kiwi.tokenize("")  # Kiwi initialises lazily; pay that cost here, once
            _kiwis[key] = kiwi
        return kiwi


class KiwiTokenizer:
    name = "kiwi"
    default_drop_tags = SEJONG_DEFAULT_DROP_TAGS
    parallelism = "processes"
    """Worker processes of one Kiwi each, on the cores left to each (`with_workers`); see koprep.parallel."""

    class Options(SejongOptions):
        execution_only = frozenset({"num_workers"})

        normalize_coda: bool = False
        """Kiwi's option: split a consonant glued to the end of a word (먹었닼ㅋㅋ → 먹었다 ㅋㅋㅋ)."""
        split_complex: bool = False
        """Kiwi's option: split derived words into their parts (고마움 → 고맙 + 음)."""
        model_type: Literal["none", "largest", "knlm", "sbg", "cong", "cong-global"] = "none"
        """Kiwi's language model; "none" is the fastest installed one (CoNg with kiwipiepy_model 0.21+)."""
        multi_word_nouns: bool = True
        """Kiwi's `load_multi_dict`: recognise multi-word proper nouns, joined by "_" (커스틴_던스트)."""
        num_workers: int = Field(-1, ge=-1)
        """Kiwi's analysis threads: -1 = every core, 0 = the calling thread only. Does not change output."""
        typos: Literal["basic", "continual", "basic_with_continual", "lengthening",
                       "basic_with_continual_and_lengthening"] | None = None
        """Kiwi's built-in typo correction (no download): "basic" fixes common misspellings
        (과재를 → 과제/NNG 를/JKO), "continual" liaison spellings, "lengthening" drawn-out vowels."""
        typo_cost_threshold: float = Field(2.5, gt=0)
        """Kiwi's option: the largest correction cost tried (higher corrects more, and more wrongly)."""

        def ignored(self) -> frozenset[str]:
            # Without typos the threshold means nothing; neither enters the key, as before the option existed.
            return super().ignored() | (frozenset({"typos", "typo_cost_threshold"}) if self.typos is None else frozenset())

    user_dictionary_tags = SEJONG_TAGS
    """Kiwi's `add_user_word` takes every Sejong tag of a word."""

    def __init__(self, **options: object) -> None:
        self.options = self.Options(**options)
        self.user_dictionary: UserDictionary | None = None

    def with_workers(self, workers: int) -> "KiwiTokenizer":
        """This tokenizer on `workers` Kiwi threads (in each process), unless `num_workers` was given
        explicitly (it overrides)."""
        if "num_workers" in self.options.model_fields_set:
            return self
        return type(self)(**{**self.options.model_dump(), "num_workers": workers}).with_user_dictionary(self.user_dictionary)

    def with_user_dictionary(self, dictionary: UserDictionary | None) -> "KiwiTokenizer":
        """This tokenizer with `dictionary`'s words added to its Kiwi (built in the process that tokenizes)."""
        applied = type(self)(**self.options.model_dump(exclude_unset=True))
        applied.user_dictionary = dictionary
        return applied

    def _kiwi(self) -> Kiwi:
        o = self.options
        return shared_kiwi(o.num_workers, o.model_type, o.multi_word_nouns, self.user_dictionary)

    def version(self) -> str:
        return (
            f"kiwipiepy-{dist_version('kiwipiepy')}:model-{dist_version('kiwipiepy_model')}"
            f":{self._kiwi().model_type}:{options_key(self.options.affecting_output())}"
        )

    def tokenize(self, texts: Sequence[str]) -> list[Tagged]:
        o = self.options
        nonblank = [i for i, text in enumerate(texts) if text.strip()]
        results: list[Tagged] = [[] for _ in texts]
        kiwi = self._kiwi()
        options: dict[str, object] = dict(normalize_coda=o.normalize_coda, split_complex=o.split_complex)
        if o.typos is not None:
            options.update(typos=o.typos, typo_cost_threshold=o.typo_cost_threshold)
        if o.num_workers == 0:  # Kiwi's batch API needs its thread pool; without one, text by text
            analysed = (kiwi.tokenize(texts[i], **options) for i in nonblank)
        else:
            analysed = kiwi.tokenize([texts[i] for i in nonblank], **options)
        for i, tokens in zip(nonblank, analysed):
            results[i] = select(((self._token_text(t), t.tag) for t in tokens), o)
        return results

    def _token_text(self, token: Token) -> str:
        return _WHITESPACE.sub("_", token.lemma if self.options.lemma else token.form)
