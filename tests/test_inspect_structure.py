"""authcore.inspect.structure: segments, header and payload of a compact JWS, what a JWE shows,
and which findings (malformed / unsupported / warnings / notes) the structure alone yields."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

from authcore.inspect.structure import StructureChecks
from authcore.keys import key_from_secret

NOW = datetime(2026, 11, 27, 14, 28, tzinfo=UTC)
SECRET = "structure-test-secret-" + "s" * 32


def b64(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def seg(obj: Any) -> str:
    return b64(obj if isinstance(obj, bytes | str) else json.dumps(obj))


def signed(header: Any, payload: Any) -> list[str]:
    signing = f"{seg(header)}.{seg(payload)}"
    mac = hmac.new(SECRET.encode(), signing.encode(), hashlib.sha256).digest()
    return [*signing.split("."), b64(mac)]


def checks(detached: bytes | None = None) -> StructureChecks:
    return StructureChecks([key_from_secret(SECRET)], None, None, NOW, detached)


def test_well_formed_jws_goes_on_to_the_claims() -> None:
    c = checks()
    assert c.jws(signed({"alg": "HS256", "typ": "JWT"}, {"sub": "1"})) is None
    r = c.r
    assert (r.kind, r.payload, r.payload_type) == ("jws", {"sub": "1"}, "claims")
    assert [s["name"] for s in r.segments] == ["header", "payload", "signature"]
    assert r.signature.verified is True
    assert not c.malformed and not c.unsupported


def test_header_problems_are_malformed() -> None:
    for header, why in (
        (b"not json", "header"),
        ([1, 2], "header is JSON but not an object"),
        ({"typ": "JWT"}, "header has no alg"),
        ({"alg": 5}, "header alg is not a string"),
    ):
        c = checks()
        report = c.jws([seg(header), seg({"sub": "1"}), ""])
        assert report is not None and report.status == "malformed", header
        assert why in report.reason


def test_key_url_headers_are_reported_never_followed() -> None:
    c = checks()
    c.jws(signed({"alg": "HS256", "jku": "https://evil.example/jwks", "x5c": ["AA"]}, {"sub": "1"}))
    assert sum("never fetched or trusted" in w for w in c.r.warnings) == 2


def test_unknown_crit_and_unencoded_payload_are_unsupported() -> None:
    c = checks()
    c.jws(signed({"alg": "HS256", "crit": ["exp-policy"], "exp-policy": 1}, {"sub": "1"}))
    assert c.unsupported == [
        "critical header parameter 'exp-policy' not understood: verifiers must refuse the token"
    ]
    c = checks()
    c.crit_and_b64({"alg": "HS256", "b64": False})
    assert c.r.b64 is False
    assert "RFC 7797" in c.unsupported[0]
    assert any("without crit" in n for n in c.r.notes)
    c = checks()
    c.crit_and_b64({"alg": "HS256", "crit": []})
    assert c.malformed == ["header crit must be a non-empty list of names"]


def test_payload_kinds() -> None:
    cases = [
        (b'{"sub": "1"}', "claims", None),
        (b"[1, 2]", "json", "the payload is JSON but not a claim set (not an object)"),
        (b"hello there", "text", "the payload is text, not a JSON claim set (not a JWT)"),
        (b"\xff\xfe\x00", "binary", "the payload is binary, not a JSON claim set (not a JWT)"),
        (b"", "empty", "the payload is empty: not a JWT"),
    ]
    for data, kind, unsupported in cases:
        c = checks()
        c.payload(data)
        assert c.r.payload_type == kind, data
        assert c.unsupported == ([unsupported] if unsupported else []), data


def test_payload_trailing_data_is_malformed_and_duplicates_warned() -> None:
    c = checks()
    c.payload(b'{"sub": "1"} {"sub": "2"}')
    assert c.malformed == ["payload has trailing data after its JSON (verifiers refuse it)"]
    c = checks()
    c.payload(b'{"sub": "1", "sub": "2"}')
    assert c.r.warnings and "duplicate claims 'sub'" in c.r.warnings[0]


def test_detached_payload_is_checked_when_supplied() -> None:
    header, payload, sig = signed({"alg": "HS256"}, {"sub": "1"})
    c = checks()
    c.jws([header, "", sig])
    assert c.r.detached and c.r.signature.verified is None  # nothing to check it against
    c = checks(detached=json.dumps({"sub": "1"}).encode())
    c.jws([header, "", sig])
    assert c.r.signature.verified is True
    assert c.r.payload == {"sub": "1"}
    assert "detached" in c.unsupported[0]  # still not a JWT


def test_jwe_is_described_not_read() -> None:
    c = checks()
    parts = [seg({"alg": "RSA-OAEP", "enc": "A256GCM"}), "a", "b", "c", "d"]
    r = c.jwe(parts)
    assert (r.status, r.kind, r.payload_type) == ("unsupported", "jwe", "encrypted")
    assert "alg 'RSA-OAEP', enc 'A256GCM'" in r.reason
    assert [s["name"] for s in r.segments] == ["header", "encrypted_key", "iv", "ciphertext", "tag"]
