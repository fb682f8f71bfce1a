"""Korean-correct text cleaning: an ordered list of small, switchable steps.

Default order (each step can be switched off in `CleanParams`):

    html                   decode entities (&quot; &#39; ...), drop tags (<br>, </span>) -> space
    remove_invisible       zero-width spaces, BOM, soft hyphen, NUL and other controls, Hangul fillers
    fullwidth_to_halfwidth ＡＢＣ１２３！ -> ABC123!, ideographic space, half-width ﾡ -> ㄱ (not NFKC)
    nfc                    compose Hangul (never NFD/NFKD/NFKC: they split syllables or rewrite Hangul)
    unify_punctuation      “ ” « » -> "   ‘ ’ -> '   – — ― − -> -   … -> ...   。 -> .
    hanja                  (optional) Hanja -> Hangul readings, or removed (koprep.stages.kiwi_text)
    urls, emails, mentions removed (-> space) or replaced by a placeholder token
    pii                    (optional) RRN, phone, card, account numbers, IPs -> <rrn> ... (koprep.stages.pii)
    spacing                (optional) spaces restored inside glued eojeols with Kiwi
    sentences              (optional) one sentence per line (Kiwi's split_into_sents)
    filter_chars           keep Hangul syllables (+ compatibility jamo ㅋ ㅠ, Latin, digits, Hanja,
                           keep_chars as configured); every other character becomes a space
    emoticon_normalize     soynlp's jamo/syllable emoticon rule: ㅋ쿠ㅜㅜ -> ㅋㅋㅜㅜㅜ
    repeat_normalize       soynlp's repeat rule: ㅋㅋㅋㅋㅋㅋ -> ㅋㅋ, 와하하하하 -> 와하하
    collapse_whitespace    runs of whitespace -> one space, stripped; one line break kept between
                           non-empty lines unless keep_line_breaks=False

Why this order: entity decoding can produce any character (&#8203; is a zero-width space, &#4352;
a conjoining jamo), so the Unicode steps follow it; invisible characters go before NFC because
deleting one can leave a decomposed syllable for NFC to compose; URLs, e-mails and mentions need
':', '/', '.' and '@', which the character filter removes; the soynlp rules run on the filtered
text so that removed symbols cannot hide a repeat; placeholders are carried through the filter as
private-use sentinels (U+E000-U+E008; those of the placeholders in use and U+E000-U+E003 are
therefore deleted from the input when placeholders are on) and written out just before the whitespace is collapsed.

Cleaning is idempotent for the configurations the tests check (all with the character filter on
and without '<', '>', '&', ';' in keep_chars). With them, markup spelled in full-width forms
(＜ｂ＞, ＆ａｍｐ；) only becomes ASCII after the html step, so a second pass would still remove it.
"""

from __future__ import annotations

import html as html_lib
import importlib.util
import re
import sys
import unicodedata
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Any, Callable, Iterable, Literal

from pydantic import BaseModel, ConfigDict, field_validator, model_serializer, model_validator

from koprep.stages import kiwi_text
from koprep.stages import pii as pii_rules

VERSION = "3"
"""Code version of the clean stage; bump it whenever a change alters any output. Enters fingerprints."""

Policy = Literal["remove", "placeholder", "keep"]


