"""Bad input through the real CLI: every case exits 2 with a message saying what, where and what
to do, and no traceback; nothing partial is left in the store.

Cases the input alone decides run with PREFECT_API_URL pointing at a closed port: had the flow
started, they would fail talking to Prefect instead, so passing proves they are caught before any
Prefect server (or JVM: the default backend is okt) is involved. Cases only the data can decide
(a vocabulary that filtering empties, a soynlp fit that learns nothing) run on the session's
Prefect server and must reach the CLI as the same error through Prefect's task machinery.
"""

from __future__ import annotations

import codecs
import gzip
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from koprep.maintenance import verify
from koprep.store import ArtifactStore
from tests.helpers import nsmc

pytestmark = pytest.mark.slow

CLOSED_PORT_API = "http://127.0.0.1:9/api"


def reviews(n: int = 40) -> list[str]:
    return nsmc(n)["document"].tolist()


def text(tmp: Path, name: str, content: str | bytes) -> str:
    path = tmp / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return str(path)


def under_a_file(tmp: Path) -> str:
    # As root, chmod cannot make a folder unwritable; a path below a regular file can never be created.
    (tmp / "regular-file").write_text("x")
    return str(tmp / "regular-file" / "artifacts")


def cp949(tmp):
    return [text(tmp, "windows.txt", "\n".join(reviews()).encode("cp949", errors="ignore"))]


# (id, build(tmp) -> extra CLI args, expected message fragments)
BEFORE_THE_FLOW = [
    ("missing-path", lambda tmp: [str(tmp / "nope.txt")], ["nope.txt", "does not exist"]),
    ("empty-file", lambda tmp: [text(tmp, "empty.txt", b"")], ["empty.txt is empty", "one document per line"]),
    ("whitespace-only-documents", lambda tmp: [text(tmp, "blank.txt", "\n   \n\t\n")],
     ["every document", "empty or whitespace only", "corpus.text_column"]),
    ("documents-that-clean-to-nothing", lambda tmp: [text(tmp, "symbols.txt", "!!! ???\n★★★\n### ...\n")],
     ["empty after cleaning", "clean-preview"]),
    ("cp949", cp949, ["windows.txt:1", "CP949/EUC-KR", "--set corpus.encoding=cp949"]),
    ("unknown-encoding", lambda tmp: [*cp949(tmp), "--set", "corpus.encoding=klingon"],
     ["corpus.encoding", "unknown encoding 'klingon'"]),
    ("utf-16", lambda tmp: [text(tmp, "utf16.txt", codecs.BOM_UTF16_LE + "영화\n".encode("utf-16-le"))],
     ["UTF-16", "corpus.encoding=utf-16"]),
    ("nul-bytes", lambda tmp: [text(tmp, "nul.txt", "좋은 영화\n나쁜\0영화\n".encode())],
     ["nul.txt:2 contains a NUL byte", "binary"]),
    ("binary-file", lambda tmp: [text(tmp, "archive.txt", gzip.compress("영화 ".encode() * 100))],
     ["archive.txt:1 contains a NUL byte", "binary file"]),
    ("csv-without-the-column", lambda tmp: [text(tmp, "qa.csv", "Q,A\n안녕,반가워\n"), "--set", "corpus.text_column=body"],
     ["qa.csv has no text column 'body'", "['Q', 'A']", "--set corpus.text_column=NAME"]),
    ("csv-ragged-row", lambda tmp: [text(tmp, "ragged.csv", "Q,A,label\n안녕,반가워,0\n잘 가,1\n뭐해,응,0\n")],
     ["ragged.csv:3 has 2 fields but the header has 3", "quote texts"]),
    ("tsv-ragged-row", lambda tmp: [text(tmp, "ragged.tsv", "id\tdocument\tlabel\n1\t좋다\t1\n2\t별로\t0\textra\n")],
     ["ragged.tsv:3 has 4 fields but the header has 3", "remove tabs"]),
    ("jsonl-malformed-line", lambda tmp: [text(tmp, "bad.jsonl", '{"text": "좋다"}\n{"text": "별로"\n')],
     ["bad.jsonl:2 is not valid JSON", "one object per line"]),
    ("jsonl-not-an-object", lambda tmp: [text(tmp, "list.jsonl", '{"text": "좋다"}\n["별로"]\n')],
     ["list.jsonl:2 is a JSON list, not an object"]),
    ("duplicate-ids", lambda tmp: [text(tmp, "dup.tsv", "id\tdocument\n7\t좋다\n7\t별로\n")],
     ["not unique", "'7'", "corpus.id_column"]),
    ("empty-folder", lambda tmp: [str(Path(tmp, "folder").mkdir() or Path(tmp, "folder"))], ["has no .txt files"]),
    ("unknown-backend", lambda tmp: ["--backend", "nosuch"],
     ["unknown tokenizer backend 'nosuch'", "okt", "kiwi", "whitespace", "koprep backends"]),
    ("min-df-above-max-df", lambda tmp: ["--set", "ngram.min_df=5", "--set", "ngram.max_df=2"],
     ["ngram", "max_df=2 is below min_df=5", "raise max_df or lower min_df"]),
    ("negative-window", lambda tmp: ["--set", "word2vec.window=-1"], ["word2vec.window", "greater than or equal to 1"]),
    ("negative-min-df", lambda tmp: ["--set", "bow.min_df=-3"], ["bow.min_df", "must be >= 1"]),
    ("unknown-setting", lambda tmp: ["--set", "tfidf.normalise=l2"], ["tfidf.normalise", "Extra inputs"]),
    ("zero-limit", lambda tmp: ["--set", "corpus.limit=0"], ["corpus.limit", "positive"]),
    ("missing-config-file", lambda tmp: ["--config", str(tmp / "koprep.toml")], ["koprep.toml does not exist"]),
    ("missing-stopwords-file", lambda tmp: ["--set", f"tokenize.stopwords_file={tmp / 'stop.txt'}"],
     ["stopwords_file", "does not exist"]),
    ("unknown-fitted-run", lambda tmp: ["--set", "run.fitted_from=nosuch"], ["no run 'nosuch'", "known runs"]),
    ("model-path-escaping-the-store", lambda tmp: ["--backend", "soynlp-noun", "--set", "tokenize.model=../../etc"],
     ["outside the artifact store"]),
    ("artifacts-under-a-regular-file", lambda tmp: ["--artifacts", under_a_file(tmp)],
     ["cannot write to the artifacts root", "Not a directory", "--artifacts DIR"]),
    ("user-dictionary-malformed-line", lambda tmp: [
        "--set", f"tokenize.user_dictionary={text(tmp, 'words.tsv', '# 사용자 사전' + chr(10) + '흑백요리사 NNP' + chr(10))}"],
     ["words.tsv line 2", "one tab each"]),
    ("user-dictionary-unknown-tag", lambda tmp: [
        "--set", f"tokenize.user_dictionary={text(tmp, 'words.tsv', '흑백요리사' + chr(9) + 'NOUN' + chr(10))}"],
     ["words.tsv line 1", "unknown tag 'NOUN'", "Sejong tag"]),
    ("dedup-threshold-above-1", lambda tmp: ["--set", "dedup.near=1.5"], ["dedup.near", "at most 1"]),
    ("artifacts-in-proc", lambda tmp: ["--artifacts", "/proc/koprep-artifacts"],
     ["cannot write to the artifacts root /proc/koprep-artifacts", "--artifacts DIR"]),
]


