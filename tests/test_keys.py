"""authcore.keys: each loader pins one algorithm to one key, refuses what it cannot use with one
``ConfigError`` line, and ``KeyRing`` picks the keys a token's ``kid`` may use.

(The inspector's key handling, JWK edge cases against other JOSE libraries, lives in
tests/test_inspect_jose.py; this file covers the loaders and the ring themselves.)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from authcore.config import KeySpec, TokenSettings
from authcore.errors import ConfigError
from authcore.keys import (
    Key,
    KeyRing,
    key_from_jwk,
    key_from_pem,
    key_from_secret,
    keys_from_file,
    keys_from_jwks,
)

SECRET = "k" * 64  # long enough for HS512


def pem_private(key: Any) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def pem_public(key: Any) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def roundtrip(signer: Key, verifier: Key) -> dict[str, Any]:
    """Sign with one key and verify with the other, pinned to the verifier's algorithm."""
    token = jwt.encode({"sub": "1"}, signer.sign_key, algorithm=signer.alg)
    return jwt.decode(token, verifier.verify_key, algorithms=[verifier.alg])


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


# -- shared secrets ------------------------------------------------------------------------------


def test_secret_key_signs_and_verifies_with_its_hs_algorithm() -> None:
    key = key_from_secret(SECRET, "HS384", kid="k1")
    assert (key.alg, key.kid, key.is_hmac) == ("HS384", "k1", True)
    assert key.verify_key == key.sign_key == SECRET.encode()
    assert key_from_secret(SECRET.encode()).verify_key == key.verify_key  # str or bytes alike
    assert roundtrip(key, key) == {"sub": "1"}
    assert key.describe() == "HS384 kid=k1 (secret)"


@pytest.mark.parametrize(("alg", "short", "enough"), [("HS256", 31, 32), ("HS512", 63, 64)])
def test_hmac_too_short_is_shorter_than_the_hash_output(alg: str, short: int, enough: int) -> None:
    assert key_from_secret("x" * short, alg).hmac_too_short
    assert not key_from_secret("x" * enough, alg).hmac_too_short


@pytest.mark.parametrize(
    ("secret", "alg", "why"),
    [
        (SECRET, "RS256", r"needs an HS\* algorithm, not RS256"),
        ("", "HS256", "the HMAC key is empty"),
    ],
)
def test_secret_key_refusals(secret: str, alg: str, why: str) -> None:
    with pytest.raises(ConfigError, match=why):
        key_from_secret(secret, alg)


# -- PEM -----------------------------------------------------------------------------------------


def test_pem_private_key_signs_and_its_public_half_verifies(ec_key: Any) -> None:
    priv = key_from_pem(pem_private(ec_key), kid="e1")
    pub = key_from_pem(pem_public(ec_key))
    assert (priv.alg, pub.alg) == ("ES256", "ES256")  # the algorithm follows the curve
    assert priv.sign_key is not None and pub.sign_key is None
    assert roundtrip(priv, pub) == {"sub": "1"}


def test_pem_algorithm_follows_the_key_type(rsa_key: Any) -> None:
    assert key_from_pem(pem_public(rsa_key)).alg == "RS256"
    assert key_from_pem(pem_public(rsa_key), alg="PS384").alg == "PS384"
    ed = ed25519.Ed25519PrivateKey.generate()
    assert key_from_pem(pem_private(ed)).alg == "EdDSA"


@pytest.mark.parametrize(
    ("alg", "why"), [("RS256", "is for ES256, not RS256"), ("EdDSA", "is for ES256, not EdDSA")]
)
def test_pem_refuses_an_algorithm_the_key_cannot_do(ec_key: Any, alg: str, why: str) -> None:
    with pytest.raises(ConfigError, match=why):
        key_from_pem(pem_public(ec_key), alg=alg)


def test_pem_garbage_is_one_config_error_line() -> None:
    with pytest.raises(ConfigError) as info:
        key_from_pem(b"-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n", source="bad.pem")
    text = str(info.value)
    assert text.startswith("bad.pem: not a usable PEM key (") and "\n" not in text


# -- JWK and JWK Sets ----------------------------------------------------------------------------


