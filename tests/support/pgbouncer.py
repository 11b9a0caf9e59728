"""PgBouncer for the tests: Debian's ``pgbouncer`` binary, started from a temporary directory with an
ini of its own (transaction pooling, ``127.0.0.1`` on a free port), stopped by its PID.

Never the system service: no ``/etc/pgbouncer`` file is read or changed. Run as root (CI), the
process drops to the ``postgres`` user (PgBouncer refuses to run as root). Each database is
offered twice: ``<name>`` with ``pool_size`` server connections shared by every client, and
``<name>_one`` with a single one (deterministic sharing for the tests that show what leaks).
No ``ignore_startup_parameters``: a client sending startup ``options`` is refused, as by a
default PgBouncer, so the tests catch one.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

BINARY_CANDIDATES = ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer")


def pgbouncer_binary() -> str | None:
    for path in (shutil.which("pgbouncer"), *BINARY_CANDIDATES):
        if path and os.access(path, os.X_OK):
            return path
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Bouncer:
    port: int
    pid: int
    dir: Path
    user: str  # the PostgreSQL user clients log in as

    def url(self, database: str, *, pooled: bool = True) -> str:
        """A SQLAlchemy URL to ``database`` through this PgBouncer."""
        tail = "?pooled=true" if pooled else ""
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}{tail}"

    def libpq(self, database: str) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def log(self) -> str:
        try:
            return (self.dir / "pgbouncer.log").read_text(errors="replace")
        except OSError:
            return ""


@contextlib.contextmanager
def run_pgbouncer(target_url: str, databases: list[str], *, pool_size: int = 2) -> Iterator[Bouncer]:
    """A PgBouncer in transaction mode in front of ``target_url``'s server, offering
    ``databases`` (see the module docstring). Skips, with the reason, without the binary."""
    binary = pgbouncer_binary()
    if binary is None:
        pytest.skip("PgBouncer tests skipped: no pgbouncer binary (apt-get install pgbouncer)")
    target = make_url(target_url)
    user = target.username or "postgres"
    host, pg_port = target.host or "127.0.0.1", target.port or 5432
    workdir = Path(tempfile.mkdtemp(prefix="authcore-pgbouncer-"))
    port = free_port()
    lines = ["[databases]"]
    for db in databases:
        lines.append(f"{db} = host={host} port={pg_port} dbname={db}")
        lines.append(f"{db}_one = host={host} port={pg_port} dbname={db} pool_size=1")
    lines += [
        "[pgbouncer]",
        "listen_addr = 127.0.0.1",
        f"listen_port = {port}",
        "unix_socket_dir =",
        f"logfile = {workdir / 'pgbouncer.log'}",
        f"pidfile = {workdir / 'pgbouncer.pid'}",
        "auth_type = trust",
        f"auth_file = {workdir / 'userlist.txt'}",
        f"admin_users = {user}",
        "pool_mode = transaction",
        f"default_pool_size = {pool_size}",
        "max_client_conn = 500",
        "server_login_retry = 1",
        "query_wait_timeout = 15",  # a client waiting this long for a server connection fails
    ]
    if os.geteuid() == 0:  # PgBouncer will not run as root: it switches to this user
        lines.append("user = postgres")
    (workdir / "pgbouncer.ini").write_text("\n".join(lines) + "\n")
    (workdir / "userlist.txt").write_text(f'"{user}" ""\n')
    if os.geteuid() == 0:
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(workdir, ignore_errors=True)
            pytest.skip("PgBouncer tests skipped: run as root, and no postgres user to run it as")
        for p in (workdir, *workdir.iterdir()):
            os.chown(p, pw.pw_uid, pw.pw_gid)
    proc = subprocess.Popen(
        [binary, str(workdir / "pgbouncer.ini")],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    bouncer = Bouncer(port, proc.pid, workdir, user)
    try:
        deadline = time.monotonic() + 10
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"pgbouncer exited ({proc.returncode}):\n{bouncer.log()[-2000:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"pgbouncer did not listen within 10 s:\n{bouncer.log()[-2000:]}")
            time.sleep(0.05)
        yield bouncer
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)  # immediate shutdown: closes every connection
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(5)
        shutil.rmtree(workdir, ignore_errors=True)