class CleanParams(BaseModel):
    """Every cleaning step and its settings, in pipeline order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    html: Policy = "remove"
    """HTML tags -> space ("remove") or `html_placeholder`; entities are decoded unless "keep"."""
    remove_invisible: bool = True
    fullwidth_to_halfwidth: bool = True
    nfc: bool = True
    unify_punctuation: bool = True
    urls: Policy = "remove"
    emails: Policy = "remove"
    mentions: Policy = "remove"
    """@handles (ASCII, as on Twitter/Instagram); Korean '@...@' quoting is left alone. Runs after
    `emails`, so with emails="keep" it still takes the '@domain' of an address: keep both to keep it."""
    html_placeholder: str = "<html>"
    url_placeholder: str = "<url>"
    email_placeholder: str = "<email>"
    mention_placeholder: str = "<mention>"
    filter_chars: bool = True
    """Replace every character the keep_* policy does not keep by a space (Hangul syllables are always kept)."""
    keep_hangul_jamo: bool = True
    """Compatibility jamo such as ㅋ ㅎ ㅠ ㅜ, which carry meaning in reviews and chat."""
    keep_latin: bool = True
    keep_digits: bool = True
    keep_hanja: bool = False
    keep_chars: str = ""
    """Extra characters the filter keeps, e.g. ".?!" (write the half-width, unified form)."""
    emoticon_normalize: bool = True
    repeat_normalize: int | None = 2
    """Runs of 4+ identical letters shrink to this many (soynlp's num_repeats); 0 or None switches it off."""
    repeat_digits: bool = False
    """soynlp also shrinks digit runs (10000원 -> 100원); off by default so amounts survive."""
    collapse_whitespace: bool = True
    keep_line_breaks: bool = True
    """With collapse_whitespace: keep one line break between lines (sentence boundaries, which
    soynlp's extractors learn from); False puts everything on one line."""
    hanja: Literal["keep", "hangul", "remove"] | None = None
    """Hanja (漢字): "keep" them, replace them by their "hangul" readings (the `hanja` package:
    大韓民國 -> 대한민국), or "remove" them (deleted, not spaced: 국가(國家) -> 국가()). Unset: as
    keep_hanja says (by default the character filter turns them into spaces)."""
    pii: tuple[pii_rules.PiiKind, ...] = ()
    """Personal data to mask, any of "rrn", "phone", "card", "account", "email", "ip"
    (koprep.stages.pii): replaced by <rrn>, <phone>, ... or removed, as pii_mode says."""
    pii_mode: Literal["placeholder", "remove"] = "placeholder"
    spacing: Literal["kiwi"] | None = None
    """"kiwi": insert the spaces missing inside glued eojeols (koprep.stages.kiwi_text); spaces are never removed."""
    sentences: Literal["kiwi"] | None = None
    """"kiwi": one sentence per line (Kiwi's split_into_sents); word2vec and soynlp then learn per sentence."""

    @field_validator("pii", mode="before")
    @classmethod
    def _known_pii_kinds(cls, value: Any) -> Any:
        kinds = [value] if isinstance(value, str) else value
        if isinstance(kinds, (list, tuple)):
            unknown = [kind for kind in kinds if kind not in pii_rules.KINDS]
            if unknown:
                raise ValueError(
                    f"unknown kind(s) {', '.join(map(repr, unknown))}; list any of {', '.join(pii_rules.KINDS)}, "
                    'e.g. pii = ["rrn", "phone"]'
                )
            return tuple(dict.fromkeys(kinds))
        return value

    @model_serializer(mode="wrap")
    def _omit_unused_steps(self, handler: Any) -> dict[str, Any]:
        # The optional steps enter a dump (hence fingerprints) only when switched on, so every
        # configuration without them keeps the fingerprints it had before they existed.
        data = handler(self)
        for name in ("hanja", "spacing", "sentences", "pii"):
            if not data.get(name):
                data.pop(name, None)
        if not self.pii:
            data.pop("pii_mode", None)
        return data

    @field_validator("repeat_normalize")
    @classmethod
    def _repeats_or_off(cls, value: int | None) -> int | None:
        # 0 means off, as in soynlp; stored as None so both spellings give the same fingerprint (TOML has no null).
        if value is not None and value < 0:
            raise ValueError("repeat_normalize must be >= 1 (runs are shortened to that many), or 0 to switch it off")
        return value or None

    @field_validator("html_placeholder", "url_placeholder", "email_placeholder", "mention_placeholder")
    @classmethod
    def _one_token(cls, value: str) -> str:
        if not value or any(char.isspace() for char in value):
            raise ValueError(f"placeholder {value!r} must be a non-empty token without whitespace, e.g. '<url>'")
        if _SENTINEL_CHARS.search(value):
            raise ValueError(f"placeholder {value!r} must not contain U+E000-U+E008 (used internally)")
        return value

    @model_validator(mode="after")
    def _check_consistency(self) -> "CleanParams":
        if self.sentences and self.collapse_whitespace and not self.keep_line_breaks:
            raise ValueError(
                "sentences puts one sentence per line, and keep_line_breaks=false would join them again: "
                "set keep_line_breaks = true (or leave sentences unset)"
            )
        for setting, needed, extra in (("spacing", self.spacing, "kiwi"), ("sentences", self.sentences, "kiwi"),
                                       ("hanja", self.hanja == "hangul", "hanja")):
            module = "kiwipiepy" if extra == "kiwi" else "hanja"
            if needed and importlib.util.find_spec(module) is None:
                raise ValueError(f"{setting} needs {module}, which is not installed: pip install 'koprep[{extra}]'")
        if "email" in self.pii and "emails" in self.model_fields_set and self.emails == "keep":
            raise ValueError('pii masks e-mail addresses but emails = "keep" keeps them: drop one of the two')
        placeholders = [getattr(self, f"{kind}_placeholder") for kind in _PLACEHOLDER_KINDS]
        if self.pii_mode == "placeholder":
            placeholders += [f"<{kind}>" for kind in self.pii if kind in _PII_NUMBER_KINDS]
        for i, first in enumerate(placeholders):
            for j, second in enumerate(placeholders):
                if i != j and first in second:
                    raise ValueError(
                        f"placeholders must differ and none may contain another; {first!r} is inside {second!r}"
                    )
        for char in self.keep_chars:
            if char.isspace() or _SENTINEL_CHARS.match(char):
                raise ValueError(f"keep_chars must not contain {char!r}: whitespace is always kept, U+E000-U+E008 are internal")
            normalized = _normalize_char(char, self)
            if normalized != char:
                raise ValueError(
                    f"keep_chars: {char!r} never reaches the character filter, the earlier steps turn it into "
                    f"{normalized!r}; list {normalized!r} instead"
                )
        return self


# --- Character tables --------------------------------------------------------------------------

_PLACEHOLDER_KINDS = ("html", "url", "email", "mention")
_PII_NUMBER_KINDS = pii_rules.ORDER
"""The `pii` kinds with fixed placeholders (<rrn>, ...); "email" is the e-mail step's own kind."""
_SENTINELS = {kind: chr(0xE000 + index) for index, kind in enumerate(_PLACEHOLDER_KINDS + _PII_NUMBER_KINDS)}
_SENTINEL_CHARS = re.compile("[\ue000-\ue008]")
_USER_SENTINEL_CHARS = "\ue000-\ue003"
"""What protect_placeholders deletes from the input besides the sentinels of the pii kinds in use."""

_HANGUL_SYLLABLES = "\uac00-\ud7a3"
_HANGUL_COMPAT_JAMO = "\u3131-\u3163\u3165-\u318e"  # U+3164 is the invisible Hangul filler
_HANJA = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f\U00030000-\U000323af"
_HANGUL_FILLERS = "\u115f\u1160\u3164\uffa0"


@lru_cache(maxsize=1)
def _width_folder() -> Callable[[str], str]:
    """Characters whose Unicode decomposition is only a width change (<wide>/<narrow>) -> their target.

    Full-width ASCII, the ideographic space, half-width Hangul jamo, ￦. One mapping step and never
    NFKC: NFKC goes on to rewrite compatibility jamo as conjoining jamo (NFKC("ㅋ") is U+110F).
    """
    return _translator({
        chr(code): chr(int(decomposition.split()[1], 16))
        for code in range(sys.maxunicode + 1)
        if (decomposition := unicodedata.decomposition(chr(code))).startswith(("<wide>", "<narrow>"))
    })


_PUNCTUATION_MAP = {
    **dict.fromkeys("\u201c\u201d\u201e\u201f\u00ab\u00bb\u2033\u301d\u301e\u301f", '"'),
    **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032\u2039\u203a", "'"),
    **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\u2e3a\u2e3b", "-"),
    **dict.fromkeys("\u301c\u223c", "~"),
    **dict.fromkeys("\u30fb\u2027\u2219", "\u00b7"),
    "\u2026": "...",
    "\u2025": "..",
    "\u3002": ".",
    "\u3001": ",",
}

_HTML_ELEMENTS = (
    "a abbr address area article aside audio b base bdi bdo blockquote body br button canvas caption center "
    "cite code col colgroup data dd del details dfn dialog div dl dt em embed fieldset figcaption figure font "
    "footer form frame frameset h1 h2 h3 h4 h5 h6 head header hr html i iframe img input ins kbd label legend "
    "li link main map mark meta nav noscript object ol optgroup option output p param picture pre q s samp "
    "script section select small source span strike strong style sub summary sup table tbody td template "
    "textarea tfoot th thead time title tr track tt u ul var video wbr"
).split()
# Only real element names count as tags: Korean writing puts titles in angle brackets (<기생충>,
# <the United States of America> in the petitions), and those words must survive.
# Attribute values may not contain '<' or '>', so an unclosed tag costs one scan to the next '<'.
_HTML_TAG = re.compile(
    r"</?(?:" + "|".join(sorted(_HTML_ELEMENTS, key=len, reverse=True)) + r")"
    r"(?:\s+[A-Za-z_:][-A-Za-z0-9_:.]*(?:\s*=\s*(?:\"[^\"<>]*\"|'[^'<>]*'|[^\s\"'=<>`]+))?)*\s*/?>",
    re.IGNORECASE,
)
# Blocks removed with their content: comments, scripts, styles (opening pattern, closing pattern).
_HTML_BLOCKS = tuple(
    (re.compile(opening, re.IGNORECASE), re.compile(closing, re.IGNORECASE))
    for opening, closing in ((r"<!--", r"-->"), (r"<script\b[^<>]*>", r"</script\s*>"), (r"<style\b[^<>]*>", r"</style\s*>"))
)
# Only entities closed by ';': "&copy=1" inside a URL must stay as it is.
_HTML_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")

_URL_CHARS = r"A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%"
_URL_LAST_CHAR = r"A-Za-z0-9\-_~/#=&%+@*"  # a URL does not end in . , ; : ! ? ' ( ) [ ]
_URL = re.compile(rf"(?:(?:https?|ftp)://|www\.)[{_URL_CHARS}]*[{_URL_LAST_CHAR}]", re.IGNORECASE)
# '*' in the local part: the petitions mask addresses as ******@naver.com. The look-behind only
# starts matches where a run of address characters starts (same matches, linear time on long runs).
_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+*-])[A-Za-z0-9._%+*-]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}")
# No look-behind: one would depend on characters the filter removes later, and a second pass
# would then find mentions the first did not. E-mails are already gone when this runs.
_MENTION = re.compile(r"@[A-Za-z0-9_](?:[A-Za-z0-9_.]*[A-Za-z0-9_])?")


