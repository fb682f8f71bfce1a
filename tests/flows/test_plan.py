"""The plan (`koprep.plan`): every fingerprint known before any work and equal to what the run then
uses; `koprep status` / `run --dry-run` explaining each stale stage; `run --force`; and a fully
cached `koprep run` answered from the store without Prefect. Base runs go through the real flow on a
real Prefect server; the no-op run is a real `koprep` subprocess with no server configured."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from koprep.config import load_config
from koprep.pipeline import graph
from koprep.pipeline.keys import StageKey
from koprep.plan import build_plan, differences
from koprep.store import ArtifactStore, read_manifest
from tests.helpers import write_nsmc

pytestmark = pytest.mark.slow  # NSMC and a Prefect server

FAST = {"word2vec.vector_size": 8, "word2vec.epochs": 1, "word2vec.min_count": 2}
KOPREP = Path(sys.executable).with_name("koprep")


def run_flow(artifacts: Path, corpus: Path, backend: str = "whitespace", **overrides):
    from koprep.orchestration.flow import preprocess

    return preprocess(corpus=str(corpus), backend=backend, overrides={**FAST, **overrides}, artifacts=str(artifacts))


def plan_for(artifacts: Path, corpus: Path, backend: str = "whitespace", **overrides):
    config = load_config(None, {**FAST, **overrides}, backend)
    return build_plan(ArtifactStore(artifacts), str(corpus), config)


def reasons(plan, stage: str) -> list[dict]:
    return [reason.to_json() for reason in plan.stages[stage].reasons]


def koprep(*args, env=None, timeout=600):
    return subprocess.run([str(KOPREP), *args], capture_output=True, text=True, env=env, timeout=timeout)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "nsmc300.tsv"
    write_nsmc(path, 300)
    return path


@pytest.fixture(scope="module")
def base(tmp_path_factory, prefect_server, corpus):
    """One complete whitespace run; each test plans variations against it."""
    artifacts = tmp_path_factory.mktemp("artifacts")
    return artifacts, run_flow(artifacts, corpus)


def test_the_plan_knows_every_fingerprint_the_run_then_uses(tmp_path, prefect_server):
    """soynlp's trained model, word2vec's Phrases step and fitted_from vectorizers included: the plan,
    made on an empty store, names exactly the entries the run creates."""
    train, test = tmp_path / "train.tsv", tmp_path / "test.tsv"
    write_nsmc(train, 3000)
    write_nsmc(test, 200, "test")
    artifacts = tmp_path / "artifacts"
    settings = {"word2vec.phrases": True, "word2vec.phrases_min_count": 3}
    plan = plan_for(artifacts, train, "soynlp-noun", **settings)
    assert list(plan.stages) == ["clean", "model", "tokenize", "bow", "ngram", "tfidf", "phrases", "word2vec"]
    assert all(reasons(plan, name) == [{"kind": "never-computed", "text": "never computed"}] for name in plan.stages)

    summary = run_flow(artifacts, train, "soynlp-noun", **settings)
    assert list(summary["stages"]) == list(plan.stages)  # the model and phrases are recorded like any stage
    for name in plan.stages:
        assert summary["stages"][name]["fingerprint"] == plan.stages[name].fingerprint, name
        assert not summary["stages"][name]["cached"]
    assert Path(summary["stages"]["model"]["path"]).name == plan.stages["model"].fingerprint
    assert plan_for(artifacts, train, "soynlp-noun", **settings).up_to_date

    fitted = {"run.fitted_from": summary["run_id"], "run.stages": ["clean", "tokenize", "tfidf"]}
    applied_plan = plan_for(artifacts, test, "whitespace", **fitted)  # backend and cleaning come from the fitted run
    assert list(applied_plan.stages) == ["clean", "model", "tokenize", "tfidf"]
    assert applied_plan.stages["model"].state == "given"  # given by the fitted run, not trained
    assert applied_plan.stages["model"].fingerprint == plan.stages["model"].fingerprint
    assert applied_plan.stages["tokenize"].key.inputs["model"] == plan.stages["model"].fingerprint
    assert applied_plan.stages["tfidf"].key.inputs["fitted"] == plan.stages["tfidf"].fingerprint
    applied = run_flow(artifacts, test, "whitespace", **fitted)
    for name in applied_plan.stages:
        assert applied["stages"][name]["fingerprint"] == applied_plan.stages[name].fingerprint, name
    assert applied["stages"]["model"]["cached"]


def test_a_complete_store_is_up_to_date(base, corpus):
    artifacts, first = base
    plan = plan_for(artifacts, corpus)
    assert plan.up_to_date
    for name, stage in first["stages"].items():
        assert plan.stages[name].state == "cached" and plan.stages[name].fingerprint == stage["fingerprint"]


def test_status_explains_a_changed_parameter_with_its_old_and_new_value(base, corpus):
    artifacts, _ = base
    plan = plan_for(artifacts, corpus, **{"ngram.min_df": 2, "tokenize.extra_stopwords": ["영화", "진짜"]})
    assert plan.stages["clean"].state == "cached"
    tokenize = reasons(plan, "tokenize")
    assert [r["kind"] for r in tokenize] == ["parameter"]
    assert tokenize[0]["parameter"] == "filter.stopwords"
    assert "영화" in tokenize[0]["new"] and "영화" not in tokenize[0]["old"]
    assert tokenize[0]["text"] == 'parameter filter.stopwords changed: added ["영화", "진짜"], removed []'
    ngram = reasons(plan, "ngram")
    assert {r["kind"] for r in ngram} == {"input", "parameter"}
    assert "parameter min_df changed: 1 → 2" in [r["text"] for r in ngram]
    assert [r["kind"] for r in reasons(plan, "bow")] == ["input"]  # only its input changed
    assert plan.stages["bow"].previous["run_id"] == base[1]["run_id"]


def test_status_explains_changed_corpus_bytes_as_an_input_change(base, corpus, tmp_path):
    artifacts, _ = base
    grown = tmp_path / "grown.tsv"
    grown.write_bytes(corpus.read_bytes() + "123\t이 영화 정말 최고예요\t1\n".encode())
    plan = plan_for(artifacts, grown)
    clean = reasons(plan, "clean")
    assert [(r["kind"], r["input"]) for r in clean] == [("input", "corpus")]
    assert clean[0]["text"].startswith("input changed: corpus (the corpus's bytes")
    assert [(r["kind"], r["input"]) for r in reasons(plan, "tokenize")] == [("input", "clean")]
    assert reasons(plan, "tokenize")[0]["new"] == plan.stages["clean"].fingerprint


def test_status_explains_a_code_version_change(base, corpus, monkeypatch):
    artifacts, _ = base
    old = graph.vectorize_logic.VERSION
    for name in ("bow", "ngram", "tfidf"):
        monkeypatch.setitem(graph.GRAPH.stages, name, dataclasses.replace(graph.GRAPH[name], version=old + "-next"))
    plan = plan_for(artifacts, corpus)
    for name in ("bow", "ngram", "tfidf"):
        assert reasons(plan, name) == [
            {"kind": "code", "text": f"code version changed: {old} → {old}-next", "old": old, "new": old + "-next"}
        ]
    assert plan.stages["word2vec"].state == "cached"


def test_status_explains_a_library_upgrade(base, corpus, monkeypatch):
    """word2vec is keyed by the gensim version it trains with; here gensim reports another version."""
    artifacts, _ = base
    installed = graph.library_versions("gensim")["gensim"]
    real = graph.library_versions
    monkeypatch.setattr(graph, "library_versions", lambda *names: {**real(*names), "gensim": "99.0.1"})
    plan = plan_for(artifacts, corpus)
    assert reasons(plan, "word2vec") == [{
        "kind": "library", "text": f"library version changed (gensim {installed} → 99.0.1)",
        "library": "gensim", "old": installed, "new": "99.0.1",
    }]
    assert [name for name, stage in plan.stages.items() if stage.state != "cached"] == ["word2vec"]


def test_a_tokenizer_library_upgrade_reads_as_a_library_change_not_a_parameter(base):
    """The tokenize key holds the backend's version string ("konlpy-0.6.0:okt:..."); when only the
    library's version in it moved, the explanation names the library."""
    artifacts, first = base
    manifest = read_manifest(Path(first["stages"]["tokenize"]["path"]))
    key = StageKey("tokenize", manifest["code_version"], manifest["params"], manifest["inputs"])
    old = {**manifest, "libraries": {**manifest["libraries"], "konlpy": "0.5.2"}}
    old["params"] = {**manifest["params"], "backend_version": "konlpy-0.5.2:okt:morphs:stem=True:norm=True:"}
    new = {**key.params, "backend_version": "konlpy-0.6.0:okt:morphs:stem=True:norm=True:"}
    found = differences(StageKey("tokenize", key.code_version, new, key.inputs), old, {"konlpy": "0.6.0"})
    assert [r.text for r in found] == ["library version changed (konlpy 0.5.2 → 0.6.0)"]


