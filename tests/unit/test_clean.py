"""The clean stage on real Korean text, against soynlp called directly, and as properties (hypothesis)."""

from __future__ import annotations

import csv
import html
import json
import re
import time
import unicodedata
from functools import cache

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from soynlp.normalizer import emoticon_normalize as soynlp_emoticon_normalize
from soynlp.normalizer import repeat_normalize as soynlp_repeat_normalize

from koprep.stages.clean import VERSION, CleanParams, clean_text, clean_texts, describe, preview
from tests.helpers import CORPORA, require
from tests.unit.korean_samples import CHATBOT_QUESTIONS, PETITION_EXCERPTS, REVIEWS, law_documents

DEFAULTS = CleanParams()

SOURCES = [pytest.param("written"), pytest.param("corpora", marks=pytest.mark.slow)]
"""For the tests that want many documents: `written` is every inline sample plus konlpy's bundled law texts
(tests/unit/korean_samples.py); `corpora` is the real shared corpora, slow tier only."""

ALL_STEPS_OFF = dict(
    html="keep", remove_invisible=False, fullwidth_to_halfwidth=False, nfc=False, unify_punctuation=False,
    urls="keep", emails="keep", mentions="keep", filter_chars=False, emoticon_normalize=False,
    repeat_normalize=None, collapse_whitespace=False,
)
"""Every step switched off: clean_text is then the identity, and single steps can be switched back on."""

HANGUL_SYLLABLE = re.compile("[\uac00-\ud7a3]")
CONJOINING_JAMO = re.compile("[\u1100-\u11ff\ua960-\ua97f\ud7b0-\ud7ff]")


def only(**steps) -> CleanParams:
    return CleanParams(**{**ALL_STEPS_OFF, **steps})


@cache
def nsmc_reviews() -> tuple[str, ...]:
    with require(CORPORA / "nsmc" / "ratings_train.txt").open(encoding="utf-8", newline="") as handle:
        rows = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        next(rows)
        return tuple(row[1] for row in rows)


@cache
def chatbot_questions() -> tuple[str, ...]:
    with require(CORPORA / "chatbot" / "ChatbotData.csv").open(encoding="utf-8", newline="") as handle:
        return tuple(row["Q"] for row in csv.DictReader(handle))


def written_documents() -> tuple[str, ...]:
    return REVIEWS + PETITION_EXCERPTS + CHATBOT_QUESTIONS + law_documents()


def first_with(docs: tuple[str, ...], pattern: str) -> str:
    """The first sample matching `pattern` (tests/unit/korean_samples.py has one for each case the tests need)."""
    compiled = re.compile(pattern)
    for doc in docs:
        if compiled.search(doc):
            return doc
    pytest.fail(f"no sample matches {pattern!r}; add one to tests/unit/korean_samples.py")


def syllables(text: str) -> str:
    return "".join(HANGUL_SYLLABLE.findall(text))


def is_invisible(char: str) -> bool:
    """The documented definition: format and non-whitespace control characters, and the Hangul fillers."""
    category = unicodedata.category(char)
    return category == "Cf" or (category == "Cc" and not char.isspace()) or char in "\u115f\u1160\u3164\uffa0"


def is_subsequence(short: str, long: str) -> bool:
    remaining = iter(long)
    return all(char in remaining for char in short)


# --- Preview, describe and the step order ---------------------------------------------------------


def test_preview_shows_every_enabled_step_in_the_order_describe_records():
    review = first_with(REVIEWS, r"ㅋ{6,}")
    shown = preview(review, DEFAULTS)
    assert shown[0] == ("input", review)
    assert [name for name, _ in shown[1:]] == [step["step"] for step in describe(DEFAULTS)["steps"]]
    assert shown[-1][1] == clean_text(review, DEFAULTS)
    assert [name for name, _ in shown[1:]] == [
        "html", "remove_invisible", "fullwidth_to_halfwidth", "nfc", "unify_punctuation", "urls", "emails",
        "mentions", "filter_chars", "emoticon_normalize", "repeat_normalize", "collapse_whitespace",
    ]


