"""The warm server: SQL commands without the half second of imports, as HiveServer2 is to ``hive``.

    python -m engine server start       # in the background; exits after 15 idle minutes
    python -m engine sql -c 'SELECT ...' --table t=data/t.parquet   # now runs on it
    python -m engine server status | stop | restart
    python -m engine server run         # in the foreground (Ctrl-C stops it)

A cold ``python -m engine sql`` imports sqlglot, mrjob, pyarrow and the engine (~0.5 s) before
it plans a query; a query over the sample data then takes ~0.1 s. The server imports all of that
once (``warm_up``) and then, for each ``hive``/``sql`` command a client hands it
(``engine.warm_client``), forks: the child takes the client's stdin, stdout and stderr (sent as
descriptors over the socket, and opened as the client's streams were), working directory,
environment, umask, ``sys.path``, resource limits, niceness, CPU affinity and ignored signals,
runs ``engine.__main__.main`` on the command line, and exits; the server reports the exit status
to the client. What a fork cannot take from the client: its cgroup (a command runs under the
server's memory and CPU controllers: start the server inside the same limits) and its controlling
terminal (Ctrl-Z stops the client, not the command). So each command still runs in a process of
its own, from a state no earlier command has touched (module caches, logging, a broadcast side:
all as the server left them after its imports), and a crash or ``os._exit`` in one costs only
that command.

Step by step, the loop (one thread: a process with threads must not fork):

1. Wait on the listening socket, a wakeup socket written on SIGCHLD, and each running command's
   client connection (``selectors``), at most until the idle limit.
2. A new connection: check the peer is this user (SO_PEERCRED); read its JSON line and the
   descriptors; answer ``status`` or ``stop``, refuse a ``run`` whose ``fingerprint`` is not the
   server's (edited code, another checkout or interpreter: ``{"stale": why}``, and the client runs
   the command itself), else fork the command and answer ``{"pid": N}``. The server's signals are
   held across the fork, so that its handlers never run in the child; the child closes every
   socket of the server's, its own client's connection among them (so the client's end sees EOF
   when the server goes, not when the command does).
3. SIGCHLD: reap every finished child and send its client ``{"rc": N}`` (128 + N for a signal).
4. A client's line ``{"signal": N}``: pass the signal to its command (Ctrl-C reaches it so). A
   client gone (its connection closed) gets its command interrupted with SIGINT, as Ctrl-C would.
5. ``stop``, SIGTERM or SIGINT: the socket goes at once; the server exits once its running
   commands have ended. With no command running for ``--idle-timeout`` seconds, it exits too.

The socket lives in a directory of this user's alone (mode 0700; ``warm_client.socket_path``); the
server refuses to use a directory anyone else can enter. The server's own log (one line per
command) is ``server.log`` beside the socket.
"""

from __future__ import annotations

import argparse
import array
import atexit
import functools
import gc
import io
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
import traceback
import warnings
from dataclasses import dataclass
from typing import Any, Dict, List, NoReturn, Optional

from engine import warm_client
from engine.warm_client import Lines, send_request

#: Seconds with no command running after which the server exits.
DEFAULT_IDLE_TIMEOUT = 900.0
#: What a command imports before its first task: imported once, by the server.
WARM_MODULES = (
    "engine.__main__",
    "engine.sql.cli",
    "engine.sql.session",
    "engine.sql.job",
    "engine.sql.explain",
    "engine.sql.results",
    "engine.sql.script",
    "engine.sql.vector",
    "engine.sql.vector_text",
    "engine.runner",
    "engine.executor",
    "engine.arrow.output",
    "engine.arrow.pipeline",
    "engine.arrow.boundary",
    "pyarrow.parquet",
    "pyarrow.csv",
    "pyarrow.compute",
    "pyarrow.acero",
    "pyarrow.dataset",
    "numpy.ma",
    "resource",
    "sqlglot.transforms",
    "sqlglot.optimizer",
)
#: Dialects whose lazily built parts are built once, by parsing a statement in each.
WARM_DIALECTS = ("hive", "redshift", "postgres")
#: Descriptors at most in a request (stdin, stdout, stderr).
MAX_FDS = 3
#: Seconds a client has to send its request line (the loop waits on it meanwhile).
REQUEST_TIMEOUT = 5.0
#: Signals a client may pass on to its command.
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
#: Signals held while the server forks: its handlers for them must not run in the child.
CHILD_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD}


