"""``engine.warm_client``: where the server is looked for, and what makes a server's code not this one's."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from engine import warm_client
from engine.warm_server import WarmServer, _differs


def test_the_socket_is_named_by_the_environment_else_in_a_private_directory(monkeypatch, tmp_path):
    monkeypatch.setenv(warm_client.SOCKET_VAR, "rel/s.sock")
    assert warm_client.socket_path() == os.path.abspath("rel/s.sock")
    monkeypatch.delenv(warm_client.SOCKET_VAR)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert warm_client.socket_path() == str(tmp_path / "mr-engine" / "server.sock")
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert warm_client.socket_path() == f"/tmp/mr-engine-{os.getuid()}/server.sock"


def test_no_server_means_the_command_runs_here(monkeypatch, tmp_path):
    monkeypatch.setenv(warm_client.SOCKET_VAR, str(tmp_path / "none.sock"))
    assert warm_client.run_on_server(["sql", "-c", "SELECT 1"]) is None
    (tmp_path / "none.sock").write_text("")  # a stale file no server listens on
    assert warm_client.run_on_server(["sql", "-c", "SELECT 1"]) is None


def test_an_edited_module_changes_the_fingerprint_and_is_named(tmp_path):
    package = tmp_path / "engine"
    (package / "sql").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    module = package / "sql" / "job.py"
    module.write_text("x = 1\n")
    before = warm_client.fingerprint(str(package))
    assert warm_client.fingerprint(str(package)) == before
    module.write_text("x = 2\n")
    os.utime(module, ns=(time.time_ns(), time.time_ns() + 10**9))
    after = warm_client.fingerprint(str(package))
    assert after != before
    assert _differs(before, after) == f"{module} changed since the server started"
    assert _differs(before, [before[0], "3.0", *before[2:]]) == "the Python version differs"


def test_the_server_will_not_listen_in_a_directory_others_can_enter(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    with pytest.raises(SystemExit, match="is not this user's alone"):
        WarmServer(str(Path(shared) / "server.sock")).bind()
