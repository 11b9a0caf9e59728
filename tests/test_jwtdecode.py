"""``authcore.jwtdecode`` decides exactly as ``jwt.decode`` does: same payload, or the same
exception class with the same message, on valid, tampered, malformed and odd-claim tokens."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from authcore.jwtdecode import KeyDecoder
from authcore.tokens import _REQUIRED

AUD, ISS, LEEWAY = "authconsole", "authconsole", 5.0
HS_SECRET = b"jwtdecode-test-secret-" + b"s" * 32

_RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
_EC = ec.generate_private_key(ec.SECP256R1())
_ED = ed25519.Ed25519PrivateKey.generate()
KEYS: dict[str, tuple[Any, Any]] = {  # alg: (signing key, verification key)
    "HS256": (HS_SECRET, HS_SECRET),
    "HS512": (HS_SECRET * 2, HS_SECRET * 2),
    "RS256": (_RSA, _RSA.public_key()),
    "PS384": (_RSA, _RSA.public_key()),
    "ES256": (_EC, _EC.public_key()),
    "EdDSA": (_ED, _ED.public_key()),
}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(**over: Any) -> dict[str, Any]:
    now = int(time.time())
    c: dict[str, Any] = {
        "sub": "42",
        "typ": "access",
        "token_version": 0,
        "iat": now - 60,
        "exp": now + 600,
        "jti": "j" * 24,
        "iss": ISS,
        "aud": AUD,
    }
    for k, v in over.items():
        if v is _DROP:
            c.pop(k, None)
        else:
            c[k] = v
    return c


_DROP = object()


def sign(
    payload: Any, alg: str = "HS256", header: dict[str, Any] | None = None, raw_payload: bytes | None = None
) -> str:
    """Sign anything (even a non-object payload, or a hand-written header) with a valid
    signature, so that only the checks after the signature decide."""
    h = {"alg": alg, "typ": "JWT", **(header or {})}
    body = raw_payload if raw_payload is not None else json.dumps(payload).encode()
    signing_input = f"{b64(json.dumps(h).encode())}.{b64(body)}".encode()
    alg_obj = jwt.get_algorithm_by_name(alg)
    sig = alg_obj.sign(signing_input, alg_obj.prepare_key(KEYS[alg][0]))
    return f"{signing_input.decode()}.{b64(sig)}"


def outcome(fn: Any, token: Any) -> tuple[str, Any]:
    try:
        return ("ok", fn(token))
    except jwt.PyJWTError as exc:
        return (type(exc).__name__, str(exc))


def both(token: Any, alg: str = "HS256", audience: str | None = AUD) -> tuple[Any, Any]:
    vkey = KEYS[alg][1]
    ours = KeyDecoder(alg, vkey, audience=audience, issuer=ISS, leeway=LEEWAY, require=_REQUIRED)
    theirs = outcome(
        lambda t: jwt.decode(
            t,
            vkey,
            algorithms=[alg],
            audience=audience,
            issuer=ISS,
            leeway=LEEWAY,
            options={"require": list(_REQUIRED)},
        ),
        token,
    )
    return outcome(ours.decode, token), theirs


@pytest.mark.parametrize("alg", sorted(KEYS))
def test_valid_tokens_decode_the_same(alg: str) -> None:
    token = jwt.encode(claims(), KEYS[alg][0], algorithm=alg)
    ours, theirs = both(token, alg)
    assert ours == theirs
    assert ours[0] == "ok" and ours[1]["sub"] == "42"


@pytest.mark.parametrize("alg", sorted(KEYS))
def test_tampered_signature_and_payload_refused_the_same(alg: str) -> None:
    token = jwt.encode(claims(), KEYS[alg][0], algorithm=alg)
    h, p, s = token.split(".")
    forged = b64(json.dumps(claims(sub="1")).encode())
    flipped = s[:-2] + ("A" if s[-2] != "A" else "B") + s[-1]
    for bad in (f"{h}.{forged}.{s}", f"{h}.{p}.{flipped}", f"{h}.{p}.", f"{h}.{p}"):
        ours, theirs = both(bad, alg)
        assert ours == theirs
        assert ours[0] != "ok"


CLAIM_CASES: list[dict[str, Any]] = [
    {"exp": _DROP},
    {"iat": _DROP},
    {"sub": _DROP},
    {"jti": _DROP},
    {"typ": _DROP},
    {"token_version": _DROP},
    {"iss": _DROP},
    {"aud": _DROP},
    {"exp": None},
    {"exp": int(time.time()) - 3600},
    {"exp": "9999999999"},
    {"exp": 9e18},
    {"exp": 1e400},
    {"exp": True},
    {"exp": "soon"},
    {"exp": [1]},
    {"iat": int(time.time()) + 3600},
    {"iat": "x"},
    {"iat": 1.5},
    {"nbf": int(time.time()) + 3600},
    {"nbf": "x"},
    {"nbf": int(time.time()) - 10},
    {"iss": "someone-else"},
    {"iss": 7},
    {"aud": "other"},
    {"aud": [AUD, "other"]},
    {"aud": ["other"]},
    {"aud": [AUD, 3]},
    {"aud": {"a": 1}},
    {"aud": ""},
    {"aud": []},
    {"sub": 42},
    {"jti": 7},
    {"typ": "refresh"},
]


@pytest.mark.parametrize("over", CLAIM_CASES, ids=lambda o: ",".join(f"{k}" for k in o))
def test_claim_rules_match_pyjwt(over: dict[str, Any]) -> None:
    ours, theirs = both(sign(claims(**over)))
    assert ours == theirs


def test_claim_rules_without_an_audience_match_pyjwt() -> None:
    for over in ({"aud": _DROP}, {"aud": AUD}, {"aud": ""}):
        ours, theirs = both(sign(claims(**over)), audience=None)
        assert ours == theirs


HEADER_CASES: list[dict[str, Any]] = [
    {"alg": "none"},
    {"alg": "HS512"},
    {"alg": ""},
    {"alg": None},
    {"alg": ["HS256"]},
    {"kid": 7},
    {"kid": "k1"},
    {"crit": []},
    {"crit": "b64"},
    {"crit": [1]},
    {"crit": ["exp"]},
    {"crit": ["b64"]},
    {"crit": ["b64"], "b64": True},
    {"crit": ["b64"], "b64": False},
    {"b64": False},
    {"b64": "no"},
]


@pytest.mark.parametrize("header", HEADER_CASES, ids=lambda h: json.dumps(h))
def test_header_rules_match_pyjwt(header: dict[str, Any]) -> None:
    token = sign(claims(), header=header)
    ours, theirs = both(token)
    assert ours == theirs


def test_header_without_alg_and_non_object_parts_match_pyjwt() -> None:
    head = b64(json.dumps({"typ": "JWT"}).encode())
    body = b64(json.dumps(claims()).encode())
    cases = [
        f"{head}.{body}.{b64(b'x' * 32)}",
        sign([1, 2]),
        sign("text"),
        sign(None, raw_payload=b"\xff\xfe"),
        sign(None, raw_payload=b"{bad json"),
        f"{b64(b'[1]')}.{body}.x",
        f"{b64(b'{')}.{body}.x",
        f"{b64(b'nope')}.{body}.x",
    ]
    for token in cases:
        ours, theirs = both(token)
        assert ours == theirs
        assert ours[0] != "ok"


def test_base64_strictness_matches_pyjwt() -> None:
    token = sign(claims())
    h, p, s = token.split(".")
    cases = [
        f"{h}=.{p}.{s}",
        f"{h}.{p}.{s}=",
        f"{h}.{p}.{s}==",
        f"{h}.{p}.{s}===",
        f"{h}.{p}!.{s}",
        f"{h}.{p}.{s}+",
        f"{h}.{p}/.{s}",
        f"{h}.{p}.{s[:-1]}",
        f"{h}.{p}A.{s}",
        f"{h}.{p}.{s}.{s}",
        "a.b",
        "",
        ".",
        "..",
        "...",
        f"{h}.{p}.{s[:-1]}{chr(ord(s[-1]) + 1)}",
        f" {token}",
        f"{token}\n",
        f"{h}.{p}.{s}é",
    ]
    if len(s) % 4:  # a padded signature where padding is allowed
        cases.append(f"{h}.{p}.{s}{'=' * (-len(s) % 4)}")
    for bad in cases:
        ours, theirs = both(bad)
        assert ours == theirs, bad


def test_rsa_public_key_as_hmac_secret_is_refused() -> None:
    """Algorithm confusion: the header says HS256, the decoder holds an RSA key."""
    from cryptography.hazmat.primitives import serialization

    pem = _RSA.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    body = f"{b64(json.dumps({'alg': 'HS256', 'typ': 'JWT'}).encode())}.{b64(json.dumps(claims()).encode())}"
    import hashlib
    import hmac

    sig = hmac.new(pem, body.encode(), hashlib.sha256).digest()
    ours, theirs = both(f"{body}.{b64(sig)}", "RS256")
    assert ours == theirs == ("InvalidAlgorithmError", "The specified alg value is not allowed")


_ALPHA = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ !é"
_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True),
    st.text(max_size=8),
    st.lists(st.one_of(st.text(max_size=4), st.integers()), max_size=3),
    st.sampled_from([AUD, ISS, int(time.time()) + 900, int(time.time()) - 900]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(
        st.sampled_from(["exp", "iat", "nbf", "iss", "aud", "sub", "jti", "typ", "token_version", "x"]),
        _VALUES,
        max_size=6,
    ),
    st.lists(st.sampled_from(["exp", "iat", "nbf", "iss", "aud", "sub", "jti"]), max_size=3),
)
def test_random_claims_decide_the_same(over: dict[str, Any], drop: list[str]) -> None:
    c = claims(**over)
    for k in drop:
        c.pop(k, None)
    try:
        token = sign(c)
    except ValueError:  # NaN is valid JSON for json.dumps but keep the token printable
        return
    ours, theirs = both(token)
    assert ours == theirs


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 400), st.sampled_from(["set", "insert", "delete"]), st.sampled_from(_ALPHA)),
        min_size=1,
        max_size=4,
    )
)
def test_random_edits_of_a_valid_token_decide_the_same(edits: list[tuple[int, str, str]]) -> None:
    token = list(sign(claims()))
    for pos, op, ch in edits:
        i = pos % (len(token) + 1)
        if op == "insert":
            token.insert(i, ch)
        elif token and i < len(token):
            if op == "set":
                token[i] = ch
            else:
                del token[i]
    ours, theirs = both("".join(token))
    assert ours == theirs


# -- through TokenService.decode: several keys, matched by kid ------------------------------------


def _reference_decode(svc: Any, token: str, typ: str = "access") -> tuple[str, str]:
    """TokenService.decode as it was on jwt.decode: keys by kid, a bad signature tries the
    next key, anything else refuses at once."""
    try:
        head = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "==="))
        kid = head.get("kid") if isinstance(head, dict) else None
    except Exception:  # noqa: BLE001
        kid = None
    keys = svc.keyring.candidates(kid if isinstance(kid, str) else None)
    if not keys:
        return ("TokenError", "no key matches the token's kid")
    last: Exception | None = None
    for key in keys:
        try:
            payload = jwt.decode(
                token,
                key.verify_key,
                algorithms=[key.alg],
                audience=AUD,
                issuer=ISS,
                leeway=LEEWAY,
                options={"require": list(_REQUIRED)},
            )
            break
        except jwt.InvalidSignatureError as exc:
            last = exc
        except jwt.ExpiredSignatureError:
            return ("TokenExpired", "token expired")
        except jwt.InvalidTokenError as exc:
            return ("TokenError", f"invalid token: {exc}")
    else:
        return ("TokenError", f"invalid token: {last}")
    if payload.get("typ") != typ:
        return ("TokenError", f"not an {typ} token")
    try:
        return ("ok", str(int(payload["sub"])))
    except (TypeError, ValueError):
        return ("TokenError", "sub claim is not a user id")


def _ours(svc: Any, token: str) -> tuple[str, str]:
    from authcore.errors import TokenError

    try:
        return ("ok", str(svc.decode(token, "access").user_id))
    except TokenError as exc:
        return (type(exc).__name__, str(exc))


def _service(keys: list[Any]) -> Any:
    from authcore.config import TokenSettings
    from authcore.keys import KeyRing
    from authcore.tokens import TokenService

    ts = TokenSettings(issuer=ISS, audience=AUD, leeway=__import__("datetime").timedelta(seconds=LEEWAY))
    return TokenService(None, ts, KeyRing(signing=keys[0], keys=keys))


def test_keyring_decisions_match_jwt_decode_key_by_key() -> None:
    from authcore.keys import Key, key_from_secret

    other = b"another-secret-" + b"o" * 40
    k1 = key_from_secret(HS_SECRET, "HS256", kid="k1")
    k2 = key_from_secret(other, "HS256", kid="k2")
    rsa_k = Key(alg="RS256", verify_key=_RSA.public_key(), sign_key=_RSA, kid="r1")
    plain_a = key_from_secret(other, "HS256")  # no kid
    plain_b = key_from_secret(HS_SECRET, "HS256")  # no kid, the right one second
    rings = {
        "by kid": _service([k1, k2, rsa_k]),
        "kid-less, wrong key first": _service([plain_a, plain_b]),
        "mixed algorithms, no kid": _service(
            [key_from_secret(other, "HS256"), Key(alg="RS256", verify_key=_RSA.public_key())]
        ),
    }
    good = claims()
    tokens = {
        "k1": jwt.encode(good, HS_SECRET, algorithm="HS256", headers={"kid": "k1"}),
        "k2": jwt.encode(good, other, algorithm="HS256", headers={"kid": "k2"}),
        "k2 signed by k1": jwt.encode(good, HS_SECRET, algorithm="HS256", headers={"kid": "k2"}),
        "r1": jwt.encode(good, _RSA, algorithm="RS256", headers={"kid": "r1"}),
        "r1 as HS256": jwt.encode(good, HS_SECRET, algorithm="HS256", headers={"kid": "r1"}),
        "unknown kid": jwt.encode(good, HS_SECRET, algorithm="HS256", headers={"kid": "k9"}),
        "no kid, secret": jwt.encode(good, HS_SECRET, algorithm="HS256"),
        "no kid, other": jwt.encode(good, other, algorithm="HS256"),
        "no kid, rsa": jwt.encode(good, _RSA, algorithm="RS256"),
        "expired": jwt.encode(
            claims(exp=int(time.time()) - 3600), HS_SECRET, algorithm="HS256", headers={"kid": "k1"}
        ),
        "refresh": jwt.encode(claims(typ="refresh"), HS_SECRET, algorithm="HS256"),
        "sub not an id": jwt.encode(claims(sub="x"), HS_SECRET, algorithm="HS256"),
        "kid not a string": sign(claims(), header={"kid": 5}),
        "garbage": "not.a.token",
    }
    outcomes = set()
    for ring_name, svc in rings.items():
        for name, token in tokens.items():
            ours, ref = _ours(svc, token), _reference_decode(svc, token)
            assert ours == ref, (ring_name, name)
            outcomes.add(ours[0])
    assert {"ok", "TokenError", "TokenExpired"} <= outcomes


def test_short_hmac_key_warns_once_when_prepared() -> None:
    from jwt.warnings import InsecureKeyLengthWarning

    with pytest.warns(InsecureKeyLengthWarning):
        dec = KeyDecoder("HS256", b"short", audience=AUD, issuer=ISS, leeway=LEEWAY, require=_REQUIRED)
    with pytest.warns(InsecureKeyLengthWarning):  # PyJWT's signing warns too
        token = jwt.encode(claims(), b"short", algorithm="HS256")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert dec.decode(token)["sub"] == "42"
