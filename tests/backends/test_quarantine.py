"""Documents that break an analyser do not break the run (`koprep.supervised`): a third-party
backend registered through the `koprep.tokenizers` entry point group (a real dist-info on sys.path)
aborts its process (`os.abort()`, as a C++ analyser does), hangs, or runs out of memory on marked
documents. The run completes; each marked document is quarantined (empty tokens, listed in the run
record, `koprep show` and the report) and every other document's tokens are the backend's own."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from koprep import inspection, parallel
from koprep.cli.render import print_record
from koprep.cli.results import show_lines
from koprep.pipeline.datasets import Parts
from koprep.report import write_report
from koprep.runs import RunRecord
from koprep.stages.tokenize import TokenFilter
from koprep.store import ArtifactStore
from tests.helpers import plugin_on_path
from tests.runs import record_pipeline_run

pytestmark = pytest.mark.slow  # spawns worker processes, several of them killed

PLUGIN = "koprep_fragile_backend"
PLUGIN_SOURCE = '''
"""Whitespace splitting that breaks on marked documents, the ways real analysers do."""

import os
import resource
import time

from koprep.tokenizers.base import BackendOptions


class FragileTokenizer:
    name = "fragile"
    default_drop_tags = ()

    class Options(BackendOptions):
        pass

    def __init__(self, **options):
        self.options = self.Options(**options)

    def version(self):
        return "fragile-1"

    def tokenize(self, texts):
        for text in texts:
            if "ABORTNOW" in text:
                resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core file
                os.abort()
            if "HANGNOW" in text:
                time.sleep(3600)
            if "NOMEMORY" in text:
                raise MemoryError("marked document")
        return [[(token, "") for token in text.split()] for text in texts]


class FragileProcessesTokenizer(FragileTokenizer):
    name = "fragile-processes"
    parallelism = "processes"
'''
ENTRY_POINTS = f"""[koprep.tokenizers]
fragile = {PLUGIN}:FragileTokenizer
fragile-processes = {PLUGIN}:FragileProcessesTokenizer
"""
TEXTS = [f"영화 {i}번 정말 재밌다 배우 연기 최고" for i in range(60)]


@pytest.fixture
def fragile_backend(tmp_path, monkeypatch):
    site = tmp_path / "site"
    with plugin_on_path(site, monkeypatch, PLUGIN, PLUGIN_SOURCE, "koprep-fragile-backend", ENTRY_POINTS):
        yield site


def run_corpus(tmp_path: Path, texts: list[str], backend: str = "fragile", **settings) -> tuple[ArtifactStore, RunRecord]:
    tmp_path.mkdir(exist_ok=True)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(texts) + "\n", encoding="utf-8")
    store = ArtifactStore(tmp_path / "artifacts")
    overrides = {"run.stages": ["tokenize"], "run.tokenize_timeout": 3, "run.shard_size": 16, **settings}
    record = record_pipeline_run(store, corpus, "fragile-run", backend=backend, overrides=overrides)
    return store, RunRecord.model_validate(record)


def tokens_by_id(store: ArtifactStore, record: RunRecord) -> dict[str, list[str]]:
    table = pq.read_table(Path(record.stages["tokenize"].path), columns=["doc_id", "tokens"])
    return dict(zip(map(str, table.column("doc_id").to_pylist()), table.column("tokens").to_pylist()))


@pytest.mark.parametrize("backend", ["fragile", "fragile-processes"])
def test_documents_that_abort_hang_or_exhaust_the_analyser_are_quarantined_and_the_run_completes(
    fragile_backend, tmp_path, backend
):
    texts = list(TEXTS)
    marked = {5: "ABORTNOW 이 문서", 23: "HANGNOW 저 문서", 40: "NOMEMORY 그 문서"}
    for position, text in marked.items():
        texts[position] = text
    store, record = run_corpus(tmp_path, texts, backend, **({"run.workers": 2} if backend.endswith("processes") else {}))

    tokenize = record.stages["tokenize"]
    quarantined = {q["doc_id"]: q["reason"] for q in tokenize.extra["quarantined"]}
    assert set(quarantined) == {"5", "23", "40"}  # a text file's doc ids are its line numbers, from 0
    assert "SIGABRT" in quarantined["5"]
    assert "did not answer within 3 s" in quarantined["23"]
    assert "MemoryError: marked document" in quarantined["40"]
    tokens = tokens_by_id(store, record)
    assert len(tokens) == len(texts)
    for doc_id, got in tokens.items():
        position = int(doc_id)
        assert got == ([] if position in marked else texts[position].split()), doc_id

    # listed by `koprep show` and in the report, with why and the start of the text
    shown = inspection.show(store, record.run_id, "tokenize")["stages"]["tokenize"]
    assert [(q["doc_id"], q["text"]) for q in shown["quarantined"]] == [(str(p), text) for p, text in marked.items()]
    assert any(line.startswith("  quarantined 3") for line in show_lines("tokenize", shown))
    printed = io.StringIO()
    print_record(record, printed)
    assert "3 document(s) quarantined" in printed.getvalue() and ": 5, 23, 40" in printed.getvalue()
    html = write_report(store, record)[0].read_text(encoding="utf-8")
    assert "Quarantined documents" in html and "HANGNOW 저 문서" in html and "SIGABRT" in html

    # the quarantine is part of the stored entry: the same run again is answered from the store
    _, again = run_corpus(tmp_path, texts, backend)
    assert again.stages["tokenize"].cached and again.stages["tokenize"].extra["quarantined"] == tokenize.extra["quarantined"]


def test_without_a_crash_supervised_tokens_are_the_in_process_ones_byte_for_byte(fragile_backend, tmp_path):
    _, supervised = run_corpus(tmp_path / "a", TEXTS)
    _, in_process = run_corpus(tmp_path / "b", TEXTS, **{"run.supervise": False})
    assert supervised.stages["tokenize"].extra["parallel"] == "in a worker process"
    assert in_process.stages["tokenize"].extra["parallel"] == "in process"
    assert "quarantined" not in supervised.stages["tokenize"].extra
    assert supervised.stages["tokenize"].fingerprint == in_process.stages["tokenize"].fingerprint
    a, b = Parts.part_files(supervised.stages["tokenize"].path), Parts.part_files(in_process.stages["tokenize"].path)
    assert len(a) == len(b) > 2
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]


def test_an_analyser_that_fails_on_every_document_fails_the_run(fragile_backend):
    from koprep.tokenizers import get_tokenizer

    tokenizer = get_tokenizer("fragile")
    how = parallel.plan(tokenizer, 1, timeout=3)
    with pytest.raises(parallel.WorkerProcessError, match="fails on most documents"):
        list(parallel.tokenize_shards(tokenizer, TokenFilter((), (), 1), [["ABORTNOW"] * 6], how))


def test_a_worker_that_dies_holding_its_next_batch_loses_neither(fragile_backend, monkeypatch):
    """A worker holds the batch after the one it works on (`supervised.BATCHES_PER_WORKER`): when it
    dies, the batch it was on is retried in isolation and the next one is handed out again as it was."""
    from koprep.tokenizers import get_tokenizer

    monkeypatch.setattr(parallel, "PROCESS_BATCH", 4)  # 10 batches for 2 workers
    texts = [f"문서 {i}번" for i in range(40)]
    texts[6], texts[21] = "ABORTNOW 여섯", "ABORTNOW 스물하나"
    tokenizer = get_tokenizer("fragile-processes")
    how = parallel.plan(tokenizer, 2, timeout=30)
    assert str(how) == "2 worker processes"
    (shard,) = parallel.tokenize_shards(tokenizer, TokenFilter((), (), 1), [texts], how)
    assert shard.tokens.to_pylist() == [[] if text.startswith("ABORTNOW") else text.split() for text in texts]
    assert [q.position for q in shard.quarantined] == [6, 21]
    assert all("SIGABRT" in q.reason for q in shard.quarantined)


def test_a_prestarted_worker_is_taken_over(fragile_backend):
    from koprep import supervised
    from koprep.tokenizers import get_tokenizer

    tokenizer, token_filter = get_tokenizer("fragile"), TokenFilter((), (), 1)
    parallel.warm_up(tokenizer, token_filter, 1)
    (started,) = supervised._prestarted[supervised._started_with(tokenizer, token_filter)]
    how = parallel.plan(tokenizer, 1)
    (shard,) = parallel.tokenize_shards(tokenizer, token_filter, [["가 나", "다"]], how)
    assert shard.tokens.to_pylist() == [["가", "나"], ["다"]]
    assert not supervised._prestarted and started.process.exitcode == 0  # used, then stopped


def test_okt_documents_that_hang_it_or_exhaust_the_jvm_heap_are_quarantined(tmp_path):
    """Real inputs, the real analyser: 2,700 Hangul syllables without a space keep Okt busy for
    minutes; 3.3 million characters exhaust a 96 MiB JVM heap (java.lang.OutOfMemoryError,
    konlpy#199). Everything else is tokenized as Okt tokenizes it called directly."""
    from koprep.pipeline.resolve import ready_tokenizer
    from koprep.config import load_config
    from koprep.stages import tokenize as tokenize_logic
    from koprep.stages.clean import CleanParams, clean_text

    texts = ["정말 재밌는 영화였어요", "배우들 연기가 좋았다", "지루하고 별로", "최고의 영화!"]
    texts += ["영화가정말재밌어요" * 300, "그냥 그랬어요", "영화가 정말 재밌어요 " * 300_000, "다시 보고 싶다"]
    settings = {"tokenize.options.max_heap_mb": 96, "tokenize.options.threads": 1, "run.tokenize_timeout": 15}
    store, record = run_corpus(tmp_path, texts, "okt", **settings)
    reasons = {q["doc_id"]: q["reason"] for q in record.stages["tokenize"].extra["quarantined"]}
    assert set(reasons) == {"4", "6"}
    assert "did not answer within 15 s" in reasons["4"]
    assert "OutOfMemoryError" in reasons["6"]
    tokenizer, token_filter = ready_tokenizer(load_config(backend="okt").tokenize)
    expected = tokenize_logic.tokenize_texts(tokenizer, [clean_text(t, CleanParams()) for t in texts[:4]], token_filter)
    tokens = tokens_by_id(store, record)
    assert [tokens[str(i)] for i in range(4)] == expected
    assert tokens["4"] == tokens["6"] == [] and tokens["7"]
