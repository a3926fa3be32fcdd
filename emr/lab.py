"""The EMR lab, end to end, with boto3: ``python -m emr.lab <command> [options]``.

Commands (each takes ``--dry-run``, ``--region``, ``--profile`` and ``--endpoint-url``):

``create-bucket``  the lab bucket with secure defaults: all four public-access-block
                   settings on, default encryption (SSE-S3, or SSE-KMS with ``--kms-key-id``),
                   versioning enabled, ``BucketOwnerEnforced`` object ownership (ACLs off),
                   a bucket policy that denies any request not made over TLS, and the
                   ``project=mr-engine-lab`` tag. Safe to run again.
``upload``         local files/directories to ``s3://BUCKET/PREFIX/`` (like ``aws s3 cp
                   --recursive``), e.g. the CloudFront logs to ``input/cloudfront/data/``.
``package``        build ``build/emr/mr_engine.zip`` (``engine/`` + ``jobs/``), the
                   ``py_files`` that ``emr/mrjob.conf`` ships to the cluster.
``run-job``        a job of ``jobs/`` through mrjob's EMR runner with ``emr/mrjob.conf``.
``run-hive``       a cluster with Hadoop and Hive running the CloudFront lab's original
                   ``Hive_CloudFront.q`` as a Hive step with ``-d INPUT=... -d OUTPUT=...``.
``download``       everything under ``s3://BUCKET/PREFIX/`` to a local directory.
``teardown``       terminate every cluster carrying the lab tag, then delete every object
                   version, delete marker and unfinished multipart upload in the bucket and
                   delete the bucket. Idempotent: fine when nothing (or only part) exists.

``--dry-run`` prints the AWS API calls a command would make and makes none (it needs no
credentials), and says "would create", "would upload", ... for what a real run does.
Credentials come from the usual AWS settings (environment, ``--profile``/``AWS_PROFILE``, SSO,
instance role); nothing is written to files. The region is ``--region``, else ``$AWS_REGION``,
else ``$AWS_DEFAULT_REGION``, else the profile's ``region``; every command prints which one it
uses and why. With none, a real run refuses and ``--dry-run`` assumes us-east-1 (and says so).
A bucket name that breaks S3's naming rules (3-63 characters of lowercase letters, digits, dots
and hyphens, ...) is refused with the rule it breaks, before any call.
``--endpoint-url`` sends every call to another endpoint (tests use a local moto server).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import logging
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence

from emr.package import ARCHIVE, REPO_ROOT, build_archive

log = logging.getLogger(__name__)

TAG_KEY = "project"
TAG_VALUE = "mr-engine-lab"
RELEASE_LABEL = "emr-7.12.0"
INSTANCE_TYPE = "m5.xlarge"
SERVICE_ROLE = "EMR_DefaultRole"
INSTANCE_PROFILE = "EMR_EC2_DefaultRole"
HIVE_SCRIPT = Path(__file__).resolve().parent / "Hive_CloudFront.q"
MRJOB_CONF = Path(__file__).resolve().parent / "mrjob.conf"
#: EMR cluster states in which a cluster still runs (and costs money).
ACTIVE_STATES = ("STARTING", "BOOTSTRAPPING", "RUNNING", "WAITING")
DRY_RUN_CLUSTER_ID = "j-DRYRUN"


class LabError(Exception):
    """A lab command cannot go on; the message says why and what to do."""


def _fmt_value(value: Any) -> str:
    if isinstance(value, bytes) and len(value) > 60:
        return f"<{len(value)} bytes>"
    return repr(value)


def _fmt_call(service: str, operation: str, kwargs: Dict[str, Any]) -> str:
    args = ", ".join(f"{k}={_fmt_value(v)}" for k, v in kwargs.items())
    return f"{service}.{operation}({args})"


#: Where the region comes from when nothing names one: ``--dry-run`` only (a real run refuses).
DRY_RUN_REGION = "us-east-1"


def resolve_region(region: Optional[str], profile: Optional[str], dry_run: bool) -> tuple[str, str]:
    """The region and where it came from: ``--region``, ``$AWS_REGION``, ``$AWS_DEFAULT_REGION``,
    then the profile's ``region`` in the AWS config file. With none of them a real run is refused;
    ``--dry-run`` assumes us-east-1 and says so."""
    if region:
        return region, "from --region"
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        if os.environ.get(name):
            return os.environ[name], f"from ${name}"
    import boto3
    import botocore.exceptions

    try:
        session = boto3.Session(profile_name=profile)
    except botocore.exceptions.ProfileNotFound as exc:
        raise LabError(f"{exc}: check --profile / $AWS_PROFILE") from exc
    if session.region_name:
        name = profile or os.environ.get("AWS_PROFILE") or "default"
        return session.region_name, f"from profile {name!r} in the AWS config file"
    if dry_run:
        return DRY_RUN_REGION, (
            "dry-run default: none of --region, $AWS_REGION, $AWS_DEFAULT_REGION or a profile region "
            "is set, and a real run would refuse"
        )
    raise LabError(
        "no AWS region: pass --region, or set $AWS_REGION / $AWS_DEFAULT_REGION or a profile's region"
    )


class Aws:
    """boto3 clients for one region/profile/endpoint, or a printer of calls for ``--dry-run``."""

    def __init__(
        self,
        region: Optional[str],
        profile: Optional[str] = None,
        endpoint_url: Optional[str] = None,
        dry_run: bool = False,
    ) -> None:
        self.dry_run = dry_run
        self.endpoint_url = endpoint_url
        self.profile = profile
        self._clients: Dict[str, Any] = {}
        self.region, self.region_source = resolve_region(region, profile, dry_run)
        if dry_run:
            self._session = None
            return
        import boto3

        self._session = boto3.Session(profile_name=profile, region_name=self.region)

    def client(self, service: str) -> Any:
        """The boto3 client for *service* (S3 with path-style addressing under ``--endpoint-url``)."""
        if service not in self._clients:
            assert self._session is not None
            from botocore.config import Config

            config = Config(retries={"max_attempts": 8, "mode": "standard"})
            if service == "s3" and self.endpoint_url:
                config = config.merge(Config(s3={"addressing_style": "path"}))
            self._clients[service] = self._session.client(
                service, region_name=self.region, endpoint_url=self.endpoint_url, config=config
            )
        return self._clients[service]

    def call(self, service: str, operation: str, dry_result: Any = None, **kwargs: Any) -> Any:
        """Make one API call; under ``--dry-run`` print it and return *dry_result* instead."""
        if self.dry_run:
            print("DRY-RUN " + _fmt_call(service, operation, kwargs))
            return {} if dry_result is None else dry_result
        log.debug("%s", _fmt_call(service, operation, kwargs))
        return getattr(self.client(service), operation)(**kwargs)

    def pages(self, service: str, operation: str, **kwargs: Any) -> Iterator[Dict[str, Any]]:
        """The pages of a paginated call (none under ``--dry-run``, which prints the call)."""
        if self.dry_run:
            print("DRY-RUN " + _fmt_call(service, operation, kwargs) + "  # paginated")
            return iter(())
        return iter(self.client(service).get_paginator(operation).paginate(**kwargs))


_BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BUCKET_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
_BUCKET_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789.-")


def bucket_name_problem(name: str) -> Optional[str]:
    """The first of S3's naming rules for general purpose buckets that *name* breaks, as
    "must ...", or None when it keeps them all.

    https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
    """
    if not 3 <= len(name) <= 63:
        return f"must be 3 to 63 characters long (this one has {len(name)})"
    bad = sorted(set(name) - _BUCKET_CHARS)
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        return f"must contain only lowercase letters, digits, dots (.) and hyphens (-), not {shown}"
    if not (name[0].isalnum() and name[-1].isalnum()):
        return "must begin and end with a lowercase letter or a digit"
    if ".." in name:
        return "must not contain two adjacent dots (..)"
    parts = name.split(".")
    if len(parts) == 4 and all(p.isdigit() and len(p) <= 3 for p in parts):
        return "must not be formatted as an IP address (like 192.168.5.4)"
    for prefix in _BUCKET_PREFIXES:
        if name.startswith(prefix):
            return f"must not start with {prefix!r} (reserved by AWS)"
    for suffix in _BUCKET_SUFFIXES:
        if name.endswith(suffix):
            return f"must not end with {suffix!r} (reserved by AWS)"
    return None


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _is_missing_bucket(exc: Exception) -> bool:
    return _error_code(exc) in ("404", "NoSuchBucket", "NotFound")


def _lab_tags() -> List[Dict[str, str]]:
    return [{"Key": TAG_KEY, "Value": TAG_VALUE}]


def tls_only_policy(bucket: str) -> Dict[str, Any]:
    """A bucket policy that denies every request not made over TLS."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


