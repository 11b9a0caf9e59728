"""Fault injection on a PostgreSQL of our own: never the shared server on 5432.

``OwnPostgres`` runs a private cluster from the installed binaries (``initdb`` into a temp dir
owned by ``postgres``, ``pg_ctl`` on a free port, Unix socket in that dir), and can freeze it
(SIGSTOP to the postmaster and every backend, by PID), thaw it, kill it (``pg_ctl stop -m
immediate``) and start it again. ``Proxy`` is a TCP forwarder on 127.0.0.1 under our control:
it can stop forwarding while keeping every connection open (a silent peer: bytes are accepted
and dropped), cut every connection, or cut them when the client sends a given byte pattern.

Used by ``tests/test_faults.py`` and ``python -m bench.faults``.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import selectors
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Self

PG_BIN = Path(os.environ.get("AUTHCORE_PG_BIN", "/usr/lib/postgresql/15/bin"))
SHARED_PORT = 5432


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def unavailable_reason() -> str | None:
    """Why an own server cannot run here (None when it can)."""
    if not (PG_BIN / "initdb").exists():
        return f"no PostgreSQL binaries in {PG_BIN}"
    if os.geteuid() != 0:
        return "own PostgreSQL needs root (runuser -u postgres)"
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "no postgres OS user"
    if shutil.which("runuser") is None:
        return "no runuser"
    return None


#: Settings of a throwaway server: nothing it writes needs to survive a crash of the machine.
FAST = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
#: A primary a standby can be made from with pg_basebackup (which needs full-page writes).
PRIMARY = {"fsync": "off", "wal_level": "replica", "max_wal_senders": "5", "hot_standby": "on"}


class OwnPostgres:
    """A throwaway PostgreSQL cluster on a free port (trust auth, fsync off), run as
    ``postgres`` from the installed binaries and stopped by its own PID or data directory.

    ``root``: the directory to keep it in, beside others (a replica pair; the caller removes
    it), else a temp dir of its own, removed by ``close``. ``create=False``: the data directory
    is filled by the caller (``pg_basebackup`` for a standby) before ``start``. ``settings``
    replace ``FAST`` (``PRIMARY`` for a server a standby streams from)."""

    def __init__(
        self,
        max_connections: int = 60,
        *,
        root: Path | None = None,
        name: str = "data",
        settings: dict[str, str] | None = None,
        create: bool = True,
        start: bool = True,
    ) -> None:
        self.max_connections = max_connections
        reason = unavailable_reason()
        if reason:
            raise RuntimeError(reason)
        self._own_dir = root is None
        self.dir = Path(tempfile.mkdtemp(prefix="authcore-faults-")) if root is None else root
        self.data = self.dir / name
        self.log = self.dir / f"{name}.log"
        self.settings = dict(FAST if settings is None else settings)
        self.port = free_port()
        assert self.port != SHARED_PORT
        pw = pwd.getpwnam("postgres")
        os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self.frozen: list[int] = []
        if create:
            self.as_postgres(
                [
                    str(PG_BIN / "initdb"),
                    "-D",
                    str(self.data),
                    "-A",
                    "trust",
                    "-U",
                    "postgres",
                    "--no-sync",
                    "-E",
                    "UTF8",
                ],
                timeout=120,
            )
        if create and start:
            self.start()

    def as_postgres(self, cmd: list[str], timeout: float = 60) -> None:
        """Run ``cmd`` as the ``postgres`` OS user in this server's directory."""
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *cmd],
            check=True,
            timeout=timeout,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=self.dir,
        )

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def db_url(self, name: str, port: int | None = None) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{port or self.port}/{name}"

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 " + " ".join(
            f"-c {k}={v}" for k, v in {**self.settings, "max_connections": str(self.max_connections)}.items()
        )
        self.as_postgres(
            [
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(self.data),
                "-o",
                opts,
                "-l",
                str(self.log),
                "-w",
                "-t",
                "60",
                "start",
            ],
            timeout=90,
        )

    def pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def pids(self) -> list[int]:
        """The postmaster, then its children (backends, auxiliary processes, walreceiver)."""
        root = self.pid()
        if root is None:
            return []
        out = [root]
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == root:
                out.append(int(entry))
        return out

    def freeze(self) -> list[int]:
        """SIGSTOP the postmaster first (no new backends), then every child: a server that
        accepts bytes and never answers. ``thaw`` undoes it."""
        for p in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGSTOP)
                self.frozen.append(p)
        return list(self.frozen)

    def thaw(self) -> None:
        for p in reversed(self.frozen):
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGCONT)
        self.frozen = []

    def kill(self, mode: str = "immediate") -> None:
        """Stop now. ``immediate``: every process quits at once (a crash: clients see their
        connections drop); ``fast``: backends are terminated (SIGTERM), each telling its client
        "terminating connection due to administrator command" before it goes."""
        self.thaw()
        self.as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"])

    def stop(self, timeout: float = 30) -> None:
        """Stop by PID (SIGINT: a fast shutdown), SIGKILL if it has not gone in ``timeout`` s."""
        pid = self.pid()
        if pid is None:
            return
        self.thaw()
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGINT)
        t0 = time.monotonic()
        while Path(f"/proc/{pid}").exists() and time.monotonic() - t0 < timeout:
            time.sleep(0.05)
        if Path(f"/proc/{pid}").exists():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def running(self) -> bool:
        pid = self.pid()
        return pid is not None and Path(f"/proc/{pid}").exists()

    def close(self) -> None:
        self.thaw()
        if self.running():
            with contextlib.suppress(Exception):
                self.kill()
        if self.running():
            self.stop()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Proxy:
    """A TCP forwarder ``127.0.0.1:port`` -> ``127.0.0.1:target`` on one thread.

    ``silence()``: keep every connection (and accept new ones) but forward nothing: what the
    client sends is read and dropped, nothing comes back -- a peer that went silent.
    ``resume()`` forwards again (new connections only get an upstream while forwarding).
    ``cut()`` closes every connection. ``cut_on(pattern, action)``: when client bytes contain
    ``pattern``, drop them and call ``action`` (e.g. kill the server); what the server then
    sends (its dying words, its close) still reaches the client.
    """

    def __init__(self, target: int) -> None:
        self.target = target
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.lsock.setblocking(False)
        self.port = int(self.lsock.getsockname()[1])
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.lsock, selectors.EVENT_READ, None)
        self.peer: dict[socket.socket, socket.socket | None] = {}
        self.silent = False
        self._cut = False
        self._trigger: tuple[bytes, Callable[[], None]] | None = None
        self.triggered = threading.Event()
        self._stop = False
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._loop, name="faults-proxy", daemon=True)
        self.thread.start()

    def silence(self) -> None:
        self.silent = True

    def resume(self) -> None:
        self.silent = False

    def cut(self) -> None:
        self._cut = True

    def cut_on(self, pattern: bytes, action: Callable[[], None]) -> None:
        self.triggered.clear()
        self._trigger = (pattern, action)

    def _close(self, s: socket.socket) -> None:
        other = self.peer.pop(s, None)
        for x in (s, other):
            if x is None:
                continue
            with contextlib.suppress(Exception):
                self.sel.unregister(x)
            with contextlib.suppress(Exception):
                x.close()
            self.peer.pop(x, None)

    def _loop(self) -> None:
        while not self._stop:
            if self._cut:
                for s in list(self.peer):
                    self._close(s)
                self._cut = False
            for key, _ in self.sel.select(0.05):
                s = key.fileobj
                if s is self.lsock:
                    with contextlib.suppress(BlockingIOError):
                        c, _a = self.lsock.accept()
                        up = None
                        if not self.silent:
                            try:
                                up = socket.create_connection(("127.0.0.1", self.target), 5)
                            except OSError:
                                c.close()
                                continue
                            self.peer[up] = c
                            self.sel.register(up, selectors.EVENT_READ, "up")
                        self.peer[c] = up
                        self.sel.register(c, selectors.EVENT_READ, "client")
                    continue
                assert isinstance(s, socket.socket)
                try:
                    data = s.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    self._close(s)
                    continue
                if self.silent:
                    continue  # accepted and dropped: nothing ever comes back
                trig = self._trigger
                if trig is not None and key.data == "client" and trig[0] in data:
                    # The chunk is held back (never reaches the server); the action runs
                    # (e.g. kills the server); what the server says as it dies still flows
                    # back to the client, then its close.
                    self._trigger = None
                    trig[1]()
                    self.triggered.set()
                    continue
                other = self.peer.get(s)
                if other is None:
                    continue
                try:
                    other.sendall(data)
                except OSError:
                    self._close(s)

    def close(self) -> None:
        self._stop = True
        self.thread.join(5)
        for s in list(self.peer):
            self._close(s)
        with contextlib.suppress(Exception):
            self.sel.unregister(self.lsock)
        self.lsock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def create_database(own: OwnPostgres, name: str) -> str:
    """A migrated authcore database on the own server; its URL (direct)."""
    from sqlalchemy import text

    from authcore import migrate
    from authcore.db import make_engine

    admin = make_engine(own.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = own.db_url(name)
    eng = make_engine(url)
    migrate.upgrade(eng)
    eng.dispose()
    return url


@contextlib.contextmanager
def timed() -> Iterator[Callable[[], float]]:
    t0 = time.monotonic()
    yield lambda: time.monotonic() - t0
