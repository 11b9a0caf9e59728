"""A streaming replica for the read-routing tests: our own primary (initdb in a temp dir,
``wal_level=replica``, a ``pg_hba`` replication line) and a hot standby made from it with
``pg_basebackup -R``, each on a free port, run as ``postgres`` (never the shared server on 5432).
Both are stopped by the PID in their ``postmaster.pid``.

``replica_pair`` is the module-scoped fixture; ``ReplicaPair.db`` is an authcore database (made on
the primary, replicated to the standby): ``primary_url`` / ``standby_url`` name it on each.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from authcore import migrate
from authcore.db import make_engine
from bench.faultkit import PG_BIN, free_port, unavailable_reason

DB = "replica_test"


class Server:
    """One PostgreSQL server directory on its own port."""

    def __init__(self, root: Path, name: str) -> None:
        self.root = root
        self.data = root / name
        self.port = free_port()
        self.log = root / f"{name}.log"

    def url(self, db: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        opts = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c wal_level=replica -c max_wal_senders=5 -c hot_standby=on -c max_connections=60"
        )
        as_postgres(
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
            self.root,
            timeout=90,
        )

    def pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def running(self) -> bool:
        pid = self.pid()
        return pid is not None and Path(f"/proc/{pid}").exists()

    def pids(self) -> list[int]:
        """The postmaster, then its children (backends, walreceiver, startup process)."""
        root = self.pid()
        if root is None:
            return []
        out = [root]
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = Path(f"/proc/{entry}/stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == root:
                    out.append(int(entry))
        return out

    def freeze(self) -> list[int]:
        """SIGSTOP the postmaster (no new backends), then every child: a silent server."""
        frozen = []
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
                frozen.append(pid)
        return frozen

    @staticmethod
    def thaw(frozen: list[int]) -> None:
        for pid in reversed(frozen):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    def stop(self, sig: int = signal.SIGINT, timeout: float = 30) -> None:
        """Stop by PID (SIGINT: fast shutdown) and wait for the postmaster to go."""
        pid = self.pid()
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)  # a frozen one must be able to act on the signal
            os.kill(pid, sig)
        t0 = time.monotonic()
        while Path(f"/proc/{pid}").exists() and time.monotonic() - t0 < timeout:
            time.sleep(0.05)
        if Path(f"/proc/{pid}").exists():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def as_postgres(cmd: list[str], cwd: Path, timeout: float = 60) -> None:
    subprocess.run(
        ["runuser", "-u", "postgres", "--", *cmd],
        check=True,
        timeout=timeout,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=cwd,
    )


class ReplicaPair:
    """Primary + hot standby, and the authcore database ``DB`` on both."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="authcore-replica-"))
        pw = pwd.getpwnam("postgres")
        os.chown(self.root, pw.pw_uid, pw.pw_gid)
        self.primary = Server(self.root, "primary")
        self.standby = Server(self.root, "standby")
        as_postgres(
            [
                str(PG_BIN / "initdb"),
                "-D",
                str(self.primary.data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            ],
            self.root,
            timeout=120,
        )
        with (self.primary.data / "pg_hba.conf").open("a") as f:
            f.write("host replication postgres 127.0.0.1/32 trust\n")
        self.primary.start()
        admin = make_engine(self.primary.url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{DB}"'))
        admin.dispose()
        eng = make_engine(self.primary_url)
        migrate.upgrade(eng)
        eng.dispose()
        as_postgres(
            [
                str(PG_BIN / "pg_basebackup"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.primary.port),
                "-U",
                "postgres",
                "-D",
                str(self.standby.data),
                "-R",
                "-X",
                "stream",
                "--checkpoint=fast",  # the default spreads the checkpoint over minutes
                "--no-sync",
            ],
            self.root,
            timeout=120,
        )
        self.standby.start()
        self.wait_caught_up()

    @property
    def primary_url(self) -> str:
        return self.primary.url(DB)

    @property
    def standby_url(self) -> str:
        return self.standby.url(DB)

    def _scalar(self, url: str, sql: str) -> object:
        eng = make_engine(url, isolation_level="AUTOCOMMIT")
        try:
            with eng.connect() as conn:
                return conn.exec_driver_sql(sql).scalar()
        finally:
            eng.dispose()

    def wait_caught_up(self, timeout: float = 30) -> None:
        """Until the standby has replayed everything the primary wrote so far."""
        target = self._scalar(self.primary.url(), "SELECT pg_current_wal_lsn()::text")
        t0 = time.monotonic()
        while True:
            done = self._scalar(
                self.standby.url(),
                f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn",
            )
            if done:
                return
            assert time.monotonic() - t0 < timeout, "standby did not catch up"
            time.sleep(0.05)

    def pause_replay(self, timeout: float = 10) -> None:
        """``pg_wal_replay_pause()`` on the standby; returns once replay is paused."""
        self._scalar(self.standby.url(), "SELECT pg_wal_replay_pause()")
        t0 = time.monotonic()
        while self._scalar(self.standby.url(), "SELECT pg_get_wal_replay_pause_state()") != "paused":
            # replay notices the request between records: give it one to notice
            self._scalar(self.primary.url(), "SELECT txid_current()")
            assert time.monotonic() - t0 < timeout, "replay did not pause"
            time.sleep(0.05)

    def resume_replay(self) -> None:
        if self.standby.running():
            self._scalar(self.standby.url(), "SELECT pg_wal_replay_resume()")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.resume_replay()
        self.standby.stop()
        self.primary.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def replica_pair() -> Iterator[ReplicaPair]:
    reason = unavailable_reason()
    if reason:
        pytest.skip(f"replica tests need their own PostgreSQL pair: {reason}")
    pair = ReplicaPair()
    try:
        yield pair
    finally:
        pair.close()