def test_describe_is_json_and_follows_the_params():
    record = describe(DEFAULTS)
    assert json.loads(json.dumps(record)) == record
    assert record["version"] == VERSION and record["unicode_version"] == unicodedata.unidata_version
    assert {"step": "repeat_normalize", "num_repeats": 2, "digits": False} in record["steps"]

    changed = describe(CleanParams(repeat_normalize=3, urls="placeholder", nfc=False))
    names = [step["step"] for step in changed["steps"]]
    assert "nfc" not in names
    assert names[0] == "protect_placeholders" and "restore_placeholders" in names
    assert {"step": "urls", "mode": "placeholder", "placeholder": "<url>"} in changed["steps"]
    assert {"step": "repeat_normalize", "num_repeats": 3, "digits": False} in changed["steps"]


def test_all_steps_off_is_the_identity_and_empty_text_is_fine():
    identity = CleanParams(**ALL_STEPS_OFF)
    review = first_with(REVIEWS, r"ㅋ{4,}")
    assert clean_text(review, identity) == review
    assert describe(identity)["steps"] == []
    for params in (DEFAULTS, identity):
        assert clean_text("", params) == ""
    assert clean_text("!!! ... ♥♥", DEFAULTS) == ""


@pytest.mark.parametrize("source", SOURCES)
def test_clean_texts_equals_clean_text_per_document(source):
    docs = written_documents() if source == "written" else nsmc_reviews()[:500] + chatbot_questions()[:500]
    assert clean_texts(iter(docs), DEFAULTS) == [clean_text(doc, DEFAULTS) for doc in docs]


# --- Each step on real text: on does its job, off changes the result as expected ----------------


def test_html_entities_are_decoded_before_the_filter():
    review = first_with(REVIEWS, r"&#39;")
    after_html = dict(preview(review, DEFAULTS))["html"]
    assert after_html == review.replace("&#39;", html.unescape("&#39;"))
    assert "39" not in clean_text(review, DEFAULTS)
    assert "39" in clean_text(review, CleanParams(html="keep"))  # the filter alone leaves the entity's digits


def test_html_tags_are_removed_but_angle_bracket_titles_survive():
    petition = first_with(PETITION_EXCERPTS, r"</span>")
    assert "span" not in clean_text(petition, DEFAULTS)
    assert "span" in clean_text(petition, CleanParams(html="keep"))
    assert "<html>" in clean_text(petition, CleanParams(html="placeholder")).split()

    # Korean writing quotes titles with <...>: only real element names are tags.
    quoted = first_with(PETITION_EXCERPTS, r"<America>")
    cleaned = clean_text(quoted, DEFAULTS).split()
    assert {"America", "the", "United", "States", "일본"} <= set(cleaned)
    review = first_with(REVIEWS, r"<street of [a-z ]+>")
    title = re.search(r"<(street of [a-z ]+)>", review).group(1)
    assert title in clean_text(review, DEFAULTS)


def test_remove_invisible_deletes_zero_width_space_and_bom():
    zwsp = first_with(PETITION_EXCERPTS, "\u200b")
    bom = first_with(PETITION_EXCERPTS, "\ufeff")
    for doc, char in ((zwsp, "\u200b"), (bom, "\ufeff")):
        steps = dict(preview(doc, DEFAULTS))
        assert steps["remove_invisible"] == "".join(c for c in steps["html"] if not is_invisible(c))
        assert char not in clean_text(doc, CleanParams(filter_chars=False))
        assert char in clean_text(doc, CleanParams(filter_chars=False, remove_invisible=False))


def test_fullwidth_latin_becomes_ascii_and_survives_the_filter():
    petition = first_with(PETITION_EXCERPTS, "3.3ｍ2당")
    assert "m2당" in clean_text(petition, DEFAULTS)
    assert "m2당" not in clean_text(petition, CleanParams(fullwidth_to_halfwidth=False))  # ｍ is not ASCII Latin
    review = first_with(REVIEWS, "，")
    expected_comma = unicodedata.normalize("NFKC", "，")
    assert "，" not in clean_text(review, only(fullwidth_to_halfwidth=True))
    assert expected_comma in clean_text(review, only(fullwidth_to_halfwidth=True))


@pytest.mark.parametrize("source", SOURCES)
def test_width_step_never_touches_hangul_syllables(source):
    # NFKC would be wrong for compatibility jamo runs etc.
    korean = written_documents() if source == "written" else nsmc_reviews()[:2000]
    assert all(syllables(clean_text(doc, only(fullwidth_to_halfwidth=True))) == syllables(doc) for doc in korean)