def warm_up() -> None:
    """Import what a command needs, in the server, so that its forked children start with it.

    Imports and parsing only: nothing that starts pyarrow's thread pools, which a fork would not
    carry into the child."""
    import importlib

    from engine.__main__ import _distutils_without_setuptools

    _distutils_without_setuptools()  # before mrjob imports distutils, as main() does
    for name in WARM_MODULES:
        importlib.import_module(name)
    import sqlglot

    for dialect in WARM_DIALECTS:
        sqlglot.parse_one(
            "SELECT a, COUNT(*) FROM t WHERE b = 'x' GROUP BY a ORDER BY a LIMIT 1", read=dialect
        )
    # What the imports made lives as long as the server: out of the collector's sight, so that no
    # collection in a command or its workers writes to those pages (each write copies a page the
    # fork shares) nor spends time walking them.
    gc.collect()
    gc.freeze()


@dataclass
class _Running:
    """A forked command and its client's connection (None once the client has gone)."""

    pid: int
    conn: Optional[socket.socket]
    lines: Lines
    started: float
    argv: List[str]


class WarmServer:
    """The loop of the module docstring, on the socket at *path*."""

    def __init__(self, path: str, idle_timeout: float = DEFAULT_IDLE_TIMEOUT) -> None:
        self.path = path
        self.idle_timeout = idle_timeout
        self.fingerprint = json.loads(json.dumps(warm_client.fingerprint()))  # as a client's arrives
        self.pid = os.getpid()  # a handler that finds another pid runs in a child just forked
        self.started = time.time()
        self.served = 0
        self.running: Dict[int, _Running] = {}
        self.stopping = False
        self.selector = selectors.DefaultSelector()
        self.listener: Optional[socket.socket] = None
        self.wake_r: Optional[socket.socket] = None  # written on a signal (bind)
        self.wake_w: Optional[socket.socket] = None

    # -- set-up and tear-down --------------------------------------------------------------
    def bind(self) -> None:
        """Listen on the socket (an existing one that no server answers on is replaced)."""
        why = warm_client.private_dir(os.path.dirname(self.path), create=True)
        if why:
            raise SystemExit(f"error: {why}")
        if os.path.exists(self.path):
            if warm_client.ask("status", self.path) is not None:
                raise SystemExit(
                    f"error: a server already answers on {self.path} (python -m engine server stop)"
                )
            os.unlink(self.path)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(self.path)
        os.chmod(self.path, 0o600)
        listener.listen(64)
        listener.setblocking(False)
        self.listener = listener
        self.selector.register(listener, selectors.EVENT_READ, "listen")
        self.wake_r, self.wake_w = socket.socketpair()
        self.wake_r.setblocking(False)
        self.wake_w.setblocking(False)
        self.selector.register(self.wake_r, selectors.EVENT_READ, "wake")
        signal.set_wakeup_fd(self.wake_w.fileno())
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)  # a handler, so that it wakes the loop
        signal.signal(signal.SIGTERM, self._on_stop_signal)
        signal.signal(signal.SIGINT, self._on_stop_signal)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    def _on_stop_signal(self, signum: int, frame: Any) -> None:
        if os.getpid() == self.pid:  # never in a child (its handlers are reset before signals unblock)
            self.stop()

    def stop(self) -> None:
        """No more commands: the socket goes now, the server once its commands have ended."""
        self.stopping = True
        if self.listener is not None:
            self.selector.unregister(self.listener)
            self.listener.close()
            self.listener = None
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass

    # -- the loop ----------------------------------------------------------------------------
    def serve(self) -> None:
        """Run the loop until stopped or idle (the module docstring, steps 1-5)."""
        idle_since = time.monotonic()
        try:
            while not (self.stopping and not self.running):
                timeout = (
                    None if self.running else max(0.0, idle_since + self.idle_timeout - time.monotonic())
                )
                events = self.selector.select(timeout)
                if not events and not self.running and time.monotonic() - idle_since >= self.idle_timeout:
                    _log(f"idle for {self.idle_timeout:.0f} s: stopping")
                    break
                for key, _ in events:
                    if key.data == "listen" and self.listener is not None:
                        self._accept()
                    elif key.data == "wake" and self.wake_r is not None:
                        _drain(self.wake_r)
                    elif isinstance(key.data, _Running):
                        self._from_client(key.data)
                self._reap()
                if self.running or events:
                    idle_since = time.monotonic()
        finally:
            self.stop()

    def _accept(self) -> None:
        assert self.listener is not None
        try:
            conn, _ = self.listener.accept()
        except BlockingIOError:
            return
        conn.setblocking(True)
        conn.settimeout(REQUEST_TIMEOUT)
        fds: List[int] = []
        try:
            if not warm_client.peer_is_this_user(conn):
                conn.close()
                return
            request, fds = _read_request(conn)
            self._answer(conn, request, fds)
        except Exception as exc:  # a bad request must not stop the server, nor its other commands
            _log(f"a bad request: {type(exc).__name__}: {exc}")
            try:
                send_request(conn, {"error": f"{type(exc).__name__}: {exc}"})
            except OSError:
                pass
            conn.close()
        finally:
            for fd in fds:
                os.close(fd)

    def _answer(self, conn: socket.socket, request: Dict[str, Any], fds: List[int]) -> None:
        op = request.get("op")
        if op == "status":
            send_request(conn, self.status())
            conn.close()
        elif op == "stop":
            self.stop()  # the socket is gone before the answer: a start after it finds none
            send_request(conn, {"stopping": True, "running": len(self.running)})
            conn.close()
        elif op == "run":
            why = _differs(self.fingerprint, request.get("fingerprint"))
            if why:
                send_request(conn, {"stale": why})
                conn.close()
                return
            argv = [str(a) for a in request["argv"]]
            pid = self._fork(conn, request, fds)
            self.served += 1
            running = _Running(pid, conn, Lines(conn), time.monotonic(), argv)
            self.running[pid] = running
            try:
                send_request(conn, {"pid": pid})
            except OSError:  # the client has gone already: so goes its command
                running.conn = None
                conn.close()
                _signal(pid, signal.SIGINT)
                return
            conn.setblocking(False)
            self.selector.register(conn, selectors.EVENT_READ, running)
        else:
            raise ValueError(f"unknown op {op!r}")

    def _fork(self, conn: socket.socket, request: Dict[str, Any], fds: List[int]) -> int:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        # The server's handlers must never run in the child: signals wait, blocked, until the
        # child has its own (a SIGINT sent to it meanwhile is then delivered to those).
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, CHILD_SIGNALS)
        try:
            with warnings.catch_warnings():
                # 3.12+ warns of a fork with threads: numpy's and pyarrow's idle native threads,
                # which the forkserver's workers are forked beside too
                warnings.simplefilter("ignore", DeprecationWarning)
                pid = os.fork()
            if pid == 0:
                others = [r.conn for r in self.running.values() if r.conn is not None]
                close = [self.listener, self.wake_r, self.wake_w, self.selector, conn, *others]
                _child(request, fds, close, blocked)
        finally:  # the child never gets here: _child ends in os._exit
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        return pid

    def _reap(self) -> None:
        while self.running:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            running = self.running.pop(pid, None)
            if running is None:
                continue
            code = os.waitstatus_to_exitcode(status)
            rc = 128 - code if code < 0 else code
            took = time.monotonic() - running.started
            _log(f"pid {pid} rc {rc} in {took:.2f} s: {' '.join(running.argv)[:200]}")
            if running.conn is not None:
                self.selector.unregister(running.conn)
                try:
                    send_request(running.conn, {"rc": rc})
                except OSError:
                    pass
                running.conn.close()

    def _from_client(self, running: _Running) -> None:
        assert running.conn is not None
        try:
            chunk = running.conn.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:  # the client has gone: interrupt its command, as its Ctrl-C would
            self.selector.unregister(running.conn)
            running.conn.close()
            running.conn = None
            _signal(running.pid, signal.SIGINT)
            return
        for message in running.lines.feed(chunk):
            if isinstance(message, dict) and message.get("signal") in FORWARDED:
                _signal(running.pid, message["signal"])

    def status(self) -> Dict[str, Any]:
        """What ``python -m engine server status`` prints."""
        return {
            "pid": os.getpid(),
            "socket": self.path,
            "started": self.started,
            "served": self.served,
            "running": len(self.running),
            "commands": sorted(self.running),
            "python": sys.executable,
        }


