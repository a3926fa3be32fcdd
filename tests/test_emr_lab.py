"""``python -m emr.lab`` and ``emr/mrjob.conf`` against a real local AWS API (a moto server).

The moto server runs in this process on 127.0.0.1 (a free port), is reset before each test
and stopped by the fixture that started it. Every boto3 call of the lab goes to it over
HTTP. moto stores EMR clusters and steps but never runs them: these tests check what was
submitted, not a Hive result.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path
from typing import Any, Iterator

import boto3
import pytest

from emr import lab
from emr.package import build_archive
from tests.harness import moto_server

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "data" / "sample"
CF_LOGS = SAMPLE / "cloudfront" / "data"  # what Hive_CloudFront.q reads as ${INPUT}/cloudfront/data
BUCKET = "mr-engine-lab-test"
REGION = "us-east-1"


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    """A moto server on 127.0.0.1 and a free port, stopped when the module's tests are done."""
    with pytest.MonkeyPatch.context() as mp, moto_server() as url:
        _let_unmatched_conditional_denies_pass(mp)
        yield url


def _let_unmatched_conditional_denies_pass(mp: pytest.MonkeyPatch) -> None:
    """Work around moto 5.2's bucket-policy evaluation for the lab's TLS-only policy.

    moto enforces bucket policies on object requests, but it supplies no ``aws:*`` request
    context keys and treats a condition on a key it lacks as matching, so ``Deny s3:* when
    aws:SecureTransport is false`` denies every object request, even over TLS. Here (in
    this test process only: the server is a thread of it) a Deny statement whose condition
    names a key moto does not supply does not apply, as on AWS for a request over TLS. The
    policy itself is asserted by reading it back through the API.
    """
    from moto.iam.access_control import IAMPolicyStatement, PermissionResult

    original = IAMPolicyStatement.is_action_permitted

    def is_action_permitted(
        self: Any,
        action: str,
        resource: str = "*",
        principal: Any = None,
        incoming_condition_values: Any = None,
    ) -> Any:
        result = original(self, action, resource, principal, incoming_condition_values)
        statement = self._statement
        if result == PermissionResult.DENIED and statement.get("Effect") == "Deny":
            supplied = incoming_condition_values or {}
            keys = {key for block in statement.get("Condition", {}).values() for key in block}
            if keys - set(supplied):
                return PermissionResult.NEUTRAL
        return result

    mp.setattr(IAMPolicyStatement, "is_action_permitted", is_action_permitted)


@pytest.fixture
def endpoint(moto_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """Fake credentials in the environment, no user AWS config, moto state reset."""
    for name in (
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_REGION",
        "MR_ENGINE_LAB_BUCKET",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    # belt and braces: a client built without an explicit endpoint goes to moto as well
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    urllib.request.urlopen(urllib.request.Request(moto_url + "/moto-api/reset", method="POST")).read()
    return moto_url


def _client(service: str, endpoint: str) -> Any:
    return boto3.client(service, region_name=REGION, endpoint_url=endpoint)


def _lab(endpoint: str, *argv: str) -> int:
    return lab.main([*argv, "--endpoint-url", endpoint, "--bucket", BUCKET])


def _bucket_names(s3: Any) -> list[str]:
    return [b["Name"] for b in s3.list_buckets()["Buckets"]]


def _active_clusters(emr: Any) -> list[str]:
    return [c["Id"] for c in emr.list_clusters(ClusterStates=list(lab.ACTIVE_STATES))["Clusters"]]


def test_create_bucket_secure_defaults_read_back(endpoint: str) -> None:
    assert _lab(endpoint, "create-bucket") == 0
    assert _lab(endpoint, "create-bucket") == 0  # again: re-applies, no error
    s3 = _client("s3", endpoint)
    assert _bucket_names(s3) == [BUCKET]

    pab = s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]
    assert pab == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    rules = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    ownership = s3.get_bucket_ownership_controls(Bucket=BUCKET)["OwnershipControls"]["Rules"]
    assert ownership == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    policy = json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"])
    (statement,) = policy["Statement"]
    assert statement["Effect"] == "Deny" and statement["Principal"] == "*" and statement["Action"] == "s3:*"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert set(statement["Resource"]) == {f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"}
    tags = s3.get_bucket_tagging(Bucket=BUCKET)["TagSet"]
    assert {"Key": "project", "Value": "mr-engine-lab"} in tags


def test_create_bucket_sse_kms(endpoint: str) -> None:
    key_id = _client("kms", endpoint).create_key()["KeyMetadata"]["KeyId"]
    assert _lab(endpoint, "create-bucket", "--kms-key-id", key_id) == 0
    rule = _client("s3", endpoint).get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]
    default = rule["Rules"][0]["ApplyServerSideEncryptionByDefault"]
    assert default == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_id}


