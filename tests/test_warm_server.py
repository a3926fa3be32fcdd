"""``python -m engine server``: SQL commands run on a warm server give a cold process's answers.

One real server per module, on a socket in a directory of its own (started with ``server start``,
stopped by the module's last step); every command is a real ``python -m engine sql|hive``
process handing itself to it. DuckDB gives the expected rows.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engine import warm_client
from tests.harness import wait_for

ROOT = Path(__file__).resolve().parents[1]
SALES = Path("data") / "sample" / "tickit" / "parquet" / "sales.parquet"  # relative: the client's cwd counts
COUNT_SALES = (
    "sql",
    "-c",
    "SELECT count(*) FROM sales",
    "--table",
    f"sales={SALES}",
    "--format",
    "tsv",
    "-q",
)
SALES_ROWS = f"{pq.ParquetFile(ROOT / SALES).metadata.num_rows}\n"


def _engine(env: dict, *args: str, **kwargs) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "engine", *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, **kwargs)


def _status(env: dict) -> dict | None:
    done = _engine(env, "server", "status")
    return json.loads(done.stdout) if done.returncode == 0 else None


@contextlib.contextmanager
def _client_env() -> Iterator[dict]:
    """The environment of a client whose server's socket is in a short private path of its own
    (a socket's path has at most ~107 bytes); afterwards a server still answering there is
    stopped and the path removed."""
    base = tempfile.mkdtemp(prefix="ws-", dir="/tmp")
    env = {**os.environ, "ENGINE_SERVER_SOCKET": os.path.join(base, "s", "server.sock")}
    env.pop("ENGINE_SERVER", None)
    try:
        yield env
    finally:
        if os.path.exists(env["ENGINE_SERVER_SOCKET"]):
            _engine(env, "server", "stop")
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def server() -> Iterator[dict]:
    """The environment of a client of a running server."""
    with _client_env() as env:
        started = _engine(env, "server", "start", "--idle-timeout", "300")
        assert started.returncode == 0, started.stderr
        pid = _status(env)["pid"]
        try:
            yield env
        finally:
            _engine(env, "server", "stop")
            try:
                wait_for(lambda: not _alive(pid), 30, "the server to exit")
            finally:
                if _alive(pid):
                    os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    """*pid* runs (a zombie, exited but not yet reaped by whoever adopted it, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _log(env: dict) -> str:
    return (Path(env["ENGINE_SERVER_SOCKET"]).parent / "server.log").read_text()


def _served(env: dict) -> int:
    status = _status(env)
    assert status is not None
    return status["served"]


def test_a_query_on_the_server_gives_duckdbs_rows_from_the_clients_directory(server):
    sql = "SELECT buyerid, sum(qtysold) AS q FROM sales GROUP BY buyerid ORDER BY q DESC, buyerid LIMIT 5"
    before = _served(server)
    done = _engine(server, "sql", "-c", sql, "--table", f"sales={SALES}", "--format", "tsv", "-q")
    assert done.returncode == 0, done.stderr
    assert _served(server) == before + 1  # it ran there, not in the client
    want = duckdb.sql(sql.replace("FROM sales", f"FROM read_parquet('{ROOT / SALES}')")).fetchall()
    assert done.stdout == "".join(f"{b}\t{q}\n" for b, q in want)


def test_a_bad_query_fails_on_the_server_as_in_its_own_process(server):
    sql = "SELECT nosuchcolumn FROM sales"
    args = ("sql", "-c", sql, "--table", f"sales={SALES}", "--format", "tsv")
    before = _served(server)
    warm = _engine(server, *args)
    assert _served(server) == before + 1
    cold = _engine({**server, "ENGINE_SERVER": "off"}, *args)
    assert warm.returncode == cold.returncode == 1
    assert warm.stderr == cold.stderr and "nosuchcolumn" in warm.stderr
    assert warm.stdout == cold.stdout == ""


def test_each_command_starts_afresh_a_table_written_again_is_read_again(server, tmp_path):
    table = tmp_path / "t.parquet"
    before = _served(server)
    for rows in ([1, 2, 3], [10, 20]):  # the second command must not see the first's table
        pq.write_table(pa.table({"x": rows}), table)
        done = _engine(
            server, "sql", "-c", "SELECT sum(x) FROM t", "--table", f"t={table}", "--format", "tsv"
        )
        assert (done.returncode, done.stdout) == (0, f"{sum(rows)}\n"), done.stderr
    assert _served(server) == before + 2


def test_hive_reads_its_script_from_the_clients_stdin(server, tmp_path):
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "part-0").write_text("1\n2\n39\n")
    script = f"CREATE TABLE t (a INT) LOCATION '{tmp_path / 't'}';\nSELECT sum(a) FROM t;\n"
    before = _served(server)
    done = _engine(server, "hive", "-f", "/dev/stdin", "-q", input=script)
    assert (done.returncode, done.stdout) == (0, "42\n"), done.stderr
    assert _served(server) == before + 1


def _waiting_client(env: dict, **kwargs) -> subprocess.Popen:
    """A client whose command, on the server, waits for its script on the client's stdin."""
    command = [sys.executable, "-m", "engine", "sql", "-f", "/dev/stdin", "--table", f"sales={SALES}"]
    proc = subprocess.Popen(
        [*command, "--format", "tsv"],
        cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        **kwargs,
    )  # fmt: skip
    wait_for(lambda: (_status(env) or {}).get("running") == 1, 60, "the command to run on the server", proc)
    return proc


def test_ctrl_c_in_the_client_interrupts_its_command_on_the_server(server):
    proc = _waiting_client(server)
    proc.send_signal(signal.SIGINT)
    # stdin stays open until the command has gone: its end would let the command finish
    wait_for(lambda: _status(server)["running"] == 0, 60, "the interrupted command to end")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in err, err


def test_a_client_gone_gets_its_command_stopped(server):
    proc = _waiting_client(server)
    pid = _status(server)["commands"][0]
    proc.kill()  # its stdin stays open (this test holds it): only the server can end the command
    proc.wait(timeout=60)
    wait_for(lambda: _status(server)["running"] == 0, 60, "the server to stop the orphaned command")
    assert f"pid {pid} rc 130 " in _log(server)
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        pipe.close()


def test_a_signal_the_client_ignores_is_not_passed_on_as_under_nohup(server):
    def ignore_hup() -> None:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    proc = _waiting_client(server, preexec_fn=ignore_hup)
    proc.send_signal(signal.SIGHUP)  # the terminal closed; the command goes on
    out, err = proc.communicate(COUNT_SALES[2] + ";\n", timeout=60)
    assert (proc.returncode, out) == (0, SALES_ROWS), err


def test_a_socket_in_a_directory_others_may_enter_is_never_sent_a_command(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o755)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with listener:
        listener.bind(str(shared / "server.sock"))
        listener.listen(1)
        listener.setblocking(False)
        monkeypatch.setenv("ENGINE_SERVER_SOCKET", str(shared / "server.sock"))
        monkeypatch.delenv("ENGINE_SERVER", raising=False)
        assert warm_client.run_on_server(["sql", "-c", "SELECT 1"]) is None
        with pytest.raises(BlockingIOError):
            listener.accept()  # no one connected


def test_a_server_of_other_flags_is_passed_by_with_a_warning(tmp_path):
    with _client_env() as env:
        started = _engine({**env, "PYTHONWARNINGS": "default"}, "server", "start", "--idle-timeout", "60")
        assert started.returncode == 0, started.stderr
        done = _engine(env, *COUNT_SALES)
        assert (done.returncode, done.stdout) == (0, SALES_ROWS), done.stderr
        assert "runs other code (the -W options differ)" in done.stderr
        assert _served(env) == 0
        stopped = _engine(env, "server", "stop")
    assert stopped.returncode == 0, stopped.stderr


def test_after_stop_commands_run_in_their_own_process(tmp_path):
    with _client_env() as env:
        assert _engine(env, "server", "start", "--idle-timeout", "60").returncode == 0
        assert _engine(env, "server", "stop").returncode == 0
        assert not os.path.exists(env["ENGINE_SERVER_SOCKET"])
        done = _engine(env, *COUNT_SALES)
        assert (done.returncode, done.stdout, done.stderr) == (0, SALES_ROWS, "")
        assert _engine(env, "server", "status").returncode == 1


def test_a_server_killed_mid_command_leaves_no_command_running_unwatched():
    with _client_env() as env:
        assert _engine(env, "server", "start", "--idle-timeout", "60").returncode == 0
        proc = _waiting_client(env)
        status = _status(env)
        os.kill(status["pid"], signal.SIGKILL)
        assert proc.wait(timeout=60) == 1  # stdin still open: the command could not have ended by itself
        assert "lost the engine server" in proc.stderr.read()
        command = status["commands"][0]
        wait_for(lambda: not _alive(command), 60, "the orphaned command to be interrupted")
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            pipe.close()


def test_a_query_on_workers_forked_from_the_commands_own_forkserver_gives_duckdbs_rows(server):
    sql = "SELECT eventid, count(*), sum(pricepaid) FROM sales GROUP BY eventid ORDER BY eventid"
    before = _served(server)
    done = _engine(
        server, "sql", "-c", sql, "--table", f"sales={SALES}", "--format", "tsv", "-q",
        "--executor", "processes", "--num-cores", "2", "--no-vectorize",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert _served(server) == before + 1
    want = duckdb.sql(sql.replace("FROM sales", f"FROM read_parquet('{ROOT / SALES}')")).fetchall()
    assert done.stdout == "".join(f"{e}\t{n}\t{p:.2f}\n" for e, n, p in want)


FORKED_FORKSERVER = """
import multiprocessing, time
from multiprocessing import forkserver
from engine.warm_server import _fork_forkserver, _thread_count
assert _fork_forkserver(_thread_count() + 1) is False  # a thread started since: not by a fork
assert forkserver._forkserver._forkserver_pid is None
assert _fork_forkserver(_thread_count()) is True
pid = forkserver._forkserver._forkserver_pid
assert pid is not None and _fork_forkserver(_thread_count()) is True
worker = multiprocessing.get_context("forkserver").Process(target=time.sleep, args=(0,))
worker.start()
worker.join(60)
assert worker.exitcode == 0 and forkserver._forkserver._forkserver_pid == pid
print("ok")
"""


def test_the_forkserver_is_forked_only_while_no_thread_has_started_and_serves_workers():
    done = subprocess.run(
        [sys.executable, "-c", FORKED_FORKSERVER], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert (done.returncode, done.stdout) == (0, "ok\n"), done.stderr
