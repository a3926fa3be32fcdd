"""A local stand-in for the EMR step runner, for tests against a moto server.

moto records EMR clusters and steps but never runs them. :class:`StepExecutor` watches moto's
EMR backend (the server runs as a thread of the test process) and runs each RUNNING
``command-runner.jar hadoop-streaming ...`` step on this machine the way Hadoop Streaming
would: it fetches the ``-files`` from the moto S3 into a task working directory (``uri#name``),
runs one map task per input file with the ``-mapper`` command on the file's lines, sorts
each task's output by key (the text before the first tab, compared as bytes) and pipes it
through the ``-combiner``, partitions the map output by a hash of the key over
``mapreduce.job.reduces`` reducers, sorts each partition and pipes it through the
``-reducer``, and writes ``part-00000``... and then ``_SUCCESS`` to ``-output`` in the moto
S3. The step is then marked COMPLETED (or FAILED, with the task's stderr as the reason), the
next PENDING step is started, and a cluster with nothing left to run and
``KeepJobFlowAliveWhenNoSteps`` false is terminated, as EMR does.

Not simulated: YARN, HDFS, task retries, speculative execution, counters in the task
logs, input splits smaller than a file, and any ``-inputformat``/``-outputformat``,
``-partitioner`` or jar step (such a step FAILS with a message saying so).
"""

from __future__ import annotations

import gzip
import os
import shlex
import shutil
import subprocess
import tempfile
import threading
import time
import zlib
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

SUPPORTED_OPTS = (
    "-files",
    "-archives",
    "-D",
    "-cmdenv",
    "-input",
    "-output",
    "-mapper",
    "-combiner",
    "-reducer",
)


class StepFailed(Exception):
    """A streaming step could not run or one of its tasks failed."""


def _split_uri(uri: str) -> Tuple[str, str]:
    assert uri.startswith("s3://"), uri
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


def parse_streaming_args(args: List[str]) -> Dict[str, Any]:
    """``hadoop-streaming -files ... -input ... -output ... -mapper ...`` -> a dict."""
    if not args or args[0] != "hadoop-streaming":
        raise StepFailed(f"not a Hadoop Streaming step: {args[:1]}")
    spec: Dict[str, Any] = {"files": [], "archives": [], "conf": {}, "cmdenv": {}, "input": []}
    i = 1
    while i < len(args):
        opt, value = args[i], args[i + 1] if i + 1 < len(args) else None
        if opt not in SUPPORTED_OPTS or value is None:
            raise StepFailed(f"the local streaming stand-in does not support {opt!r}")
        if opt in ("-files", "-archives"):
            spec[opt[1:]].extend(value.split(","))
        elif opt == "-D":
            k, _, v = value.partition("=")
            spec["conf"][k] = v
        elif opt == "-cmdenv":
            k, _, v = value.partition("=")
            spec["cmdenv"][k] = v
        elif opt == "-input":
            spec["input"].append(value)
        else:
            spec[opt[1:]] = value
        i += 2
    return spec


def _key(line: bytes) -> bytes:
    return line.split(b"\t", 1)[0].rstrip(b"\r\n")


def _sort(data: bytes) -> bytes:
    lines = data.splitlines(keepends=True)
    lines = [ln if ln.endswith(b"\n") else ln + b"\n" for ln in lines]
    return b"".join(sorted(lines, key=_key))