def _drain(sock: socket.socket) -> None:
    """Read what the signals wrote to the wakeup socket (the loop reaps on every wake)."""
    try:
        while sock.recv(4096):
            pass
    except BlockingIOError:
        pass


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _read_request(conn: socket.socket) -> tuple[Dict[str, Any], List[int]]:
    """A client's JSON line and the descriptors sent with it."""
    fds = array.array("i")
    data, ancillary, _flags, _addr = conn.recvmsg(1 << 16, socket.CMSG_SPACE(MAX_FDS * fds.itemsize))
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
    received = list(fds)
    try:
        while b"\n" not in data:
            chunk = conn.recv(1 << 16)
            if not chunk:
                raise ValueError("the request ended before its line did")
            data += chunk
        request = json.loads(data.partition(b"\n")[0])
        if not isinstance(request, dict):
            raise ValueError("the request is not a JSON object")
    except BaseException:
        for fd in received:
            os.close(fd)
        raise
    return request, received


def _differs(mine: List[Any], theirs: Any) -> Optional[str]:
    """Why a client's fingerprint is not the server's (both as JSON reads them), in a few words;
    None when it is."""
    if theirs == mine:
        return None
    if not isinstance(theirs, list) or len(theirs) != len(mine):
        return "another engine version"
    names = ("the Python executable differs", "the Python version differs", "the -W options differ",
             "the interpreter flags differ")  # fmt: skip
    for name, a, b in zip(names, mine, theirs):
        if a != b:
            return name
    changed = {tuple(f) for f in theirs[4]} ^ {tuple(f) for f in mine[4]}
    first = sorted(changed)[0][0] if changed else "?"
    return f"{first} changed since the server started"


