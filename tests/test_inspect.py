"""The token inspector (authcore.inspect): RFC vectors, verdicts, times, warnings and attacks.

No database here: live state comes from a fake lookup (the real one is in test_inspect_live.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from authcore.config import TokenSettings
from authcore.inspect import (
    MAX_SIZE,
    STATUSES,
    InspectionReport,
    LiveState,
    inspect_token,
    normalise,
)
from authcore.jose import b64url_decode, parse_json
from authcore.keys import Key, KeyRing, key_from_jwk, key_from_pem, key_from_secret
from authcore.tokens import TokenService

VECTORS = json.loads((Path(__file__).parent / "data" / "jwt-rfc-vectors.json").read_text())
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth"}
SECRET = "inspector-test-secret-" + "x" * 32
NOW = datetime(2026, 11, 27, 14, 28, 0, tzinfo=UTC)
SETTINGS = TokenSettings(secret=SECRET)


# -- helpers ----------------------------------------------------------------------------------
def b64(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def hs_token(
    header: dict[str, Any] | bytes | str,
    payload: dict[str, Any] | bytes | str,
    secret: bytes | str = SECRET,
    digest: str = "sha256",
) -> str:
    """A compact HS token from raw pieces (bytes kept as-is: duplicate keys, odd JSON...)."""
    h = header if isinstance(header, bytes | str) else json.dumps(header)
    p = payload if isinstance(payload, bytes | str) else json.dumps(payload)
    signing = f"{b64(h)}.{b64(p)}".encode()
    key = secret.encode() if isinstance(secret, str) else secret
    return f"{signing.decode()}.{b64(hmac.new(key, signing, digest).digest())}"


def claims(**over: Any) -> dict[str, Any]:
    iat = int(NOW.timestamp()) - 60
    base = {
        "sub": "42",
        "iss": "authconsole",
        "aud": "authconsole",
        "typ": "access",
        "iat": iat,
        "exp": iat + 900,
        "jti": "j1",
        "token_version": 3,
    }
    base.update(over)
    return {k: v for k, v in base.items() if v is not ...}


def hs_key(secret: str = SECRET, kid: str | None = None, alg: str = "HS256") -> Key:
    return key_from_secret(secret, alg, kid)


def inspect(token: str, **kw: Any) -> InspectionReport:
    kw.setdefault("keys", [hs_key()])
    kw.setdefault("settings", SETTINGS)
    kw.setdefault("now", NOW)
    return inspect_token(token, **kw)


def public_jwk(jwk: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in jwk.items() if k not in PRIVATE_MEMBERS}


def service(settings: TokenSettings = SETTINGS, key: Key | None = None) -> TokenService:
    key = key or hs_key()
    return TokenService(None, settings, KeyRing(signing=key, keys=[key]))


def assert_json_safe(report: InspectionReport) -> dict[str, Any]:
    data = report.to_dict()
    json.dumps(data, allow_nan=False)
    return data


# -- RFC vectors ------------------------------------------------------------------------------
def vector_keys(v: dict[str, Any]) -> list[Key]:
    if not v.get("jwk"):
        return []
    return [key_from_jwk(public_jwk(v["jwk"]), alg=v["alg"])]


@pytest.mark.parametrize("v", VECTORS, ids=[v["name"] for v in VECTORS])
def test_rfc_vector(v: dict[str, Any]) -> None:
    name = v["name"]
    keys = vector_keys(v)
    for k in keys:
        assert k.is_hmac or not hasattr(k.verify_key, "private_bytes")  # public members only
    r = inspect_token(v["token"], keys=keys, settings=None, now=NOW)
    data = assert_json_safe(r)
    assert r.status in STATUSES and r.status != "valid"
    if v["alg"] == "none":
        assert r.kind == "jws" and r.signature.verified is False
        assert r.status == "invalid_signature"
        assert any("alg none" in w for w in r.warnings)
        assert r.payload == v["expected_claims"]
        return
    if len(v["token"].split(".")) == 5:
        assert r.kind == "jwe" and r.status == "unsupported" and "encrypted" in r.reason
        assert r.header is not None and r.header["alg"] == v["alg"]
        assert r.header["enc"] == "A128CBC-HS256"
        assert r.payload is None and r.payload_type == "encrypted"
        assert r.signature.verified is None and data["user"] is None
        return
    if "detached" in name:
        assert r.detached and r.payload_type == "detached" and r.status == "unsupported"
        assert r.signature.verified is None and "detached" in r.signature.detail
        if "b64false" in name:
            assert r.b64 is False and r.header == {"alg": "HS256", "b64": False, "crit": ["b64"]}
        r2 = inspect_token(
            v["token"], keys=keys, settings=None, now=NOW, detached_payload=v["expected_payload"].encode()
        )
        assert r2.signature.verified is True, r2.signature
        assert r2.status == "unsupported"
        assert (r2.b64 is False) == ("b64false" in name)
        bad = inspect_token(v["token"], keys=keys, settings=None, now=NOW, detached_payload=b"tampered")
        assert bad.signature.verified is False
        return
    assert r.kind == "jws" and r.signature.verified is True, r.signature
    assert r.signature.alg == v["alg"] and r.signature.key
    if "expected_claims" in v:
        assert r.payload == v["expected_claims"]
        assert r.status == "expired" and "expired" in r.reason
        assert r.times["exp"].iso == "2011-03-22T18:43:00Z"
        # at a time before exp the same token is valid (no claim checks without settings)
        then = inspect_token(
            v["token"], keys=keys, settings=None, now=datetime(2011, 3, 22, 18, 0, tzinfo=UTC)
        )
        assert then.status == "valid", then.reason
    else:  # signed, but the payload is not a JSON claim set
        assert r.status == "unsupported" and "not a JSON claim set" in r.reason
        assert r.payload is None and r.payload_type == "text"
        assert r.payload_text == v["expected_payload"]


@pytest.mark.parametrize("v", VECTORS, ids=[v["name"] for v in VECTORS])
def test_rfc_vector_without_keys_never_valid(v: dict[str, Any]) -> None:
    r = inspect_token(v["token"], keys=None, settings=None, now=datetime(2011, 3, 22, 18, 0, tzinfo=UTC))
    assert r.status != "valid" and r.signature.verified is not True
    if v["alg"] != "none" and len(v["token"].split(".")) == 3 and "expected_claims" in v:
        assert r.status == "unverified" and r.signature.verified is None


def test_rfc_vector_with_the_wrong_key_is_refused() -> None:
    hs = next(v for v in VECTORS if v["name"] == "rfc7515-A.1-HS256")
    other = next(v for v in VECTORS if v["name"] == "rfc7520-4.4-HS256")
    r = inspect_token(hs["token"], keys=vector_keys(other), settings=None, now=NOW)
    assert r.signature.verified is False and r.status == "invalid_signature"


def test_rfc_vectors_all_keys_at_once_matched_by_kid_and_alg() -> None:
    keys = [k for v in VECTORS for k in vector_keys(v)]
    for v in VECTORS:
        if v["alg"] == "none" or "detached" in v["name"] or len(v["token"].split(".")) == 5:
            continue
        r = inspect_token(v["token"], keys=keys, settings=None, now=NOW)
        assert r.signature.verified is True, (v["name"], r.signature)


# -- verdicts from authcore-minted tokens --------------------------------------------------
def test_minted_valid_access_and_refresh() -> None:
    pair = service().issue_pair(42, sid="ses_abc", token_version=3, now=NOW)
    r = inspect(pair.access_token)
    assert r.status == "valid", r.reason
    assert r.signature.verified is True and r.signature.alg == "HS256"
    assert r.payload["typ"] == "access" and r.payload["sid"] == "ses_abc"
    assert "valid for another 15 min" in r.reason and "live state not checked" in r.reason
    assert r.claims["iss"]["ok"] and r.claims["aud"]["ok"] and r.claims["typ"]["ok"]
    assert r.exit_code == 0 and r.ok
    rr = inspect(pair.refresh_token)
    assert rr.status == "valid" and rr.payload["typ"] == "refresh"
    assert not rr.warnings and not r.warnings


def test_minted_expired_with_relative_time() -> None:
    pair = service().issue_pair(42, token_version=3, now=NOW - timedelta(hours=3, minutes=27))
    r = inspect(pair.access_token)
    assert r.status == "expired"
    assert r.times["exp"].relative == "expired 3 h 12 min ago"
    assert r.reason.startswith("expired 3 h 12 min ago")
    assert r.exit_code == 1


def test_expiry_respects_leeway() -> None:
    tok = hs_token({"alg": "HS256"}, claims(exp=int(NOW.timestamp()) - 5))
    r = inspect(tok)
    assert r.status == "valid" and "within the 10 s leeway" in r.times["exp"].relative
    no_leeway = inspect(tok, settings=None)
    assert no_leeway.status == "expired"


def test_minted_not_yet_valid() -> None:
    pair = service().issue_pair(42, token_version=3, now=NOW + timedelta(minutes=5))
    r = inspect(pair.access_token)
    assert r.status == "not_yet_valid" and "in the future" in r.reason
    nbf = hs_token({"alg": "HS256"}, claims(nbf=int(NOW.timestamp()) + 250))
    r = inspect(nbf)
    assert r.status == "not_yet_valid"
    assert r.times["nbf"].relative == "not valid for another 4 min 10 s"


def test_valid_for_another_wording() -> None:
    tok = hs_token({"alg": "HS256"}, claims(exp=int(NOW.timestamp()) + 250))
    assert inspect(tok).times["exp"].relative == "valid for another 4 min 10 s"


def test_minted_invalid_signature_with_other_secret() -> None:
    pair = service().issue_pair(42, token_version=3, now=NOW)
    r = inspect(pair.access_token, keys=[hs_key("another-secret-" + "y" * 40)])
    assert r.status == "invalid_signature" and r.signature.verified is False
    assert r.live["state"] == "off"


def test_no_keys_is_unverified_never_valid() -> None:
    pair = service().issue_pair(42, token_version=3, now=NOW)
    r = inspect(pair.access_token, keys=None)
    assert r.status == "unverified" and r.signature.verified is None
    assert "no key configured" in r.reason and "valid" not in r.reason.replace("unverified", "")
    assert inspect(pair.access_token, keys=[]).status == "unverified"
    assert inspect(pair.access_token, keys=KeyRing(None, [])).status == "unverified"


def test_unverified_and_expired_says_unverified_with_the_claim() -> None:
    pair = service().issue_pair(42, token_version=3, now=NOW - timedelta(days=2))
    r = inspect(pair.access_token, keys=None)
    assert r.status == "unverified"
    assert "unverified claims say: expired 1 d 23 h ago" in r.reason


def test_keyring_and_single_key_accepted() -> None:
    key = hs_key(kid="k1")
    tok = service(key=key).issue_pair(1, token_version=0, now=NOW).access_token
    assert inspect(tok, keys=KeyRing(signing=key, keys=[key])).status == "valid"
    assert inspect(tok, keys=key).status == "valid"  # type: ignore[arg-type]


def test_issuer_and_audience_checked() -> None:
    r = inspect(hs_token({"alg": "HS256"}, claims(iss="https://evil.example")))
    assert r.status == "unsupported" and "issuer 'https://evil.example'" in r.reason
    assert r.claims["iss"]["ok"] is False
    r = inspect(hs_token({"alg": "HS256"}, claims(aud=["billing", "authconsole"])))
    assert r.status == "valid"
    r = inspect(hs_token({"alg": "HS256"}, claims(aud="billing")))
    assert r.status == "unsupported" and r.claims["aud"]["ok"] is False
    r = inspect(hs_token({"alg": "HS256"}, claims(aud=...)))
    assert r.status == "unsupported" and "no aud claim" in r.reason
    # without settings there is nothing to compare with
    assert inspect(hs_token({"alg": "HS256"}, claims(aud="x")), settings=None).status == "valid"


def test_precedence_expired_beats_foreign_issuer_and_invalid_beats_expired() -> None:
    old = claims(iss="other", exp=int(NOW.timestamp()) - 3600)
    assert inspect(hs_token({"alg": "HS256"}, old)).status == "expired"
    assert inspect(hs_token({"alg": "HS256"}, old, secret="nope")).status == "invalid_signature"


# -- live state (fake lookup) ------------------------------------------------------------------
class FakeLive:
    def __init__(self, state: LiveState | Exception) -> None:
        self.state = state
        self.calls: list[tuple[int, str | None]] = []

    def __call__(self, uid: int, sid: str | None) -> LiveState:
        self.calls.append((uid, sid))
        if isinstance(self.state, Exception):
            raise self.state
        return self.state


def test_live_revoked_version_wording_and_consequence() -> None:
    pair = service().issue_pair(42, sid="ses_1", token_version=3, now=NOW - timedelta(minutes=11))
    live = FakeLive(
        LiveState(
            42,
            True,
            token_version=5,
            sid="ses_1",
            session_exists=True,
            session_expires_at=NOW + timedelta(days=1),
        )
    )
    r = inspect(pair.access_token, live=live)
    assert r.status == "revoked" and r.reason == "revoked: token version 3, user is at 5"
    assert live.calls == [(42, "ses_1")]
    exp = datetime.fromtimestamp(r.payload["exp"] + 10, UTC)
    assert r.consequence == (
        f"this access token is accepted by non-strict verifiers until "
        f"{exp:%H:%M} UTC (4 min 10 s); strict verifiers refuse it now"
    )
    assert r.user["consequence"] == r.consequence and r.user["revoked"] is True
    rr = inspect(pair.refresh_token, live=live)
    assert rr.status == "revoked" and rr.consequence == "refresh will be refused"


def test_live_accepting_and_not_called_without_verified_signature() -> None:
    pair = service().issue_pair(42, sid="ses_1", token_version=3, now=NOW)
    live = FakeLive(
        LiveState(
            42,
            True,
            token_version=3,
            email="a@example.com",
            sid="ses_1",
            session_exists=True,
            session_expires_at=NOW + timedelta(days=1),
        )
    )
    r = inspect(pair.refresh_token, live=live)
    assert r.status == "valid" and r.consequence == "refresh will be accepted"
    assert r.live["state"] == "checked" and r.user["email"] == "a@example.com"
    assert "live state" not in r.reason
    r = inspect(pair.refresh_token, live=live, keys=[hs_key("wrong-" + "z" * 40)])
    assert r.status == "invalid_signature" and len(live.calls) == 1
    r = inspect(pair.refresh_token, live=live, keys=None)
    assert r.status == "unverified" and len(live.calls) == 1 and r.user is None


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        (LiveState(42, False), "user 42 no longer exists"),
        (LiveState(42, True, disabled=True, token_version=3), "user 42 is disabled"),
        (
            LiveState(42, True, token_version=3, sid="ses_1", session_exists=False),
            "session 'ses_1' no longer exists",
        ),
    ],
)
def test_live_revoked_reasons(state: LiveState, reason: str) -> None:
    pair = service().issue_pair(42, sid="ses_1", token_version=3, now=NOW)
    r = inspect(pair.access_token, live=FakeLive(state))
    assert r.status == "revoked" and r.reason == reason


def test_live_unavailable_never_crashes_and_masks_password() -> None:
    pair = service().issue_pair(42, token_version=3, now=NOW)
    boom = ConnectionError("could not connect to postgresql://admin:hunter2@db:5432/x")
    r = inspect(pair.access_token, live=FakeLive(boom))
    assert r.status == "valid" and r.live["state"] == "unavailable"
    assert "live state unavailable" in r.live["detail"] and "hunter2" not in json.dumps(r.to_dict())
    assert "live state unavailable" in r.reason


def test_live_skipped_for_non_numeric_sub() -> None:
    live = FakeLive(LiveState(1, True))
    r = inspect(hs_token({"alg": "HS256"}, claims(sub="joe")), live=live)
    assert r.status == "valid" and r.live["state"] == "skipped" and not live.calls
    r = inspect(hs_token({"alg": "HS256"}, claims(sub="9" * 30)), live=live)
    assert r.live["state"] == "skipped" and not live.calls


# -- input handling ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "wrap",
    [
        "{}",
        "  {}\n",
        '"{}"',
        "'{}'",
        "Bearer {}",
        "bearer   {}",
        "BEARER {}",
        "Authorization: Bearer {}",
        "authorization:bearer {}",
        '"Authorization: Bearer {}"\n',
        "Authorization: {}",
    ],
)
def test_normalisation(wrap: str) -> None:
    tok = service().issue_pair(42, token_version=3, now=NOW).access_token
    r = inspect(wrap.format(tok))
    assert r.status == "valid", (wrap, r.reason)
    assert r.fingerprint == hashlib.sha256(tok.encode()).hexdigest()


def test_normalise_function() -> None:
    assert normalise(' "Authorization: Bearer a.b.c" ') == ("a.b.c", ["quotes", "Authorization:", "Bearer"])
    assert normalise("a.b.c") == ("a.b.c", [])


def test_raw_token_never_in_report() -> None:
    pair = service().issue_pair(42, token_version=3, now=NOW)
    for tok in (pair.access_token, "Bearer " + pair.refresh_token):
        r = inspect(tok)
        dumped = json.dumps(r.to_dict()) + repr(r)
        bare = tok.removeprefix("Bearer ")
        assert bare not in dumped
        assert bare.split(".")[2] not in dumped  # not even the signature segment
        assert r.fingerprint == hashlib.sha256(bare.encode()).hexdigest()


def test_size_cap_before_anything_else() -> None:
    tok = service().issue_pair(42, token_version=3, now=NOW).access_token
    r = inspect(" " * MAX_SIZE + tok)
    assert r.status == "malformed" and "too large" in r.reason and "64 KiB" in r.reason
    assert r.fingerprint is None and r.header is None
    assert inspect_token(b"a" * (MAX_SIZE + 1)).status == "malformed"
    assert "too large" in inspect_token("é" * (MAX_SIZE // 2 + 1)).reason  # bytes, not chars
    assert inspect(tok, max_size=len(tok)).status == "valid"
    assert "too large" in inspect(tok, max_size=len(tok) - 1).reason


def test_bytes_input() -> None:
    tok = service().issue_pair(42, token_version=3, now=NOW).access_token
    assert inspect(("Bearer " + tok + "\n").encode()).status == "valid"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("", "not_jwt"),
        ("   ", "not_jwt"),
        ("hello", "not_jwt"),
        ("a.b", "not_jwt"),
        ("a.b.c.d", "not_jwt"),
        ("a.b.c.d.e.f", "not_jwt"),
        ("...", "jws"),
        ("{}", "not_jwt"),
    ],
)
def test_not_a_jwt_is_malformed(text: str, kind: str) -> None:
    r = inspect(text)
    assert r.status == "malformed" and r.kind == kind
    assert_json_safe(r)


def test_trailing_garbage_noted() -> None:
    tok = service().issue_pair(42, token_version=3, now=NOW).access_token
    r = inspect(tok + " trailing words; Path=/")
    assert r.status == "valid"
    assert any("trailing garbage" in n for n in r.notes)
    r = inspect(tok + ".")
    assert r.status == "valid" and any("trailing garbage" in n for n in r.notes)


def test_non_canonical_base64_noted() -> None:
    tok = service().issue_pair(42, token_version=3, now=NOW).access_token
    h, p, s = tok.split(".")
    padded = f"{h}{'=' * (-len(h) % 4)}.{p}.{s}"
    if padded != tok:
        r = inspect(padded)
        assert any("padding" in n for n in r.notes)
        assert r.status == "invalid_signature"  # the signing input changed
    std = tok.replace("-", "+").replace("_", "/")
    if std != tok:
        assert any("standard base64" in n for n in inspect(std).notes)
    # unused bits set in the last signature character: same bytes, different text
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(s[-1])
    tweaked = f"{h}.{p}.{s[:-1]}{alphabet[last | 1]}"
    r = inspect(tweaked)
    assert any("non-canonical" in n for n in r.notes)
    assert r.signature.verified is True  # the decoded signature is the same


def test_jose_decoding_helpers() -> None:
    assert b64url_decode("YQ").data == b"a" and b64url_decode("YQ").canonical
    assert not b64url_decode("YQ==").canonical
    with pytest.raises(ValueError, match="impossible base64 length"):
        b64url_decode("Y")
    with pytest.raises(ValueError, match="is not base64url"):
        b64url_decode("a*b")
    res = parse_json(b'{"a": 1, "a": 2, "b": NaN} x')
    assert res.ok and res.value["a"] == 2 and res.duplicates == ["a"] and res.trailing == 1
    assert math.isnan(res.value["b"])
    assert not parse_json(b"\xff").ok
    assert not parse_json(b"[" * 5000).ok
    assert parse_json(b"1" * 5000).value == math.inf


# -- header and payload oddities ----------------------------------------------------------------
def test_duplicate_keys_reported() -> None:
    exp = int(NOW.timestamp()) + 60
    payload = (
        '{"sub":"1","iss":"authconsole","aud":"authconsole","exp":' + str(exp) + ',"typ":"access","sub":"2"}'
    )
    tok = hs_token('{"alg":"HS256","alg":"HS256"}', payload)
    r = inspect(tok)
    assert r.payload["sub"] == "2"
    assert any("duplicate key 'sub'" in n for n in r.notes)
    assert any("duplicate key 'alg'" in n for n in r.notes)
    assert any("duplicate claims 'sub'" in w for w in r.warnings)
    assert any("header has duplicate keys" in w for w in r.warnings)


def test_trailing_data_after_payload_json_is_malformed() -> None:
    r = inspect(hs_token({"alg": "HS256"}, json.dumps(claims()) + "garbage"))
    assert r.status == "malformed" and "trailing data" in r.reason
    assert r.payload is not None  # still shown


def test_payload_not_json_shown() -> None:
    r = inspect(hs_token({"alg": "HS256"}, "just some text"))
    assert r.status == "unsupported" and r.payload_text == "just some text"
    assert r.signature.verified is True
    r = inspect(hs_token({"alg": "HS256"}, b"\x00\xff\xfe"))
    assert r.status == "unsupported" and r.payload_type == "binary"
    r = inspect(hs_token({"alg": "HS256"}, "[1, 2]"))
    assert r.status == "unsupported" and r.payload_type == "json"
    r = inspect(hs_token({"alg": "HS256"}, '{"sub": '))
    assert r.status == "malformed" and "not valid JSON" in r.reason


def test_unknown_crit_is_shown_and_unsupported() -> None:
    # PyJWT refuses this even unverified; the inspector shows it
    tok = hs_token({"alg": "HS256", "crit": ["exp2"], "exp2": 1}, claims())
    with pytest.raises(jwt.InvalidTokenError):
        jwt.decode(tok, options={"verify_signature": False})
    r = inspect(tok)
    assert r.status == "unsupported" and "'exp2'" in r.reason
    assert r.payload == claims() and r.signature.verified is True
    assert inspect(hs_token({"alg": "HS256", "crit": "b64"}, claims())).status == "malformed"


def test_b64_false_inline_payload() -> None:
    header = {"alg": "HS256", "b64": False, "crit": ["b64"]}
    h = b64(json.dumps(header))
    signing = f"{h}.$.02".encode()
    tok = f"{h}.$.02.{b64(hmac.new(SECRET.encode(), signing, 'sha256').digest())}"
    # '$.02' holds a '.', so this is 4 segments: not a JWT
    assert inspect(tok).status == "malformed"
    signing = f"{h}.hello".encode()
    tok = f"{h}.hello.{b64(hmac.new(SECRET.encode(), signing, 'sha256').digest())}"
    r = inspect(tok)
    assert r.b64 is False and r.status == "unsupported" and "b64: false" in r.reason
    assert r.signature.verified is True and r.payload_text == "hello"


def test_header_problems_are_malformed() -> None:
    for header in ('"str"', "[1]", "{", '{"typ":"JWT"}', '{"alg": 5}', '{"alg":"HS256"} x'):
        r = inspect(hs_token(header, claims()))
        assert r.status == "malformed", header
    r = inspect(hs_token({"alg": "HS1"}, claims()))
    assert r.status == "unsupported" and "'HS1'" in r.reason
    r = inspect("!!!.e30.sig")
    assert r.status == "malformed"


# -- time claims --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("literal", "note"),
    [
        ("true", "boolean"),
        ('"1700000000"', "string holding a number"),
        ('"tomorrow"', "a string"),
        ("null", "NoneType"),
        ("[1]", "list"),
        ("{}", "dict"),
        ("1e400", "infinite"),
        ("-1e400", "infinite"),
        ("1" + "0" * 400, "infinite"),
        ("9" * 5000, "infinite"),
        ("Infinity", "infinite"),
    ],
)
def test_exp_of_the_wrong_type(literal: str, note: str) -> None:
    body = json.dumps(claims(exp=...))[:-1] + ', "exp": ' + literal + "}"
    r = inspect(hs_token({"alg": "HS256"}, body))
    assert r.status == "malformed", r.reason
    assert note in (r.times["exp"].note or "")
    assert_json_safe(r)


def test_nan_exp() -> None:
    payload = json.dumps(claims()).replace(f'"exp": {claims()["exp"]}', '"exp": NaN')
    r = inspect(hs_token({"alg": "HS256"}, payload))
    assert r.status == "malformed" and "NaN" in r.reason
    assert any("NaN" in n for n in r.notes)
    data = assert_json_safe(r)
    assert data["payload"]["exp"] == "NaN" and data["times"]["exp"]["raw"] == "NaN"


def test_milliseconds_guard() -> None:
    ms = int((NOW + timedelta(minutes=10)).timestamp() * 1000)
    r = inspect(hs_token({"alg": "HS256"}, claims(exp=ms)))
    t = r.times["exp"]
    assert "looks like milliseconds" in t.note and "2026-11-27T14:38:00Z" in t.note
    assert t.iso is None and "beyond" in t.note
    # verifiers read seconds: such a token does not expire in practice; lifetime looks absurd
    assert r.status == "valid"
    assert any("lifetime" in w for w in r.warnings)
    # an iat in milliseconds is far in the future for a verifier
    r = inspect(hs_token({"alg": "HS256"}, claims(exp=ms, iat=ms - 600_000)))
    assert r.status == "not_yet_valid" and "looks like milliseconds" in r.times["iat"].note


def test_float_and_negative_times() -> None:
    r = inspect(hs_token({"alg": "HS256"}, claims(exp=NOW.timestamp() + 30.5, iat=-5)))
    assert r.status == "valid" and r.times["exp"].iso.endswith(".500000Z")
    assert "before 1970" in r.times["iat"].note


def test_auth_time_shown_but_not_judged() -> None:
    r = inspect(hs_token({"alg": "HS256"}, claims(auth_time="yesterday")))
    assert r.status == "valid" and r.times["auth_time"].note == "a string, not a time"
    r = inspect(hs_token({"alg": "HS256"}, claims(auth_time=int(NOW.timestamp()) - 3600)))
    assert r.times["auth_time"].relative == "1 h ago"


# -- warnings: every one listed in the issue ---------------------------------------------------
def test_warning_alg_none() -> None:
    for alg in ("none", "None", "NONE"):
        tok = f"{b64(json.dumps({'alg': alg}))}.{b64(json.dumps(claims()))}."
        r = inspect(tok)
        assert r.signature.verified is False and r.status in ("invalid_signature", "unsupported")
        assert r.status != "valid"
    r = inspect(f"{b64(json.dumps({'alg': 'none'}))}.{b64(json.dumps(claims()))}.")
    assert r.status == "invalid_signature"
    assert "alg none: the token is unsigned and is never accepted" in r.warnings
    assert (
        inspect(f"{b64(json.dumps({'alg': 'none'}))}.{b64(json.dumps(claims()))}.", keys=None).status
        == "invalid_signature"
    )


def test_warning_missing_exp() -> None:
    r = inspect(hs_token({"alg": "HS256"}, claims(exp=...)))
    assert "no exp claim: the token never expires" in r.warnings
    assert "no exp" in r.reason


def test_warning_lifetime_longer_than_maximum() -> None:
    iat = int(NOW.timestamp())
    r = inspect(hs_token({"alg": "HS256"}, claims(typ="refresh", iat=iat, exp=iat + 90 * 86400)))
    assert "lifetime 90 d is longer than the configured maximum 30 d" in r.warnings
    settings = TokenSettings(secret=SECRET, max_lifetime=timedelta(days=100))
    r = inspect(
        hs_token({"alg": "HS256"}, claims(typ="refresh", iat=iat, exp=iat + 90 * 86400)), settings=settings
    )
    assert not any("lifetime" in w for w in r.warnings)
    r = inspect(hs_token({"alg": "HS256"}, claims(iat=..., exp=iat + 400 * 86400)))
    assert any("beyond the configured maximum lifetime" in w for w in r.warnings)


def test_warning_hmac_key_shorter_than_hash() -> None:
    short = "short-secret"
    tok = hs_token({"alg": "HS512"}, claims(), secret=short, digest="sha512")
    r = inspect(tok, keys=[key_from_secret(short, "HS512")])
    assert r.status == "valid"
    assert any("is 12 bytes, shorter than its 64-byte hash" in w for w in r.warnings)
    assert not any("shorter" in w for w in inspect(hs_token({"alg": "HS256"}, claims())).warnings)


@pytest.mark.parametrize("param", ["jku", "x5u", "jwk", "x5c"])
def test_warning_key_url_headers_never_fetched(param: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket
    import urllib.request

    def no_network(*a: Any, **k: Any) -> None:
        raise AssertionError("the inspector must not touch the network")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    value: Any = {
        "jku": "https://attacker.example/jwks.json",
        "x5u": "https://attacker.example/cert.pem",
        "jwk": {"kty": "oct", "k": b64(b"attacker")},
        "x5c": ["MIIBIjANBg"],
    }[param]
    # signed with the attacker's own key, which the header advertises
    tok = hs_token({"alg": "HS256", param: value}, claims(), secret="attacker")
    r = inspect(tok)
    assert r.status == "invalid_signature"
    assert any(w.startswith(f"header carries {param} ") and "never fetched" in w for w in r.warnings)
    assert r.header[param] == value


def test_warning_kid_matches_no_key() -> None:
    keys = [hs_key(kid="k1"), hs_key("other-" + "q" * 40, kid="k2")]
    tok = hs_token({"alg": "HS256", "kid": "k9"}, claims())
    r = inspect(tok, keys=keys)
    assert "kid 'k9' matches no configured key" in r.warnings
    assert r.status == "unverified" and "no configured key matches kid 'k9'" in r.reason
    ok = inspect(hs_token({"alg": "HS256", "kid": "k1"}, claims()), keys=keys)
    assert ok.status == "valid" and not ok.warnings and "kid=k1" in ok.signature.key


def test_warning_typ_does_not_match_its_use() -> None:
    iat = int(NOW.timestamp())
    r = inspect(hs_token({"alg": "HS256"}, claims(typ="access", iat=iat, exp=iat + 30 * 86400)))
    assert any("typ 'access' but its lifetime (30 d)" in w for w in r.warnings)
    assert r.claims["typ"]["ok"] is False
    r = inspect(hs_token({"alg": "HS256"}, claims(typ="access", rc=0)))
    assert any("carries rc" in w for w in r.warnings)
    r = inspect(hs_token({"alg": "HS256"}, claims(typ="refresh", iat=iat, exp=iat + 600)))
    assert any("typ 'refresh' with an access-token lifetime" in w for w in r.warnings)
    r = inspect(hs_token({"alg": "HS256"}, claims(typ="id_token")))
    assert "typ claim 'id_token' is neither access nor refresh" in r.warnings
    r = inspect(hs_token({"alg": "HS256"}, claims(typ=...)))
    assert any(w.startswith("no typ claim") for w in r.warnings)
    r = inspect(hs_token({"alg": "HS256", "typ": "dpop+jwt"}, claims()))
    assert "header typ 'dpop+jwt' does not mark a JWT" in r.warnings


# -- attacks ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def rsa_pair() -> tuple[Any, bytes]:
    priv = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = priv.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return priv, pem


def test_alg_confusion_rsa_public_pem_as_hmac_secret(rsa_pair: tuple[Any, bytes]) -> None:
    _priv, pem = rsa_pair
    key = key_from_pem(pem)
    assert key.alg == "RS256"
    forged = hs_token({"alg": "HS256"}, claims(), secret=pem)
    r = inspect(forged, keys=[key])
    # no key fits HS256: nothing is tried, so the token stays unverified (never valid)
    assert r.signature.verified is None and r.status == "unverified"
    assert "pinned" in r.signature.detail and "never the header" in r.signature.detail
    assert r.signature.tried == ["RS256 (PEM): pinned to RS256, the header says 'HS256'"]


def test_rs256_minted_and_tampered(rsa_pair: tuple[Any, bytes]) -> None:
    priv, pem = rsa_pair
    signer = Key(alg="RS256", verify_key=priv.public_key(), sign_key=priv, kid="r1")
    tok = service(key=signer).issue_pair(42, token_version=3, now=NOW).access_token
    verifier = key_from_pem(pem, kid="r1")
    assert inspect(tok, keys=[verifier]).status == "valid"
    h, p, s = tok.split(".")
    body = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
    body["sub"] = "1"
    tampered = f"{h}.{b64(json.dumps(body))}.{s}"
    r = inspect(tampered, keys=[verifier])
    assert r.status == "invalid_signature" and r.payload["sub"] == "1"
    # PS256 pinned on the same RSA key does not fit an RS256 token: not tried, unverified
    assert inspect(tok, keys=[key_from_pem(pem, alg="PS256")]).status == "unverified"


def test_es256_and_wrong_curve() -> None:
    priv = ec.generate_private_key(ec.SECP256R1())
    signer = Key(alg="ES256", verify_key=priv.public_key(), sign_key=priv)
    tok = service(key=signer).issue_pair(1, token_version=0, now=NOW).access_token
    assert inspect(tok, keys=[Key("ES256", priv.public_key())]).status == "valid"
    other = ec.generate_private_key(ec.SECP384R1())
    r = inspect(tok, keys=[Key("ES384", other.public_key())])
    assert r.status == "unverified" and "no configured key is for 'ES256'" in r.reason


def test_tampered_hs_payload() -> None:
    tok = service().issue_pair(42, token_version=3, now=NOW).access_token
    h, p, s = tok.split(".")
    body = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
    body["token_version"] = 99
    r = inspect(f"{h}.{b64(json.dumps(body))}.{s}")
    assert r.status == "invalid_signature"
    assert inspect(f"{h}.{p}.{s[:-4]}AAAA").status == "invalid_signature"
    assert inspect(f"{h}.{p}.").status == "invalid_signature"


def test_kid_path_traversal_is_only_a_name(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    opened: list[str] = []
    real_open = builtins.open

    def spy(file: Any, *a: Any, **k: Any) -> Any:
        opened.append(str(file))
        return real_open(file, *a, **k)

    monkeypatch.setattr(builtins, "open", spy)
    monkeypatch.setattr(Path, "read_bytes", lambda self: opened.append(str(self)) or b"")
    keys = [hs_key(kid="k1"), hs_key("other-" + "q" * 40, kid="k2")]
    for kid in ("../../etc/passwd", "/etc/passwd", "file:///etc/passwd", "k1/../../etc/passwd"):
        tok = hs_token({"alg": "HS256", "kid": kid}, claims())
        r = inspect(tok, keys=keys)
        assert r.status == "unverified" and r.signature.verified is None
        assert any("matches no configured key" in w for w in r.warnings)
    assert not [p for p in opened if "passwd" in p]


def test_huge_payload_within_cap() -> None:
    big = claims(blob="A" * 30_000, many={f"k{i}": i for i in range(1000)})
    tok = hs_token({"alg": "HS256"}, big)
    assert 50_000 < len(tok) <= MAX_SIZE
    r = inspect(tok)
    assert r.status == "valid" and len(r.payload["blob"]) == 30_000
    assert_json_safe(r)


def test_deeply_nested_payload() -> None:
    deep = '{"sub":"1","x":' + "[" * 20_000 + "]" * 20_000 + "}"
    r = inspect(hs_token({"alg": "HS256"}, deep))
    assert r.status == "malformed" and "nested" in r.reason
    ok = claims(x=json.loads("[" * 40 + "]" * 40))
    assert inspect(hs_token({"alg": "HS256"}, ok)).status == "valid"
    cut = '{"x":' + "[" * 60 + "]" * 60 + "}"
    data = assert_json_safe(inspect(hs_token({"alg": "HS256"}, cut), settings=None))
    assert data["payload"] is not None


def test_control_chars_and_markup_in_claims_are_cleaned_in_messages() -> None:
    evil = "\x1b[31mred\x1b]8;;https://x\x07link\u202e[bold]x[/bold]\u200b\x00"
    tok = hs_token({"alg": "HS256", "kid": evil, "typ": evil}, claims(iss=evil, aud=evil, typ=evil, sub=evil))
    r = inspect(tok, keys=[hs_key(kid="k1"), hs_key("o" * 40, kid="k2")])
    messages = [
        r.reason,
        *r.warnings,
        *r.notes,
        r.signature.detail,
        *(c["detail"] for c in r.claims.values()),
    ]
    for m in messages:
        assert "\x1b" not in m and "\u202e" not in m and "\x00" not in m and "\x07" not in m
    assert r.payload["iss"] == evil  # data stays as it is; output layers clean it
    dumped = json.dumps(r.to_dict(), ensure_ascii=True)
    assert "\x1b" not in dumped


def test_lone_surrogates_are_json_safe() -> None:
    r = inspect(hs_token({"alg": "HS256"}, '{"sub": "\\ud800", "exp": 1}'), settings=None)
    data = assert_json_safe(r)
    assert data["payload"]["sub"] == "\ufffd"
    json.dumps(data, ensure_ascii=False).encode("utf-8")


def test_report_shape() -> None:
    r = inspect(service().issue_pair(42, token_version=3, now=NOW).access_token)
    data = assert_json_safe(r)
    assert {
        "status",
        "reason",
        "header",
        "payload",
        "signature",
        "warnings",
        "times",
        "user",
        "fingerprint",
        "kind",
        "segments",
        "notes",
        "live",
        "claims",
    } <= set(data)
    assert set(data["signature"]) >= {"verified", "kid", "key", "alg", "detail"}
    assert set(data["times"]["exp"]) == {"raw", "iso", "relative", "note"}
    assert data["kind"] == "jws" and [s["name"] for s in data["segments"]] == [
        "header",
        "payload",
        "signature",
    ]
    assert data["user"] is None and isinstance(data["warnings"], list)


def test_never_raises_on_odd_arguments() -> None:
    assert inspect_token(None).status == "malformed"  # type: ignore[arg-type]
    assert inspect_token(12345).status == "malformed"  # type: ignore[arg-type]
    assert inspect_token("a.b.c", keys=["not a key"]).status == "malformed"  # type: ignore[list-item]
    naive = inspect_token(
        service().issue_pair(1, token_version=0, now=NOW).access_token,
        keys=[hs_key()],
        now=NOW.replace(tzinfo=None),
    )
    assert naive.status == "valid"


def test_token_wrapped_across_lines_is_rejoined() -> None:
    import jwt as _jwt

    from authcore.inspect import inspect_token as _inspect

    tok = _jwt.encode({"sub": "1", "exp": 9999999999}, "k" * 32, algorithm="HS256")
    wrapped = "Bearer " + tok[:40] + "\n" + tok[40:90] + "\r\n   " + tok[90:]
    rep = _inspect(wrapped)
    assert rep.status == "unverified" and rep.to_dict()["payload"]["sub"] == "1"
    assert any("rejoined" in n for n in rep.to_dict()["notes"])
    assert _inspect("two words. and.more").status == "malformed"