class StepExecutor:
    """Runs the streaming steps moto has accepted; start with :meth:`start`, end with :meth:`stop`."""

    def __init__(self, endpoint: str, region: str, python_bin: Optional[str] = None) -> None:
        import boto3

        self.s3 = boto3.client("s3", region_name=region, endpoint_url=endpoint)
        self.region = region
        self.python_bin = python_bin
        self.ran: List[Dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="emr-step-executor", daemon=True)
        self._workdir = Path(tempfile.mkdtemp(prefix="emr-steps-"))
        self._bindir = self._workdir / "bin"
        self._bindir.mkdir()
        if python_bin:
            (self._bindir / "python3").symlink_to(python_bin)
        self.errors: List[BaseException] = []

    def start(self) -> StepExecutor:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        shutil.rmtree(self._workdir, ignore_errors=True)

    def _loop(self) -> None:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.emr.models import emr_backends

        while not self._stop.is_set():
            try:
                backend = emr_backends[DEFAULT_ACCOUNT_ID][self.region]
                for cluster in list(backend.clusters.values()):
                    self._advance(cluster)
            except BaseException as exc:  # keep the thread alive; the test sees self.errors
                self.errors.append(exc)
            time.sleep(0.05)

    def _advance(self, cluster: Any) -> None:
        if cluster.state in ("TERMINATING", "TERMINATED", "TERMINATED_WITH_ERRORS"):
            return
        for step in cluster.steps:
            if step.state == "PENDING" and not any(s.state == "RUNNING" for s in cluster.steps):
                step.state = "RUNNING"
            if step.state != "RUNNING":
                continue
            step.start_date_time = step.start_date_time or _now()
            try:
                self._run_step(step)
                step.state = "COMPLETED"
            except StepFailed as exc:
                step.state = "FAILED"
                step.last_state_change_reason = str(exc)[-2000:]
            except Exception as exc:  # a stand-in's own limit (e.g. an hdfs:// path): fail, not retry forever
                step.state = "FAILED"
                step.last_state_change_reason = f"the EMR stand-in could not run this step: {exc!r}"[-2000:]
                self.errors.append(exc)
            step.end_date_time = _now()
            self.ran.append(
                {"cluster": cluster.id, "step": step.id, "state": step.state, "args": list(step.args)}
            )
        if all(s.state in ("COMPLETED", "FAILED", "CANCELLED") for s in cluster.steps) and cluster.steps:
            if not cluster.keep_job_flow_alive_when_no_steps:
                cluster.terminate()
            else:
                cluster.state = "WAITING"

    # -- one step --------------------------------------------------------------------------

    def _run_step(self, step: Any) -> None:
        if step.jar != "command-runner.jar":
            raise StepFailed(f"the local stand-in runs only command-runner.jar steps, not {step.jar}")
        spec = parse_streaming_args(list(step.args))
        task_dir = Path(tempfile.mkdtemp(prefix=f"{step.id}-", dir=self._workdir))
        for item in spec["files"]:
            uri, _, name = item.partition("#")
            self._get(uri, task_dir / (name or uri.rsplit("/", 1)[-1]))
        for item in spec["archives"]:
            uri, _, name = item.partition("#")
            archive = self._workdir / ("archive-" + uri.rsplit("/", 1)[-1])
            self._get(uri, archive)
            shutil.unpack_archive(str(archive), str(task_dir / name))
        env = dict(os.environ)
        env["PATH"] = f"{self._bindir}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
        for k, v in spec["conf"].items():  # Hadoop exports the job conf, dots as underscores
            env[k.replace(".", "_")] = v
        env.update(spec["cmdenv"])
        reduces = int(spec["conf"].get("mapreduce.job.reduces", "1"))
        if "reducer" not in spec:
            reduces = 0
        partitions: List[List[bytes]] = [[] for _ in range(max(reduces, 1))]
        map_outputs: List[bytes] = []
        for task_id, (uri, data) in enumerate(self._inputs(spec["input"])):
            task_env = dict(
                env,
                mapreduce_map_input_file=uri,
                map_input_file=uri,
                mapreduce_task_partition=str(task_id),
                mapreduce_task_ismap="true",
            )
            out = self._task(spec["mapper"], data, task_dir, task_env, f"map {task_id} ({uri})")
            if reduces == 0:
                map_outputs.append(out)
                continue
            if "combiner" in spec:
                out = self._task(spec["combiner"], _sort(out), task_dir, task_env, f"combine {task_id}")
            for line in out.splitlines(keepends=True):
                partitions[zlib.crc32(_key(line)) % reduces].append(line)
        outputs = map_outputs
        if reduces:
            outputs = []
            for r, lines in enumerate(partitions):
                task_env = dict(env, mapreduce_task_partition=str(r), mapreduce_task_ismap="false")
                outputs.append(
                    self._task(spec["reducer"], _sort(b"".join(lines)), task_dir, task_env, f"reduce {r}")
                )
        bucket, prefix = _split_uri(spec["output"].rstrip("/") + "/")
        if self.s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("KeyCount", 0):
            raise StepFailed(f"output directory {spec['output']} already exists")
        for n, out in enumerate(outputs):
            self.s3.put_object(Bucket=bucket, Key=f"{prefix}part-{n:05d}", Body=out)
        self.s3.put_object(Bucket=bucket, Key=f"{prefix}_SUCCESS", Body=b"")

    def _get(self, uri: str, dest: Path) -> None:
        bucket, key = _split_uri(uri)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    def _inputs(self, uris: List[str]) -> List[Tuple[str, bytes]]:
        found: List[Tuple[str, bytes]] = []
        for uri in uris:
            bucket, key = _split_uri(uri)
            keys = [o["Key"] for o in self.s3.list_objects_v2(Bucket=bucket, Prefix=key).get("Contents", [])]
            if key in keys:  # a file
                keys = [key]
            else:  # a directory; Hadoop skips names starting with _ or .
                base = key.rstrip("/") + "/" if key else ""
                keys = [k for k in keys if k.startswith(base) and not k[len(base) :].startswith(("_", "."))]
            if not keys:
                raise StepFailed(f"input path does not exist: {uri}")
            for k in sorted(keys):
                data = self.s3.get_object(Bucket=bucket, Key=k)["Body"].read()
                if k.endswith(".gz"):
                    data = gzip.decompress(data)
                found.append((f"s3://{bucket}/{k}", data))
        return found

    def _task(self, command: str, data: bytes, cwd: Path, env: Dict[str, str], what: str) -> bytes:
        proc = subprocess.run(
            shlex.split(command),
            input=data,
            cwd=str(cwd),
            env=env,
            capture_output=True,
            timeout=120,
        )
        if proc.returncode != 0:
            raise StepFailed(
                f"{what} failed with exit status {proc.returncode}: {proc.stderr.decode()[-1500:]}"
            )
        return proc.stdout


def _now() -> Any:
    from moto.core.utils import utcnow

    return utcnow()