def koprep_run(args: list[str], tmp: Path, api_url: str, *, file_size_limit: int | None = None):
    if not any(a.endswith((".txt", ".csv", ".tsv", ".jsonl")) or Path(a).is_dir() for a in args if "=" not in a):
        args = [text(tmp, "ok.txt", "\n".join(reviews())), *args]
    if "--artifacts" not in args:
        args = [*args, "--artifacts", str(tmp / "artifacts")]

    def limit_file_size():
        if file_size_limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))

    executable = Path(sys.executable).with_name("koprep")
    return subprocess.run(
        [str(executable), "run", *args], capture_output=True, text=True, timeout=300,
        env={**os.environ, "PREFECT_API_URL": api_url}, preexec_fn=limit_file_size,
    )


def assert_clean_failure(result, fragments):
    assert result.returncode == 2, (result.returncode, result.stderr[-3000:])
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("koprep: error: ")]
    assert len(error_lines) == 1, result.stderr[-3000:]
    for fragment in fragments:
        assert fragment in error_lines[0], (fragment, error_lines[0])


def assert_nothing_partial(root: Path):
    if root.is_dir():
        report = verify(ArtifactStore(root))
        assert report["problems"] == [] and report["leftovers"] == []


@pytest.fixture(scope="module")
def before_the_flow(tmp_path_factory):
    """Every case's CLI run, started a few at a time (each is a separate process)."""
    from concurrent.futures import ThreadPoolExecutor

    def run(case):
        name, build, _ = case
        tmp = tmp_path_factory.mktemp(name)
        return name, (tmp, koprep_run(build(tmp), tmp, CLOSED_PORT_API))

    with ThreadPoolExecutor(max_workers=3) as pool:
        return dict(pool.map(run, BEFORE_THE_FLOW))


@pytest.mark.parametrize("case, build, fragments", BEFORE_THE_FLOW, ids=[c[0] for c in BEFORE_THE_FLOW])
def test_bad_input_stops_before_prefect_with_exit_2(before_the_flow, case, build, fragments):
    tmp, result = before_the_flow[case]
    assert_clean_failure(result, fragments)
    assert not list((tmp / "artifacts").glob("*/*"))  # nothing written


def test_full_artifacts_root_is_refused_up_front(tmp_path):
    """RLIMIT_FSIZE in the child stands in for a full disk (root ignores permissions, not limits):
    the up-front probe write fails with EFBIG, as it would with ENOSPC."""
    result = koprep_run([], tmp_path, CLOSED_PORT_API, file_size_limit=64 * 1024)
    assert_clean_failure(result, ["artifacts root", "is full", "free some space", "--artifacts DIR"])


