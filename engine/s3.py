"""S3 inputs and outputs for the engine, like EMRFS: ``s3://bucket/key`` paths.

Inputs are staged: each object is downloaded once into the job's scratch directory (in
parallel) and split there; tasks still see the S3 URI in ``mapreduce.map.input.file``
and in error messages. Output keeps the commit promise on a store without rename: the
job runs against a local staging directory; at commit the parts are uploaded under
``<output>/_temporary/<job id>/``, checked, copied to ``<output>/part-*``, and
``_SUCCESS`` is written last; the temporary prefix is then deleted. A failed job deletes
what it uploaded. Readers that wait for ``_SUCCESS`` (Hadoop, Spark, Hive) never see a
partial output. An output prefix that already holds objects is refused.

Endpoint, region and credentials come from the usual AWS settings (environment,
profile, instance role); ``AWS_ENDPOINT_URL`` points the engine at an S3-compatible
store.
"""

from __future__ import annotations

import fnmatch
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterable, Sequence

from engine.commit import SUCCESS_MARKER
from engine.errors import CommitError, InputError
from engine.splits import is_hidden

log = logging.getLogger(__name__)

SCHEMES = ("s3://", "s3a://", "s3n://")
#: Parallel transfers to and from S3.
TRANSFER_THREADS = 8


def is_s3(path: str) -> bool:
    """True for ``s3://`` (and Hadoop's ``s3a://``/``s3n://``) URIs."""
    return path.startswith(SCHEMES)