def test_status_explains_an_entry_that_left_the_store(base, corpus, tmp_path):
    artifacts, first = base
    copy = tmp_path / "store"
    subprocess.run(["cp", "-a", str(artifacts), str(copy)], check=True)
    bow = copy / "bow" / first["stages"]["bow"]["fingerprint"]
    (bow / "matrix.parquet").write_bytes(b"truncated")
    plan = plan_for(copy, corpus)
    assert [r["kind"] for r in reasons(plan, "bow")] == ["missing"]
    assert [name for name, stage in plan.stages.items() if stage.state != "cached"] == ["bow"]


def test_status_cli_runs_nothing_starts_no_jvm_and_imports_no_prefect(base, corpus):
    """`koprep status` for an Okt config over a store made with another backend: everything from
    tokenize on is stale, and the process never imported Prefect or started a JVM."""
    artifacts, _ = base
    before = sorted(p.relative_to(artifacts) for p in artifacts.rglob("*"))
    probe = (
        "import json, sys\n"
        "from koprep.cli import main\n"
        f"code = main(['status', {str(corpus)!r}, '--backend', 'okt', '--artifacts', {str(artifacts)!r}, '--json'])\n"
        "jvm = 'jpype' in sys.modules and sys.modules['jpype'].isJVMStarted()\n"
        "print(json.dumps({'code': code, 'prefect': 'prefect' in sys.modules, 'jvm': jvm}), file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert json.loads(result.stderr.strip().splitlines()[-1]) == {"code": 0, "prefect": False, "jvm": False}
    status = json.loads(result.stdout)
    assert status["backend"] == "okt" and not status["up_to_date"]
    assert status["stages"]["clean"]["state"] == "cached"
    texts = [r["text"] for r in status["stages"]["tokenize"]["reasons"]]
    assert "parameter backend changed: \"whitespace\" → \"okt\"" in texts
    assert sorted(p.relative_to(artifacts) for p in artifacts.rglob("*")) == before  # nothing written


def test_dry_run_prints_the_plan_and_runs_nothing(base, corpus, prefect_server):
    artifacts, _ = base
    before = sorted(p.relative_to(artifacts) for p in artifacts.rglob("*"))
    env = {**os.environ, "PREFECT_API_URL": prefect_server["url"]}
    args = ["run", str(corpus), "--backend", "whitespace", "--artifacts", str(artifacts),
            *[f"--set={k}={v}" for k, v in FAST.items()], "--set", "tfidf.sublinear_tf=true", "--dry-run"]
    human = koprep(*args, env=env)
    assert human.returncode == 0, human.stderr
    lines = human.stdout.splitlines()
    assert any(line.startswith("tfidf") and "stale" in line for line in lines)
    assert "- parameter sublinear_tf changed: false → true" in [line.strip() for line in lines]
    assert lines[-1] == "would compute: tfidf"
    as_json = json.loads(koprep(*args, "--json", env=env).stdout)
    assert as_json["stages"]["tfidf"]["state"] == "stale" and as_json["stages"]["bow"]["state"] == "cached"
    assert sorted(p.relative_to(artifacts) for p in artifacts.rglob("*")) == before


def test_force_recomputes_the_stage_and_everything_after_it_replacing_their_entries(tmp_path, prefect_server, corpus):
    artifacts = tmp_path / "artifacts"
    first = run_flow(artifacts, corpus)
    inodes = {name: os.stat(stage["path"]).st_ino for name, stage in first["stages"].items()}
    manifests = {name: read_manifest(Path(stage["path"])) for name, stage in first["stages"].items()}

    plan = plan_for(artifacts, corpus, **{"run.force": ["tokenize"]})
    assert {name: stage.state for name, stage in plan.stages.items()} == {
        "clean": "cached", "tokenize": "forced", "bow": "forced", "ngram": "forced", "tfidf": "forced", "word2vec": "forced",
    }
    assert reasons(plan, "bow") == [{"kind": "forced", "text": "forced (--force tokenize)", "by": "tokenize"}]

    env = {**os.environ, "PREFECT_API_URL": prefect_server["url"]}
    result = koprep("run", str(corpus), "--backend", "whitespace", "--artifacts", str(artifacts), "--force", "tokenize",
                    "--json", *[f"--set={k}={v}" for k, v in FAST.items()], env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    forced = json.loads(result.stdout)
    assert {name: stage["cached"] for name, stage in forced["stages"].items()} == {
        "clean": True, "tokenize": False, "bow": False, "ngram": False, "tfidf": False, "word2vec": False,
    }
    for name, stage in forced["stages"].items():
        assert stage["fingerprint"] == first["stages"][name]["fingerprint"]  # same inputs, same key
        replaced = os.stat(stage["path"]).st_ino != inodes[name]
        assert replaced == (name != "clean"), name
        manifest = read_manifest(Path(stage["path"]))
        assert {f: m["sha256"] for f, m in manifest["files"].items()} == {
            f: m["sha256"] for f, m in manifests[name]["files"].items()
        }  # recomputed, identical output
    assert not [p for p in artifacts.rglob(".old-*")] and not [p for p in artifacts.rglob(".tmp-*")]
    assert plan_for(artifacts, corpus).up_to_date


def test_a_fully_cached_run_answers_from_the_store_without_a_prefect_server(base, corpus, tmp_path):
    """No PREFECT_API_URL: a run with work would start a temporary server (a SQLite database in
    PREFECT_HOME, 10-25 s). The fully cached run must not: PREFECT_HOME stays empty, it finishes in
    a few seconds, and it records the run like the flow does."""
    artifacts, first = base
    home = tmp_path / "prefect-home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["PREFECT_HOME"] = str(home)
    started = time.perf_counter()
    result = koprep("run", str(corpus), "--backend", "whitespace", "--artifacts", str(artifacts),
                    *[f"--set={k}={v}" for k, v in FAST.items()], env=env, timeout=120)
    seconds = time.perf_counter() - started
    print(f"fully cached koprep run: {seconds:.2f} s")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "answered without Prefect" in result.stdout
    assert list(home.iterdir()) == []  # no server database, no settings, no logs
    assert seconds < 10  # a temporary server alone takes 10-25 s here
    recorded = json.loads((artifacts / "runs" / "latest.json").read_text())
    assert recorded == json.loads((artifacts / "runs" / f"{recorded['run_id']}.json").read_text())
    latest = ArtifactStore(artifacts).read_run("latest").to_json()  # paths resolved against the store, as the flow's
    assert latest["run_id"] != first["run_id"]
    assert set(latest) == set(first)  # the flow's summary shape
    assert list(latest["stages"]) == list(first["stages"])
    for name, stage in latest["stages"].items():
        assert stage["cached"] is True
        assert {k: stage[k] for k in ("fingerprint", "path", "rows", "extra")} == {
            k: first["stages"][name][k] for k in ("fingerprint", "path", "rows", "extra")
        }
    assert latest["config"] == first["config"]