def test_width_step_is_not_nfkc_and_keeps_compatibility_jamo():
    # NFKC turns ㅋ into the conjoining jamo U+110F, which would break ㅋㅋ and every jamo filter.
    assert unicodedata.normalize("NFKC", "ㅋ") != "ㅋ"
    review = first_with(REVIEWS, r"ㅋㅋ")
    assert clean_text(review, only(fullwidth_to_halfwidth=True)) == review
    halfwidth_kiyeok = "\uffa1"
    assert unicodedata.decomposition(halfwidth_kiyeok) == "<narrow> 3131"
    assert clean_text(halfwidth_kiyeok, only(fullwidth_to_halfwidth=True)) == "\u3131"


def test_nfc_composes_decomposed_hangul_and_without_it_the_filter_loses_it():
    review = first_with(REVIEWS, r"ㅠㅠ")
    decomposed = unicodedata.normalize("NFD", review)
    assert decomposed != review and not HANGUL_SYLLABLE.search(decomposed)
    assert clean_text(decomposed, DEFAULTS) == clean_text(review, DEFAULTS)
    assert not HANGUL_SYLLABLE.search(clean_text(decomposed, CleanParams(nfc=False)))


def test_unify_punctuation_maps_curly_quotes_dashes_and_ellipsis():
    quoted = first_with(PETITION_EXCERPTS, r'\A[^"]*[“”][^"]*\Z')
    kept = clean_text(quoted, CleanParams(keep_chars='"'))
    assert '"' in kept and "“" not in kept
    assert '"' not in clean_text(quoted, CleanParams(keep_chars='"', unify_punctuation=False))
    dashed = first_with(PETITION_EXCERPTS, "—")
    assert "—" not in clean_text(dashed, only(unify_punctuation=True))
    ellipsis = first_with(REVIEWS, "…")
    assert clean_text(ellipsis, only(unify_punctuation=True)) == ellipsis.replace("…", "...")


def test_urls_are_removed_or_replaced_before_the_filter():
    review = first_with(REVIEWS, r"https?://\S+/")
    assert "http" not in clean_text(review, DEFAULTS)
    assert "<url>" in clean_text(review, CleanParams(urls="placeholder")).split()
    assert "http" in clean_text(review, CleanParams(urls="keep"))  # only the letters survive the filter
    # URLs are ASCII: the Korean word glued to the end of one is kept.
    glued = first_with(REVIEWS, r"https?://[\x21-\x7e]+[가-힣]")
    tail = re.search(r"https?://[\x21-\x7e]+([가-힣]+)", glued).group(1)
    assert tail in clean_text(glued, DEFAULTS)


def test_emails_including_masked_ones_are_removed_or_replaced():
    review = first_with(REVIEWS, r"[a-z0-9]+@naver\.com")
    assert "naver" not in clean_text(review, DEFAULTS)
    assert "<email>" in clean_text(review, CleanParams(emails="placeholder")).split()
    masked = first_with(PETITION_EXCERPTS, r"\*+@gmail\.com")
    assert "gmail" not in clean_text(masked, DEFAULTS)
    # A kept address still has an '@word' for the mention step, which runs after it.
    assert "gmail" not in clean_text(masked, CleanParams(emails="keep"))
    assert "gmail" in clean_text(masked, CleanParams(emails="keep", mentions="keep"))


def test_mentions_are_ascii_handles_and_korean_at_quotes_are_words():
    handle = first_with(PETITION_EXCERPTS, r"\s@[A-Za-z]\w+")
    name = re.search(r"\s@([A-Za-z]\w+)", handle).group(1)
    assert name not in clean_text(handle, DEFAULTS)
    assert "<mention>" in clean_text(handle, CleanParams(mentions="placeholder")).split()
    assert name in clean_text(handle, CleanParams(mentions="keep"))
    at_quoted = first_with(REVIEWS, r"@[가-힣]+@")
    word = re.search(r"@([가-힣]+)@", at_quoted).group(1)
    assert word in clean_text(at_quoted, CleanParams(mentions="placeholder"))


