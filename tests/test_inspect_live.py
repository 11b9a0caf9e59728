"""The inspector against live state on a real database (SQLite and PostgreSQL via ``core``)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete

from authcore.core import AuthCore
from authcore.errors import TokenError
from authcore.inspect import InspectionReport, inspect_token, live_lookup
from authcore.models import users
from authcore.timeutil import utcnow

NON_STRICT = re.compile(
    r"^this access token is accepted by non-strict verifiers until "
    r"\d\d:\d\d UTC \((\d+ min )?\d+ s\); strict verifiers refuse it now$"
)


@pytest.fixture
def alice(core: AuthCore) -> Any:
    return core.users.create("alice@example.com", "alice", "Alice")


def check(core: AuthCore, token: str, **kw: Any) -> InspectionReport:
    kw.setdefault("keys", core.keyring)
    kw.setdefault("settings", core.config.tokens)
    kw.setdefault("live", live_lookup(core.engine))
    return inspect_token(token, **kw)


def test_valid_with_live_state(core: AuthCore, alice: Any) -> None:
    s, _raw = core.sessions.create(alice.id, ip="203.0.113.9", user_agent="pytest")
    pair = core.tokens.issue_pair(alice.id, sid=s.public_id)
    r = check(core, pair.access_token)
    assert r.status == "valid", r.reason
    assert r.live["state"] == "checked"
    assert r.user["id"] == alice.id and r.user["exists"] and not r.user["disabled"]
    assert r.user["email"] == "alice@example.com" and r.user["token_version"] == 0
    assert r.user["session_exists"] is True and r.user["sid"] == s.public_id
    assert r.consequence.startswith("accepted by strict and non-strict verifiers until")
    rr = check(core, pair.refresh_token)
    assert rr.status == "valid" and rr.consequence == "refresh will be accepted"


def test_revoked_after_version_bump(core: AuthCore, alice: Any) -> None:
    pair = core.tokens.issue_pair(alice.id)
    core.admin.revoke_tokens(alice.id, "laptop stolen")
    r = check(core, pair.access_token)
    assert r.status == "revoked" and r.reason == "revoked: token version 0, user is at 1"
    assert NON_STRICT.match(r.consequence), r.consequence
    assert r.user["token_version"] == 1 and r.user["token_version_claim"] == 0
    rr = check(core, pair.refresh_token)
    assert rr.status == "revoked" and rr.consequence == "refresh will be refused"
    core.admin.revoke_tokens(alice.id, "again")
    core.admin.revoke_tokens(alice.id, "and again")
    assert check(core, pair.refresh_token).reason == "revoked: token version 0, user is at 3"
    # the inspector agrees with the verifiers it explains
    with pytest.raises(TokenError):
        core.tokens.verify_refresh(pair.refresh_token)
    core.tokens.verify_access(pair.access_token)  # non-strict still accepts
    with pytest.raises(TokenError):
        core.tokens.verify_access(pair.access_token, strict=True)
    fresh = core.tokens.issue_pair(alice.id)
    assert check(core, fresh.refresh_token).status == "valid"


def test_revoked_after_session_delete(core: AuthCore, alice: Any) -> None:
    s, _raw = core.sessions.create(alice.id)
    other, _ = core.sessions.create(alice.id)
    pair = core.tokens.issue_pair(alice.id, sid=s.public_id)
    core.admin.delete_session(s.public_id, "suspicious device")
    r = check(core, pair.refresh_token)
    assert r.status == "revoked"
    assert r.reason == f"session '{s.public_id}' no longer exists"
    assert r.user["session_exists"] is False and r.consequence == "refresh will be refused"
    a = check(core, pair.access_token)
    assert a.status == "revoked" and NON_STRICT.match(a.consequence)
    # a session of the same user is not mistaken for the deleted one
    assert check(core, core.tokens.issue_pair(alice.id, sid=other.public_id).refresh_token).status == "valid"


def test_session_of_another_user_does_not_count(core: AuthCore, alice: Any) -> None:
    bob = core.users.create("bob@example.com", "bob")
    s, _ = core.sessions.create(bob.id)
    pair = core.tokens.issue_pair(alice.id, sid=s.public_id)
    r = check(core, pair.refresh_token)
    assert r.status == "revoked" and "no longer exists" in r.reason


def test_revoked_disabled_and_deleted_user(core: AuthCore, alice: Any) -> None:
    pair = core.tokens.issue_pair(alice.id)
    core.admin.set_disabled(alice.id, True, "abuse")
    r = check(core, pair.refresh_token)
    assert r.status == "revoked" and r.reason == f"user {alice.id} is disabled"
    assert r.user["disabled"] is True
    with core.engine.begin() as conn:
        conn.execute(delete(users).where(users.c.id == alice.id))
    r = check(core, pair.access_token)
    assert r.status == "revoked" and r.reason == f"user {alice.id} no longer exists"
    assert r.user["exists"] is False


def test_ended_session(core: AuthCore, alice: Any) -> None:
    s, _ = core.sessions.create(alice.id, ttl=timedelta(seconds=1))
    pair = core.tokens.issue_pair(alice.id, sid=s.public_id)
    r = check(core, pair.refresh_token, now=utcnow() + timedelta(seconds=30))
    assert r.status == "revoked" and "ended" in r.reason and "ago" in r.reason


def test_expired_and_live(core: AuthCore, alice: Any) -> None:
    pair = core.tokens.issue_pair(alice.id, now=utcnow() - timedelta(hours=1))
    r = check(core, pair.access_token)
    assert r.status == "expired" and r.live["state"] == "checked"
    assert r.consequence == "every verifier refuses it: the token has expired"
    core.admin.revoke_tokens(alice.id, "x")
    r = check(core, pair.access_token)
    assert r.status == "revoked"  # revoked wins over expired
    assert r.consequence == "this access token has expired too; every verifier refuses it"


def test_one_query_per_lookup(core: AuthCore, alice: Any) -> None:
    from tests.support.statements import Statements

    s, _ = core.sessions.create(alice.id)
    pair = core.tokens.issue_pair(alice.id, sid=s.public_id)
    with Statements(core.engine) as q:
        r = check(core, pair.refresh_token)
    seen = [sql for sql in q.seen if sql.lstrip().upper().startswith("SELECT")]
    assert r.status == "valid"
    assert len(seen) == 1 and "JOIN" in seen[0].upper()


def test_no_lookup_when_signature_fails(core: AuthCore, alice: Any) -> None:
    pair = core.tokens.issue_pair(alice.id)
    calls: list[Any] = []
    real = live_lookup(core.engine)

    def spy(uid: int, sid: str | None) -> Any:
        calls.append(uid)
        return real(uid, sid)

    h, p, _s = pair.access_token.split(".")
    r = check(core, f"{h}.{p}.AAAA", live=spy)
    assert r.status == "invalid_signature" and not calls and r.user is None
    r = check(core, pair.access_token, keys=None, live=spy)
    assert r.status == "unverified" and not calls


def test_database_without_schema_is_unavailable(tmp_path: Any, core: AuthCore, alice: Any) -> None:
    from authcore.db import make_engine

    empty = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        pair = core.tokens.issue_pair(alice.id)
        r = check(core, pair.access_token, live=live_lookup(empty))
    finally:
        empty.dispose()
    assert r.status == "valid" and r.live["state"] == "unavailable"
    assert "live state unavailable" in r.live["detail"] and r.user is None
