"""``sessions prune``: expired sessions deleted in batches, each batch audited."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

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
    assert all(e.reason == "expired sessions pruned" and e.details["expired_before"] for e in events)
    assert [s.active() for s in core.sessions.for_user(uid)] == [True]
    assert audit.verify_chain(core.engine).ok


def test_prune_with_nothing_expired_writes_no_event(core: AuthCore) -> None:
    core.sessions.create(core.users.create("live@example.com", "live").id)
    assert core.sessions.prune() == 0
    assert audit.list_events(core.engine, action="sessions_pruned") == []


def test_cli_prune_is_audited_with_the_operator(core: AuthCore, db_url, capsys) -> None:  # type: ignore[no-untyped-def]
    _expired(core, 2)
    assert main(["--db", db_url, "--json", "sessions", "prune", "--reason", "nightly", "--yes"]) == 0
    assert json.loads(capsys.readouterr().out)["pruned"] == 2
    assert main(["--db", db_url, "--json", "audit", "list", "--action", "sessions_pruned"]) == 0
    listed = json.loads(capsys.readouterr().out)
    events = listed["events"] if isinstance(listed, dict) else listed
    assert len(events) == 1 and events[0]["details"]["deleted"] == 2
    assert events[0]["actor"] not in ("", "system") and events[0]["reason"] == "nightly"


def _pruned_events(db_url: str, capsys) -> list:  # type: ignore[no-untyped-def]
    assert main(["--db", db_url, "--json", "audit", "list", "--action", "sessions_pruned"]) == 0
    listed = json.loads(capsys.readouterr().out)
    return listed["events"] if isinstance(listed, dict) else listed


def test_cli_prune_follows_revokes_rules(core: AuthCore, db_url, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Issue 11: prune deleted 934 sessions with no terminal and no --yes, and had no --dry-run
    and no --reason. Now: reason required, --dry-run previews, no terminal needs --yes."""
    import io
    import sys

    _expired(core, 3)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # not a terminal
    code = main(["--db", db_url, "--json", "sessions", "prune"])
    assert code == 2 and "--reason" in capsys.readouterr().err
    code = main(["--db", db_url, "--json", "sessions", "prune", "--reason", "nightly"])
    err = capsys.readouterr().err
    assert code == 1 and "--yes" in json.loads(err)["error"]
    assert main(["--db", db_url, "--json", "sessions", "prune", "--reason", "nightly", "--dry-run"]) == 0
    preview = json.loads(capsys.readouterr().out)
    assert preview["dry_run"] and preview["would_prune"] == 3 and preview["pruned"] == 0
    assert main(["--db", db_url, "sessions", "prune", "--reason", "x", "--dry-run"]) == 0
    assert "would: delete 3 sessions that expired before" in capsys.readouterr().out
    assert _pruned_events(db_url, capsys) == [] and _count_sessions(core) == 4
    code = main(["--db", db_url, "--read-only", "sessions", "prune", "--reason", "x", "--yes"])
    assert code == 4 and "read-only" in capsys.readouterr().err
    code = main(["--db", db_url, "sessions", "prune", "--reason", "bad\x00reason", "--yes"])
    assert code == 1 and "control character" in capsys.readouterr().err
    assert _count_sessions(core) == 4
    assert main(["--db", db_url, "sessions", "prune", "--reason", "ticket 42", "--yes"]) == 0
    assert "pruned 3 expired sessions" in capsys.readouterr().out
    events = _pruned_events(db_url, capsys)
    assert [e["reason"] for e in events] == ["ticket 42"] and _count_sessions(core) == 1


def test_prune_guard_lives_in_authcore(engine, config) -> None:  # type: ignore[no-untyped-def]
    """A read-only or viewer core refuses prune itself; dry runs are allowed."""
    from authcore.errors import ReadOnlyError

    admin = AuthCore(engine, config, actor="a")
    _expired(admin, 2)
    for core in (AuthCore(engine, config, read_only=True), AuthCore(engine, config, role="viewer")):
        assert core.sessions.prune(dry_run=True) == 2
        with pytest.raises(ReadOnlyError):
            core.sessions.prune(reason="x")
    assert admin.sessions.prune(reason="x", dry_run=True) == 2


def _count_sessions(core: AuthCore) -> int:
    from sqlalchemy import func, select

    from authcore.models import sessions

    with core.engine.connect() as c:
        return int(c.execute(select(func.count()).select_from(sessions)).scalar_one())


def test_a_refused_operator_is_not_asked_to_confirm(core: AuthCore, db_url, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Read-only on a terminal: authcore's guard (``require_write``) answers before any
    question, exit 4, nothing deleted; the console has no read-only rule of its own."""
    import io
    import sys

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    _expired(core, 2)
    monkeypatch.setattr(sys, "stdin", Tty("y\n"))
    code = main(["--db", db_url, "--read-only", "sessions", "prune", "--reason", "x"])
    err = capsys.readouterr().err
    assert code == 4 and "read-only" in err and "Proceed?" not in err
    assert _count_sessions(core) == 3
