"""Issue, verify and refresh tokens; revocation semantics end to end (both engines)."""

from __future__ import annotations

import time

import jwt
import pytest

from authcore.core import AuthCore
from authcore.errors import (
    RefreshReuse,
    SessionInvalid,
    TokenError,
    TokenExpired,
    TokenRevoked,
    UserDisabled,
)


@pytest.fixture
def alice(core: AuthCore):  # type: ignore[no-untyped-def]
    return core.users.create("alice@example.com", "alice", "Alice")


def test_pair_claims(core: AuthCore, alice) -> None:  # type: ignore[no-untyped-def]
    s, _raw = core.sessions.create(alice.id, ip="203.0.113.1", user_agent="pytest")
    pair = core.tokens.issue_pair(alice.id, sid=s.public_id)
    claims = jwt.decode(pair.access_token, options={"verify_signature": False})
    assert claims["sub"] == str(alice.id) and claims["typ"] == "access"
    assert claims["token_version"] == 0 and claims["sid"] == s.public_id
    assert {"iat", "exp", "jti", "iss", "aud"} <= set(claims)
    assert claims["exp"] - claims["iat"] == 15 * 60
    r = jwt.decode(pair.refresh_token, options={"verify_signature": False})
    assert r["typ"] == "refresh" and r["exp"] - r["iat"] == 30 * 86400 and r["rc"] == 0
    assert core.tokens.verify_access(pair.access_token).user_id == alice.id
    assert core.tokens.verify_refresh(pair.refresh_token).sid == s.public_id


def test_access_and_refresh_are_not_interchangeable(core: AuthCore, alice) -> None:  # type: ignore[no-untyped-def]
    pair = core.tokens.issue_pair(alice.id)
    with pytest.raises(TokenError):
        core.tokens.verify_access(pair.refresh_token)
    with pytest.raises(TokenError):
        core.tokens.verify_refresh(pair.access_token)


def test_bump_refuses_refresh_but_not_plain_access(core: AuthCore, alice) -> None:  # type: ignore[no-untyped-def]
    pair = core.tokens.issue_pair(alice.id)
    res = core.admin.revoke_tokens(alice.id, "laptop stolen")
    assert (res.old_version, res.new_version) == (0, 1)
    with pytest.raises(TokenRevoked, match="token version 0, user is at 1"):
        core.tokens.verify_refresh(pair.refresh_token)
    with pytest.raises(TokenRevoked):
        core.tokens.refresh(pair.refresh_token)
    # access tokens stay valid for non-strict verifiers until they expire; strict refuses now
    assert core.tokens.verify_access(pair.access_token).token_version == 0
    with pytest.raises(TokenRevoked):
        core.tokens.verify_access(pair.access_token, strict=True)
    fresh = core.tokens.issue_pair(alice.id)
    assert core.tokens.verify_refresh(fresh.refresh_token).token_version == 1


def test_session_delete_kills_bound_refresh(core: AuthCore, alice) -> None:  # type: ignore[no-untyped-def]
    s, raw = core.sessions.create(alice.id)
    pair = core.tokens.issue_pair(alice.id, sid=s.public_id)
    core.admin.delete_session(s.public_id, "suspicious device")
    assert core.sessions.resolve(raw) is None
    with pytest.raises(SessionInvalid):
        core.tokens.verify_refresh(pair.refresh_token)
    with pytest.raises(SessionInvalid):
        core.tokens.verify_access(pair.access_token, strict=True)


def test_disabled_user_refused(core: AuthCore, alice) -> None:  # type: ignore[no-untyped-def]
    s, raw = core.sessions.create(alice.id)
    pair = core.tokens.issue_pair(alice.id, sid=s.public_id)
    core.admin.set_disabled(alice.id, True, "abuse")
    with pytest.raises(UserDisabled):
        core.tokens.verify_refresh(pair.refresh_token)
    assert core.sessions.resolve(raw) is None
    with pytest.raises(UserDisabled):
        core.tokens.issue_pair(alice.id)
    core.admin.set_disabled(alice.id, False, "cleared")
    with pytest.raises(TokenRevoked):  # disabling bumped token_version: enable revives nothing
        core.tokens.verify_refresh(pair.refresh_token)
    assert core.sessions.resolve(raw) is None


