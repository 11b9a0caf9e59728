"""Two operators over real ``ssh -tt`` (openssh-server from Debian, an sshd of this test's own on
127.0.0.1, a free high port, key auth only): two throwaway Linux users, each connecting with
their own PostgreSQL login role (viewer / admin). The viewer is refused by the database even
with a forged environment; the admin's revoke is audited under the OS account and the database
role, with the SSH address as claimed context; a seal catches a consistently rewritten chain.

Needs root (to add the users and run sshd), /usr/sbin/sshd (``.ci/run`` installs it) and the
system Python 3.11 (the users run the checkout with it: the test interpreter may live where they
cannot read). Everything started is stopped by PID; the users are removed."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sysconfig
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from authcore import audit
from authcore.core import AuthCore
from authcore.models import audit_events
from tests.conftest import ROOT
from tests.support.audit import rewrite_event
from tests.support.roles import Cluster, seed_target

SSHD, PY = "/usr/sbin/sshd", "/usr/bin/python3.11"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Bastion:
    def __init__(self, folder: Path) -> None:
        self.dir = folder
        self.tag = uuid.uuid4().hex[:6]
        self.users = {"viewer": f"aw{self.tag}v", "admin": f"aw{self.tag}a"}
        self.port = _free_port()
        self.key = folder / "client_key"
        self.pid: int | None = None

    def start(self) -> None:
        for name in ("host_key", "client_key"):
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.dir / name)],
                check=True,
                timeout=30,
            )
        for user in self.users.values():
            home = self.dir / user
            subprocess.run(
                ["useradd", "-M", "-d", str(home), "-s", "/bin/sh", "-p", "*", user], check=True, timeout=30
            )
            (home / ".ssh").mkdir(parents=True)
            shutil.copy(self.dir / "client_key.pub", home / ".ssh" / "authorized_keys")
            for p in (home, home / ".ssh", home / ".ssh" / "authorized_keys"):
                shutil.chown(p, user, user)
            home.chmod(0o700)
            (home / ".ssh").chmod(0o700)
        cfg = self.dir / "sshd_config"
        cfg.write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\n"
            f"HostKey {self.dir / 'host_key'}\nPidFile {self.dir / 'sshd.pid'}\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            "PubkeyAuthentication yes\nUsePAM no\nStrictModes yes\n"
            f"AllowUsers {' '.join(self.users.values())}\n"
        )
        self.dir.chmod(0o755)
        Path("/run/sshd").mkdir(exist_ok=True)
        subprocess.run([SSHD, "-f", str(cfg), "-E", str(self.dir / "sshd.log")], check=True, timeout=30)
        for _ in range(50):
            pidfile = self.dir / "sshd.pid"
            if pidfile.exists() and pidfile.read_text().strip():
                self.pid = int(pidfile.read_text())
                return
            time.sleep(0.1)
        raise RuntimeError("sshd did not start")

    def ssh(self, kind: str, command: str) -> tuple[int, str]:
        """``ssh -tt`` as the viewer or admin user; output as the terminal showed it."""
        r = subprocess.run(
            [
                "ssh",
                "-tt",
                "-p",
                str(self.port),
                "-i",
                str(self.key),
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                f"UserKnownHostsFile={self.dir / 'known_hosts'}",
                "-o",
                "BatchMode=yes",
                f"{self.users[kind]}@127.0.0.1",
                command,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        return r.returncode, (r.stdout + r.stderr).replace("\r", "")

    def stop(self) -> None:
        if self.pid is not None:
            os.kill(self.pid, signal.SIGTERM)
        for user in self.users.values():
            subprocess.run(["userdel", user], capture_output=True, timeout=30)


@pytest.fixture
def bastion() -> Iterator[Bastion]:
    if os.geteuid() != 0 or not Path(SSHD).exists() or not Path(PY).exists():
        pytest.skip("needs root, openssh-server (/usr/sbin/sshd) and /usr/bin/python3.11")
    with tempfile.TemporaryDirectory(prefix="authwalk-") as d:
        b = Bastion(Path(d))
        try:
            b.start()
            yield b
        finally:
            b.stop()


def _console(db: str, args: str, env: str = "") -> str:
    """The command line a user runs: the checkout, with the test's packages, under the system
    Python; a config dir of their own (in their home)."""
    site = sysconfig.get_paths()["purelib"]
    return f"{env} XDG_CONFIG_HOME=$HOME/.config PYTHONPATH={ROOT}:{site} {PY} -m console --db '{db}' {args}"


def test_two_operators_over_real_ssh(
    bastion: Bastion,
    cluster: Cluster,
    owner: AuthCore,
) -> None:
    uid, _sid = seed_target(owner)
    viewer_db, admin_db = cluster.as_role(cluster.viewer), cluster.as_role(cluster.admin)
    forged = (
        f"USER={bastion.users['admin']} LOGNAME={bastion.users['admin']} "
        "SSH_CONNECTION='10.9.9.9 1 10.0.0.1 22'"
    )
    before = audit.verify_chain(owner.engine).head_seq
    # the viewer, claiming to be the admin: the database refuses
    code, out = bastion.ssh(
        "viewer", _console(viewer_db, f"revoke {uid} --all-tokens --reason 'walk: viewer' --yes", forged)
    )
    assert code != 0 and "permission denied" in out, out
    assert audit.verify_chain(owner.engine).head_seq == before
    # the admin: done, audited under the OS account and the database role
    code, out = bastion.ssh(
        "admin",
        _console(
            admin_db, f"revoke {uid} --all-tokens --reason 'walk: admin' --yes", "USER=root LOGNAME=root"
        ),
    )
    assert code == 0 and "done:" in out, out
    with owner.engine.connect() as c:
        ev = c.execute(select(audit_events).order_by(audit_events.c.seq.desc()).limit(1)).one()
    assert ev.actor == bastion.users["admin"] and ev.db_role == cluster.admin, ev
    assert ev.client == "ssh 127.0.0.1" and ev.reason == "walk: admin"
    # the admin seals the head with a key in their home; a consistent rewrite is caught
    code, out = bastion.ssh(
        "admin",
        " && ".join(
            (
                _console(admin_db, "audit seal-key --out $HOME/seal.key"),
                _console(admin_db, "audit seal --key $HOME/seal.key --out $HOME/seals.jsonl"),
            )
        ),
    )
    assert code == 0 and "sealed head" in out, out
    rewrite_event(owner, 1, "nothing happened")
    code, out = bastion.ssh("admin", _console(admin_db, "audit verify"))
    assert code == 0 and "intact" in out, out
    code, out = bastion.ssh(
        "admin", _console(admin_db, "audit verify --seals $HOME/seals.jsonl --pubkey $HOME/seal.key.pub")
    )
    assert code == 1 and "SEAL CHECK FAILED" in out and "not in the chain" in out, out