@lru_cache(maxsize=1)
def _invisible_chars() -> re.Pattern[str]:
    """Control (Cc, except whitespace) and format (Cf) characters of the running Unicode version, plus Hangul fillers."""
    codes = [
        code
        for code in range(sys.maxunicode + 1)
        if unicodedata.category(chr(code)) in ("Cc", "Cf") and not chr(code).isspace()
    ]
    ranges = _char_ranges(codes)
    return re.compile(f"[{ranges}{_HANGUL_FILLERS}]+")


def _char_ranges(codes: list[int]) -> str:
    parts, start = [], None
    for index, code in enumerate(codes):
        if start is None:
            start = code
        if index + 1 == len(codes) or codes[index + 1] != code + 1:
            parts.append(re.escape(chr(start)) if start == code else f"{re.escape(chr(start))}-{re.escape(chr(code))}")
            start = None
    return "".join(parts)


def _translator(table: dict[str, str]) -> Callable[[str], str]:
    pattern = re.compile("[" + "".join(re.escape(char) for char in table) + "]")
    lookup = table.__getitem__
    return partial(pattern.sub, lambda match: lookup(match.group()))


_unify_punctuation = _translator(_PUNCTUATION_MAP)


def _nfc(text: str) -> str:
    return text if unicodedata.is_normalized("NFC", text) else unicodedata.normalize("NFC", text)