def test_placeholders_survive_the_character_filter_and_are_single_tokens():
    params = CleanParams(urls="placeholder", emails="placeholder", mentions="placeholder", url_placeholder="[URL]")
    review = first_with(REVIEWS, r"https?://")
    tokens = clean_text(review, params).split()
    assert "[URL]" in tokens
    assert clean_text(" ".join(tokens), params).split() == tokens


@pytest.mark.parametrize(
    ("setting", "pattern"),
    [
        ("keep_hangul_jamo", "[ㄱ-ㅎㅏ-ㅣ]"),
        ("keep_latin", "[A-Za-z]"),
        ("keep_digits", "[0-9]"),
    ],
)
@pytest.mark.parametrize("source", SOURCES)
def test_filter_keeps_what_the_policy_says(setting, pattern, source):
    # URLs, e-mails and mentions are removed with their letters and digits, so they are left out here.
    docs = REVIEWS + law_documents() if source == "written" else nsmc_reviews()[:5000]
    reviews = [doc for doc in docs if re.search(pattern, doc) and not re.search("http|www|@", doc)][:200]
    assert reviews
    assert all(re.search(pattern, clean_text(doc, DEFAULTS)) for doc in reviews)
    assert not any(re.search(pattern, clean_text(doc, CleanParams(**{setting: False}))) for doc in reviews)


def test_filter_hanja_and_keep_chars():
    hanja_doc = first_with(PETITION_EXCERPTS, r"美")
    assert "美" not in clean_text(hanja_doc, DEFAULTS)
    assert "美" in clean_text(hanja_doc, CleanParams(keep_hanja=True))
    review = first_with(REVIEWS, r"\A(?!.*(.)\1{3})[가-힣 ]*[가-힣][.?!][가-힣 .?!]*\Z")
    assert not re.search(r"[.?!]", clean_text(review, DEFAULTS))
    assert re.search(r"[.?!]", clean_text(review, CleanParams(keep_chars=".?!")))
    # Switching the filter off keeps every symbol the other steps leave.
    assert clean_text(review, CleanParams(filter_chars=False)) == " ".join(review.split())


def test_filter_off_keeps_masked_names_and_on_removes_the_asterisks():
    petition = first_with(PETITION_EXCERPTS, r"[가-힣]\*\*")
    assert "*" not in clean_text(petition, DEFAULTS)
    assert "*" in clean_text(petition, CleanParams(filter_chars=False))


def test_collapse_whitespace_off_leaves_the_spaces_of_removed_symbols():
    review = first_with(REVIEWS, r"[가-힣]\.\.[가-힣]")
    collapsed = clean_text(review, DEFAULTS)
    spaced = clean_text(review, CleanParams(collapse_whitespace=False))
    assert "  " in spaced and "  " not in collapsed
    assert " ".join(spaced.split()) == collapsed


@pytest.mark.parametrize("source", SOURCES)
def test_chatbot_questions_lose_only_punctuation(source):
    for question in CHATBOT_QUESTIONS if source == "written" else chatbot_questions()[:3000]:
        cleaned = clean_text(question, CleanParams(emoticon_normalize=False, repeat_normalize=None))
        assert syllables(cleaned) == syllables(question)


# --- soynlp's normalizers, called directly -----------------------------------------------------


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("num_repeats", [1, 2, 3])
def test_repeat_normalize_matches_soynlp(num_repeats, source):
    docs = written_documents() if source == "written" else nsmc_reviews()[:30000]
    for_digits = only(repeat_normalize=num_repeats, repeat_digits=True, collapse_whitespace=True)
    assert [clean_text(doc, for_digits) for doc in docs] == [soynlp_repeat_normalize(doc, num_repeats) for doc in docs]
    assert any(re.search(r"(\w)\1{3,}", doc) for doc in docs)


def test_repeat_normalize_keeps_digit_runs_that_soynlp_shortens():
    review = first_with(REVIEWS, r"10000원")
    soynlp_result = soynlp_repeat_normalize(review, 2)
    assert "10000원" not in soynlp_result  # soynlp's (\w)\1{3,} also matches digits: 10000 -> 100
    assert "10000원" in clean_text(review, DEFAULTS)
    laughing = first_with(REVIEWS, r"ㅋ{6,}")
    assert clean_text(laughing, only(repeat_normalize=2, collapse_whitespace=True)) == soynlp_repeat_normalize(laughing, 2)