def _child(request: Dict[str, Any], fds: List[int], close: List[Any], mask: Any) -> NoReturn:
    """In the forked process (signals held, ``mask`` the mask to restore): become the client's
    command, run it, exit with its status."""
    rc = 1
    try:
        try:
            for thing in close:  # the server's sockets and selector, and this command's connection
                if thing is not None:
                    thing.close()
            signal.set_wakeup_fd(-1)
            for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
                signal.signal(signum, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            for signum in request.get("ignored", []):  # as the client had them: nohup, a job's &
                signal.signal(signum, signal.SIG_IGN)
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            _take_client(request, fds)
            warm_client.in_server = True
            import engine.forkserver

            engine.forkserver.fork_forkserver = functools.partial(_fork_forkserver, _thread_count())
            from engine.__main__ import main

            rc = main(list(request["argv"]))
        except SystemExit as exc:
            rc = _exit_code(exc.code)
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            rc = 130
        except BaseException:
            traceback.print_exc()
            rc = 1
        try:
            atexit._run_exitfuncs()  # what a process's exit runs: multiprocessing's, logging's
        finally:
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except (OSError, ValueError):
                    pass
    finally:
        os._exit(rc if isinstance(rc, int) else 1)


def _take_client(request: Dict[str, Any], fds: List[int]) -> None:
    """Take the client's descriptors 0-2, directory, environment, umask, ``sys.path``, limits and
    standard streams."""
    sent = list(request.get("fds", []))
    for target in (0, 1, 2):
        if target in sent:
            os.dup2(fds[sent.index(target)], target)
        else:
            null = os.open(os.devnull, os.O_RDWR)
            os.dup2(null, target)
            os.close(null)
    for fd in fds:
        os.close(fd)
    fds.clear()
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    if hasattr(time, "tzset"):
        time.tzset()
    os.umask(int(request["umask"]))
    sys.path[:] = request["sys_path"]
    sys.argv[:] = request["sys_argv"]
    _take_limits(request.get("limits", {}))
    _std_streams(request["stdio"])
    import tempfile

    tempfile.tempdir = None  # found again from this environment's TMPDIR


def _take_limits(limits: Dict[str, Any]) -> None:
    """The client's resource limits, niceness and CPU affinity (``warm_client.process_limits``), as
    far as this process may take them: a limit above the server's own hard one stays at that."""
    import resource

    for name, (soft, hard) in limits.get("rlimits", {}).items():
        kind = getattr(resource, name, None)
        if kind is None:
            continue
        _, own_hard = resource.getrlimit(kind)
        if own_hard != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or hard > own_hard):
            hard = own_hard
        if hard != resource.RLIM_INFINITY and (soft == resource.RLIM_INFINITY or soft > hard):
            soft = hard
        try:
            resource.setrlimit(kind, (soft, hard))
        except (ValueError, OSError):
            pass
    nice = limits.get("nice")
    if nice is not None and hasattr(os, "setpriority"):
        try:
            os.setpriority(os.PRIO_PROCESS, 0, nice)
        except OSError:  # less nice than the server: not for a user to ask
            pass
    affinity = limits.get("affinity")
    if affinity and hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, affinity)
        except OSError:
            pass