def test_upload_lands_and_download_round_trips(endpoint: str, tmp_path: Path) -> None:
    assert _lab(endpoint, "create-bucket") == 0
    src = CF_LOGS
    assert _lab(endpoint, "upload", str(src), "--prefix", "input/cloudfront/data", "--include", "*.log") == 0
    assert _lab(endpoint, "upload", str(SAMPLE / "words.txt"), "--prefix", "input/words") == 0
    s3 = _client("s3", endpoint)
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"])
    logs = sorted(p.name for p in src.glob("*.log"))
    assert keys == [f"input/cloudfront/data/{name}" for name in logs] + ["input/words/words.txt"]
    head = s3.head_object(Bucket=BUCKET, Key="input/words/words.txt")
    assert head["ServerSideEncryption"] == "AES256"  # the bucket default applied

    dest = tmp_path / "down"
    assert _lab(endpoint, "download", "--prefix", "input", "--dest", str(dest)) == 0
    for name in logs:
        assert (dest / "cloudfront" / "data" / name).read_bytes() == (src / name).read_bytes()
    assert (dest / "words" / "words.txt").read_bytes() == (SAMPLE / "words.txt").read_bytes()


def test_run_hive_creates_tagged_cluster_with_hive_step(endpoint: str) -> None:
    assert _lab(endpoint, "create-bucket") == 0
    assert _lab(endpoint, "run-hive") == 0
    emr = _client("emr", endpoint)
    (cluster_id,) = _active_clusters(emr)
    cluster = emr.describe_cluster(ClusterId=cluster_id)["Cluster"]
    assert cluster["ReleaseLabel"].startswith("emr-7.")
    assert {"Hadoop", "Hive"} <= {a["Name"] for a in cluster["Applications"]}
    assert {"Key": "project", "Value": "mr-engine-lab"} in cluster["Tags"]
    assert cluster["AutoTerminate"] is True  # no idle cluster left behind after the step
    assert cluster["LogUri"] == f"s3://{BUCKET}/logs/emr/"

    (step,) = emr.list_steps(ClusterId=cluster_id)["Steps"]
    config = step["Config"]
    assert config["Jar"] == "command-runner.jar"
    assert config["Args"] == [
        "hive-script",
        "--run-hive-script",
        "--args",
        "-f",
        f"s3://{BUCKET}/scripts/Hive_CloudFront.q",
        "-d",
        f"INPUT=s3://{BUCKET}/input",
        "-d",
        f"OUTPUT=s3://{BUCKET}/output/hive",
    ]
    body = _client("s3", endpoint).get_object(Bucket=BUCKET, Key="scripts/Hive_CloudFront.q")["Body"].read()
    assert body == (REPO / "emr" / "Hive_CloudFront.q").read_bytes()

    # a second step on the running cluster goes through add_job_flow_steps
    out = f"s3://{BUCKET}/output/hive2"
    assert _lab(endpoint, "run-hive", "--cluster-id", cluster_id, "--output", out) == 0
    steps = emr.list_steps(ClusterId=cluster_id)["Steps"]
    assert len(steps) == 2
    assert any(f"OUTPUT={out}" in s["Config"]["Args"] for s in steps)