def ec_jwk(key: Any, **extra: Any) -> dict[str, Any]:
    return {**json.loads(ECAlgorithm.to_jwk(key.public_key())), **extra}


def test_jwk_public_key_verifies_what_the_private_pem_signed(ec_key: Any) -> None:
    pub = key_from_jwk(ec_jwk(ec_key, kid="j1"))
    assert (pub.alg, pub.kid, pub.sign_key, pub.refusal) == ("ES256", "j1", None, None)
    assert roundtrip(key_from_pem(pem_private(ec_key)), pub) == {"sub": "1"}


def test_oct_jwk_is_a_shared_secret() -> None:
    k = jwt.utils.base64url_encode(SECRET.encode()).decode()
    key = key_from_jwk({"kty": "oct", "k": k, "alg": "HS512"})
    assert (key.alg, key.verify_key) == ("HS512", SECRET.encode())


@pytest.mark.parametrize(
    ("extra", "why"),
    [
        ({"use": "enc"}, "not for signatures"),
        ({"key_ops": ["sign"]}, "do not include verify"),
    ],
)
def test_jwk_use_and_key_ops_mark_a_key_refused(ec_key: Any, extra: dict[str, Any], why: str) -> None:
    key = key_from_jwk(ec_jwk(ec_key, **extra))
    assert key.refusal is not None and why in key.refusal


@pytest.mark.parametrize(
    ("jwk", "why"),
    [
        ({"n": "AQAB", "e": "AQAB"}, "no kty member"),
        ({"kty": "RSA", "e": "AQAB"}, "needs member\\(s\\) n"),
        ({"kty": "RSA", "n": "AQAB", "e": "AQAB", "alg": "RSA-OAEP"}, "is for encryption"),
        ({"kty": "oct", "k": "AAAA", "alg": "HS999"}, "not a supported signature algorithm"),
        ({"kty": "oct", "k": "AAAA", "kid": 7}, "kid must be a string"),
    ],
)
def test_jwk_refusals(jwk: dict[str, Any], why: str) -> None:
    with pytest.raises(ConfigError, match=why):
        key_from_jwk(jwk)


def test_jwks_skips_unusable_members_when_asked(ec_key: Any, rsa_key: Any) -> None:
    rsa_pub = {**json.loads(RSAAlgorithm.to_jwk(rsa_key.public_key())), "kid": "r"}
    jwks = {"keys": [ec_jwk(ec_key, kid="e"), {"kty": "EC", "kid": "broken"}, rsa_pub]}
    skipped: list[str] = []
    keys = keys_from_jwks(jwks, source="set.json", skipped=skipped)
    assert [(k.kid, k.alg, k.source) for k in keys] == [
        ("e", "ES256", "set.json[0]"),
        ("r", "RS256", "set.json[2]"),
    ]
    assert len(skipped) == 1 and skipped[0].startswith("set.json[1] kid=broken: ")
    with pytest.raises(ConfigError, match=r"set.json\[1\] kid=broken"):
        keys_from_jwks(jwks, source="set.json")  # without a list, the first problem raises
    with pytest.raises(ConfigError, match="no usable signature key in the set"):
        keys_from_jwks({"keys": [{"kty": "EC"}]}, skipped=[])
    with pytest.raises(ConfigError, match="needs a 'keys' list"):
        keys_from_jwks({"keys": "nope"})


# -- files ---------------------------------------------------------------------------------------


def test_key_files_by_content(tmp_path: Path, ec_key: Any) -> None:
    pem = tmp_path / "signing.pem"
    pem.write_bytes(pem_private(ec_key))
    one = tmp_path / "one.jwk"
    one.write_text(json.dumps(ec_jwk(ec_key)))
    many = tmp_path / "set.jwks"
    many.write_text(json.dumps({"keys": [ec_jwk(ec_key, kid="s")]}))
    [from_pem] = keys_from_file(pem, kid="p")
    [from_jwk] = keys_from_file(one, kid="given")  # a JWK without kid takes the given one
    [from_set] = keys_from_file(many)
    assert (from_pem.kid, from_pem.source, from_pem.sign_key is not None) == ("p", "signing.pem", True)
    assert (from_jwk.kid, from_set.kid, from_set.source) == ("given", "s", "set.jwks[0]")
    for verifier in (from_pem, from_jwk, from_set):
        assert roundtrip(from_pem, verifier) == {"sub": "1"}