def _s3_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key.lstrip('/')}"


def _prefix(prefix: str) -> str:
    prefix = prefix.strip("/")
    return prefix + "/" if prefix else ""


# ---------------------------------------------------------------------------------------------
# create-bucket


def create_bucket(aws: Aws, bucket: str, kms_key_id: Optional[str] = None) -> None:
    """Create (or re-secure) the lab bucket with the secure defaults described above."""
    kwargs: Dict[str, Any] = {"Bucket": bucket, "ObjectOwnership": "BucketOwnerEnforced"}
    if aws.region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": aws.region}
    try:
        aws.call("s3", "create_bucket", **kwargs)
        print(f"{'would create' if aws.dry_run else 'created'} s3://{bucket} in {aws.region}")
    except Exception as exc:
        code = _error_code(exc)
        if code == "BucketAlreadyOwnedByYou":
            print(f"s3://{bucket} already exists and is yours: re-applying the secure settings")
        elif code == "BucketAlreadyExists":
            raise LabError(
                f"bucket name {bucket!r} is taken by another account: choose another --bucket"
            ) from exc
        else:
            raise
    aws.call("s3", "put_bucket_tagging", Bucket=bucket, Tagging={"TagSet": _lab_tags()})
    aws.call(
        "s3",
        "put_public_access_block",
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    aws.call(
        "s3",
        "put_bucket_ownership_controls",
        Bucket=bucket,
        OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
    )
    if kms_key_id:
        default: Dict[str, Any] = {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": kms_key_id}
    else:
        default = {"SSEAlgorithm": "AES256"}
    aws.call(
        "s3",
        "put_bucket_encryption",
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": default, "BucketKeyEnabled": True}]
        },
    )
    aws.call("s3", "put_bucket_versioning", Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    aws.call("s3", "put_bucket_policy", Bucket=bucket, Policy=json.dumps(tls_only_policy(bucket)))
    print(
        f"{'would secure ' if aws.dry_run else ''}s3://{bucket}: public access blocked, "
        f"{'SSE-KMS' if kms_key_id else 'SSE-S3'} default encryption, versioning on, "
        "ACLs disabled (BucketOwnerEnforced), TLS-only policy, tagged "
        f"{TAG_KEY}={TAG_VALUE}"
    )


# ---------------------------------------------------------------------------------------------
# upload / download


def _local_files(src: Path, include: Sequence[str]) -> Iterator[tuple[Path, str]]:
    if src.is_file():
        yield src, src.name
        return
    if not src.is_dir():
        raise LabError(f"{src}: no such file or directory")
    for path in sorted(src.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts:
            continue
        rel = path.relative_to(src).as_posix()
        if include and not any(
            fnmatch.fnmatch(rel, pat) or fnmatch.fnmatch(path.name, pat) for pat in include
        ):
            continue
        yield path, rel


def upload(aws: Aws, bucket: str, sources: Sequence[str], prefix: str, include: Sequence[str]) -> int:
    """Upload each source (a directory's contents, or a file) under ``s3://bucket/prefix/``."""
    count = 0
    for src in sources:
        for path, rel in _local_files(Path(src), include):
            key = _prefix(prefix) + rel
            if aws.dry_run:
                aws.call("s3", "upload_file", Filename=str(path), Bucket=bucket, Key=key)
            else:
                aws.client("s3").upload_file(str(path), bucket, key)
            count += 1
    verb = "would upload" if aws.dry_run else "uploaded"
    print(f"{verb} {count} file(s) to {_s3_uri(bucket, _prefix(prefix))}")
    return count


def download(aws: Aws, bucket: str, prefix: str, dest: Path) -> int:
    """Download every object under ``s3://bucket/prefix/`` into *dest*, keeping the layout."""
    count = 0
    base = _prefix(prefix)
    if aws.dry_run:
        list(aws.pages("s3", "list_objects_v2", Bucket=bucket, Prefix=base))
        print(f"would download every object under {_s3_uri(bucket, base)} to {dest}")
        return 0
    for page in aws.pages("s3", "list_objects_v2", Bucket=bucket, Prefix=base):
        for obj in page.get("Contents", []):
            key = obj["Key"]
            rel = key[len(base) :]
            if not rel or key.endswith("/") or key.endswith("_$folder$"):
                continue
            target = dest.joinpath(*rel.split("/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            aws.client("s3").download_file(bucket, key, str(target))
            count += 1
    print(f"downloaded {count} file(s) from {_s3_uri(bucket, base)} to {dest}")
    return count


# ---------------------------------------------------------------------------------------------
# clusters


def hive_step(script_uri: str, input_uri: str, output_uri: str) -> Dict[str, Any]:
    """The Hive step exactly as the EMR console adds one (``command-runner.jar hive-script``)."""
    return {
        "Name": "Hive CloudFront OS requests",
        "ActionOnFailure": "CONTINUE",
        "HadoopJarStep": {
            "Jar": "command-runner.jar",
            "Args": [
                "hive-script",
                "--run-hive-script",
                "--args",
                "-f",
                script_uri,
                "-d",
                f"INPUT={input_uri.rstrip('/')}",
                "-d",
                f"OUTPUT={output_uri.rstrip('/')}",
            ],
        },
    }


def run_hive(
    aws: Aws,
    bucket: str,
    input_uri: Optional[str] = None,
    output_uri: Optional[str] = None,
    cluster_id: Optional[str] = None,
    release_label: str = RELEASE_LABEL,
    instance_type: str = INSTANCE_TYPE,
    core_count: int = 2,
    service_role: str = SERVICE_ROLE,
    instance_profile: str = INSTANCE_PROFILE,
    subnet_id: Optional[str] = None,
    keep_alive: bool = False,
    wait: bool = False,
) -> tuple[str, Optional[str]]:
    """Upload ``Hive_CloudFront.q`` and run it as a Hive step, on a new cluster (tagged, with
    Hadoop and Hive, terminating when its steps are done unless *keep_alive*) or on
    *cluster_id*. Return ``(cluster_id, step_id)`` (step id ``None`` on a new cluster under
    ``--dry-run``)."""
    input_uri = input_uri or _s3_uri(bucket, "input")
    output_uri = output_uri or _s3_uri(bucket, "output/hive")
    script_key = "scripts/Hive_CloudFront.q"
    aws.call("s3", "put_object", Bucket=bucket, Key=script_key, Body=HIVE_SCRIPT.read_bytes())
    step = hive_step(_s3_uri(bucket, script_key), input_uri, output_uri)
    if cluster_id:
        resp = aws.call(
            "emr",
            "add_job_flow_steps",
            dry_result={"StepIds": ["s-DRYRUN"]},
            JobFlowId=cluster_id,
            Steps=[step],
        )
        step_id: Optional[str] = resp["StepIds"][0]
    else:
        instances: Dict[str, Any] = {
            "InstanceGroups": [
                {
                    "Name": "Primary",
                    "InstanceRole": "MASTER",
                    "InstanceType": instance_type,
                    "InstanceCount": 1,
                },
                {
                    "Name": "Core",
                    "InstanceRole": "CORE",
                    "InstanceType": instance_type,
                    "InstanceCount": core_count,
                },
            ],
            "KeepJobFlowAliveWhenNoSteps": keep_alive,
            "TerminationProtected": False,
        }
        if subnet_id:
            instances["Ec2SubnetId"] = subnet_id
        resp = aws.call(
            "emr",
            "run_job_flow",
            dry_result={"JobFlowId": DRY_RUN_CLUSTER_ID},
            Name="mr-engine-lab-hive",
            ReleaseLabel=release_label,
            Applications=[{"Name": "Hadoop"}, {"Name": "Hive"}],
            LogUri=_s3_uri(bucket, "logs/emr/"),
            Instances=instances,
            Steps=[step],
            JobFlowRole=instance_profile,
            ServiceRole=service_role,
            VisibleToAllUsers=True,
            Tags=_lab_tags(),
        )
        cluster_id = resp["JobFlowId"]
        steps = aws.call("emr", "list_steps", dry_result={"Steps": []}, ClusterId=cluster_id)
        step_id = steps["Steps"][0]["Id"] if steps.get("Steps") else None
    if aws.dry_run:
        where = f"cluster {cluster_id}" if cluster_id != DRY_RUN_CLUSTER_ID else "a new cluster"
        print(f"would run a Hive step on {where}: {_s3_uri(bucket, script_key)}")
    else:
        print(f"cluster {cluster_id}: Hive step {step_id or '(new)'} runs {_s3_uri(bucket, script_key)}")
    print(f"  INPUT={input_uri.rstrip('/')}  OUTPUT={output_uri.rstrip('/')}  (results: OUTPUT/os_requests/)")
    if wait and step_id and not aws.dry_run:
        print("waiting for the step to finish ...")
        aws.client("emr").get_waiter("step_complete").wait(
            ClusterId=cluster_id, StepId=step_id, WaiterConfig={"Delay": 30, "MaxAttempts": 240}
        )
        print("step COMPLETED")
    return cluster_id, step_id


def lab_clusters(aws: Aws) -> List[str]:
    """Ids of the clusters in an active state that carry the lab tag."""
    ids: List[str] = []
    for page in aws.pages("emr", "list_clusters", ClusterStates=list(ACTIVE_STATES)):
        for summary in page.get("Clusters", []):
            cluster = aws.call("emr", "describe_cluster", ClusterId=summary["Id"])["Cluster"]
            tags = {t["Key"]: t.get("Value") for t in cluster.get("Tags", [])}
            if tags.get(TAG_KEY) == TAG_VALUE:
                ids.append(summary["Id"])
    return ids


def terminate_clusters(aws: Aws, wait: bool = True) -> List[str]:
    """Terminate every active lab-tagged cluster (termination protection off first)."""
    ids = lab_clusters(aws)
    if aws.dry_run:
        print(f"DRY-RUN  for each active cluster tagged {TAG_KEY}={TAG_VALUE}:")
        ids = ["<cluster-id>"]
    for cluster_id in ids:
        aws.call("emr", "set_termination_protection", JobFlowIds=[cluster_id], TerminationProtected=False)
    if ids:
        aws.call("emr", "terminate_job_flows", JobFlowIds=ids)
    if aws.dry_run:
        return []
    print(f"terminating {len(ids)} lab cluster(s): {', '.join(ids) or '-'}")
    if ids and wait:
        waiter = aws.client("emr").get_waiter("cluster_terminated")
        for cluster_id in ids:
            waiter.wait(ClusterId=cluster_id, WaiterConfig={"Delay": 20, "MaxAttempts": 90})
        print("all lab clusters terminated")
    return ids


# ---------------------------------------------------------------------------------------------
# teardown


def _bucket_is_lab(aws: Aws, bucket: str) -> bool:
    try:
        tagset = aws.call("s3", "get_bucket_tagging", Bucket=bucket)["TagSet"]
    except Exception as exc:
        if _error_code(exc) == "NoSuchTagSet":
            return False
        raise
    return any(t["Key"] == TAG_KEY and t["Value"] == TAG_VALUE for t in tagset)


def empty_bucket(aws: Aws, bucket: str) -> int:
    """Delete every object version, delete marker and unfinished multipart upload."""
    deleted = 0
    for page in aws.pages("s3", "list_multipart_uploads", Bucket=bucket):
        for upload_ in page.get("Uploads", []):
            aws.call(
                "s3",
                "abort_multipart_upload",
                Bucket=bucket,
                Key=upload_["Key"],
                UploadId=upload_["UploadId"],
            )
    for page in aws.pages("s3", "list_object_versions", Bucket=bucket):
        batch = [
            {"Key": v["Key"], "VersionId": v["VersionId"]}
            for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
        ]
        for start in range(0, len(batch), 1000):
            chunk = batch[start : start + 1000]
            resp = aws.call("s3", "delete_objects", Bucket=bucket, Delete={"Objects": chunk, "Quiet": True})
            errors = resp.get("Errors", [])
            if errors:
                first = errors[0]
                raise LabError(
                    f"s3://{bucket}: could not delete {len(errors)} object version(s), e.g. "
                    f"{first.get('Key')} ({first.get('Code')}: {first.get('Message')})"
                )
            deleted += len(chunk)
    if aws.dry_run:
        aws.call(
            "s3", "delete_objects", Bucket=bucket, Delete={"Objects": ["<each version and delete marker>"]}
        )
    return deleted


def teardown(aws: Aws, bucket: Optional[str], force: bool = False, wait: bool = True) -> None:
    """Terminate the lab's clusters, then empty and delete *bucket*; fine if nothing exists."""
    terminate_clusters(aws, wait=wait)
    if not bucket:
        print("no --bucket given: clusters only")
        return
    if aws.dry_run:
        aws.call("s3", "head_bucket", Bucket=bucket)
        aws.call("s3", "get_bucket_tagging", Bucket=bucket)
        empty_bucket(aws, bucket)
        aws.call("s3", "delete_bucket", Bucket=bucket)
        unless = "" if force else f", if it is tagged {TAG_KEY}={TAG_VALUE}"
        print(f"would delete s3://{bucket} and every object version in it{unless}")
        return
    try:
        aws.call("s3", "head_bucket", Bucket=bucket)
    except Exception as exc:
        if _is_missing_bucket(exc):
            print(f"s3://{bucket} does not exist: nothing to delete")
            return
        if _error_code(exc) in ("403", "AccessDenied", "Forbidden"):
            raise LabError(f"s3://{bucket} exists but is not accessible with these credentials") from exc
        raise
    if not force and not _bucket_is_lab(aws, bucket):
        raise LabError(
            f"s3://{bucket} is not tagged {TAG_KEY}={TAG_VALUE}: not deleting a bucket this tool did not "
            "create (pass --force if it is yours, e.g. after a create-bucket that failed half-way)"
        )
    for attempt in range(3):
        deleted = empty_bucket(aws, bucket)
        print(f"s3://{bucket}: deleted {deleted} object version(s)/delete marker(s)")
        try:
            aws.call("s3", "delete_bucket", Bucket=bucket)
        except Exception as exc:
            if _is_missing_bucket(exc):
                break
            # a terminating cluster may still flush a log file: empty again and retry
            if _error_code(exc) == "BucketNotEmpty" and attempt < 2:
                continue
            raise
        break
    print(f"deleted s3://{bucket}")


# ---------------------------------------------------------------------------------------------
# run-job


def job_path(job: str) -> Path:
    """``wordcount``, ``wordcount.py`` or ``jobs/wordcount.py`` -> the job file in ``jobs/``."""
    candidates = [Path(job), REPO_ROOT / job, REPO_ROOT / "jobs" / job, REPO_ROOT / "jobs" / f"{job}.py"]
    for candidate in candidates:
        if candidate.is_file() and candidate.suffix == ".py":
            return candidate.resolve()
    raise LabError(f"no job {job!r}: give a file in jobs/ (e.g. wordcount or jobs/wordcount.py)")


def mrjob_command(
    aws: Aws,
    job: str,
    bucket: str,
    inputs: Sequence[str],
    output_uri: str,
    conf_path: Path = MRJOB_CONF,
    extra: Sequence[str] = (),
) -> List[str]:
    """The ``python jobs/<job>.py -r emr --conf-path emr/mrjob.conf ...`` command line."""
    cmd = [
        sys.executable,
        str(job_path(job)),
        "-r",
        "emr",
        "--conf-path",
        str(conf_path),
        "--region",
        str(aws.region),
        "--cloud-tmp-dir",
        _s3_uri(bucket, "tmp/mrjob/"),
        "--tag",
        f"{TAG_KEY}={TAG_VALUE}",
        "--output-dir",
        output_uri.rstrip("/") + "/",
    ]
    if aws.endpoint_url:
        for service in ("s3", "emr", "iam", "ec2"):
            cmd += [f"--{service}-endpoint", aws.endpoint_url]
    return cmd + list(extra) + list(inputs)


def run_job(
    aws: Aws,
    job: str,
    bucket: str,
    inputs: Sequence[str],
    output_uri: Optional[str] = None,
    conf_path: Path = MRJOB_CONF,
    extra: Sequence[str] = (),
) -> int:
    """Build ``build/emr/mr_engine.zip`` and run *job* with mrjob's EMR runner from the repo root."""
    name = job_path(job).stem
    output_uri = output_uri or _s3_uri(bucket, f"output/{name}/")
    inputs = list(inputs) or [_s3_uri(bucket, "input/")]
    cmd = mrjob_command(aws, job, bucket, inputs, output_uri, conf_path, extra)
    env = dict(os.environ)
    if aws.profile:
        env["AWS_PROFILE"] = aws.profile
    if aws.dry_run:
        print(f"DRY-RUN build {ARCHIVE} (engine/ + jobs/ for py_files)")
        print(f"DRY-RUN (cd {shlex.quote(str(REPO_ROOT))} && {shlex.join(cmd)})")
        return 0
    build_archive()
    print("+ " + shlex.join(cmd), flush=True)
    return subprocess.call(cmd, cwd=str(REPO_ROOT), env=env)


# ---------------------------------------------------------------------------------------------
# command line


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--dry-run", action="store_true", help="print the AWS API calls, make none")
    common.add_argument(
        "--region",
        help="AWS region (default: $AWS_REGION, else $AWS_DEFAULT_REGION, else the profile's region; "
        "a real run with none refuses, --dry-run assumes us-east-1 and says so)",
    )
    common.add_argument("--profile", help="AWS named profile (default: AWS_PROFILE / default chain)")
    common.add_argument("--endpoint-url", help="send every AWS call here (e.g. a local moto server)")
    common.add_argument("-v", "--verbose", action="store_true", help="log every API call")

    bucket_opt = argparse.ArgumentParser(add_help=False)
    bucket_opt.add_argument(
        "--bucket",
        default=os.environ.get("MR_ENGINE_LAB_BUCKET"),
        help="the lab bucket (default: $MR_ENGINE_LAB_BUCKET)",
    )

    ap = argparse.ArgumentParser(prog="python -m emr.lab", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("create-bucket", parents=[common, bucket_opt], help="the lab bucket, secure defaults")
    p.add_argument("--kms-key-id", help="SSE-KMS with this key (default: SSE-S3)")

    p = sub.add_parser("upload", parents=[common, bucket_opt], help="local files/dirs to s3://BUCKET/PREFIX/")
    p.add_argument("sources", nargs="+", metavar="SRC", help="a directory (its contents) or a file")
    p.add_argument("--prefix", default="input", help="key prefix (default: input)")
    p.add_argument("--include", action="append", default=[], metavar="GLOB", help="only matching files")

    sub.add_parser("package", parents=[common], help=f"build {ARCHIVE} for mrjob.conf's py_files")

    p = sub.add_parser("run-job", parents=[common, bucket_opt], help="a job of jobs/ with mrjob -r emr")
    p.add_argument("job", help="e.g. wordcount or jobs/wordcount.py; mrjob/job switches go after --")
    p.add_argument("--input", action="append", default=[], help="s3:// input (default s3://BUCKET/input/)")
    p.add_argument("--output", help="s3:// output dir (default s3://BUCKET/output/JOB/)")
    p.add_argument("--conf-path", default=str(MRJOB_CONF), help="mrjob config (default emr/mrjob.conf)")

    p = sub.add_parser("run-hive", parents=[common, bucket_opt], help="Hive_CloudFront.q as a Hive step")
    p.add_argument("--input", help="INPUT (default s3://BUCKET/input; logs under INPUT/cloudfront/data/)")
    p.add_argument("--output", help="OUTPUT (default s3://BUCKET/output/hive)")
    p.add_argument("--cluster-id", help="add the step to this running cluster instead of a new one")
    p.add_argument("--release-label", default=RELEASE_LABEL)
    p.add_argument("--instance-type", default=INSTANCE_TYPE)
    p.add_argument("--core-count", type=int, default=2)
    p.add_argument("--service-role", default=SERVICE_ROLE)
    p.add_argument("--instance-profile", default=INSTANCE_PROFILE)
    p.add_argument("--subnet-id")
    p.add_argument("--keep-alive", action="store_true", help="keep the cluster after its steps")
    p.add_argument("--wait", action="store_true", help="wait for the step to finish")

    p = sub.add_parser("download", parents=[common, bucket_opt], help="s3://BUCKET/PREFIX/ to a local dir")
    p.add_argument("--prefix", default="output", help="key prefix (default: output)")
    p.add_argument("--dest", default="emr-output", help="local directory (default: ./emr-output)")

    p = sub.add_parser("teardown", parents=[common, bucket_opt], help="terminate clusters, delete the bucket")
    p.add_argument("--force", action="store_true", help="delete the bucket even without the lab tag")
    p.add_argument("--no-wait", action="store_true", help="don't wait for the clusters to terminate")
    return ap


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run one lab command; return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: List[str] = []
    if "--" in argv:  # run-job: what follows -- goes to the mrjob command line
        extra = argv[argv.index("--") + 1 :]
        argv = argv[: argv.index("--")]
    args = _parser().parse_args(argv)
    if extra and args.command != "run-job":
        print(f"{args.command}: takes no arguments after --", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(message)s")
    needs_bucket = args.command not in ("package", "teardown")
    if needs_bucket and not args.bucket:
        print(f"{args.command}: --bucket is required (or set MR_ENGINE_LAB_BUCKET)", file=sys.stderr)
        return 2
    problem = bucket_name_problem(args.bucket) if getattr(args, "bucket", None) else None
    if problem:
        msg = f"{args.command}: invalid S3 bucket name {args.bucket!r}: a bucket name {problem}"
        print(msg, file=sys.stderr)
        return 2
    try:
        if args.command == "package":
            if args.dry_run:
                print(f"DRY-RUN build {ARCHIVE} (engine/ + jobs/)")
            else:
                print(f"wrote {build_archive()}")
            return 0
        aws = Aws(args.region, args.profile, args.endpoint_url, args.dry_run)
        print(f"region {aws.region} ({aws.region_source})")
        if args.command == "create-bucket":
            create_bucket(aws, args.bucket, args.kms_key_id)
        elif args.command == "upload":
            upload(aws, args.bucket, args.sources, args.prefix, args.include)
        elif args.command == "run-job":
            return run_job(aws, args.job, args.bucket, args.input, args.output, Path(args.conf_path), extra)
        elif args.command == "run-hive":
            run_hive(
                aws,
                args.bucket,
                args.input,
                args.output,
                args.cluster_id,
                args.release_label,
                args.instance_type,
                args.core_count,
                args.service_role,
                args.instance_profile,
                args.subnet_id,
                args.keep_alive,
                args.wait,
            )
        elif args.command == "download":
            download(aws, args.bucket, args.prefix, Path(args.dest))
        elif args.command == "teardown":
            teardown(aws, args.bucket, force=args.force, wait=not args.no_wait)
    except LabError as exc:
        print(f"{args.command}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
