"""The `pii` clean step: each kind's formats masked, look-alikes (dates, prices, times, order and
article numbers) left alone, checksums applied where the format has one (pure logic, fast)."""

from __future__ import annotations

import pytest

from koprep.config import ConfigError, load_config
from koprep.stages import pii
from koprep.stages.clean import CleanParams, clean_text, preview
from koprep.store import canonical_json

ALL = CleanParams(pii=("rrn", "phone", "card", "account", "email", "ip"))


def rrn_with_check_digit(first12: str) -> str:
    weights = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)
    check = (11 - sum(int(d) * w for d, w in zip(first12, weights)) % 11) % 10
    return f"{first12[:6]}-{first12[6:]}{check}"


def with_wrong_check_digit(number: str) -> str:
    return number[:-1] + str((int(number[-1]) + 1) % 10)


def test_rrn_check_digit_is_applied_to_numbers_issued_before_october_2020():
    valid = rrn_with_check_digit("850315123456")
    assert clean_text(f"주민번호 {valid} 입니다", ALL) == "주민번호 <rrn> 입니다"
    assert clean_text(f"주민번호 {valid.replace('-', '')}", ALL) == "주민번호 <rrn>"
    wrong = with_wrong_check_digit(valid)
    assert "<rrn>" not in clean_text(f"번호 {wrong}", ALL)


def test_rrn_of_people_born_since_october_2020_have_no_check_digit_and_are_masked():
    # Numbers issued since 2020-10 end in random digits: whatever the last digit, they are masked.
    for last in "0123456789":
        assert clean_text(f"아기 주민번호 210405-412345{last}", ALL) == "아기 주민번호 <rrn>"
    # ...but an impossible date is not a resident registration number.
    assert "<rrn>" not in clean_text("번호 211345-4123456", ALL)


def test_rrn_partly_masked_and_century_digits():
    assert clean_text("900101-1****** 님", ALL) == "<rrn> 님"
    assert pii.valid_rrn("201231", "3000000") is True  # 2020-12-31 (century digit 3): no check digit
    assert pii.valid_rrn("210229", "3000000") is False  # 2021-02-29 does not exist
    assert pii.valid_rrn("201231", "1000000") is False  # 1920-12-31 predates 2020-10: the check digit is wrong


@pytest.mark.parametrize("number", [
    "010-1234-5678", "010.1234.5678", "010 1234 5678", "01012345678", "011-123-4567", "02-123-4567",
    "02-1234-5678", "031-987-6543", "064-123-4567", "070-1234-5678", "0505-123-4567", "+82-10-1234-5678",
    "1588-1234", "1644-0000",
])
def test_phone_formats(number):
    assert clean_text(f"연락처 {number}로 전화", ALL) == "연락처 <phone> 로 전화"


@pytest.mark.parametrize("number", ["4111-1111-1111-1111", "4111 1111 1111 1111", "4111111111111111",
                                    "5500-0000-0000-0004", "3782-822463-10005"])
def test_cards_pass_luhn(number):
    assert clean_text(f"카드 {number} 결제", ALL) == "카드 <card> 결제"


def test_card_numbers_failing_luhn_are_not_cards():
    assert pii.luhn("4111111111111111") and not pii.luhn("4111111111111112")
    assert "<card>" not in clean_text("카드 4111-1111-1111-1112", CleanParams(pii=("card",)))


@pytest.mark.parametrize("text", [
    "국민은행 123456-78-901234 으로 입금", "신한 110-123-456789", "입금 계좌: 1002-123-456789 우리은행",
    "농협 301-1234-5678-91 예금주 홍길동",
])
def test_accounts_after_a_banking_word(text):
    assert "<account>" in clean_text(text, ALL)
    assert not any(char.isdigit() for char in clean_text(text, ALL))


