"""``sessions prune``: expired sessions deleted in batches, each batch audited."""

from __future__ import annotations

import json
from datetime import timedelta

from authcore import audit
from authcore.core import AuthCore
from console.cli import main


def _expired(core: AuthCore, n: int) -> int:
    u = core.users.create("prune@example.com", "prune")
    for _ in range(n):
        core.sessions.create(u.id, ttl=timedelta(microseconds=1))
    core.sessions.create(u.id)  # live: kept
    return u.id


def test_prune_audits_each_batch(core: AuthCore) -> None:
    uid = _expired(core, 3)
    assert core.sessions.prune(batch=2, actor="ops:alice") == 3
    events = audit.list_events(core.engine, action="sessions_pruned")
    assert [e.details["deleted"] for e in events] == [1, 2]  # newest first
    assert {e.actor for e in events} == {"ops:alice"}
    assert all(e.reason == "expired sessions pruned" and e.details["expired_before"]
               for e in events)
    assert [s.active() for s in core.sessions.for_user(uid)] == [True]
    assert audit.verify_chain(core.engine).ok


def test_prune_with_nothing_expired_writes_no_event(core: AuthCore) -> None:
    core.sessions.create(core.users.create("live@example.com", "live").id)
    assert core.sessions.prune() == 0
    assert audit.list_events(core.engine, action="sessions_pruned") == []


def test_cli_prune_is_audited_with_the_operator(core: AuthCore, db_url, capsys) -> None:  # type: ignore[no-untyped-def]
    _expired(core, 2)
    assert main(["--db", db_url, "--json", "sessions", "prune", "--reason", "nightly",
                 "--yes"]) == 0
    assert json.loads(capsys.readouterr().out)["pruned"] == 2
    assert main(["--db", db_url, "--json", "audit", "list", "--action", "sessions_pruned"]) == 0
    listed = json.loads(capsys.readouterr().out)
    events = listed["events"] if isinstance(listed, dict) else listed
    assert len(events) == 1 and events[0]["details"]["deleted"] == 2
    assert events[0]["actor"] not in ("", "system") and events[0]["reason"] == "nightly"

