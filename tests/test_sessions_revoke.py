"""Sessions and revocation: audit in the same transaction, previews, read-only, concurrency."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from authcore import audit
from authcore.core import AuthCore
from authcore.errors import NotFound, PermissionDenied, ReadOnlyError, ValidationError
from authcore.models import audit_events, sessions, users
from authcore.sessions import token_digest
from tests.conftest import bypass_audit_trigger


def _count(core: AuthCore, table) -> int:  # type: ignore[no-untyped-def]
    with core.engine.connect() as c:
        return c.execute(select(func.count()).select_from(table)).scalar_one()


def test_session_lifecycle_stores_digest_only(core: AuthCore) -> None:
    u = core.users.create("s@example.com", "s")
    rec, raw = core.sessions.create(u.id, ip="198.51.100.7", user_agent="UA/1")
    got = core.sessions.resolve(raw)
    assert got is not None and got.user_id == u.id and got.session.public_id == rec.public_id
    with core.engine.connect() as c:
        stored = c.execute(select(sessions.c.token_hash)).scalar_one()
    assert stored == token_digest(raw) and raw not in stored
    assert core.sessions.touch(rec.public_id, ip="198.51.100.8")
    assert core.sessions.get(rec.public_id).last_ip == "198.51.100.8"
    assert core.sessions.logout(raw) and core.sessions.resolve(raw) is None
    assert core.sessions.resolve("not-a-token") is None


def test_expired_session_not_resolved_and_pruned(core: AuthCore) -> None:
    u = core.users.create("p@example.com", "p")
    _, raw = core.sessions.create(u.id, ttl=timedelta(microseconds=1))
    _, keep = core.sessions.create(u.id)
    assert core.sessions.resolve(raw) is None
    assert core.sessions.prune(batch=1) == 1
    assert core.sessions.resolve(keep) is not None and _count(core, sessions) == 1


def test_revocations_audit_with_actor_and_reason(core: AuthCore) -> None:
    u = core.users.create("a@example.com", "a")
    s1, _ = core.sessions.create(u.id)
    core.sessions.create(u.id)
    core.sessions.create(u.id)
    r = core.admin.delete_session(s1.public_id, "lost phone")
    assert r.sessions_remaining == 2
    r = core.admin.revoke_tokens(u.id, "rotate")
    assert r.new_version == 1 and r.sessions_remaining == 2
    assert "token_version 0 -> 1, 2 sessions stay" in r.summary()
    r = core.admin.delete_sessions(u.id, "all out")
    assert r.sessions_deleted == 2 and _count(core, sessions) == 0
    ev = audit.list_events(core.engine, user_id=u.id)
    assert [e.action for e in ev] == ["delete_sessions", "revoke_tokens", "delete_session"]
    assert {e.actor for e in ev} == {"test-operator"}
    assert ev[2].target_session == s1.public_id and ev[2].reason == "lost phone"
    assert audit.verify_chain(core.engine).ok


def test_dry_run_changes_nothing(core: AuthCore) -> None:
    u = core.users.create("d@example.com", "d")
    s, _ = core.sessions.create(u.id)
    plan = core.admin.revoke_tokens(u.id, "why", dry_run=True)
    assert plan.dry_run and plan.new_version == 1
    core.admin.delete_sessions(u.id, "why", dry_run=True)
    core.admin.delete_session(s.public_id, "why", dry_run=True)
    core.admin.set_disabled(u.id, True, "why", dry_run=True)
    assert core.users.get(u.id).token_version == 0 and not core.users.get(u.id).disabled
    assert _count(core, sessions) == 1 and _count(core, audit_events) == 0


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_reason_required(core: AuthCore, reason) -> None:  # type: ignore[no-untyped-def]
    u = core.users.create("r@example.com", "r")
    with pytest.raises(ValidationError, match="reason"):
        core.admin.revoke_tokens(u.id, reason)
    assert core.users.get(u.id).token_version == 0


def test_unknown_targets(core: AuthCore) -> None:
    with pytest.raises(NotFound):
        core.admin.revoke_tokens(9999, "x")
    with pytest.raises(NotFound):
        core.admin.delete_session("ses_nope", "x")
    assert _count(core, audit_events) == 0


def test_read_only_refuses_every_mutation(engine, config) -> None:  # type: ignore[no-untyped-def]
    rw = AuthCore(engine, config, actor="op")
    u = rw.users.create("ro@example.com", "ro")
    s, _ = rw.sessions.create(u.id)
    ro = AuthCore(engine, config, read_only=True, actor="op")
    for call in (
        lambda: ro.admin.revoke_tokens(u.id, "x"),
        lambda: ro.admin.delete_session(s.public_id, "x"),
        lambda: ro.admin.delete_sessions(u.id, "x"),
        lambda: ro.admin.set_disabled(u.id, True, "x"),
        lambda: ro.admin.revoke_tokens_many([u.id], "x"),
    ):
        with pytest.raises(ReadOnlyError):
            call()
    assert rw.users.get(u.id).token_version == 0 and _count(rw, audit_events) == 0
    viewer = AuthCore(engine, config, actor="v", role="viewer")
    assert viewer.read_only
    with pytest.raises(ReadOnlyError):
        viewer.admin.revoke_tokens(u.id, "x")


def test_bulk_needs_admin_and_is_one_transaction(core: AuthCore, engine, config) -> None:  # type: ignore[no-untyped-def]
    ids = [core.users.create(f"b{i}@example.com", f"b{i}").id for i in range(5)]
    op = AuthCore(engine, config, actor="op", role="operator")
    with pytest.raises(PermissionDenied):
        op.admin.revoke_tokens_many(ids, "x")
    res = core.admin.revoke_tokens_many(ids, "breach", summary={"query": "b"})
    assert [r.new_version for r in res] == [1] * 5
    ev = audit.list_events(core.engine)
    assert ev[0].action == "bulk_revoke_tokens" and ev[0].details["users"] == 5
    assert sum(e.action == "revoke_tokens" for e in ev) == 5


def test_failure_between_change_and_audit_leaves_neither(core: AuthCore, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    u = core.users.create("f@example.com", "f")
    s, raw = core.sessions.create(u.id)

    def boom(*a, **k):  # type: ignore[no-untyped-def]
        raise RuntimeError("injected failure")

    monkeypatch.setattr(audit, "append", boom)
    for call in (
        lambda: core.admin.revoke_tokens(u.id, "x"),
        lambda: core.admin.delete_session(s.public_id, "x"),
        lambda: core.admin.delete_sessions(u.id, "x"),
        lambda: core.admin.set_disabled(u.id, True, "x"),
    ):
        with pytest.raises(RuntimeError, match="injected"):
            call()
    monkeypatch.undo()
    got = core.users.get(u.id)
    assert got.token_version == 0 and not got.disabled
    assert core.sessions.resolve(raw) is not None and _count(core, audit_events) == 0


def test_audit_chain_detects_tampering(core: AuthCore) -> None:
    u = core.users.create("t@example.com", "t")
    for i in range(5):
        core.admin.revoke_tokens(u.id, f"r{i}")
    assert audit.verify_chain(core.engine).ok
    with core.engine.begin() as c:
        bypass_audit_trigger(c)
        c.execute(text("UPDATE audit_events SET reason = 'edited' WHERE seq = 3"))
    rep = audit.verify_chain(core.engine)
    assert not rep.ok and rep.first_bad_seq == 3 and "altered" in rep.problem


def test_audit_chain_detects_delete_and_tail_truncation(core: AuthCore) -> None:
    u = core.users.create("t2@example.com", "t2")
    for i in range(5):
        core.admin.revoke_tokens(u.id, f"r{i}")
    with core.engine.begin() as c:
        bypass_audit_trigger(c)
        c.execute(text("DELETE FROM audit_events WHERE seq = 5"))
    rep = audit.verify_chain(core.engine)
    assert not rep.ok and "anchor" in rep.problem
    with core.engine.begin() as c:
        bypass_audit_trigger(c)
        c.execute(text("DELETE FROM audit_events WHERE seq = 2"))
    rep = audit.verify_chain(core.engine)
    assert not rep.ok and rep.first_bad_seq == 3 and "missing" in rep.problem


def test_audit_chain_detects_reorder(core: AuthCore) -> None:
    u = core.users.create("t3@example.com", "t3")
    for i in range(4):
        core.admin.revoke_tokens(u.id, f"r{i}")
    with core.engine.begin() as c:  # swap the contents of seq 2 and 3 (ids keep their order)
        bypass_audit_trigger(c)
        c.execute(text("UPDATE audit_events SET seq = -2 WHERE seq = 2"))
        c.execute(text("UPDATE audit_events SET seq = 2 WHERE seq = 3"))
        c.execute(text("UPDATE audit_events SET seq = 3 WHERE seq = -2"))
    rep = audit.verify_chain(core.engine)
    assert not rep.ok and rep.first_bad_seq == 2


def test_user_lookup_and_uniqueness(core: AuthCore) -> None:
    u = core.users.create("Mixed@Example.com", "MixedCase", "Mixed")
    assert core.users.find("mixed@example.com").id == u.id
    assert core.users.find("mixedcase").id == u.id
    assert core.users.find(str(u.id)).id == u.id
    with pytest.raises(ValidationError):
        core.users.create("MIXED@example.com", "other")
    with pytest.raises(ValidationError):
        core.users.create("x@example.com", "MIXEDCASE")
    with pytest.raises(NotFound):
        core.users.find("ghost")
    with core.engine.connect() as c:
        assert c.execute(select(users.c.token_version)).scalar_one() == 0


def test_delete_all_summary_speaks_of_every_device(core: AuthCore) -> None:
    u = core.users.create("m@example.com", "m")
    core.sessions.create(u.id)
    core.sessions.create(u.id)
    text = core.admin.delete_sessions(u.id, "x", dry_run=True).summary()
    assert "2 sessions deleted; every device is logged out now" in text
    assert "that device" not in text