@pytest.mark.parametrize("text, masked", [
    ("서버 192.168.0.1 접속", "서버 <ip> 접속"), ("IPv6 2001:db8::8a2e:370:7334 주소", "IPv6 <ip> 주소"),
    ("문의 kim.minsu+news@naver.com 으로", "문의 <email> 으로"),
])
def test_ip_and_email(text, masked):
    assert clean_text(text, ALL) == masked


LOOK_ALIKES = [
    "2024-01-15 공고", "2024.01.15. 시행", "2024년 1월 15일", "가격 1,000,000원", "12:30:45에 출발", "오후 3:15",
    "헌법 제12조 제3항", "법률 제12345호", "주문번호 2023-0412-5678", "주문번호 20240115-0001234",
    "송장번호 6012-3456-7890", "버전 3.2.1 출시", "1800-1900년대", "전화 없음 123-4567", "면적 1,234.56㎡",
    "사건번호 2019가합12345", "회원 수 1,234,567명", "4111-1111-1111-1112 (틀린 카드)", "ISBN 978-89-123-4567-8",
]


@pytest.mark.parametrize("text", LOOK_ALIKES)
def test_look_alikes_are_never_masked(text):
    cleaned = clean_text(text, ALL)
    assert "<" not in cleaned, cleaned


def test_remove_mode_deletes_without_placeholders():
    params = CleanParams(pii=("rrn", "phone", "email"), pii_mode="remove")
    assert clean_text("전화 010-1234-5678 메일 a@b.com 끝", params) == "전화 메일 끝"


def test_placeholders_survive_a_second_cleaning_pass_and_the_character_filter():
    once = clean_text("전화 010-1234-5678, 카드 4111-1111-1111-1111!", ALL)
    assert once == "전화 <phone> 카드 <card>"
    assert clean_text(once, ALL) == once


def test_preview_shows_the_step():
    shown = dict(preview("전화 010-1234-5678", ALL))
    assert shown["pii"].split() == ["전화", "<phone>"]


def test_default_settings_and_fingerprint_are_unchanged_by_the_new_steps():
    dumped = CleanParams().model_dump()
    assert not {"pii", "pii_mode", "hanja", "spacing", "sentences"} & set(dumped)
    assert canonical_json(CleanParams(pii_mode="remove")) == canonical_json(CleanParams())
    assert "pii" in CleanParams(pii=("ip",)).model_dump()


@pytest.mark.parametrize("override, named", [
    ('clean.pii=["rrn","ssn"]', "clean.pii"), ("clean.pii_mode=hide", "clean.pii_mode"),
    ("clean.hanja=hiragana", "clean.hanja"), ("clean.spacing=pykospacing", "clean.spacing"),
])
def test_bad_settings_name_the_setting(override, named):
    with pytest.raises(ConfigError, match=named):
        load_config(None, [override])


def test_a_single_kind_may_be_given_as_a_string():
    assert load_config(None, ["clean.pii=rrn"]).clean.pii == ("rrn",)


def test_pii_email_conflicts_with_keeping_emails():
    with pytest.raises(ConfigError, match="emails"):
        load_config(None, ['clean.pii=["email"]', "clean.emails=keep"])


def test_hanja_modes():
    text = "大韓民國 憲法 국가(國家)"
    assert clean_text(text, CleanParams(hanja="hangul")) == "대한민국 헌법 국가 국가"
    assert clean_text(text, CleanParams(hanja="remove")) == "국가"
    assert clean_text(text, CleanParams(hanja="keep")) == "大韓民國 憲法 국가 國家"
    assert clean_text(text, CleanParams()) == "국가"  # unset: the character filter drops them, as before


def test_a_user_placeholder_may_not_clash_with_a_pii_placeholder():
    with pytest.raises(ConfigError, match="placeholders must differ"):
        load_config(None, ['clean.pii=["ip"]', "clean.url_placeholder=<ip>"])
    assert load_config(None, ["clean.url_placeholder=<ip>"]).clean.url_placeholder == "<ip>"