def _thread_count() -> Optional[int]:
    """This process's threads, native ones too (Linux's /proc; None elsewhere)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return None


def _fork_forkserver(threads_at_start: Optional[int]) -> bool:
    """Start multiprocessing's forkserver for this command as a fork of this process: the command's
    workers then fork from a process with the engine imported at once, rather than after a fresh
    interpreter has imported it (~0.45 s; a cold command hides that behind its own imports, a warm
    one has none). It is what ``ForkServer.ensure_running`` does, with ``os.fork()`` for its
    ``spawnv_passfds``; safe while this process has the threads it was forked with (pyarrow's pools,
    which a fork would leave locked, start at its first read of data): False, and the usual start,
    otherwise, or where multiprocessing's forkserver is not the one this was written against."""
    from multiprocessing import connection, forkserver, resource_tracker

    server = getattr(forkserver, "_forkserver", None)
    names = ("_forkserver_pid", "_forkserver_address", "_forkserver_alive_fd", "_lock")
    if sys.version_info >= (3, 14) or server is None or not all(hasattr(server, n) for n in names):
        return False
    with server._lock:
        if server._forkserver_pid is not None:
            return True
        if threads_at_start is None or _thread_count() != threads_at_start:
            return False
        resource_tracker.ensure_running()
        address = connection.arbitrary_address("AF_UNIX")  # type: ignore[attr-defined]
        with socket.socket(socket.AF_UNIX) as listener:
            listener.bind(address)
            os.chmod(address, 0o600)
            listener.listen()
            alive_r, alive_w = os.pipe()  # the forkserver exits when this command's end closes
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: native idle threads
                pid = os.fork()
            if pid == 0:
                try:
                    os.close(alive_w)
                    forkserver.main(listener.fileno(), alive_r, [])
                finally:
                    os._exit(0)
            os.close(alive_r)
        server._forkserver_address = address
        server._forkserver_alive_fd = alive_w
        server._forkserver_pid = pid
    return True