def test_refresh_rotates_with_grace_and_detects_reuse(core: AuthCore, alice) -> None:  # type: ignore[no-untyped-def]
    s, raw = core.sessions.create(alice.id)
    p0 = core.tokens.issue_pair(alice.id, sid=s.public_id)
    p1 = core.tokens.refresh(p0.refresh_token)
    assert jwt.decode(p1.refresh_token, options={"verify_signature": False})["rc"] == 1
    p1b = core.tokens.refresh(p0.refresh_token)  # previous token again, within grace
    assert jwt.decode(p1b.refresh_token, options={"verify_signature": False})["rc"] == 1
    p2 = core.tokens.refresh(p1.refresh_token)
    core.tokens.refresh(p2.refresh_token)
    with pytest.raises(RefreshReuse):
        core.tokens.refresh(p0.refresh_token)  # two generations old: reuse
    assert core.sessions.resolve(raw) is None
    from authcore.userevents import list_events

    ev = list_events(core.engine, user_id=alice.id)  # a user event: off the audit chain
    assert ev[0].action == "refresh_reuse_detected" and ev[0].actor == "system"
    assert ev[1].action == "refresh_replay"


def test_expired_and_tampered(core: AuthCore, alice, config) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from authcore.timeutil import utcnow

    old = core.tokens.issue_pair(alice.id, now=utcnow() - timedelta(hours=1))
    with pytest.raises(TokenExpired):
        core.tokens.verify_access(old.access_token)
    good = core.tokens.issue_pair(alice.id).access_token
    head, body, sig = good.split(".")
    forged = jwt.encode({"sub": str(alice.id)}, "other-secret-" + "x" * 32, algorithm="HS256")
    with pytest.raises(TokenError):
        core.tokens.verify_access(f"{head}.{forged.split('.')[1]}.{sig}")
    none_tok = jwt.encode({"sub": "1"}, None, algorithm="none")
    with pytest.raises(TokenError):
        core.tokens.verify_access(none_tok)


def test_key_rotation_by_kid(engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from authcore.config import Config, KeySpec, TokenSettings

    old = Config(tokens=TokenSettings(secret="old-" + "o" * 40, kid="k1"))
    core_old = AuthCore(engine, old)
    u = core_old.users.create("rot@example.com", "rot")
    token = core_old.tokens.issue_pair(u.id).access_token
    new = Config(
        tokens=TokenSettings(
            secret="new-" + "n" * 40, kid="k2", verify_keys=[KeySpec(kid="k1", secret="old-" + "o" * 40)]
        )
    )
    core_new = AuthCore(engine, new)
    assert core_new.tokens.verify_access(token).user_id == u.id
    t2 = core_new.tokens.issue_pair(u.id).access_token
    assert jwt.get_unverified_header(t2)["kid"] == "k2"
    with pytest.raises(TokenError):
        core_old.tokens.verify_access(t2)


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
def test_asymmetric_signing(engine, tmp_path, alg) -> None:  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    from authcore.config import Config, TokenSettings

    key = {
        "RS256": lambda: rsa.generate_private_key(65537, 2048),
        "ES256": lambda: ec.generate_private_key(ec.SECP256R1()),
        "EdDSA": ed25519.Ed25519PrivateKey.generate,
    }[alg]()
    pem = tmp_path / "signing.pem"
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    core = AuthCore(engine, Config(tokens=TokenSettings(algorithm=alg, private_key_file=pem)))
    u = core.users.create("asym@example.com", "asym")
    pair = core.tokens.issue_pair(u.id)
    assert jwt.get_unverified_header(pair.access_token)["alg"] == alg
    assert core.tokens.verify_refresh(pair.refresh_token).user_id == u.id


def test_verify_refresh_is_one_round_trip(core: AuthCore, alice) -> None:  # type: ignore[no-untyped-def]
    from tests.support.statements import Statements

    s, _ = core.sessions.create(alice.id)
    pair = core.tokens.issue_pair(alice.id, sid=s.public_id)
    with Statements(core.engine) as q:
        core.tokens.verify_refresh(pair.refresh_token)
        assert q.n == 1, q.seen
        _, raw = core.sessions.create(alice.id)
        q.clear()
        assert core.sessions.resolve(raw) is not None
        assert q.n == 1 and "JOIN" in q.seen[0].upper()


def test_access_token_lifetime_honoured(core: AuthCore, alice) -> None:  # type: ignore[no-untyped-def]
    pair = core.tokens.issue_pair(alice.id)
    assert 0 < pair.access_expires_at.timestamp() - time.time() <= 15 * 60 + 1
