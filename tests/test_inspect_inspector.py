"""authcore.inspect.inspector: the order of the checks and the verdict's precedence (the worst
problem is the one reported), the live lookup made only for a verified token, and
``inspect_token`` never raising."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from authcore.config import TokenSettings
from authcore.inspect import LiveState
from authcore.inspect import inspector as inspector_mod
from authcore.inspect.inspector import Inspector, inspect_token
from authcore.keys import key_from_secret

NOW = datetime(2026, 11, 27, 14, 28, tzinfo=UTC)
T = int(NOW.timestamp())
SECRET = "inspector-order-secret-" + "o" * 32
SETTINGS = TokenSettings(secret=SECRET)
KEY = key_from_secret(SECRET)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token(payload: dict[str, Any], header: dict[str, Any] | None = None, secret: str = SECRET) -> str:
    signing = f"{b64(json.dumps(header or {'alg': 'HS256'}).encode())}.{b64(json.dumps(payload).encode())}"
    return f"{signing}.{b64(hmac.new(secret.encode(), signing.encode(), hashlib.sha256).digest())}"


def claims(**over: Any) -> dict[str, Any]:
    base = {
        "sub": "7",
        "iss": "authconsole",
        "aud": "authconsole",
        "typ": "access",
        "iat": T - 60,
        "exp": T + 840,
        "token_version": 1,
    }
    base.update(over)
    return base


class Lookups:
    """The live-state callable ``inspect_token`` takes, recording what it was asked."""

    def __init__(self, state: LiveState | None = None) -> None:
        self.calls: list[tuple[int, str | None]] = []
        self.state = state

    def __call__(self, uid: int, sid: str | None) -> LiveState:
        self.calls.append((uid, sid))
        return self.state or LiveState(uid, exists=True, token_version=1)


def run(text: Any, live: Lookups | None = None, keys: Any = None) -> Any:
    return inspect_token(text, keys=[KEY] if keys is None else keys, settings=SETTINGS, live=live, now=NOW)


def test_valid_token_is_looked_up_once() -> None:
    live = Lookups()
    r = run(token(claims(sid="ses_x")), live)
    assert r.status == "valid", r.reason
    assert live.calls == [(7, "ses_x")]
    assert r.fingerprint and len(r.fingerprint) == 64


def test_no_lookup_unless_the_signature_verified() -> None:
    live = Lookups()
    assert run(token(claims(), secret="other-" + "z" * 40), live).status == "invalid_signature"
    assert run(token(claims()), live, keys=[]).status == "unverified"
    assert live.calls == []


def test_revoked_is_reported_before_expired() -> None:
    live = Lookups(LiveState(7, exists=True, token_version=2))
    r = run(token(claims(exp=T - 3600, iat=T - 4000)), live)
    assert r.status == "revoked" and r.reason == "revoked: token version 1, user is at 2"
    assert r.consequence == "this access token has expired too; every verifier refuses it"


def test_expired_before_not_yet_valid_before_foreign() -> None:
    assert run(token(claims(exp=T - 3600, iat=T - 4000, iss="x"))).status == "expired"
    assert run(token(claims(nbf=T + 600, iss="x"))).status == "not_yet_valid"
    r = run(token(claims(iss="x")))
    assert r.status == "unsupported" and r.reason.endswith("(verifiers refuse it)")


def test_malformed_beats_unsupported() -> None:
    # an unknown critical header (unsupported) and a bad exp (malformed): malformed wins
    r = run(token(claims(exp="soon"), header={"alg": "HS256", "crit": ["zip2"], "zip2": 1}))
    assert r.status == "malformed" and r.reason == "exp claim is a string, not a time"


def test_segment_counts_and_trailing_garbage() -> None:
    assert run("a.b").reason == "not a JWT: 2 segments (a JWS has 3, a JWE 5)"
    assert run("!!!").reason == "not a JWT: no token characters found"
    assert run("").reason == "empty input"
    r = run(token(claims()) + " <- copied from the log")
    assert r.status == "valid"
    assert "character(s) of trailing garbage after the token (ignored)" in r.notes[-1]


def test_too_large_input_is_refused_before_decoding() -> None:
    r = inspect_token("A" * 70000, now=NOW)
    assert r.status == "malformed"
    assert r.reason == "input is too large (70000 bytes, the limit is 64 KiB): not decoded"


def test_inspect_token_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(self: Inspector, text: Any, max_size: int) -> Any:
        raise RuntimeError("bug")

    monkeypatch.setattr(inspector_mod.Inspector, "run", boom)
    r = inspect_token("x.y.z", now=NOW)
    assert (r.status, r.reason) == ("malformed", "could not inspect: internal error (RuntimeError)")


def test_naive_now_is_read_as_utc() -> None:
    r = inspect_token(token(claims()), keys=[KEY], settings=SETTINGS, now=NOW.replace(tzinfo=None))
    assert r.status == "valid" and r.checked_at == NOW