def split_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` → ``("bucket", "a/b")``."""
    rest = uri.split("://", 1)[1]
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise InputError(f"{uri!r} names no bucket: write s3://BUCKET/KEY")
    return bucket, key


def s3_client() -> Any:
    """A boto3 S3 client configured from the usual AWS settings."""
    import boto3

    return boto3.client("s3")


class S3Job:
    """Stages one job's S3 inputs and publishes its output to S3."""

    def __init__(self, scratch: str, job_id: str, client: Any | None = None) -> None:
        self.scratch = scratch
        self.job_id = job_id
        self.client = client or s3_client()

    # ------------------------------------------------------------------ inputs

    def list_inputs(self, uri: str) -> list[tuple[str, str, int]]:
        """(bucket, key, size) of the objects a URI names: one object, a "directory"
        prefix (recursively, hidden names skipped as Hadoop does), or a glob."""
        bucket, key = split_uri(uri)
        pattern = key if any(c in key for c in "*?[") else None
        prefix = key[: min(key.find(c) for c in "*?[" if c in key)] if pattern else key
        found: list[tuple[str, str, int]] = []
        try:
            if not pattern and key and not key.endswith("/"):
                try:
                    head = self.client.head_object(Bucket=bucket, Key=key)
                    return [(bucket, key, int(head["ContentLength"]))]
                except self.client.exceptions.ClientError:
                    prefix = key + "/"
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
                for obj in page.get("Contents", []):
                    name = obj["Key"]
                    relative = name[len(prefix) :]
                    if name.endswith("/") or any(is_hidden(part) for part in relative.split("/") if part):
                        continue
                    if pattern and not fnmatch.fnmatchcase(name, pattern):
                        continue
                    found.append((bucket, name, int(obj["Size"])))
        except self.client.exceptions.NoSuchBucket as exc:
            raise InputError(f"input {uri!r}: bucket {bucket!r} does not exist") from exc
        if not found:
            raise InputError(f"input {uri!r} matches no S3 object: check the bucket and prefix")
        return sorted(found)

    def stage_inputs(self, paths: Sequence[str]) -> tuple[list[str], dict[str, str]]:
        """Replace S3 URIs in *paths* by local copies; returns the paths and local→URI."""
        local_paths: list[str] = []
        uris: dict[str, str] = {}
        downloads: list[tuple[str, str, str]] = []
        root = os.path.join(self.scratch, "s3-input")
        for path in paths:
            if not is_s3(path):
                local_paths.append(path)
                continue
            for bucket, key, _ in self.list_inputs(path):
                local = os.path.join(root, bucket, key)
                if local not in uris:
                    uris[local] = f"s3://{bucket}/{key}"
                    downloads.append((bucket, key, local))
                    local_paths.append(local)
        with ThreadPoolExecutor(TRANSFER_THREADS) as pool:
            list(pool.map(lambda d: self._download(*d), downloads))
        if downloads:
            log.info("staged %d S3 input objects in %s", len(downloads), root)
        return local_paths, uris

    def _download(self, bucket: str, key: str, local: str) -> None:
        os.makedirs(os.path.dirname(local), exist_ok=True)
        try:
            self.client.download_file(bucket, key, local)
        except Exception as exc:
            raise InputError(f"cannot read s3://{bucket}/{key}: {exc}") from exc

    # ------------------------------------------------------------------ output

    def check_output(self, uri: str) -> None:
        """Refuse an output prefix that already holds objects (Hadoop's rule)."""
        bucket, prefix = self._output_prefix(uri)
        try:
            listed = self.client.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1)
        except self.client.exceptions.NoSuchBucket as exc:
            raise CommitError(f"output {uri!r}: bucket {bucket!r} does not exist") from exc
        if listed.get("KeyCount", 0):
            raise CommitError(
                f"output {uri!r} already exists (it holds objects); choose a new prefix or remove it "
                "(the engine never overwrites output)"
            )

    def publish(self, local_dir: str, uri: str) -> None:
        """Upload a committed local output directory to *uri*, ``_SUCCESS`` last."""
        bucket, prefix = self._output_prefix(uri)
        staging = f"{prefix}_temporary/{self.job_id}/"
        parts = sorted(n for n in os.listdir(local_dir) if not is_hidden(n))
        copied: list[str] = []
        try:
            with ThreadPoolExecutor(TRANSFER_THREADS) as pool:
                list(
                    pool.map(
                        lambda n: self.client.upload_file(os.path.join(local_dir, n), bucket, staging + n),
                        parts,
                    )
                )
            if self._visible_objects(bucket, prefix):
                raise CommitError(
                    f"output {uri!r} appeared while the job ran (another job wrote it first); "
                    "this job's output was discarded"
                )
            for name in parts:
                self.client.copy_object(
                    Bucket=bucket, Key=prefix + name, CopySource={"Bucket": bucket, "Key": staging + name}
                )
                copied.append(prefix + name)
            self.client.put_object(Bucket=bucket, Key=prefix + SUCCESS_MARKER, Body=b"")
        except BaseException:
            self._delete(bucket, copied)
            raise
        finally:
            self._delete(bucket, self._keys(bucket, staging))
        log.info("committed %d parts and %s to %s", len(parts), SUCCESS_MARKER, uri)

    def _output_prefix(self, uri: str) -> tuple[str, str]:
        bucket, key = split_uri(uri)
        return bucket, (key.rstrip("/") + "/") if key else ""

    def _visible_objects(self, bucket: str, prefix: str) -> list[str]:
        return [k for k in self._keys(bucket, prefix) if not k[len(prefix) :].startswith("_temporary/")]

    def _keys(self, bucket: str, prefix: str) -> list[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        return [
            o["Key"]
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix)
            for o in page.get("Contents", [])
        ]

    def _delete(self, bucket: str, keys: Iterable[str]) -> None:
        keys = list(keys)
        for start in range(0, len(keys), 1000):
            batch = [{"Key": k} for k in keys[start : start + 1000]]
            self.client.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})

    def read_output(self, uri: str) -> Iterable[bytes]:
        """The output parts' bytes in part order, ``b""`` between files (``cat_output``)."""
        bucket, prefix = self._output_prefix(uri)
        names = sorted(k for k in self._keys(bucket, prefix) if not is_hidden(k[len(prefix) :].split("/")[0]))
        for i, key in enumerate(names):
            if i:
                yield b""
            yield self.client.get_object(Bucket=bucket, Key=key)["Body"].read()