def _normalize_char(char: str, params: CleanParams) -> str:
    """What the Unicode steps enabled in `params` turn one character into (for validating keep_chars)."""
    if params.fullwidth_to_halfwidth:
        char = _width_folder()(char)
    if params.nfc:
        char = _nfc(char)
    if params.unify_punctuation:
        char = _unify_punctuation(char)
    return char


# --- Steps -------------------------------------------------------------------------------------


def _decode_entities(text: str) -> str:
    # Repeated until nothing changes, so doubly escaped text (&amp;quot;) is fully decoded once and
    # a second cleaning pass finds nothing left to decode.
    while True:
        decoded = _HTML_ENTITY.sub(lambda match: html_lib.unescape(match.group()), text)
        if decoded == text:
            return text
        text = decoded


def _remove_blocks(text: str, opening: re.Pattern[str], closing: re.Pattern[str], replacement: str) -> str:
    # A loop rather than one lazy regex (<!--.*?-->), which rescans to the end for every unclosed
    # opening and takes quadratic time; here an unclosed block ends the search: nothing after it closes.
    pieces: list[str] = []
    position = 0
    while (start := opening.search(text, position)) and (end := closing.search(text, start.end())):
        pieces += (text[position : start.start()], replacement)
        position = end.end()
    pieces.append(text[position:])
    return "".join(pieces)