def test_repeat_normalize_only_shortens():
    review = first_with(REVIEWS, r"(?<!ㅋ)ㅋ{4}(?!ㅋ)")
    assert "ㅋ" * 5 in soynlp_repeat_normalize(review, 5)  # soynlp lengthens 4-runs to num_repeats
    assert "ㅋ" * 5 not in clean_text(review, only(repeat_normalize=5))
    assert "ㅋ" * 4 in clean_text(review, only(repeat_normalize=5))


@pytest.mark.parametrize("source", SOURCES)
def test_emoticon_normalize_matches_soynlp_except_the_syllables_soynlp_drops(source):
    docs = written_documents() if source == "written" else nsmc_reviews()[:30000]
    ours = only(emoticon_normalize=True, collapse_whitespace=True)
    same = dropped = 0
    for doc in docs:
        theirs = soynlp_emoticon_normalize(doc, num_repeats=0)  # 0: no repeat step, only whitespace
        mine = clean_text(doc, ours)
        if mine == theirs:
            same += 1
            continue
        # soynlp 0.0.493 silently deletes a syllable next to jamo that fits none of its rules
        # (lovit/soynlp#136); otherwise the results must be identical.
        assert is_subsequence(theirs, mine), (doc, theirs, mine)
        extra = list(mine)
        for char in theirs:
            extra.remove(char)
        assert all(HANGUL_SYLLABLE.fullmatch(char) for char in extra), (doc, extra)
        dropped += 1
    assert same > 0.9 * len(docs) and dropped > 0
    decomposed = first_with(REVIEWS, r"ㅋ큐ㅠ")
    assert soynlp_emoticon_normalize(decomposed, 0) == clean_text(decomposed, ours)


def test_emoticon_normalize_keeps_the_word_before_laughter():
    review = first_with(REVIEWS, r"[가-힣]ㅋㅋㅋㅋ")
    word = re.search(r"([가-힣]+)ㅋㅋㅋㅋ", review).group(1)
    assert word not in soynlp_emoticon_normalize(review)  # the soynlp bug this step fixes
    assert word in clean_text(review, DEFAULTS)
    assert word in clean_text(review, CleanParams(emoticon_normalize=False))


# --- The whole corpus: speed and idempotence ---------------------------------------------------


@pytest.mark.slow  # the whole corpus
def test_nsmc_train_is_cleaned_fast_and_a_second_pass_changes_nothing():
    docs = nsmc_reviews()
    clean_text("warm up", DEFAULTS)
    start = time.perf_counter()
    cleaned = clean_texts(docs, DEFAULTS)
    elapsed = time.perf_counter() - start
    assert len(docs) == 150_000
    assert elapsed < 20, f"cleaning NSMC train took {elapsed:.1f}s"
    assert clean_texts(cleaned, DEFAULTS) == cleaned
    assert not any(re.search(r"(\w)\1{3,}", text) and not re.search(r"(\d)\1{3,}", text) for text in cleaned)


def test_a_second_pass_over_the_written_samples_changes_nothing():
    cleaned = clean_texts(written_documents(), DEFAULTS)
    assert clean_texts(cleaned, DEFAULTS) == cleaned
    assert not any(re.search(r"(\w)\1{3,}", text) and not re.search(r"(\d)\1{3,}", text) for text in cleaned)


# --- Validation --------------------------------------------------------------------------------


def test_repeat_normalize_zero_means_off_like_soynlp():
    assert CleanParams(repeat_normalize=0) == CleanParams(repeat_normalize=None)
    review = first_with(REVIEWS, r"ㅋ{6,}")
    assert clean_text(review, only(repeat_normalize=0, collapse_whitespace=True)) == soynlp_repeat_normalize(review, 0)


def test_params_are_frozen_hashable_and_reject_unknown_keys():
    assert hash(CleanParams()) == hash(CleanParams())
    with pytest.raises(ValidationError):
        DEFAULTS.nfc = False
    with pytest.raises(ValidationError, match="extra"):
        CleanParams(nfkc=True)