def test_hive_script_is_the_labs_original() -> None:
    text = (REPO / "emr" / "Hive_CloudFront.q").read_text()
    assert "ROW FORMAT SERDE 'org.apache.hadoop.hive.serde2.RegexSerDe'" in text
    assert "LOCATION '${INPUT}/cloudfront/data';" in text
    assert (
        "INSERT OVERWRITE DIRECTORY '${OUTPUT}/os_requests/' SELECT os, COUNT(*) count FROM cloudfront_logs "
        "WHERE dateobject BETWEEN '2014-07-05' AND '2014-08-05' GROUP BY os;"
    ) in text


def test_teardown_removes_lab_resources_only_and_is_idempotent(endpoint: str) -> None:
    s3 = _client("s3", endpoint)
    emr = _client("emr", endpoint)
    assert _lab(endpoint, "create-bucket") == 0
    # versions and a delete marker, as a versioned bucket collects them
    s3.put_object(Bucket=BUCKET, Key="output/x/part-00000", Body=b"one\n")
    s3.put_object(Bucket=BUCKET, Key="output/x/part-00000", Body=b"two\n")
    s3.delete_object(Bucket=BUCKET, Key="output/x/part-00000")
    s3.create_multipart_upload(Bucket=BUCKET, Key="tmp/unfinished")
    assert _lab(endpoint, "run-hive") == 0
    assert _lab(endpoint, "run-hive") == 0
    # someone else's cluster in the same account: teardown must leave it alone
    other = emr.run_job_flow(
        Name="not-the-lab",
        ReleaseLabel="emr-7.12.0",
        Instances={
            "MasterInstanceType": "m5.xlarge",
            "InstanceCount": 1,
            "KeepJobFlowAliveWhenNoSteps": True,
        },
        JobFlowRole="EMR_EC2_DefaultRole",
        ServiceRole="EMR_DefaultRole",
    )["JobFlowId"]
    assert len(_active_clusters(emr)) == 3

    assert lab.main(["teardown", "--endpoint-url", endpoint, "--bucket", BUCKET]) == 0
    assert BUCKET not in _bucket_names(s3)
    assert _active_clusters(emr) == [other]
    # twice is fine, and so is a teardown with nothing at all
    assert lab.main(["teardown", "--endpoint-url", endpoint, "--bucket", BUCKET]) == 0
    emr.terminate_job_flows(JobFlowIds=[other])
    assert lab.main(["teardown", "--endpoint-url", endpoint, "--bucket", "never-created-bucket"]) == 0


def test_teardown_after_a_failed_run(endpoint: str) -> None:
    """A run-hive that failed after creating its cluster: the bucket is gone, the cluster is not."""
    assert _lab(endpoint, "create-bucket") == 0
    assert _lab(endpoint, "run-hive") == 0
    s3 = _client("s3", endpoint)
    lab.empty_bucket(lab.Aws(REGION, endpoint_url=endpoint), BUCKET)
    s3.delete_bucket(Bucket=BUCKET)
    assert _lab(endpoint, "teardown") == 0
    assert _active_clusters(_client("emr", endpoint)) == []


def test_teardown_refuses_a_bucket_it_did_not_create(
    endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    s3 = _client("s3", endpoint)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="precious", Body=b"x")
    assert _lab(endpoint, "teardown") == 1
    assert "not tagged project=mr-engine-lab" in capsys.readouterr().err
    assert BUCKET in _bucket_names(s3)
    assert _lab(endpoint, "teardown", "--force") == 0
    assert BUCKET not in _bucket_names(s3)


