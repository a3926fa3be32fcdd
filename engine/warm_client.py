"""The client side of the warm server (``engine.warm_server``): hand a ``hive``/``sql`` command to it.

A cold ``python -m engine sql`` spends ~0.5 s importing sqlglot, mrjob and pyarrow before its first
task; a server started with ``python -m engine server start`` has them imported already. When one
answers on ``socket_path()``, ``python -m engine sql|hive ...`` sends it the command line, the
working directory, the environment and its own stdin, stdout and stderr (the descriptors
themselves, over the Unix socket), and waits for the exit status: the server forks a process that
runs the command as this one would have, writing straight to this process's terminal or pipes.
Ctrl-C (and SIGTERM, SIGHUP) here is passed on to that process; if this process dies, the server
interrupts it.

This module is imported on every ``hive``/``sql`` command, so it imports only the standard
library's light modules. A command runs here instead, with nothing said, when no server answers
or ``ENGINE_SERVER=off``; with a warning, when the server runs other code (``fingerprint``) or
another interpreter.

The wire: the client sends one JSON line (``op``: ``run``, ``status`` or ``stop``) with its
descriptors attached (SCM_RIGHTS); the server answers in JSON lines: ``{"pid": N}`` then
``{"rc": N}`` for a run, ``{"stale": WHY}`` for a run it will not take; the client's only other
lines are ``{"signal": N}``.
"""

from __future__ import annotations

import array
import json
import os
import signal
import socket
import sys
from typing import Any, Dict, List, Optional

#: The environment variable naming the server's socket (default: ``socket_path()``'s).
SOCKET_VAR = "ENGINE_SERVER_SOCKET"
#: ``ENGINE_SERVER=off`` runs every command in its own process, server or not.
SWITCH_VAR = "ENGINE_SERVER"
#: The packages whose files decide, beside the engine's, whether a server runs this code.
PACKAGES = ("sqlglot", "pyarrow", "mrjob", "numpy")
#: Set in the server's forked process: a command running there never hands itself on again.
in_server = False


def socket_path() -> str:
    """Where the server listens: ``$ENGINE_SERVER_SOCKET``, else ``server.sock`` in a directory of
    this user's alone (``$XDG_RUNTIME_DIR/mr-engine`` or ``/tmp/mr-engine-UID``)."""
    given = os.environ.get(SOCKET_VAR)
    if given:
        return os.path.abspath(given)
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = os.path.join(runtime, "mr-engine") if runtime else f"/tmp/mr-engine-{os.getuid()}"
    return os.path.join(base, "server.sock")


def fingerprint(root: Optional[str] = None) -> List[Any]:
    """What must be the same in the client and the server for the server's run to be this process's:
    the interpreter and its flags, and the path, size and modification time of every module of the
    engine (under *root*, the package's directory by default) and of the packages it imports
    (``PACKAGES``' top files): an edited, reinstalled or other checkout gives another fingerprint."""
    if root is None:
        import engine

        root = os.path.dirname(os.path.abspath(engine.__file__))
    files: List[Any] = []
    stack = [root]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False) and entry.name != "__pycache__":
                    stack.append(entry.path)
                elif entry.name.endswith(".py"):
                    st = entry.stat()
                    files.append((entry.path, st.st_size, st.st_mtime_ns))
    for name in PACKAGES:
        top = _package_file(name)
        if top is not None:
            st = os.stat(top)
            files.append((top, st.st_size, st.st_mtime_ns))
    files.sort()
    return [sys.executable, sys.version, list(sys.warnoptions), list(sys.flags), files]


def _package_file(name: str) -> Optional[str]:
    """The ``__init__.py`` of a top-level package on ``sys.path``, found without importing it."""
    for entry in sys.path:
        candidate = os.path.join(entry or ".", name, "__init__.py")
        if os.path.isfile(candidate):
            return os.path.abspath(candidate)
    return None


def _open_std_fds() -> List[int]:
    """The ones of stdin, stdout and stderr that are open (a closed one cannot be sent)."""
    fds = []
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            continue
        fds.append(fd)
    return fds


def connect(path: Optional[str] = None, timeout: Optional[float] = None) -> Optional[socket.socket]:
    """A connection to the server, or None when none answers at *path*."""
    path = path or socket_path()
    if not os.path.exists(path):
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        return None
    return sock


def send_request(sock: socket.socket, request: Dict[str, Any], fds: List[int] = []) -> None:  # noqa: B006
    """One JSON line, with *fds* attached."""
    data = (json.dumps(request) + "\n").encode()
    if fds:
        sent = sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])
        data = data[sent:]
    if data:
        sock.sendall(data)


class Lines:
    """The JSON lines read from a connection, one at a time (None at its end)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def next(self) -> Optional[Dict[str, Any]]:
        while b"\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return json.loads(line)


def ask(op: str, path: Optional[str] = None) -> Optional[Dict[str, Any]]:
    """The server's one-line answer to *op* (``status``, ``stop``), or None when none answers."""
    sock = connect(path, timeout=10)
    if sock is None:
        return None
    with sock:
        send_request(sock, {"op": op})
        try:
            return Lines(sock).next()
        except OSError:
            return None


def run_on_server(argv: List[str]) -> Optional[int]:
    """Run ``python -m engine ARGV`` on the warm server: its exit status, or None when it is to run
    in this process (no server, ``ENGINE_SERVER=off``, a server of other code)."""
    if in_server or os.environ.get(SWITCH_VAR, "").lower() in ("off", "0", "no", "false"):
        return None
    path = socket_path()
    sock = connect(path)
    if sock is None:
        return None
    with sock:
        fds = _open_std_fds()
        request = {
            "op": "run",
            "fingerprint": fingerprint(),
            "argv": argv,
            "sys_argv": sys.argv,
            "sys_path": sys.path,
            "cwd": os.getcwd(),
            "env": dict(os.environ),
            "umask": _umask(),
            "fds": fds,
        }
        lines = Lines(sock)
        try:
            send_request(sock, request, fds)
            first = lines.next()
        except OSError:
            return None  # the server went away before it took the command: run it here
        if first is None:
            return None
        if "stale" in first:
            print(
                f"warning: the engine server on {path} runs other code ({first['stale']}); this command "
                "runs in its own process. Restart the server: python -m engine server restart",
                file=sys.stderr,
            )
            return None
        return _wait(sock, lines)


def _wait(sock: socket.socket, lines: Lines) -> int:
    """The exit status the server reports, passing this process's signals on meanwhile."""

    def forward(signum: int, frame: Any) -> None:
        try:
            send_request(sock, {"signal": signum})
        except OSError:
            pass

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, forward)
    while True:
        try:
            reply = lines.next()
        except OSError as exc:
            reply = None
            why = str(exc)
        else:
            why = "the connection closed"
        if reply is None:
            print(
                f"error: lost the engine server while it ran this command ({why}), so its exit status "
                "is unknown; a query's output is committed whole or not at all (a directory with "
                "_SUCCESS is whole). Run it again",
                file=sys.stderr,
            )
            return 1
        if "rc" in reply:
            return int(reply["rc"])


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
