"""authcore.inspect.signature: configured keys only, the algorithm from the key, and the
difference between a signature that fails (invalid) and one no key could check (unverified)."""

from __future__ import annotations

import base64
import hmac
from datetime import UTC, datetime

from authcore.inspect.signature import SignatureChecks, key_list
from authcore.keys import Key, KeyRing, key_from_secret

NOW = datetime(2026, 11, 27, 14, 28, tzinfo=UTC)
A = "signature-key-a-" + "a" * 40
B = "signature-key-b-" + "b" * 40
SIGNING_INPUT = b"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0"


def mac(secret: str, data: bytes = SIGNING_INPUT, digest: str = "sha256") -> bytes:
    return hmac.new(secret.encode(), data, digest).digest()


def checks(keys: list[Key], kid: str | None = None) -> SignatureChecks:
    c = SignatureChecks(keys, None, None, NOW, None)
    c.r.signature.kid = kid
    return c


def test_key_list_accepts_ring_key_and_list() -> None:
    a, b = key_from_secret(A, kid="a"), key_from_secret(B, kid="b")
    refused = Key(alg="HS256", verify_key=B.encode(), kid="r", refusal="use is enc")
    assert key_list(None) == []
    assert key_list(a) == [a]
    assert key_list([a, "not a key", b]) == [a, b]
    # a ring's refused keys are listed too: the report says why they were not used
    assert key_list(KeyRing(signing=a, keys=[a, b], refused=[refused])) == [a, b, refused]


def test_pool_follows_the_kid() -> None:
    a, b, plain = key_from_secret(A, kid="a"), key_from_secret(B, kid="b"), key_from_secret(A)
    assert checks([a, b, plain], kid="b").pool() == [b]
    assert checks([a, b, plain], kid="zzz").pool() == [plain]  # unknown kid: the keys without one
    assert checks([a, b, plain]).pool() == [a, b, plain]
    assert checks([a], kid="other").pool() == [a]  # a single key is always tried


def test_matching_key_verifies() -> None:
    c = checks([key_from_secret(B, kid="b"), key_from_secret(A, kid="a")])
    c.verify("HS256", SIGNING_INPUT, mac(A))
    sig = c.r.signature
    assert sig.verified is True and sig.alg == "HS256"
    assert sig.detail.startswith("verified with HS256 kid=a")
    assert sig.tried[-1].endswith(": verified")


def test_wrong_signature_is_invalid_after_trying_every_fitting_key() -> None:
    c = checks([key_from_secret(A), key_from_secret(B)])
    c.verify("HS256", SIGNING_INPUT, mac("someone-else-" + "x" * 40))
    assert c.r.signature.verified is False
    assert c.r.signature.detail == "signature does not match any of the 2 HS256 keys tried"


def test_no_key_for_the_header_algorithm_leaves_it_unchecked() -> None:
    c = checks([key_from_secret(A, "HS512")])
    c.verify("HS256", SIGNING_INPUT, mac(A))
    assert c.r.signature.verified is None  # not invalid: no key could check it
    assert "pinned to HS512" in c.why_unchecked
    assert "never the header" in c.why_unchecked


def test_no_keys_and_refused_keys() -> None:
    c = checks([])
    c.verify("HS256", SIGNING_INPUT, mac(A))
    assert (c.r.signature.verified, c.why_unchecked) == (None, "no key configured")
    refused = Key(alg="HS256", verify_key=A.encode(), source="jwks", refusal="use is enc")
    c = checks([refused])
    c.verify("HS256", SIGNING_INPUT, mac(A))  # the right key, but it may not verify
    assert c.r.signature.verified is None
    assert "may not verify signatures: use is enc" in c.why_unchecked


def test_short_hmac_key_is_warned_and_unknown_kid_noted() -> None:
    c = checks([key_from_secret("short")], kid="nope")
    c.verify("HS256", SIGNING_INPUT, mac("short"))
    assert c.r.signature.verified is True
    assert any("shorter than its 32-byte hash" in w for w in c.r.warnings)
    c.kid_warning()
    assert "kid 'nope' matches no configured key" in c.r.warnings


def test_garbage_signature_bytes_never_raise() -> None:
    c = checks([key_from_secret(A, "HS384")])
    c.verify("HS384", SIGNING_INPUT, base64.b64decode("AAAA"))
    assert c.r.signature.verified is False
    assert c.r.signature.tried == ["HS384 (secret): signature does not match"]