def test_dry_run_creates_nothing(endpoint: str, capsys: pytest.CaptureFixture[str]) -> None:
    s3 = _client("s3", endpoint)
    emr = _client("emr", endpoint)
    commands = [
        ["create-bucket"],
        ["upload", str(CF_LOGS), "--prefix", "input/cloudfront/data", "--include", "*.log"],
        ["run-hive"],
        ["run-job", "wordcount", "--input", f"s3://{BUCKET}/input/words/"],
        ["download", "--dest", "/nonexistent/never-written"],
        ["teardown"],
    ]
    for argv in commands:
        assert _lab(endpoint, *argv, "--dry-run") == 0, argv
    out = capsys.readouterr().out
    for call in (
        "s3.create_bucket(",
        "s3.put_public_access_block(",
        "s3.put_bucket_encryption(",
        "s3.put_bucket_versioning(",
        "s3.put_bucket_policy(",
        "s3.put_bucket_ownership_controls(",
        "s3.upload_file(",
        "emr.run_job_flow(",
        "emr.list_clusters(",
        "emr.terminate_job_flows(",
        "s3.list_object_versions(",
        "s3.delete_bucket(",
    ):
        assert "DRY-RUN " + call in out, call
    assert "-r emr --conf-path" in out and "emr/mrjob.conf" in out
    assert _bucket_names(s3) == []
    assert emr.list_clusters()["Clusters"] == []
    assert not Path("/nonexistent/never-written").exists()


def test_python_m_emr_lab_dry_run_needs_no_credentials(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "emr.lab",
            "create-bucket",
            "--bucket",
            "mr-engine-lab-b",
            "--region",
            "eu-west-1",
            "--dry-run",
        ],
        cwd=str(REPO),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "CreateBucketConfiguration={'LocationConstraint': 'eu-west-1'}" in proc.stdout


