"""S3 inputs and outputs on the engine (like EMRFS), against a real local moto server."""

from __future__ import annotations

import urllib.request
from pathlib import Path
from typing import Iterator

import boto3
import pytest

from engine.errors import CommitError, InputError, TaskFailedError
from engine.s3 import S3Job, split_uri
from tests.harness import moto_server, run_engine, run_inline
from tests.jobs.mr_crash import MRCrash
from tests.jobs.mr_word_count import MRWordCountPlain

BUCKET = "engine-s3-test"


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    """A moto server on 127.0.0.1 and a free port, stopped when the module is done."""
    with moto_server() as url:
        yield url


@pytest.fixture
def s3(moto_url, monkeypatch, tmp_path):
    """A fresh bucket; the engine finds moto through the standard AWS_ENDPOINT_URL."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    urllib.request.urlopen(urllib.request.Request(moto_url + "/moto-api/reset", method="POST")).read()
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


def upload(client, text_inputs) -> None:
    for path in text_inputs:
        client.upload_file(path, BUCKET, f"input/{Path(path).name}")
    client.put_object(Bucket=BUCKET, Key="input/_SUCCESS", Body=b"")  # hidden: skipped


def keys(client, prefix: str = "") -> list[str]:
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", []))


@pytest.mark.parametrize("executor", ["serial", "processes"])
def test_s3_input_and_output_give_inline_output(s3, text_inputs, executor, tmp_path):
    upload(s3, text_inputs)
    out = f"s3://{BUCKET}/output/wc"
    outcome = run_engine(
        MRWordCountPlain, ["--output-dir", out, f"s3://{BUCKET}/input/"], executor=executor, reducers=2
    )
    assert keys(s3, "output/") == ["output/wc/_SUCCESS", "output/wc/part-00000", "output/wc/part-00001"]
    assert outcome.sorted_lines == run_inline(MRWordCountPlain, text_inputs).sorted_lines
    assert not list(tmp_path.glob("**/*-s3"))  # staged copies removed


def test_input_file_variable_names_the_s3_object(s3, text_inputs):
    from mrjob.examples.mr_count_lines_by_file import MRCountLinesByFile

    upload(s3, text_inputs)
    outcome = run_engine(MRCountLinesByFile, [f"s3://{BUCKET}/input/*.txt"], reducers=1)
    assert [line.split(b"\t")[0] for line in outcome.lines] == [
        f'"s3://{BUCKET}/input/a.txt"'.encode(),
        f'"s3://{BUCKET}/input/b.txt"'.encode(),
    ]


def test_existing_s3_output_is_refused(s3, text_inputs):
    upload(s3, text_inputs)
    s3.put_object(Bucket=BUCKET, Key="output/old/part-00000", Body=b"earlier")
    with pytest.raises(CommitError, match="already exists"):
        run_engine(MRWordCountPlain, ["--output-dir", f"s3://{BUCKET}/output/old", text_inputs[0]])
    assert keys(s3, "output/") == ["output/old/part-00000"]


def test_failed_job_leaves_nothing_on_s3(s3, text_inputs):
    upload(s3, text_inputs)
    s3.put_object(Bucket=BUCKET, Key="input/boom.txt", Body=b"boom\n")
    with pytest.raises(TaskFailedError):
        run_engine(
            MRCrash,
            ["--crash-mode", "raise", "--output-dir", f"s3://{BUCKET}/output/x", f"s3://{BUCKET}/input/"],
            max_attempts=1,
        )
    assert keys(s3, "output/") == []


def test_missing_s3_input_is_named(s3):
    with pytest.raises(InputError, match="matches no S3 object"):
        run_engine(MRWordCountPlain, [f"s3://{BUCKET}/nothing/here"])


def test_publish_discards_output_if_another_job_committed_first(s3, tmp_path):
    local = tmp_path / "out"
    local.mkdir()
    (local / "part-00000").write_text("x\t1\n")
    (local / "_SUCCESS").write_text("")
    winner = S3Job(str(tmp_path), "job_a", s3)
    loser = S3Job(str(tmp_path), "job_b", s3)
    uri = f"s3://{BUCKET}/out"
    loser.check_output(uri)  # both checked before either committed
    winner.publish(str(local), uri)
    with pytest.raises(CommitError, match="another job wrote it first"):
        loser.publish(str(local), uri)
    assert keys(s3) == ["out/_SUCCESS", "out/part-00000"]


def test_split_uri():
    assert split_uri("s3://b/a/c.txt") == ("b", "a/c.txt")
    assert split_uri("s3a://b") == ("b", "")
    with pytest.raises(InputError):
        split_uri("s3:///key")
