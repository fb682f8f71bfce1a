"""The stage graph declared once (`koprep.pipeline.graph`) and what is derived from it, in the fast
tier: which stages a run selects, what `--force` recomputes, the CLI's stage choices, the plan over
real runs of the embedded corpus (konlpy's law texts, whitespace tokens), and the entries run
records reference for `verify` and `gc`. No module but the declaration lists stage names."""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import pytest

from koprep.cli import build_parser, main
from koprep.config import ConfigError, load_config
from koprep.maintenance import plan_gc, verify
from koprep.pipeline.graph import GRAPH, Stage, StageGraph
from koprep.pipeline.resolve import Resolution
from koprep.pipeline.runner import run_and_record
from koprep.plan import build_plan, format_plan
from koprep.runs import RunRecord
from koprep.store import ArtifactStore
from tests.helpers import REPO

SRC = REPO / "src" / "koprep"
DECLARATION = SRC / "pipeline" / "graph.py"
SMALL = {"word2vec.vector_size": 8, "word2vec.epochs": 1, "run.shard_size": 1000}
STAGE_NAMES = {*GRAPH.names(), *GRAPH.shard_stages()}


# ---------------------------------------------------------------------------- one declaration
def stage_name_lists(source: str) -> list[tuple[int, list[str]]]:
    """(line, names) of every tuple, list or set literal, and every dict's keys, that name two or more
    stages: a list of stages written down outside the graph."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            items = node.elts
        elif isinstance(node, ast.Dict):
            items = [key for key in node.keys if key is not None]
        else:
            continue
        names = [item.value for item in items if isinstance(item, ast.Constant) and item.value in STAGE_NAMES]
        if len(names) >= 2:
            found.append((node.lineno, names))
    return found


def test_no_module_but_the_graph_declaration_lists_stage_names():
    offenders = {
        str(path.relative_to(SRC)): found
        for path in sorted(SRC.rglob("*.py"))
        if path != DECLARATION and (found := stage_name_lists(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}


def test_the_check_finds_a_list_of_stages():
    assert stage_name_lists('FEATURES = ("tfidf", "chargram")\nx = {"clean": 1, "model": 2}\ny = ("a", "tfidf")') == [
        (1, ["tfidf", "chargram"]), (2, ["clean", "model"]),
    ]
    assert stage_name_lists(DECLARATION.read_text(encoding="utf-8"))  # the declaration does list them


def test_the_graph_refuses_an_input_declared_after_its_reader_or_twice():
    clean = GRAPH["clean"]
    with pytest.raises(ValueError, match="reads \\['nowhere'\\], which are not declared before it"):
        StageGraph([Stage("bow", ("nowhere",), "1", clean.params, clean.dataset, clean.compute)])
    with pytest.raises(ValueError, match="declared twice"):
        StageGraph([clean, clean])


def test_every_stage_comes_after_its_inputs_and_per_shard_stages_name_their_shards():
    seen: set[str] = set()
    for stage in GRAPH:
        assert set(stage.inputs) <= seen, stage.name
        seen.add(stage.name)
        assert (stage.shards is None) == (stage.shard_fingerprints is None)
        assert stage.kind == "on-demand" or stage.compute is not None
    assert GRAPH.shard_stages() == ("clean-shard", "tokenize-shard")
    assert GRAPH.shard_stage_of("tokenize-shard") == "tokenize"


# ------------------------------------------------------------------------ derived from it
def run_of(tmp_path: Path, **settings) -> Resolution:
    return Resolution(ArtifactStore(tmp_path), None, load_config(None, settings))


def selected(run: Resolution) -> list[str]:
    return [stage.name for stage in GRAPH.select(run)]


def test_a_run_selects_its_stages_and_what_they_read(tmp_path):
    assert selected(run_of(tmp_path)) == ["clean", "tokenize", "bow", "ngram", "tfidf", "word2vec"]
    assert selected(run_of(tmp_path, **{"run.stages": ["tfidf"]})) == ["clean", "tokenize", "tfidf"]
    assert selected(run_of(tmp_path, **{"run.stages": ["clean", "chargram"]})) == ["clean", "chargram"]
    assert selected(run_of(tmp_path, **{"run.stages": ["fasttext"]})) == ["clean", "tokenize", "fasttext"]
    assert "phrases" in selected(run_of(tmp_path, **{"word2vec.phrases": True}))
    assert "phrases" not in selected(run_of(tmp_path, **{"word2vec.phrases": True, "run.stages": ["bow"]}))
    trainable = run_of(tmp_path, **{"tokenize.backend": "soynlp-noun"})
    assert selected(trainable)[:3] == ["clean", "model", "tokenize"]


def test_force_recomputes_the_named_stages_and_everything_downstream():
    assert GRAPH.downstream(["tokenize"]) == dict.fromkeys(
        ["tokenize", "bow", "ngram", "tfidf", "phrases", "word2vec", "fasttext"], "tokenize"
    )
    assert GRAPH.downstream(["chargram"]) == {"chargram": "chargram"}
    assert set(GRAPH.downstream(["clean"])) == set(GRAPH.stored_stages())  # an on-demand stage is never forced


def test_the_cli_and_the_config_accept_exactly_the_graphs_stages(capsys):
    parser = build_parser()
    for stage in GRAPH.stored_stages():
        assert parser.parse_args(["run", "--force", stage]).force == [stage]
    assert "chargram" in GRAPH.stored_stages()  # `--force chargram` was refused before the graph
    with pytest.raises(SystemExit):
        parser.parse_args(["run", "--force", "shards"])
    assert "invalid choice: 'shards' (choose from 'clean', 'model'" in capsys.readouterr().err
    assert load_config(None, {"run.force": ["chargram"]}).run.force == ("chargram",)
    with pytest.raises(ConfigError, match="run.stages: .*unknown stage\\(s\\) 'model'; the stages are clean, dedup, tokenize"):
        load_config(None, {"run.stages": ["model"]})


def test_compare_refuses_run_fitted_from_before_any_work(tmp_path, capsys):
    code = main(["compare", str(tmp_path / "never-read.csv"), "--label-column", "label", "--backend", "whitespace",
                 "--set", "run.fitted_from=some-run", "--artifacts", str(tmp_path / "artifacts")])
    assert code == 2
    assert "run.fitted_from cannot be compared" in capsys.readouterr().err
    assert not (tmp_path / "artifacts").exists()


# --------------------------------------------------------------- plans and records of real runs
@pytest.fixture(scope="module")
def law_run(tmp_path_factory):
    """A whole run of the embedded corpus with word2vec phrases, in process."""
    store = ArtifactStore(tmp_path_factory.mktemp("store"))
    config = load_config(None, {**SMALL, "word2vec.phrases": True}, "whitespace")
    plan = build_plan(store, None, config)
    assert [planned.state for planned in plan.stages.values()] == ["stale"] * len(plan.stages)
    return store, config, plan, run_and_record(plan, run_id="law")


def test_the_plan_knows_every_fingerprint_the_run_then_records(law_run):
    store, config, plan, record = law_run
    assert list(record.stages) == list(plan.stages) == ["clean", "tokenize", "bow", "ngram", "tfidf", "phrases", "word2vec"]
    assert record.entries() == {name: planned.fingerprint for name, planned in plan.stages.items()}
    assert build_plan(store, None, config).up_to_date
    assert store.read_run("law") == record  # as written, paths resolved against the store


def test_a_changed_setting_makes_that_stage_stale_with_its_reason_and_forcing_chargram_works(law_run):
    store, _, _, _ = law_run
    changed = build_plan(store, None, load_config(None, {**SMALL, "word2vec.phrases": True, "ngram.min_df": 2}, "whitespace"))
    assert [name for name, planned in changed.stages.items() if not planned.done] == ["ngram"]
    assert [reason.text for reason in changed.stages["ngram"].reasons] == ["parameter min_df changed: 1 → 2"]
    forced = build_plan(store, None, load_config(None, {**SMALL, "run.stages": ["tfidf", "chargram"],
                                                        "run.force": ["chargram"]}, "whitespace"))
    assert {name: planned.state for name, planned in forced.stages.items()} == {
        "clean": "cached", "tokenize": "cached", "tfidf": "cached", "chargram": "forced"}
    assert format_plan(forced).endswith("would compute: chargram")


def test_verify_checks_every_entry_a_record_references_phrases_included(law_run, tmp_path):
    store, _, _, record = law_run
    copy = tmp_path / "store"
    shutil.copytree(store.root, copy)
    assert verify(ArtifactStore(copy))["problems"] == []
    shutil.rmtree(copy / "phrases" / record.stages["phrases"].fingerprint)
    problems = verify(ArtifactStore(copy))["problems"]
    assert {(p["kind"], p["path"], p["detail"].split(":")[0]) for p in problems} == {
        ("missing", "runs/law.json", "stage phrases"), ("missing", "runs/latest.json", "stage phrases")}


def test_gc_keeps_every_entry_the_kept_records_reference(law_run):
    store, _, _, record = law_run
    plan = plan_gc(store, keep_runs=1, grace_seconds=0)
    kept = {entry.key for entry in plan.kept_entries}
    assert set(record.entries().items()) <= kept and plan.removed_entries == []


def test_a_record_written_before_the_stage_graph_reads_the_same(law_run):
    """Format 1: the model under a top-level `model.path`, phrases inside word2vec's extra."""
    _, _, _, record = law_run
    old = record.to_json()
    del old["format"]
    stages = old["stages"]
    phrases = stages.pop("phrases")
    stages["word2vec"]["extra"]["phrases"] = phrases
    old["model"] = {"path": str(Path(stages["clean"]["path"]).parent.parent / "model" / ("f" * 32))}
    read = RunRecord.model_validate_json(json.dumps(old))
    assert read.entries() == {**record.entries(), "model": "f" * 32}
    assert list(read.stages)[:2] == ["clean", "model"] and "phrases" not in read.stages["word2vec"].extra


def test_show_describes_every_stage_the_record_names(law_run, capsys):
    store, _, _, record = law_run
    assert main(["show", "--artifacts", str(store.root), "--run", "law", "--json", "--top", "5"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert list(shown["stages"]) == list(record.stages)
    assert shown["stages"]["phrases"]["extra"] == {"phrases": record.stages["phrases"].rows}
    tokenize = shown["stages"]["tokenize"]
    assert tokenize["documents"] == record.stages["clean"].rows == 2480
    assert [t["term"] for t in tokenize["top_terms"]] == [t["term"] for t in shown["stages"]["bow"]["top_by_count"]]