def test_root_that_fills_up_mid_run_fails_cleanly_and_keeps_nothing_partial(tmp_path, prefect_server):
    """The probe passes (1 MiB fits) but the clean stage's 3 MB part does not: the write fails
    inside a Prefect task, the temporary folder is removed, and the CLI says the root is full."""
    corpus = text(tmp_path, "big.txt", "\n".join(nsmc(60000)["document"]))
    result = koprep_run([corpus, "--backend", "whitespace", "--set", "run.shard_size=100000"], tmp_path,
                        prefect_server["url"], file_size_limit=(3 << 20) // 2)
    assert_clean_failure(result, ["artifacts root", "is full"])
    assert not list((tmp_path / "artifacts").glob("clean/*"))
    assert_nothing_partial(tmp_path / "artifacts")


DURING_THE_FLOW = [
    ("vocabulary-empty-after-filtering", ["--backend", "whitespace", "--set", "bow.min_df=0.9", "--set", "bow.max_df=0.95"],
     ["bow stage", "no terms remain", "lower min_df or raise max_df"]),
    ("mixed-kind-min-df-above-max-df", ["--backend", "whitespace", "--set", "tfidf.min_df=500", "--set", "tfidf.max_df=0.5"],
     ["tfidf stage", "max_df=0.5", "min_df=500", "raise max_df or lower min_df"]),
    ("empty-word2vec-vocabulary", ["--backend", "whitespace", "--set", "word2vec.min_count=1000"],
     ["word2vec stage", "vocabulary is empty", "lower min_count"]),
    ("soynlp-learns-nothing", ["--backend", "soynlp-noun", "three.txt"], ["soynlp-noun learned nothing", "thousands of sentences"]),
]


@pytest.mark.parametrize("case, args, fragments", DURING_THE_FLOW, ids=[c[0] for c in DURING_THE_FLOW])
def test_data_that_yields_nothing_fails_inside_the_flow_with_exit_2(tmp_path, prefect_server, case, args, fragments):
    text(tmp_path, "three.txt", "\n".join(reviews(3)))  # too little for soynlp to learn from
    args = [str(tmp_path / a) if a == "three.txt" else a for a in args]
    result = koprep_run(args, tmp_path, prefect_server["url"])
    assert_clean_failure(result, fragments)
    assert "Retry" not in result.stderr  # bad input is never retried (tokenize's retry rule)
    assert_nothing_partial(tmp_path / "artifacts")


def test_a_bug_exits_1_with_one_line_and_the_traceback_only_with_debug(tmp_path):
    """An unexpected exception (here: a corpus whose reader hits a directory where a file was
    expected, forced by a file named like a Parquet corpus that is a folder of .txt files with
    format=parquet) is a bug: exit 1, one line pointing at --debug; --debug shows the traceback."""
    folder = tmp_path / "corpus.parquet"
    folder.mkdir()
    (folder / "a.txt").write_text("영화\n", encoding="utf-8")
    for debug in ([], ["--debug"]):
        result = koprep_run([str(folder), "--set", "corpus.format=text", *debug], tmp_path, CLOSED_PORT_API)
        assert result.returncode == 1, result.stderr[-2000:]
        assert ("Traceback" in result.stderr) == bool(debug)
        assert "koprep: internal error" in result.stderr
        if not debug:
            assert "re-run with --debug" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_cp949_corpus_runs_with_the_encoding_setting_and_it_enters_the_fingerprint(tmp_path, prefect_server):
    windows = cp949(tmp_path)[0]
    utf8 = text(tmp_path, "same.txt", Path(windows).read_bytes().decode("cp949"))
    runs = {}
    for name, args in {"cp949": [windows, "--set", "corpus.encoding=cp949"], "utf8": [utf8]}.items():
        result = koprep_run([*args, "--backend", "whitespace", "--json", "--set", "run.stages=[\"clean\", \"tokenize\"]"],
                            tmp_path, prefect_server["url"])
        assert result.returncode == 0, result.stderr[-3000:]
        runs[name] = json.loads(result.stdout.strip().splitlines()[-1])
    cleaned = {name: ArtifactStore(tmp_path / "artifacts").open_entry(run["stages"]["clean"]["path"]) for name, run in runs.items()}
    import pandas as pd

    frames = {name: pd.read_parquet(entry.path) for name, entry in cleaned.items()}
    assert frames["cp949"]["text"].tolist() == frames["utf8"]["text"].tolist()
    assert frames["cp949"]["text"].str.contains("[가-힣]").all()
    assert cleaned["cp949"].manifest["params"]["corpus"]["encoding"] == "cp949"
    assert runs["cp949"]["stages"]["clean"]["fingerprint"] != runs["utf8"]["stages"]["clean"]["fingerprint"]
