"""The inspection commands, run in-process: clean-preview and backends."""

from __future__ import annotations

import ast
import json

from koprep.cli import main
from koprep.stages.clean import CleanParams, clean_text
from tests.unit.korean_samples import REVIEWS


def laughing_review() -> str:
    return next(r for r in REVIEWS if "ㅋㅋㅋㅋ" in r and "." in r)


def preview_lines(capsys, *args) -> list[tuple[str, str, str]]:
    assert main(["clean-preview", *args]) == 0
    rows = []
    for line in capsys.readouterr().out.splitlines():
        marker, name, text = line[0], line[2:].split()[0], line[2:].split(maxsplit=1)[1].strip()
        rows.append((marker, name, ast.literal_eval(text)))
    return rows


def test_clean_preview_shows_each_step_and_ends_with_the_cleaned_text(capsys):
    review = laughing_review()
    rows = preview_lines(capsys, review)
    assert rows[0] == ("*", "input", review)
    assert rows[-1][2] == clean_text(review, CleanParams())
    changed = {name for marker, name, _ in rows if marker == "*"}
    assert {"filter_chars", "repeat_normalize"} <= changed
    unchanged = {name for marker, name, _ in rows if marker == " "}
    assert "nfc" in unchanged  # the review is already NFC


def test_clean_preview_follows_the_settings(capsys):
    review = laughing_review()
    rows = preview_lines(capsys, review, "--set", "clean.repeat_normalize=0")
    assert "repeat_normalize" not in [name for _, name, _ in rows]
    assert "ㅋㅋㅋㅋ" in rows[-1][2]


def test_clean_preview_rejects_a_bad_setting(capsys):
    assert main(["clean-preview", "영화", "--set", "clean.no_such_step=true"]) == 2
    assert "clean.no_such_step" in capsys.readouterr().err


def test_backends_lists_every_backend_with_its_options(capsys):
    assert main(["backends", "--json"]) == 0
    infos = {info["name"]: info for info in json.loads(capsys.readouterr().out)}
    assert {"okt", "kiwi", "mecab", "soynlp-noun", "soynlp-word", "whitespace"} <= set(infos)
    assert infos["whitespace"]["available"]
    assert "stem" in infos["okt"]["options"] and "min_noun_score" in infos["soynlp-noun"]["options"]
    assert main(["backends"]) == 0
    text = capsys.readouterr().out
    assert "--set tokenize.options.stem=" in text
