"""Personal data in Korean text: the patterns the clean stage's `pii` step masks.

Each kind is a regular expression for candidates plus, where the format has one, a check that
rejects look-alikes:

    rrn      resident registration number YYMMDD-GNNNNNN (hyphen optional): a real date, a
             gender/century digit, and the check digit of numbers issued before October 2020;
             numbers of people born since then have random last digits and no check digit, so
             a valid date from 2020-10 on is enough for them. Partly masked forms
             (900101-1******) count too.
    phone    mobile 010/011/016-019, area codes 02 and 0[3-6]X, 070 and 050X with '-', '.' or ' '
             between the groups (mobile 010 also as 11 digits in a row), +82 forms, and the
             national representative numbers 15XX/16XX/18XX-XXXX (not before 년: 1800-1900년)
    card     13-19 digits in groups of 4 (Amex 4-6-5) that pass the Luhn check
    account  digit groups joined by '-' (10-14 digits in 3-4 groups) within 20 characters after a
             banking word (계좌, 입금, 은행, a bank's name, ...): account formats differ per bank and
             carry no public check digit, so without such context an order number looks the same
    email    (the clean stage's own e-mail pattern)
    ip       IPv4 dotted quads (every part 0-255) and IPv6 addresses valid for `ipaddress`

Dates (2024-01-15, 2024.01.15), prices (1,000,000원), times (12:30:45) and article numbers
(제12조, 제12345호) match none of them. Digits glued to other digits, '-' or '.' never start or end a
match, so a number inside a longer one is not masked.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
from typing import Callable, Literal

PiiKind = Literal["rrn", "phone", "card", "account", "email", "ip"]
KINDS: tuple[str, ...] = ("rrn", "phone", "card", "account", "email", "ip")
ORDER: tuple[str, ...] = ("rrn", "card", "phone", "account", "ip")
"""The order the number kinds are masked in (e-mail is the clean stage's own step, before these):
the checked formats first, so a card or RRN is never taken for a phone or account number."""

_EDGE_BEFORE = r"(?<![\d\-.])"
_EDGE_AFTER = r"(?![\d\-])(?!\.\d)"

_RRN = re.compile(
    _EDGE_BEFORE + r"(?P<date>\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]))[- ]?(?P<rest>[0-9][0-9]{6}|[0-9]\*{6})" + _EDGE_AFTER
)
_RRN_WEIGHTS = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)
_CENTURY = {"9": 1800, "0": 1800, "1": 1900, "2": 1900, "5": 1900, "6": 1900, "3": 2000, "4": 2000, "7": 2000, "8": 2000}
_NO_CHECK_DIGIT_FROM = datetime.date(2020, 10, 1)

_SEP = r"[-. ]"
_PHONE = re.compile(
    _EDGE_BEFORE + r"(?:"
    r"(?:\+82[- ]?|\+82\(0\))?(?:01[016789]|0(?:2|[3-6][1-5]|70|50[2-8]))" + _SEP + r"\d{3,4}" + _SEP + r"\d{4}"
    r"|010\d{8}"
    r"|\+82[- ]?10[- ]?\d{4}[- ]?\d{4}"
    r"|1[568]\d{2}-\d{4}(?!\s*년)"
    r")" + _EDGE_AFTER
)
_CARD = re.compile(
    _EDGE_BEFORE + r"(?:\d{4}([- ]?)\d{4}\1\d{4}\1\d{1,7}|\d{4}([- ]?)\d{6}\2\d{5})" + _EDGE_AFTER
)
_BANK_WORDS = (
    "계좌", "입금", "송금", "이체", "은행", "뱅크", "예금주", "통장", "농협", "국민", "신한", "우리", "하나", "기업",
    "카카오", "토스", "새마을", "우체국", "수협", "신협", "씨티", "SC", "부산", "대구", "경남", "광주", "전북", "제주",
)
_ACCOUNT = re.compile(
    r"(?:" + "|".join(_BANK_WORDS) + r")[^\n]{0,20}?" + _EDGE_BEFORE + r"(?P<number>\d{2,6}(?:-\d{2,7}){2,3})" + _EDGE_AFTER
)
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d]|\.\d)")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")


def valid_rrn(date: str, rest: str) -> bool:
    """A real birth date for the century digit, and, for numbers issued before 2020-10, the check digit."""
    century = _CENTURY.get(rest[0])
    if century is None:
        return False
    try:
        born = datetime.date(century + int(date[:2]), int(date[2:4]), int(date[4:6]))
    except ValueError:
        return False
    if "*" in rest or born >= _NO_CHECK_DIGIT_FROM:
        return True
    digits = [int(char) for char in date + rest]
    check = (11 - sum(d * w for d, w in zip(digits, _RRN_WEIGHTS)) % 11) % 10
    return check == digits[12]


def luhn(number: str) -> bool:
    digits = [int(char) for char in number if char.isdigit()]
    total = 0
    for index, digit in enumerate(reversed(digits)):
        if index % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def _valid_card(number: str) -> bool:
    digits = re.sub(r"\D", "", number)
    return 13 <= len(digits) <= 19 and luhn(digits)


def _valid_account(number: str) -> bool:
    return 10 <= sum(char.isdigit() for char in number) <= 14


def _valid_ipv4(text: str) -> bool:
    return all(int(part) <= 255 and (part == "0" or not part.startswith("0")) for part in text.split("."))


def _valid_ipv6(text: str) -> bool:
    if text.count(":") < 2 or not re.search(r"[0-9A-Fa-f]", text):
        return False
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def _masker(pattern: re.Pattern[str], valid: Callable[[re.Match[str]], bool], group: str | int = 0) -> Callable[[str, str], str]:
    """Replace every match of `pattern` that `valid` accepts (its `group`) by the replacement."""

    def mask(text: str, replacement: str) -> str:
        pieces: list[str] = []
        position = 0
        for match in pattern.finditer(text):
            if not valid(match):
                continue
            start, end = match.span(group)
            pieces += (text[position:start], replacement)
            position = end
        if not pieces:
            return text
        pieces.append(text[position:])
        return "".join(pieces)

    return mask


def _mask_ip(text: str, replacement: str) -> str:
    if "." in text:
        text = _masker(_IPV4, lambda m: _valid_ipv4(m.group()))(text, replacement)
    if ":" in text:
        text = _masker(_IPV6, lambda m: _valid_ipv6(m.group()))(text, replacement)
    return text


MASKERS: dict[str, Callable[[str, str], str]] = {
    "rrn": _masker(_RRN, lambda m: valid_rrn(m.group("date"), m.group("rest"))),
    "phone": _masker(_PHONE, lambda m: True),
    "card": _masker(_CARD, lambda m: _valid_card(m.group())),
    "account": _masker(_ACCOUNT, lambda m: _valid_account(m.group("number")), group="number"),
    "ip": _mask_ip,
}
"""Kind -> mask(text, replacement) for the number kinds (e-mail is masked by the clean stage's e-mail step)."""


def mask(text: str, kinds: tuple[str, ...], replacement_of: dict[str, str]) -> str:
    """`text` with every number of `kinds` (in ORDER) replaced by `replacement_of[kind]`."""
    if not any(char.isdigit() for char in text):
        return text
    for kind in ORDER:
        if kind in kinds:
            text = MASKERS[kind](text, replacement_of[kind])
    return text
