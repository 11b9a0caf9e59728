"""Who acted comes from what the operator cannot change: the process's real uid and, on
PostgreSQL, the role the database authenticated. ``USER``, ``LOGNAME`` and ``SSH_CONNECTION``
are the operator's own environment: forged here, in a real CLI process."""

from __future__ import annotations

import json
import os
import pwd

import pytest

from authcore.actor import os_user, ssh_client
from tests.support.roles import Cluster, run_cli, seed_target

FORGED = {"USER": "ops1", "LOGNAME": "ops1", "SSH_CONNECTION": "10.1.2.3 5555 10.0.0.1 22"}
REAL = pwd.getpwuid(os.getuid()).pw_name


def test_os_user_ignores_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in FORGED.items():
        monkeypatch.setenv(k, v)
    assert os_user() == REAL != "ops1"
    assert ssh_client() == "ssh 10.1.2.3"
    monkeypatch.setenv("SSH_CONNECTION", "\x1b[31mevil\x07 1 2 3")
    assert ssh_client() == "ssh [31mevil"  # controls dropped: it is only claimed text


def _last_event(db: str) -> dict:  # type: ignore[type-arg]
    r = run_cli(["--db", db, "audit", "list", "--limit", "1", "--json"])
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["events"][0]  # type: ignore[no-any-return]


def test_forged_environment_sqlite(tmp_path) -> None:  # type: ignore[no-untyped-def]
    db = f"sqlite:///{tmp_path}/a.db"
    assert run_cli(["--db", db, "demo", "--users", "3"]).returncode == 0
    r = run_cli(
        ["--db", db, "revoke", "1", "--all-tokens", "--reason", "forged env", "--yes"], env_extra=FORGED
    )
    assert r.returncode == 0, r.stderr
    ev = _last_event(db)
    assert ev["actor"] == REAL and ev["client"] == "ssh 10.1.2.3" and ev["db_role"] is None
    assert run_cli(["--db", db, "audit", "verify"]).returncode == 0


def test_forged_environment_postgresql_records_the_database_role(cluster: Cluster, owner) -> None:  # type: ignore[no-untyped-def]
    uid, _sid = seed_target(owner)
    r = run_cli(
        [
            "--db",
            cluster.as_role(cluster.admin),
            "revoke",
            str(uid),
            "--all-tokens",
            "--reason",
            "forged env",
            "--yes",
        ],
        env_extra=FORGED,
    )
    assert r.returncode == 0, r.stderr
    ev = _last_event(cluster.url)
    assert ev["actor"] == REAL and ev["db_role"] == cluster.admin
    assert ev["client"] == "ssh 10.1.2.3"
    assert run_cli(["--db", cluster.url, "audit", "verify"]).returncode == 0