def test_unreadable_or_broken_key_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read key file"):
        keys_from_file(tmp_path / "missing.pem")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match=r"bad\.json: not valid JSON"):
        keys_from_file(bad)


# -- the ring ------------------------------------------------------------------------------------


def test_candidates_by_kid_else_the_keys_without_one() -> None:
    a, b, plain = (key_from_secret(SECRET, kid=kid) for kid in ("a", "b", None))
    ring = KeyRing(signing=a, keys=[a, b, plain])
    assert ring.candidates("a") == [a]
    assert ring.candidates("zzz") == [plain]  # an unknown kid falls back to kid-less keys only
    assert ring.candidates(None) == [plain]
    only_kids = KeyRing(signing=a, keys=[a, b])
    assert only_kids.candidates("zzz") == []
    assert only_kids.candidates(None) == [a, b]


def test_ring_from_settings(tmp_path: Path, ec_key: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLD_SECRET", "o" * 40)
    refused = tmp_path / "enc.jwk"
    refused.write_text(json.dumps(ec_jwk(ec_key, kid="enc", use="enc")))
    settings = TokenSettings(
        kid="new", verify_keys=[KeySpec(kid="old", secret_env="OLD_SECRET"), KeySpec(file=refused)]
    )
    ring = KeyRing.from_settings(settings, SECRET)
    assert ring.signing is not None and ring.signing.kid == "new"
    assert [(k.kid, k.verify_key) for k in ring.keys] == [("new", SECRET.encode()), ("old", b"o" * 40)]
    assert [k.kid for k in ring.refused] == ["enc"]  # loaded, shown, never used to verify
    assert KeyRing.from_settings(TokenSettings(), None).signing is None  # verify-only HS


def test_ring_refuses_or_skips_broken_settings(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unsupported algorithm"):
        KeyRing.from_settings(TokenSettings(algorithm="none"), SECRET)
    broken = TokenSettings(verify_keys=[KeySpec(kid="gone", secret_env="AUTHCORE_NO_SUCH_VAR")])
    with pytest.raises(ConfigError, match="verify key gone has no secret"):
        KeyRing.from_settings(broken, SECRET)
    skipped: list[str] = []
    ring = KeyRing.from_settings(broken, SECRET, skipped=skipped)
    assert len(ring.keys) == 1 and skipped == [
        "configured key skipped: verify key gone has no secret, secret_env or file"
    ]
    pub_only = tmp_path / "pub.pem"
    pub_only.write_bytes(pem_public(ec.generate_private_key(ec.SECP256R1())))
    with pytest.raises(ConfigError, match="holds no private key"):
        KeyRing.from_settings(TokenSettings(algorithm="ES256", private_key_file=pub_only), None)


@pytest.mark.parametrize(("alg", "need"), [("HS256", 32), ("HS384", 48), ("HS512", 64)])
def test_a_signing_secret_shorter_than_the_hash_may_verify_but_not_sign(
    alg: str, need: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A short HS secret can be found by guessing, and then forges any user's token: the ring
    refuses to sign with it (RFC 7518 3.2), in one line that does not echo it, and still verifies
    with it (tokens already out, the operators' console, the inspector's verdict)."""
    short = "p4ssw0rd-" + "s" * (need - 10)  # one byte short
    ring = KeyRing.from_settings(TokenSettings(algorithm=alg), short)
    why = ring.signing_refusal or ""
    assert f"needs at least {need} bytes" in why and short not in why and "\n" not in why
    assert (
        ring.signing is not None and ring.signing.verify_key == short.encode() and ring.keys == [ring.signing]
    )
    assert KeyRing.from_settings(TokenSettings(algorithm=alg), short + "s").signing_refusal is None
    monkeypatch.setenv("OLD_SHORT", "old")  # an older key of a rotation: verify only, as before
    settings = TokenSettings(algorithm=alg, verify_keys=[KeySpec(kid="old", secret_env="OLD_SHORT")])
    ring = KeyRing.from_settings(settings, "n" * need)
    assert ring.signing_refusal is None and [k.verify_key for k in ring.keys][1] == b"old"
