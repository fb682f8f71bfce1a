"""The optional clean steps show in `status` (plan text and JSON), the report and the manifest's
description; a configuration without them shows nothing new."""

from __future__ import annotations

from koprep.config import load_config
from koprep.plan import build_plan, format_plan
from koprep.report import _optional_clean_steps
from koprep.stages.clean import CleanParams, describe, optional_steps
from koprep.store import ArtifactStore


def test_status_shows_the_optional_steps(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("연락처 010-1234-5678 입니다\n주민번호 없음\n", encoding="utf-8")
    config = load_config(None, ['clean.pii=["phone","rrn"]', "clean.pii_mode=remove"], "whitespace")
    plan = build_plan(ArtifactStore(tmp_path / "artifacts"), str(corpus), config)
    assert plan.to_json()["clean_steps"] == {"pii": ["phone", "rrn"], "pii_mode": "remove"}
    assert "clean steps  pii=['phone', 'rrn']  pii_mode=remove" in format_plan(plan)
    plain = build_plan(ArtifactStore(tmp_path / "artifacts"), str(corpus), load_config(None, [], "whitespace"))
    assert "clean_steps" not in plain.to_json() and "clean steps" not in format_plan(plain)


def test_report_and_manifest_name_the_steps():
    params = CleanParams(pii=("rrn",), hanja="remove")
    assert optional_steps(params) == {"hanja": "remove", "pii": ["rrn"], "pii_mode": "placeholder"}
    assert _optional_clean_steps(describe(params)) == "hanja (remove), pii (rrn)"
    assert _optional_clean_steps(describe(CleanParams())) == ""