def test_dry_run_says_would_not_did(endpoint: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Under --dry-run nothing is created or uploaded, and the output does not claim otherwise."""
    logs = sorted(CF_LOGS.glob("*.log"))
    assert len(logs) >= 2
    assert _lab(endpoint, "create-bucket", "--dry-run") == 0
    assert _lab(endpoint, "upload", str(CF_LOGS), "--include", "*.log", "--dry-run") == 0
    assert _lab(endpoint, "run-hive", "--dry-run") == 0
    assert _lab(endpoint, "download", "--dest", "/nonexistent/never-written", "--dry-run") == 0
    assert _lab(endpoint, "teardown", "--dry-run") == 0
    out = capsys.readouterr().out
    assert f"would create s3://{BUCKET} in {REGION}" in out
    assert f"would upload {len(logs)} file(s) to s3://{BUCKET}/input/" in out
    assert f"would secure s3://{BUCKET}:" in out
    assert "would run a Hive step on a new cluster" in out
    assert f"would download every object under s3://{BUCKET}/output/" in out
    assert f"would delete s3://{BUCKET}" in out
    for claim in ("created s3://", "uploaded ", "downloaded ", "deleted s3://", "cluster j-DRYRUN"):
        assert claim not in out, claim
    assert _bucket_names(_client("s3", endpoint)) == []

    # the same commands for real say what they did
    assert _lab(endpoint, "create-bucket") == 0
    assert _lab(endpoint, "upload", str(CF_LOGS), "--include", "*.log") == 0
    out = capsys.readouterr().out
    assert f"created s3://{BUCKET} in {REGION}" in out and "would" not in out
    assert f"uploaded {len(logs)} file(s) to s3://{BUCKET}/input/" in out


def test_region_comes_from_flag_or_env_and_is_named(
    endpoint: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    s3 = _client("s3", endpoint)

    # no region anywhere: a real run refuses before any call, naming the ways to give one
    assert _lab(endpoint, "create-bucket") == 1
    err = capsys.readouterr().err
    assert "no AWS region" in err and "--region" in err
    assert "$AWS_REGION" in err and "$AWS_DEFAULT_REGION" in err
    assert _bucket_names(s3) == []
    # ... and a dry run says which region it assumes, and why
    assert _lab(endpoint, "create-bucket", "--dry-run") == 0
    out = capsys.readouterr().out
    assert "region us-east-1 (dry-run default: none of --region, $AWS_REGION" in out
    assert "a real run would refuse" in out

    # $AWS_REGION (which botocore alone ignores) is used, and said
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")  # AWS_REGION wins, as in the AWS CLI
    assert _lab(endpoint, "create-bucket") == 0
    assert "region eu-west-1 (from $AWS_REGION)" in capsys.readouterr().out
    assert s3.get_bucket_location(Bucket=BUCKET)["LocationConstraint"] == "eu-west-1"

    # --region beats both
    other = "mr-engine-lab-test-2"
    argv = ["create-bucket", "--endpoint-url", endpoint, "--bucket", other, "--region", "ap-south-1"]
    assert lab.main(argv) == 0
    assert "region ap-south-1 (from --region)" in capsys.readouterr().out
    assert s3.get_bucket_location(Bucket=other)["LocationConstraint"] == "ap-south-1"

    monkeypatch.delenv("AWS_REGION")
    assert _lab(endpoint, "upload", str(SAMPLE / "words.txt"), "--dry-run") == 0
    assert "region us-west-2 (from $AWS_DEFAULT_REGION)" in capsys.readouterr().out


def test_region_from_the_profile_config(
    endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    config = tmp_path / "aws-config"
    config.write_text("[profile lab]\nregion = eu-central-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    # a named profile takes its keys from the files, not the environment
    credentials = tmp_path / "aws-credentials"
    credentials.write_text("[lab]\naws_access_key_id = testing\naws_secret_access_key = testing\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    assert _lab(endpoint, "create-bucket", "--profile", "lab") == 0
    assert "region eu-central-1 (from profile 'lab' in the AWS config file)" in capsys.readouterr().out
    location = _client("s3", endpoint).get_bucket_location(Bucket=BUCKET)["LocationConstraint"]
    assert location == "eu-central-1"
    assert _lab(endpoint, "create-bucket", "--profile", "no-such-profile", "--dry-run") == 1
    assert "no-such-profile" in capsys.readouterr().err


@pytest.mark.parametrize(
    "name, rule",
    [
        ("Bad_Name", "only lowercase letters, digits, dots (.) and hyphens (-), not 'B', 'N', '_'"),
        ("mybucket", None),
        ("my.bucket-2", None),
        ("a" * 63, None),
        ("a" * 64, "3 to 63 characters long (this one has 64)"),
        ("ab", "3 to 63 characters long (this one has 2)"),
        ("my bucket", "only lowercase letters"),
        ("-bucket", "begin and end with a lowercase letter or a digit"),
        ("bucket.", "begin and end with a lowercase letter or a digit"),
        ("my..bucket", "two adjacent dots"),
        ("192.168.5.4", "IP address"),
        ("192.168.5.4a", None),
        ("xn--bucket", "must not start with 'xn--'"),
        ("sthree-configurator-x", "must not start with 'sthree-'"),
        ("amzn-s3-demo-bucket", "must not start with 'amzn-s3-demo-'"),
        ("bucket-s3alias", "must not end with '-s3alias'"),
        ("bucket--ol-s3", "must not end with '--ol-s3'"),
        ("bucket.mrap", "must not end with '.mrap'"),
        ("bucket--x-s3", "must not end with '--x-s3'"),
        ("bucket--table-s3", "must not end with '--table-s3'"),
    ],
)
def test_bucket_name_rules(name: str, rule: str | None) -> None:
    problem = lab.bucket_name_problem(name)
    if rule is None:
        assert problem is None, problem
    else:
        assert problem is not None and rule in problem, problem


def test_invalid_bucket_name_is_refused_before_any_call(
    endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    s3 = _client("s3", endpoint)
    for command in (["create-bucket"], ["create-bucket", "--dry-run"], ["upload", str(SAMPLE)], ["teardown"]):
        assert lab.main([*command, "--endpoint-url", endpoint, "--bucket", "Bad_Name"]) == 2, command
        err = capsys.readouterr().err
        assert err.count("\n") == 1, err  # one line
        assert f"{command[0]}: invalid S3 bucket name 'Bad_Name': a bucket name must contain only" in err
    assert _bucket_names(s3) == []
    # the same refusal for a name from $MR_ENGINE_LAB_BUCKET
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MR_ENGINE_LAB_BUCKET", "my..bucket")
        assert lab.main(["create-bucket", "--endpoint-url", endpoint]) == 2
    assert "two adjacent dots" in capsys.readouterr().err
    assert _bucket_names(s3) == []


def test_mrjob_conf_is_read_by_mrjob_emr_runner(endpoint: str) -> None:
    """mrjob's own EMR runner parses emr/mrjob.conf: EMR 7, no secrets, the code shipped."""
    from jobs.wordcount import MRWordCount

    conf = REPO / "emr" / "mrjob.conf"
    text = conf.read_text().lower()
    for secret in ("aws_access_key_id:", "aws_secret_access_key:", "aws_session_token:", "region:"):
        assert secret not in text
    job = MRWordCount(
        [
            "-r",
            "emr",
            "--conf-path",
            str(conf),
            "--region",
            REGION,
            "--cloud-tmp-dir",
            f"s3://{BUCKET}/tmp/",
            "--s3-endpoint",
            endpoint,
            "--emr-endpoint",
            endpoint,
            f"s3://{BUCKET}/input/",
        ]
    )
    with job.make_runner() as runner:
        opts = runner._opts
        assert type(runner).__name__ == "EMRJobRunner"
        assert opts["release_label"].startswith("emr-7.")
        assert opts["instance_type"] == "m5.xlarge"
        assert opts["python_bin"] == ["python3"]
        assert opts["tags"] == {"project": "mr-engine-lab"}
        assert [Path(p).as_posix() for p in opts["py_files"]] == ["build/emr/mr_engine.zip"]
        assert opts["region"] == REGION


def test_py_files_archive_runs_the_job_as_hadoop_streaming_tasks(tmp_path: Path) -> None:
    """The zip from emr/mrjob.conf's py_files is all a task needs besides mrjob: run the map,
    combine and reduce commands mrjob gives Hadoop Streaming, with nothing of this checkout
    importable (``python -S``, the job script copied to a bare directory)."""
    archive = build_archive(tmp_path / "mr_engine.zip")
    assert archive.read_bytes() == build_archive(tmp_path / "again.zip").read_bytes()  # deterministic
    names = set(zipfile.ZipFile(archive).namelist())
    assert {
        "engine/__init__.py",
        "engine/job.py",
        "engine/errors.py",
        "jobs/__init__.py",
        "jobs/wordcount.py",
    } <= names

    import mrjob

    task_dir = tmp_path / "task"
    task_dir.mkdir()
    (task_dir / "wordcount.py").write_bytes((REPO / "jobs" / "wordcount.py").read_bytes())
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{archive}:{Path(mrjob.__file__).parent.parent}"}

    def task(flag: str, data: bytes) -> bytes:
        # EMR 7's Python 3.9: under -S, 3.12+ lacks setuptools' distutils shim (a .pth) that mrjob needs
        cmd = [_python39(), "-S", "wordcount.py", "--step-num=0", flag]
        proc = subprocess.run(cmd, input=data, cwd=str(task_dir), env=env, capture_output=True, timeout=60)
        assert proc.returncode == 0, proc.stderr.decode()
        return proc.stdout

    def sort(data: bytes) -> bytes:
        return b"".join(sorted(data.splitlines(keepends=True)))

    text = b"the cat\nthe dog\nThe end\n"
    output = task("--reducer", sort(task("--combiner", sort(task("--mapper", text)))))
    assert output.decode().splitlines() == ['"cat"\t1', '"dog"\t1', '"end"\t1', '"the"\t3']


def _python39() -> str:
    """EMR 7's task Python is 3.9: use a bare 3.9 interpreter for the tasks where there is one."""
    for candidate in sorted(Path.home().glob(".pyenv/versions/3.9*/bin/python3")):
        return str(candidate)
    return sys.executable


def test_mrjob_emr_runner_against_moto_gives_inline_output(
    endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``MRWordCount -r emr --conf-path emr/mrjob.conf`` with every AWS endpoint on moto: mrjob
    uploads, creates the cluster, submits and polls its step; the local stand-in in
    ``tests/emr_streaming.py`` runs the step's mapper/combiner/reducer commands as Hadoop
    Streaming would (under Python 3.9 where available) and marks it COMPLETED; mrjob reads the
    output back from S3. It must equal ``-r inline``'s."""
    from jobs.wordcount import MRWordCount
    from tests.conftest import make_text
    from tests.emr_streaming import StepExecutor

    local = tmp_path / "in"
    local.mkdir()
    (local / "words.txt").write_bytes((SAMPLE / "words.txt").read_bytes())
    (local / "more.txt").write_text(make_text(300, seed=3))
    assert _lab(endpoint, "create-bucket") == 0
    assert _lab(endpoint, "upload", str(local), "--prefix", "input/words") == 0

    monkeypatch.chdir(REPO)  # emr/mrjob.conf's py_files path is relative to the repo root
    build_archive()
    args = [
        "-r",
        "emr",
        "--conf-path",
        "emr/mrjob.conf",
        "--region",
        REGION,
        "--cloud-tmp-dir",
        f"s3://{BUCKET}/tmp/mrjob/",
        "--local-tmp-dir",
        str(tmp_path / "mrjob"),
        "--check-cluster-every",
        "0.1",
        "--cloud-fs-sync-secs",
        "0",
        "--jobconf",
        "mapreduce.job.reduces=2",
        "--output-dir",
        f"s3://{BUCKET}/output/wordcount/",
    ]
    for service in ("s3", "emr", "iam", "ec2"):
        args += [f"--{service}-endpoint", endpoint]
    (tmp_path / "mrjob").mkdir()
    executor = StepExecutor(endpoint, REGION, python_bin=_python39()).start()
    # mrjob's setup-wrapper.sh takes a lock file in /tmp; remove the ones these tasks make
    locks_before = set(Path("/tmp").glob("wrapper.lock.wordcount.*"))
    try:
        job = MRWordCount([*args, f"s3://{BUCKET}/input/words/"])
        with job.make_runner() as runner:
            runner.run()
            emr_output = sorted(job.parse_output(runner.cat_output()))
            cluster_id = runner.get_cluster_id()
    finally:
        executor.stop()
        for lock in set(Path("/tmp").glob("wrapper.lock.wordcount.*")) - locks_before:
            lock.unlink()
    assert executor.errors == []
    assert [r["state"] for r in executor.ran] == ["COMPLETED"]
    assert executor.ran[0]["args"][0] == "hadoop-streaming"

    inline = MRWordCount(["-r", "inline", str(local / "words.txt"), str(local / "more.txt")])
    with inline.make_runner() as runner:
        runner.run()
        inline_output = sorted(inline.parse_output(runner.cat_output()))
    assert emr_output == inline_output and len(emr_output) > 20

    s3 = _client("s3", endpoint)
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="output/wordcount/")["Contents"])
    assert keys == ["output/wordcount/_SUCCESS", "output/wordcount/part-00000", "output/wordcount/part-00001"]
    emr = _client("emr", endpoint)
    cluster = emr.describe_cluster(ClusterId=cluster_id)["Cluster"]
    assert cluster["Status"]["State"].startswith("TERMINAT")
    assert {"Key": "project", "Value": "mr-engine-lab"} in cluster["Tags"]
    assert cluster["ReleaseLabel"].startswith("emr-7.")
    assert _lab(endpoint, "teardown") == 0
    assert BUCKET not in _bucket_names(s3)