def _std_streams(settings: List[Any]) -> None:
    """sys.stdin/stdout/stderr anew over descriptors 0-2, opened as the client's were (its encoding,
    errors, line buffering and write-through: ``warm_client._stream_settings``), with Python's
    newline handling on POSIX (none)."""
    for fd, (name, (encoding, errors, line_buffering, write_through)) in enumerate(
        zip(("stdin", "stdout", "stderr"), settings)
    ):
        raw = io.FileIO(fd, "r" if fd == 0 else "w", closefd=False)
        buffered: Any = io.BufferedReader(raw) if fd == 0 else io.BufferedWriter(raw)
        stream = io.TextIOWrapper(
            buffered,
            encoding,
            errors,
            newline="\n",
            line_buffering=line_buffering,
            write_through=write_through,
        )
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)  # what code that bypasses a redirection reaches


def _exit_code(code: Any) -> int:
    """sys.exit's argument as an exit status (a message is printed, as Python does)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _log(message: str) -> None:
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}", file=sys.stderr, flush=True)


# -- the command ---------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m engine server",
        description=__doc__.split("\n\n")[0],
        epilog=f"The socket: ${warm_client.SOCKET_VAR}, else {warm_client.socket_path()}. "
        f"{warm_client.SWITCH_VAR}=off runs a command in its own process with a server running.",
    )
    p.add_argument("action", choices=("start", "stop", "status", "restart", "run"))
    p.add_argument(
        "--idle-timeout",
        type=float,
        default=DEFAULT_IDLE_TIMEOUT,
        metavar="SECONDS",
        help=f"exit after this long with no command running (default {DEFAULT_IDLE_TIMEOUT:.0f})",
    )
    return p


def cli(argv: List[str]) -> int:
    """``python -m engine server ACTION``; returns the exit status."""
    args = build_parser().parse_args(argv)
    path = warm_client.socket_path()
    if args.action == "run":
        warm_up()
        server = WarmServer(path, args.idle_timeout)
        server.bind()
        _log(f"pid {os.getpid()} serving on {path}")
        server.serve()
        return 0
    if args.action == "status":
        status = warm_client.ask("status", path)
        if status is None:
            print(f"no engine server answers on {path}", file=sys.stderr)
            return 1
        print(json.dumps(status, indent=1))
        return 0
    if args.action in ("stop", "restart"):
        stopped = warm_client.ask("stop", path)
        if stopped is None and args.action == "stop":
            print(f"no engine server answers on {path}", file=sys.stderr)
            return 1
        if stopped is not None:
            print(f"stopped the engine server on {path}", file=sys.stderr)
        if args.action == "stop":
            return 0
    return _start(path, args.idle_timeout)


def _start(path: str, idle_timeout: float) -> int:
    """Start ``server run`` in the background (its own session, its output to ``server.log``) and
    wait until it answers."""
    if warm_client.ask("status", path) is not None:
        print(f"an engine server already answers on {path}", file=sys.stderr)
        return 0
    directory = os.path.dirname(path)
    why = warm_client.private_dir(directory, create=True)
    if why:
        print(f"error: {why}", file=sys.stderr)
        return 1
    log_path = os.path.join(directory, "server.log")
    command = [sys.executable, "-m", "engine", "server", "run", "--idle-timeout", str(idle_timeout)]
    log_fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with open(os.devnull, "rb") as null, open(log_fd, "ab") as log:
        proc = subprocess.Popen(command, stdin=null, stdout=log, stderr=log, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            print(
                f"error: the engine server exited at start (status {proc.returncode}); see {log_path}",
                file=sys.stderr,
            )
            return 1
        if warm_client.ask("status", path) is not None:
            print(
                f"engine server started (pid {proc.pid}) on {path}: python -m engine sql/hive now run on it; "
                f"it stops after {idle_timeout:.0f} idle seconds, or: python -m engine server stop",
                file=sys.stderr,
            )
            return 0
        time.sleep(0.05)
    proc.terminate()
    print(f"error: the engine server did not answer within 30 s; see {log_path}", file=sys.stderr)
    return 1