def _clean_html(text: str, tag_replacement: str) -> str:
    # Entities first: "&lt;br&gt;" is markup that was escaped once more, and is removed as a tag.
    if "&" in text:
        text = _decode_entities(text)
    if "<" in text:
        for opening, closing in _HTML_BLOCKS:
            text = _remove_blocks(text, opening, closing, tag_replacement)
        text = _HTML_TAG.sub(tag_replacement, text)
    return text


def _protect_placeholders(text: str, sentinels: re.Pattern[str], literal: re.Pattern[str], sentinel_of: dict[str, str]) -> str:
    """Turn placeholders already in the text (a second pass, or user text) into their sentinels."""
    text = sentinels.sub("", text)
    return literal.sub(lambda match: sentinel_of[match.group()], text)


def _restore_placeholders(text: str, placeholder_of: dict[str, str]) -> str:
    if not placeholder_of:
        return text
    return re.sub(f"[{''.join(placeholder_of)}]", lambda match: placeholder_of[match.group()], text)


_CONSONANT, _VOWEL, _SYLLABLE, _OTHER = 0, 1, 2, -1
_CHOSEONG = "ㄱㄲㄴㄷㄸㄹㅁㅂㅃㅅㅆㅇㅈㅉㅊㅋㅌㅍㅎ"
_JUNGSEONG = "ㅏㅐㅑㅒㅓㅔㅕㅖㅗㅘㅙㅚㅛㅜㅝㅞㅟㅠㅡㅢㅣ"
_JONGSEONG = " ㄱㄲㄳㄴㄵㄶㄷㄹㄺㄻㄼㄽㄾㄿㅀㅁㅂㅄㅅㅆㅇㅈㅊㅋㅌㅍㅎ"  # " ": no final consonant
_JAMO_TOUCHES_SYLLABLE = re.compile("[ㄱ-ㅎ][가-힣]|[가-힣][ㄱ-ㅎ]")


