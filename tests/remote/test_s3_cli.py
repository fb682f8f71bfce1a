"""koprep's commands on a bucket of the moto server: every command on a URL root, no secret in any
object, record, report, Prefect parameter or output, and bad storage input stopped up front."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import nsmc, run_at_once
from tests.remote.conftest import ACCESS_KEY, SECRET
from tests.robust.chain import SMALL, write_corpus

pytestmark = pytest.mark.slow
KOPREP = str(Path(sys.executable).with_name("koprep"))
SETTINGS = [arg for key, value in SMALL.items() for arg in ("--set", f"{key}={value}")]


def koprep(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([KOPREP, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


def test_every_command_on_a_bucket_and_no_secret_anywhere(s3, prefect_server, tmp_path):
    corpus = write_corpus(tmp_path / "reviews.txt", nsmc(400)["document"].tolist())
    s3.fs.put(str(corpus), f"{s3.name}/corpora/reviews.txt")
    work = tmp_path / "work"
    work.mkdir()
    env = {**s3.env, "PREFECT_API_URL": prefect_server["url"], "KOPREP_ARTIFACTS": s3.url("store")}
    corpus_url = s3.url("corpora", "reviews.txt")
    outputs = []

    def checked(result: subprocess.CompletedProcess) -> str:
        outputs.append(result.stdout + result.stderr)
        assert result.returncode == 0, (result.args, result.stderr[-2000:])
        return result.stdout

    def ok(*args: str) -> str:
        return checked(koprep(*args, env=env, cwd=work))

    first = json.loads(ok("run", corpus_url, "--backend", "whitespace", "--json", *SETTINGS).strip().splitlines()[-1])
    second = json.loads(ok("run", corpus_url, "--backend", "whitespace", "--json", *SETTINGS).strip().splitlines()[-1])
    assert all(stage["cached"] for stage in second["stages"].values())
    word = next(iter(nsmc(400)["document"].str.split().explode().value_counts().index))
    # The secret given as storage options instead of the environment: the same commands work, and show nothing.
    no_env_secret = {"AWS_SECRET_ACCESS_KEY": "", "AWS_ACCESS_KEY_ID": "",
                     "KOPREP_STORAGE_OPTIONS": json.dumps({"key": ACCESS_KEY, "secret": SECRET})}
    # The commands that only read the store run at once (as several users' would), each checked as above.
    status, _, _, listed, verified, _, _, listed_with_options = map(checked, run_at_once([
        ([KOPREP, "status", corpus_url, "--backend", "whitespace", *SETTINGS], env),
        ([KOPREP, "run", corpus_url, "--backend", "whitespace", "--dry-run", *SETTINGS], env),
        ([KOPREP, "show", "--run", first["run_id"]], env),
        ([KOPREP, "ls"], env),
        ([KOPREP, "verify"], env),
        ([KOPREP, "gc", "--dry-run"], env),
        ([KOPREP, "similar", word], env),
        ([KOPREP, "ls"], {**env, **no_env_secret}),
    ], cwd=work))
    assert "up to date" in status
    assert "tokenize" in listed and "tokenize" in listed_with_options
    assert "ok" in verified
    assert s3.fs.exists(f"{s3.name}/store/runs/{first['run_id']}.html")  # the report is in the bucket too

    assert work.exists() and list(work.iterdir()) == []  # nothing written where the commands ran
    for text in outputs:
        assert SECRET not in text
    for key in s3.fs.find(s3.name):
        assert SECRET.encode() not in s3.fs.cat_file(key), key
    for path in s3.cache.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        parameters = json.dumps([run.parameters for run in client.read_flow_runs()], default=str)
    assert s3.url("store") in parameters and SECRET not in parameters


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("case", ["unreachable endpoint", "missing bucket", "denied credentials", "missing corpus object"])
def test_bad_storage_input_exits_2_with_the_url_and_the_fix_before_any_work(s3, denying_s3_server, tmp_path, case):
    corpus = write_corpus(tmp_path / "reviews.txt", nsmc(50)["document"].tolist())
    store, env, fix = s3.url("store"), dict(s3.env), ""
    args = [str(corpus)]
    if case == "unreachable endpoint":
        env["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{_closed_port()}"
        fix = "AWS_ENDPOINT_URL"
    elif case == "missing bucket":
        store, fix = "s3://no-such-bucket-koprep/store", "bucket does not exist"
    elif case == "denied credentials":
        env["AWS_ENDPOINT_URL"] = denying_s3_server
        fix = "credentials were refused"
    else:
        args, fix = [s3.url("corpora", "missing.tsv")], "does not exist"
    env.pop("PREFECT_API_URL", None)  # a run that got as far as Prefect would start a temporary server
    work = tmp_path / "work"
    work.mkdir()
    result = koprep("run", *args, "--backend", "whitespace", "--artifacts", store, env=env, cwd=work)
    assert result.returncode == 2, result.stderr[-2000:]
    assert fix in result.stderr and "Traceback" not in result.stderr
    assert (store if case != "missing corpus object" else args[0]) in result.stderr
    assert SECRET not in result.stdout + result.stderr
    assert "temporary server" not in result.stderr.lower()  # stopped before Prefect: no work began
    assert list(work.iterdir()) == []
    assert not [key for key in s3.fs.find(s3.name) if "/store/" in key and "/runs/" not in key]
