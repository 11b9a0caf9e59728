"""PostgreSQL roles and the attention list: a viewer (the database role, not the config) reads
every signal, and the command a finding suggests is refused by the database for it, nothing
changed; an admin's runs. Real roles of the run's own (``tests/support/roles.py``)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from authcore.core import AuthCore
from authcore.timeutil import utcnow
from tests.support.attention import add_reuse, add_session
from tests.support.roles import Cluster, run_cli

pytestmark = pytest.mark.pg


def test_viewer_reads_it_and_its_suggestion_is_refused_by_the_database(
    cluster: Cluster,
    owner: AuthCore,
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    from authcore.actor import os_user

    gone = owner.users.create("gone@example.com", "gone")
    thief = owner.users.create("thief@example.com", "thief")
    owner.admin.set_disabled(gone.id, True, "left")
    add_session(owner, gone.id, utcnow() - timedelta(minutes=5))
    add_reuse(owner, thief.id, utcnow() - timedelta(hours=1))
    lying = f'[operators]\n"{os_user()}" = "admin"\n'  # the database decides, not the config
    viewer = cluster.as_role(cluster.viewer)
    r = run_cli(["--db", viewer, "attention", "--json"], config=lying, tmp=str(tmp_path))
    assert r.returncode == 0, r.stderr
    found = {(f["signal"], f["user_id"]): f["command"] for f in json.loads(r.stdout)["findings"]}
    assert set(found) == {("disabled_sessions", gone.id), ("refresh_reuse", thief.id)}
    suggested = found[("disabled_sessions", gone.id)].split()[1:]  # "authconsole revoke N --sessions"
    r = run_cli(["--db", viewer, *suggested, "--reason", "x", "--yes"], config=lying, tmp=str(tmp_path))
    assert r.returncode == 4 and "permission denied" in r.stderr, r.stderr  # Exit.REFUSED
    assert len(owner.sessions.for_user(gone.id)) == 1
    admin = cluster.as_role(cluster.admin)
    r = run_cli(["--db", admin, *suggested, "--reason", "x", "--yes"], config=lying, tmp=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert owner.sessions.for_user(gone.id) == []