def _kind(char: str) -> int:
    code = ord(char)
    if 0x3131 <= code <= 0x314E:
        return _CONSONANT
    if 0x314F <= code <= 0x3163:
        return _VOWEL
    if 0xAC00 <= code <= 0xD7A3:
        return _SYLLABLE
    return _OTHER


def _decompose(syllable: str) -> tuple[str, str, str]:
    index = ord(syllable) - 0xAC00
    return _CHOSEONG[index // 588], _JUNGSEONG[index // 28 % 21], _JONGSEONG[index % 28]


def _compose_open(choseong: str, jungseong: str) -> str:
    return chr(0xAC00 + _CHOSEONG.index(choseong) * 588 + _JUNGSEONG.index(jungseong) * 28)


def _decompose_emoticons(text: str) -> str:
    """soynlp 0.0.493's `emoticon_normalize` rule, without its final `repeat_normalize`.

    A syllable that continues a run of jamo is split into jamo: ㅋ쿠ㅜ -> ㅋㅋㅜㅜ, ㅋ쿠 -> ㅋㅋㅜ, and
    a syllable whose final consonant repeats the next jamo loses it to the run: 큨ㅋ -> 쿠ㅋㅋ.
    Unlike soynlp 0.0.493, a syllable next to a jamo that fits neither rule is kept: soynlp
    drops it (좋아ㅋㅋ -> 좋ㅋㅋ; lovit/soynlp#136, fixed only in its unreleased rewrite), which
    removes a syllable from about 4% of NSMC's reviews.
    """
    if not _JAMO_TOUCHES_SYLLABLE.search(text):
        return text
    kinds = [_kind(char) for char in text]
    last = len(text) - 1
    out: list[str] = []
    for i, char in enumerate(text):
        if kinds[i] != _SYLLABLE:
            out.append(char)
            continue
        before = kinds[i - 1] if i > 0 else _OTHER
        after = kinds[i + 1] if i < last else _OTHER
        choseong, jungseong, jongseong = _decompose(char)
        if before == _CONSONANT and after == _VOWEL:
            if choseong == text[i - 1] and jungseong == text[i + 1] and jongseong == " ":
                out += (choseong, jungseong)
            else:
                out.append(char)
        elif after == _CONSONANT:
            if jongseong == text[i + 1]:
                out += (_compose_open(choseong, jungseong), jongseong)
            else:
                out.append(char)
        elif before == _CONSONANT and choseong == text[i - 1]:
            out += (choseong, jungseong)
        else:
            out.append(char)
    return "".join(out)


def _repeat_shortener(num_repeats: int, digits: bool) -> Callable[[str], str]:
    # soynlp shortens runs of 4+ to num_repeats, so num_repeats >= 4 would lengthen 4-runs; here
    # runs only ever shrink (identical to soynlp for num_repeats <= 3).
    letter = r"\w" if digits else r"[^\W\d]"
    pattern = re.compile(rf"({letter})\1{{{max(3, num_repeats)},}}")
    return partial(pattern.sub, r"\1" * num_repeats)


def _collapse_whitespace(text: str) -> str:
    return " ".join(text.split())


def _collapse_whitespace_by_line(text: str) -> str:
    lines = map(_collapse_whitespace, text.split("\n"))
    return "\n".join(line for line in lines if line)


@dataclass(frozen=True)
class _Step:
    name: str
    settings: tuple[tuple[str, Any], ...]
    apply: Callable[[str], str]


@dataclass(frozen=True)
class _Pipeline:
    steps: tuple[_Step, ...]
    placeholder_of: dict[str, str]
    """Sentinel -> placeholder for the kinds in placeholder mode (empty when none is)."""

    def run(self, text: str) -> str:
        for step in self.steps:
            text = step.apply(text)
        return text


@lru_cache(maxsize=32)
def _pipeline(params: CleanParams) -> _Pipeline:
    pii_policy = "placeholder" if params.pii_mode == "placeholder" else "remove"
    emails = pii_policy if "email" in params.pii else params.emails
    policies = {"html": params.html, "url": params.urls, "email": emails, "mention": params.mentions}
    placeholders = {
        kind: getattr(params, f"{kind}_placeholder") for kind, policy in policies.items() if policy == "placeholder"
    }
    pii_numbers = tuple(kind for kind in _PII_NUMBER_KINDS if kind in params.pii)
    if pii_policy == "placeholder":
        placeholders.update({kind: f"<{kind}>" for kind in pii_numbers})
    replacement = {kind: f" {_SENTINELS[kind]} " if kind in placeholders else " " for kind in policies}

    def describe_policy(kind: str) -> tuple[tuple[str, Any], ...]:
        return (("mode", policies[kind]),) + ((("placeholder", placeholders[kind]),) if kind in placeholders else ())

    steps: list[_Step] = []
    if placeholders:
        literal = re.compile("|".join(re.escape(text) for text in sorted(placeholders.values(), key=len, reverse=True)))
        sentinel_of = {text: _SENTINELS[kind] for kind, text in placeholders.items()}
        sentinels = re.compile(f"[{_USER_SENTINEL_CHARS}{''.join(_SENTINELS[kind] for kind in pii_numbers)}]")
        steps.append(_Step(
            "protect_placeholders", (("placeholders", dict(placeholders)),),
            partial(_protect_placeholders, sentinels=sentinels, literal=literal, sentinel_of=sentinel_of),
        ))
    if params.html != "keep":
        steps.append(_Step("html", describe_policy("html") + (("entities", "decode"),),
                           partial(_clean_html, tag_replacement=replacement["html"])))
    if params.remove_invisible:
        steps.append(_Step("remove_invisible", (("categories", "Cc Cf + Hangul fillers"),),
                           partial(_invisible_chars().sub, "")))
    if params.fullwidth_to_halfwidth:
        steps.append(_Step("fullwidth_to_halfwidth", (("mapping", "<wide>/<narrow> decompositions"),), _width_folder()))
    if params.nfc:
        steps.append(_Step("nfc", (), _nfc))
    if params.unify_punctuation:
        steps.append(_Step("unify_punctuation", (), _unify_punctuation))
    if params.hanja in ("hangul", "remove"):
        hanja_step = kiwi_text.hanja_to_hangul if params.hanja == "hangul" else kiwi_text.remove_hanja
        steps.append(_Step("hanja", (("mode", params.hanja),), hanja_step))
    for name, kind, pattern in (("urls", "url", _URL), ("emails", "email", _EMAIL), ("mentions", "mention", _MENTION)):
        if policies[kind] != "keep":
            steps.append(_Step(name, describe_policy(kind), partial(pattern.sub, replacement[kind])))
    if pii_numbers:
        pii_replacement: dict[str, str] = {kind: f" {_SENTINELS[kind]} " if pii_policy == "placeholder" else " " for kind in pii_numbers}
        steps.append(_Step("pii", (("kinds", list(params.pii)), ("mode", params.pii_mode)),
                           partial(pii_rules.mask, kinds=pii_numbers, replacement_of=pii_replacement)))
    if params.spacing == "kiwi":
        steps.append(_Step("spacing", (("backend", "kiwi"), ("rules", kiwi_text.SPACING_RULES),
                                       ("long_eojeol", kiwi_text.LONG_EOJEOL), ("glued_eojeol", kiwi_text.GLUED_EOJEOL),
                                       ("spaced_line_eojeol", kiwi_text.SPACED_LINE_EOJEOL)),
                           kiwi_text.restore_spacing))
    if params.sentences == "kiwi":
        steps.append(_Step("sentences", (("backend", "kiwi"),), kiwi_text.split_sentences))
    if params.filter_chars:
        kept = _HANGUL_SYLLABLES + r"\s"
        kept += _HANGUL_COMPAT_JAMO if params.keep_hangul_jamo else ""
        kept += "A-Za-z" if params.keep_latin else ""
        kept += "0-9" if params.keep_digits else ""
        kept += _HANJA if params.keep_hanja or params.hanja == "keep" else ""
        kept += "".join(re.escape(char) for char in params.keep_chars)
        kept += "".join(_SENTINELS[kind] for kind in placeholders)
        settings = tuple((key, getattr(params, key)) for key in
                         ("keep_hangul_jamo", "keep_latin", "keep_digits", "keep_hanja", "keep_chars"))
        if params.hanja == "keep":
            settings += (("hanja", "keep"),)
        steps.append(_Step("filter_chars", settings, partial(re.compile(f"[^{kept}]+").sub, " ")))
    if params.emoticon_normalize:
        steps.append(_Step("emoticon_normalize", (("rule", "soynlp 0.0.493 emoticon_normalize, lovit/soynlp#136 fixed"),),
                           _decompose_emoticons))
    if params.repeat_normalize is not None:
        steps.append(_Step("repeat_normalize", (("num_repeats", params.repeat_normalize), ("digits", params.repeat_digits)),
                           _repeat_shortener(params.repeat_normalize, params.repeat_digits)))
    placeholder_of = {_SENTINELS[kind]: text for kind, text in placeholders.items()}
    if placeholders:
        steps.append(_Step("restore_placeholders", (), partial(_restore_placeholders, placeholder_of=placeholder_of)))
    if params.collapse_whitespace:
        steps.append(_Step("collapse_whitespace", (("keep_line_breaks", params.keep_line_breaks),),
                           _collapse_whitespace_by_line if params.keep_line_breaks else _collapse_whitespace))
    return _Pipeline(tuple(steps), placeholder_of)


# --- Public API --------------------------------------------------------------------------------


def clean_text(text: str, params: CleanParams) -> str:
    """Clean one text. Never raises on any str; the result may be empty."""
    return _pipeline(params).run(text)


def clean_texts(texts: Iterable[str], params: CleanParams) -> list[str]:
    run = _pipeline(params).run
    return [run(text) for text in texts]


def preview(text: str, params: CleanParams) -> list[tuple[str, str]]:
    """[("input", text), (step, text after it), ...] for the enabled steps, in order.

    Placeholders are shown as their final text even while they travel as internal sentinels.
    """
    pipeline = _pipeline(params)
    shown = [("input", text)]
    for step in pipeline.steps:
        text = step.apply(text)
        shown.append((step.name, _restore_placeholders(text, pipeline.placeholder_of) if pipeline.placeholder_of else text))
    return shown


def optional_steps(params: CleanParams) -> dict[str, Any]:
    """The optional steps switched on (hanja, pii, spacing, sentences) and their settings, for
    `status`, `clean-preview` and the report; {} for a configuration without them."""
    return params.model_dump(mode="json", include={"hanja", "pii", "pii_mode", "spacing", "sentences"})


def libraries(params: CleanParams) -> dict[str, str]:
    """Versions of the libraries whose models compute part of the output with these params (Kiwi for
    spacing and sentences, the `hanja` tables for readings); empty for every other configuration,
    so their fingerprints stay as they were."""
    found = {}
    if params.spacing or params.sentences:
        found["kiwipiepy"] = kiwi_text.kiwi_version()
    if params.spacing:
        found["spacing-rules"] = kiwi_text.SPACING_RULES
    if params.hanja == "hangul":
        found["hanja"] = kiwi_text.hanja_version()
    return found


def describe(params: CleanParams) -> dict[str, Any]:
    """JSON-able record of exactly what `clean_text` does with these params, for the run manifest."""
    return {
        "stage": "clean",
        "version": VERSION,
        "unicode_version": unicodedata.unidata_version,
        "steps": [{"step": step.name, **dict(step.settings)} for step in _pipeline(params).steps],
    }