@pytest.mark.parametrize(
    ("settings_", "message"),
    [
        ({"repeat_normalize": -1}, "0 to switch it off"),
        ({"keep_chars": "！"}, "'!'"),
        ({"keep_chars": "“"}, "'\"'"),
        ({"keep_chars": " "}, "whitespace"),
        ({"url_placeholder": "<u r l>"}, "without whitespace"),
        ({"url_placeholder": ""}, "non-empty"),
        ({"email_placeholder": "<url>"}, "none may contain another"),
        ({"urls": "delete"}, "remove"),
    ],
)
def test_invalid_params_say_what_to_do(settings_, message):
    with pytest.raises(ValidationError, match=re.escape(message)):
        CleanParams(**settings_)


# --- Properties --------------------------------------------------------------------------------

any_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=120)
FRAGMENTS = [
    "ㅋ", "ㅋㅋㅋㅋㅋ", "ㅠ", "ㅜ", "쿠", "큨", "크", "하", "와", "영화", "좋아", "각", "ㄱ", " ", "  ", "\n", "\t",
    "\u200b", "\ufeff", "\x00", "\u3164", "\u1100", "\u1161", "\u11a8", "ᄀ", "ᅡ", "&quot;", "&amp;", "&lt;br&gt;",
    "&#44032;", "&#8203;", "<br>", "</span>", "<b>", "<기생충>", "<url>", "<html>", "@", "@user", "@영화@",
    "http://", "https://news.naver.com/a?b=1&c=2", "www.", "a@b.com", "***@naver.com", ".", "!", "?", "…",
    "“", "”", "—", "－", "ＡＢＣ", "１２３", "　", "10000", "0000", "aaaa", "美國", "\ue000", "\ue001", "ﾡ",
]
korean_text = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.characters(blacklist_categories=("Cs",))), max_size=40).map("".join)

CONFIGS = [
    DEFAULTS,
    CleanParams(html="placeholder", urls="placeholder", emails="placeholder", mentions="placeholder"),
    CleanParams(keep_hanja=True, keep_chars=".?!@:/", urls="placeholder"),
    CleanParams(repeat_normalize=1, repeat_digits=True, keep_hangul_jamo=False),
    CleanParams(repeat_normalize=5, emoticon_normalize=False, keep_latin=False, keep_digits=False),
    CleanParams(collapse_whitespace=False, mentions="placeholder"),
]


@given(text=st.one_of(any_text, korean_text), params=st.sampled_from(CONFIGS))
def test_clean_never_raises_and_is_idempotent(text, params):
    once = clean_text(text, params)
    assert isinstance(once, str)
    assert clean_text(once, params) == once


@given(text=st.one_of(any_text, korean_text))
def test_clean_never_creates_conjoining_jamo(text):
    # With the filter off, whatever conjoining jamo remain were already in the (NFC) input: no
    # step splits a syllable into jamo, and with the filter on none remain at all.
    unfiltered = clean_text(text, CleanParams(filter_chars=False, html="keep"))  # entities may spell jamo
    assert set(CONJOINING_JAMO.findall(unfiltered)) <= set(CONJOINING_JAMO.findall(unicodedata.normalize("NFC", text)))
    assert not CONJOINING_JAMO.search(clean_text(text, DEFAULTS))


@given(text=st.one_of(any_text, korean_text))
def test_hangul_syllables_survive_in_order(text):
    # Without the steps that are meant to remove or merge syllables (HTML tags with their attributes,
    # soynlp's emoticon and repeat rules) every syllable of the NFC input comes out, in order.
    params = CleanParams(html="keep", emoticon_normalize=False, repeat_normalize=None)
    visible = "".join(char for char in text if not is_invisible(char))  # removed before NFC composes
    assert syllables(clean_text(text, params)) == syllables(unicodedata.normalize("NFC", visible))


def test_line_breaks_are_kept_as_sentence_boundaries():
    reviews = [r for r in REVIEWS[:200] if r.strip()][:5]
    document = "\n\n".join(f"  {r} \t" for r in reviews)
    cleaned = clean_text(document, CleanParams())
    lines = cleaned.split("\n")
    assert lines == [clean_text(r, CleanParams()) for r in reviews if clean_text(r, CleanParams())]
    assert clean_text(cleaned, CleanParams()) == cleaned
    assert "\n" not in clean_text(document, CleanParams(keep_line_breaks=False))
    assert clean_text(document, CleanParams(keep_line_breaks=False)) == " ".join(lines)
