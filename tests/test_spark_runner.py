"""``-r spark``: mrjob's Spark runner on a real local pyspark gives ``-r inline``'s output.

Each run is one ``spark-submit`` (one JVM, one SparkContext, ``local[2]``) started by
mrjob with ``jobs/spark-local.mrjob.conf``: Spark bound to 127.0.0.1, UI off,
``mapreduce.map.input.file`` emulated. The test points every temp dir (mrjob's, Spark's
``spark.local.dir``, the JVM's ``java.io.tmpdir``, the Python workers' ``$TMPDIR``) and the
working directory at its own empty folders and checks that nothing is left in them and
that no Spark process it started survives.

Needs Java (8/11/17) for pyspark 3.5; about 15 s per Spark run on two cores.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jobs.tickit_top_buyers import MRTickitTopBuyers
from jobs.wordcount import MRWordCount
from tests.harness import run_inline

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
SPARK_CONF = REPO / "jobs" / "spark-local.mrjob.conf"
SAMPLE = REPO / "data" / "sample"
#: command lines of what a Spark run starts: the JVM, the Python driver, pyspark's worker daemon
SPARK_MARKERS = ("org.apache.spark.deploy.SparkSubmit", "mrjob/spark/harness.py", "pyspark.daemon")


def _spark_processes(tag: Path) -> dict[int, str]:
    """pid -> command line of the running Spark-related processes that mention *tag* (this
    test's temp dir) in their command line or environment: the ones this test started."""
    found = {}
    needle = str(tag).encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ")
            if not any(m.encode() in cmd for m in SPARK_MARKERS):
                continue
            if needle not in cmd:
                with open(f"/proc/{entry}/environ", "rb") as f:
                    if needle not in f.read():
                        continue
        except OSError:  # gone, or not ours to read
            continue
        found[int(entry)] = cmd.decode(errors="replace")
    return found


def _listen_addresses(pids) -> set[str]:
    """The local addresses of the TCP sockets in LISTEN state that *pids* hold open."""
    inodes = set()
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
        except OSError:  # gone, or not ours to read
            continue
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = [line.split() for line in f.readlines()[1:]]
        except OSError:
            continue
        for row in rows:
            if row[3] != "0A" or row[9] not in inodes:  # 0A: LISTEN
                continue
            hexaddr, port = row[1].split(":")
            raw = bytes.fromhex(hexaddr)
            # the kernel prints each 32-bit word in host (little-endian) order
            raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            addr = ipaddress.ip_address(raw)
            if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
                addr = addr.ipv4_mapped
            found.add(f"{addr}:{int(port, 16)}")
    return found


@pytest.fixture
def spark_env(tmp_path, monkeypatch):
    """Empty temp and working dirs for one Spark run; after it, both must be empty again
    and no Spark process started meanwhile may be alive."""
    tmp = tmp_path / "tmp"
    cwd = tmp_path / "cwd"
    tmp.mkdir()
    cwd.mkdir()
    monkeypatch.chdir(cwd)  # spark-warehouse, derby.log, metastore_db would land here
    monkeypatch.setenv("TMPDIR", str(tmp))  # inherited by spark-submit and the Python workers
    yield tmp
    deadline = time.monotonic() + 10  # the JVM has exited; give its children a moment
    while True:
        left = _spark_processes(tmp)
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert not left, f"Spark processes outlived the run: {left}"
    assert sorted(os.listdir(tmp)) == [], "left behind in the temp dir"
    assert sorted(os.listdir(cwd)) == [], "left behind in the working dir"


def spark_args(tmp: Path) -> list[str]:
    """The config file, plus every temp location moved under *tmp*."""
    return [
        "-r",
        "spark",
        "--conf-path",
        str(SPARK_CONF),
        "--python-bin",
        sys.executable,  # this interpreter (the conf says .venv/bin/python)
        # equal, so mrjob's cleanup of its local tmp dir removes the Spark runner's too
        "--local-tmp-dir",
        str(tmp),
        "--spark-tmp-dir",
        str(tmp),
        "--jobconf",
        f"spark.local.dir={tmp}",
        # the JVM's own temp files too; no hsperfdata file in /tmp; and, for these tiny
        # inputs, the quick JIT only (about a third less CPU per run on two cores)
        "--jobconf",
        f"spark.driver.extraJavaOptions=-Djava.io.tmpdir={tmp} -XX:-UsePerfData"
        " -XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
        "--jobconf",
        f"spark.sql.warehouse.dir={tmp / 'spark-warehouse'}",
    ]


def test_spark_conf_binds_loopback_only():
    """The settings the README promises are in the config file the tests use."""
    from mrjob.conf import load_opts_from_mrjob_conf

    [(_, opts)] = load_opts_from_mrjob_conf("spark", str(SPARK_CONF))
    assert opts["spark_master"] == "local[2]"
    assert opts["cmdenv"]["SPARK_LOCAL_IP"] == "127.0.0.1"
    assert opts["jobconf"]["spark.driver.host"] == "127.0.0.1"
    assert opts["jobconf"]["spark.driver.bindAddress"] == "127.0.0.1"
    assert opts["jobconf"]["spark.ui.enabled"] == "false"
    assert opts["emulate_map_input_file"] is True
    assert opts["local_tmp_dir"] == opts["spark_tmp_dir"]


def test_wordcount_command_line(spark_env):
    """``python jobs/wordcount.py -r spark --conf-path jobs/spark-local.mrjob.conf INPUT``."""
    words = str(SAMPLE / "words.txt")
    cmd = [sys.executable, str(REPO / "jobs" / "wordcount.py"), *spark_args(spark_env), words]
    listening: set[str] = set()
    with open(spark_env.parent / "stdout", "w+b") as out, open(spark_env.parent / "stderr", "w+b") as err:
        # its own session: on a hang, the whole tree it started (spark-submit's JVM,
        # the Python driver and workers) is killed at once
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, start_new_session=True)
        deadline = time.monotonic() + 300
        try:
            # while it runs: every TCP port the JVM, the Python driver and workers listen on
            while proc.poll() is None and time.monotonic() < deadline:
                listening |= _listen_addresses(_spark_processes(spark_env))
                time.sleep(0.5)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        out.seek(0)
        err.seek(0)
        stdout, log = out.read(), err.read().decode(errors="replace")
    assert proc.returncode == 0, log[-4000:]
    assert listening, "saw no listening socket: the loopback check would prove nothing"
    assert all(a.startswith("127.0.0.1:") for a in listening), listening
    assert "BlockManagerId(driver, 127.0.0.1," in log  # the address the driver advertises
    assert "SparkUI" not in log  # spark.ui.enabled=false: no web UI started
    expected = run_inline(MRWordCount, [words])
    assert expected.lines, "the reference output is empty: the test would prove nothing"
    # several partitions (reducers) on Spark, one on inline: the same lines, in another order
    assert sorted(stdout.splitlines()) == expected.sorted_lines


def test_top_buyers_two_steps_with_input_file(spark_env):
    """Two streaming steps (a reduce-side join by input file name, then top-k) in one
    Spark job, through the runner API as tests/harness.py runs the other runners."""
    inputs = [str(SAMPLE / "tickit" / "sales_tab.txt"), str(SAMPLE / "tickit" / "allusers_pipe.txt")]
    args = ["--k", "5", *inputs]
    job = MRTickitTopBuyers(args=[*spark_args(spark_env), *args])
    with job.make_runner() as runner:
        assert type(runner).__name__ == "SparkMRJobRunner"
        runner.run()
        got = b"".join(runner.cat_output())
        counters = runner.counters()
    expected = run_inline(MRTickitTopBuyers, args)
    assert len(expected.lines) == 5
    assert got.splitlines() == expected.lines  # one key in step 2: the order is the job's
    assert len(counters) == 2  # one (empty) counter dict per step
