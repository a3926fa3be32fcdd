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
import stat
import struct
import sys
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

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
    interpreter = [list(sys.flags), sorted(map(str, sys._xoptions.items())), os.environ.get("PYTHONHASHSEED")]
    return [sys.executable, sys.version, list(sys.warnoptions), interpreter, files]


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


def private_dir(directory: str, create: bool = False) -> Optional[str]:
    """Why *directory* is not fit to hold the server's socket (None when it is): it must be a
    directory (not a link) of this user's that no one else may enter, or anyone could listen
    there and be sent a command's environment and terminal. With *create*, a missing one is
    made, mode 0700."""
    if create:
        try:
            os.makedirs(directory, mode=0o700)
        except FileExistsError:
            pass
    try:
        st = os.lstat(directory)
    except OSError as exc:
        return str(exc)
    if not stat.S_ISDIR(st.st_mode):
        return f"{directory} is not a directory"
    if st.st_uid != os.getuid() or st.st_mode & 0o077:
        return (
            f"{directory} is not this user's alone (owner {st.st_uid}, mode {st.st_mode & 0o777:o}); "
            f"the server's socket needs a directory of mode 0700: remove it, or name another "
            f"socket with {SOCKET_VAR}"
        )
    return None


def peer_is_this_user(sock: socket.socket) -> bool:
    """The other end of *sock* runs as this user (where the system says: SO_PEERCRED, Linux;
    elsewhere the directory's mode, ``private_dir``, is the guard)."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return True
    _pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i")))
    return uid == os.getuid()


def connect(path: Optional[str] = None, timeout: Optional[float] = None) -> Optional[socket.socket]:
    """A connection to this user's server at *path*, or None when none answers there (or the
    socket's directory or its listener is not this user's alone: nothing is sent then)."""
    path = path or socket_path()
    if not os.path.exists(path) or private_dir(os.path.dirname(path)) is not None:
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
        if peer_is_this_user(sock):
            return sock
    except OSError:
        pass
    sock.close()
    return None


def send_request(sock: socket.socket, request: Dict[str, Any], fds: Sequence[int] = ()) -> None:
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

    def feed(self, chunk: bytes) -> Iterator[Any]:
        """The lines that *chunk* completes, read without waiting for more (one that is not JSON
        is skipped)."""
        self.buffer += chunk
        while b"\n" in self.buffer:
            line, _, self.buffer = self.buffer.partition(b"\n")
            try:
                yield json.loads(line)
            except ValueError:
                continue


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
    with sock, _Forwarding(sock) as forwarding:
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
            "ignored": forwarding.ignored,
            "stdio": [_stream_settings(f) for f in (sys.stdin, sys.stdout, sys.stderr)],
            "limits": process_limits(),
        }
        try:
            send_request(sock, request, fds)
        except OSError:
            return None  # the server has not got the command: run it here
        lines = Lines(sock)
        first, why = _reply(lines)
        if first is None:
            return _lost(why)
        if "stale" in first or "error" in first:
            why = (
                f"runs other code ({first['stale']})" if "stale" in first else f"refused it: {first['error']}"
            )
            print(
                f"warning: the engine server on {path} {why}; this command runs in its own process. "
                "Restart the server: python -m engine server restart",
                file=sys.stderr,
            )
            if forwarding.pending:  # Ctrl-C while the server answered: the command is not to run
                print("interrupted; nothing was run", file=sys.stderr)
                return 128 + forwarding.pending[0]
            return None
        pid = int(first["pid"])
        forwarding.started(pid)
        while True:
            reply, why = _reply(lines)
            if reply is None:
                return _lost(why, pid)
            if "rc" in reply:
                return int(reply["rc"])


def _reply(lines: Lines) -> Tuple[Optional[Dict[str, Any]], str]:
    """The server's next line, or None and why there is none."""
    try:
        reply = lines.next()
    except OSError as exc:
        return None, str(exc)
    return reply, "the connection closed"


class _Forwarding:
    """While the command runs on the server, this process's SIGINT, SIGTERM and SIGHUP go to it
    (those held until its pid is known); a signal this process ignores (``nohup``, a background
    job's SIGINT) is not passed on, and the command ignores it too."""

    SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.pid: Optional[int] = None
        self.pending: List[int] = []
        self.ignored = [int(s) for s in self.SIGNALS if signal.getsignal(s) is signal.SIG_IGN]
        self.saved: Dict[int, Any] = {}

    def __enter__(self) -> _Forwarding:
        for signum in self.SIGNALS:
            if signum not in self.ignored:
                self.saved[signum] = signal.signal(signum, self._on_signal)
        return self

    def __exit__(self, *exc: Any) -> None:
        for signum, handler in self.saved.items():
            signal.signal(signum, handler)

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self.pid is None:
            self.pending.append(signum)
            return
        self._send(signum)

    def started(self, pid: int) -> None:
        self.pid = pid
        for signum in self.pending:
            self._send(signum)

    def _send(self, signum: int) -> None:
        try:
            send_request(self.sock, {"signal": signum})
        except OSError:
            pass


def _lost(why: str, pid: Optional[int] = None) -> int:
    """The server went away before it reported the exit status: say so (and interrupt the command,
    if it has a pid, rather than leave it running unwatched)."""
    what = "whether it ran and its exit status are unknown"
    if pid is not None:
        what = f"its process ({pid}) was interrupted"
        try:
            os.kill(pid, signal.SIGINT)
        except OSError:
            what = f"its process ({pid}) had ended, with an unknown exit status"
    print(
        f"error: lost the engine server while it ran this command ({why}): {what}; a query's output "
        "is committed whole or not at all (a directory with _SUCCESS is whole). Run it again",
        file=sys.stderr,
    )
    return 1


def _stream_settings(stream: Any) -> List[Any]:
    """How Python opened one of this process's standard streams, for the server's child to open its
    own alike: encoding, errors, line buffering, write-through."""
    return [
        getattr(stream, "encoding", None) or "utf-8",
        getattr(stream, "errors", None) or "strict",
        bool(getattr(stream, "line_buffering", False)),
        bool(getattr(stream, "write_through", False)),
    ]


#: The resource limits a command takes from its client (``ulimit -v``, ``-n``...).
LIMITS = ("RLIMIT_AS", "RLIMIT_DATA", "RLIMIT_NOFILE", "RLIMIT_FSIZE", "RLIMIT_CPU", "RLIMIT_RSS")


def process_limits() -> Dict[str, Any]:
    """This process's resource limits, niceness and CPU affinity: what its command on the server is
    given (``engine.warm_server._take_limits``)."""
    import resource

    limits: Dict[str, Any] = {
        name: list(resource.getrlimit(getattr(resource, name))) for name in LIMITS if hasattr(resource, name)
    }
    out: Dict[str, Any] = {"rlimits": limits}
    if hasattr(os, "getpriority"):
        out["nice"] = os.getpriority(os.PRIO_PROCESS, 0)
    if hasattr(os, "sched_getaffinity"):
        out["affinity"] = sorted(os.sched_getaffinity(0))
    return out


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
