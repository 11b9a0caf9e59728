"""The app's login and logout (issue 18 items 1, 2): atomic login, idempotent logout (both engines)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from authcore.core import AuthCore
from authcore.errors import ConfigError, NotFound, SessionInvalid, UserDisabled
from authcore.keys import KeyRing
from authcore.models import sessions, users


def _sessions(core: AuthCore) -> int:
    with core.engine.connect() as c:
        return int(c.execute(select(func.count()).select_from(sessions)).scalar_one())


def _last_login(core: AuthCore, uid: int):  # type: ignore[no-untyped-def]
    with core.engine.connect() as c:
        return c.execute(select(users.c.last_login_at).where(users.c.id == uid)).scalar_one()


def test_login_returns_session_token_and_bound_pair(core: AuthCore) -> None:
    u = core.users.create("l@example.com", "l")
    session, raw, pair = core.login(u.id, ip="203.0.113.9", user_agent="UA/2")
    assert pair.sid == session.public_id and pair.token_version == 0
    claims = core.tokens.verify_access(pair.access_token, strict=True)
    assert claims.sid == session.public_id and claims.user_id == u.id
    assert core.sessions.resolve(raw).session.public_id == session.public_id
    assert _last_login(core, u.id) is not None and _sessions(core) == 1


def test_disabled_user_gets_no_session(core: AuthCore) -> None:
    u = core.users.create("carol@example.com", "carol")
    core.admin.set_disabled(u.id, True, "left the company")
    for _ in range(3):
        with pytest.raises(UserDisabled):
            core.login(u.id, ip="203.0.113.1", user_agent="UA")
        with pytest.raises(UserDisabled):
            core.sessions.create(u.id)
    assert _sessions(core) == 0 and _last_login(core, u.id) is None
    assert core.sessions.for_user(u.id) == []


def test_unknown_user_and_missing_key_write_nothing(core: AuthCore, engine, config) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NotFound):
        core.login(424242)
    u = core.users.create("k@example.com", "k")
    unsigned = AuthCore(engine, config, keyring=KeyRing(signing=None, keys=[]))
    with pytest.raises(ConfigError, match="signing key"):
        unsigned.login(u.id)
    assert _sessions(core) == 0 and _last_login(core, u.id) is None


def test_failed_signing_after_insert_leaves_no_session(core: AuthCore, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    u = core.users.create("s@example.com", "s")

    def boom(*a, **k):  # type: ignore[no-untyped-def]
        raise RuntimeError("injected signing failure")

    monkeypatch.setattr(core.tokens, "issue_pair", boom)
    with pytest.raises(RuntimeError, match="injected"):
        core.login(u.id)
    assert _sessions(core) == 0


def test_logout_is_idempotent_and_operator_delete_is_not(core: AuthCore) -> None:
    u = core.users.create("o@example.com", "o")
    s, raw, pair = core.login(u.id)
    assert core.logout(s.public_id) is True
    assert core.logout(s.public_id) is False
    assert core.logout(None) is False
    assert core.sessions.logout(raw) is False
    with pytest.raises(SessionInvalid):
        core.tokens.verify_access(pair.access_token, strict=True)
    with pytest.raises(NotFound):  # an operator named a session that is not there: say so
        core.admin.delete_session(s.public_id, "already gone")
    s2, raw2, _ = core.login(u.id)
    assert core.sessions.logout(raw2) is True and core.logout(s2.public_id) is False


def _logouts_at_once(core: AuthCore, access_token: str, strict: bool, n: int = 4) -> list[object]:
    """``n`` threads verify the same token and log out, released together by a barrier. Each
    outcome: True/False (logout's answer), a refusal's ``.code``, or any other exception."""
    barrier = threading.Barrier(n)
    outcomes: list[object] = []
    lock = threading.Lock()

    def request() -> None:
        barrier.wait()
        try:
            claims = core.tokens.verify_access(access_token, strict=strict)
            got: object = core.logout(claims.sid)
        except SessionInvalid as exc:
            got = exc.code
        except Exception as exc:  # noqa: BLE001 - recorded, then asserted absent
            got = exc
        with lock:
            outcomes.append(got)

    threads = [threading.Thread(target=request) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return outcomes


@pytest.mark.parametrize("strict", [True, False], ids=["strict", "signature-only"])
def test_four_concurrent_logouts_with_one_token(core: AuthCore, strict: bool) -> None:
    """Four requests carrying the same access token log out at once: one deletes, the others
    either see the session already ended (strict check: SessionInvalid, a 401) or log out a
    gone session (False, a 204). Nothing else is raised."""
    u = core.users.create("p@example.com", "p")
    allowed = (True, False, "session") if strict else (True, False)
    for _round in range(5):
        s, _raw, pair = core.login(u.id)
        outcomes = _logouts_at_once(core, pair.access_token, strict)
        assert len(outcomes) == 4, outcomes
        assert all(any(o is a or (o == a and type(o) is type(a)) for a in allowed) for o in outcomes), (
            outcomes
        )
        assert outcomes.count(True) == 1, outcomes
        assert core.sessions.get(s.public_id) is None
