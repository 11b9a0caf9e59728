"""The token's structure: segments, header, payload (JWS) and what can be said of a JWE.

Decoding uses authcore's own base64url/JSON code (``authcore.jose``) so that the report can show
what PyJWT refuses. Header parameters that point at keys (``jku``, ``x5u``, ``jwk``, ``x5c``) are
only reported: keys come from the configuration, never from the token.
"""

from __future__ import annotations

from typing import Any

from authcore.inspect.report import InspectionReport, quote
from authcore.inspect.signature import SignatureChecks
from authcore.jose import JoseDecodeError, b64url_decode, b64url_encode, parse_json
from authcore.keys import ALL_ALGS

KEY_URL_HEADERS = {
    "jku": "a JWK Set URL",
    "x5u": "an X.509 certificate URL",
    "jwk": "an embedded public key",
    "x5c": "an embedded certificate chain",
}
UNDERSTOOD_CRIT = {"b64"}
JWT_TYPS = {"jwt", "at+jwt", "application/jwt", "application/at+jwt"}
PREVIEW = 2000


class StructureChecks(SignatureChecks):
    """Decodes the segments into the report; malformed and unsupported structure are findings."""

    def jwe(self, parts: list[str]) -> InspectionReport:
        r = self.r
        r.kind = "jwe"
        names = ("header", "encrypted_key", "iv", "ciphertext", "tag")
        r.segments = [{"name": n, "length": len(p)} for n, p in zip(names, parts, strict=True)]
        r.payload_type = "encrypted"
        header = self.header(parts[0])
        if header is None or self.malformed:
            return self.done("malformed", self.malformed[0])
        r.signature.detail = "encrypted token: no signature to check"
        alg, enc = header.get("alg"), header.get("enc")
        what = ", ".join(f"{k} {quote(v, 30)}" for k, v in (("alg", alg), ("enc", enc)) if v)
        self.key_url_warnings(header)
        return self.done(
            "unsupported",
            f"encrypted token (JWE{', ' + what if what else ''}): its content cannot be read here",
        )

    def header(self, seg: str) -> dict[str, Any] | None:
        r = self.r
        try:
            dec = b64url_decode(seg, "header")
        except JoseDecodeError as exc:
            self.malformed.append(f"header: {exc}")
            return None
        r.notes.extend(dec.notes)
        res = parse_json(dec.data, "header")
        r.notes.extend(res.notes)
        if not res.ok:
            self.malformed.append(res.error or "header is not JSON")
            return None
        if not isinstance(res.value, dict):
            self.malformed.append("header is JSON but not an object")
            return None
        r.header = res.value
        if res.trailing:
            self.malformed.append("header has trailing data after its JSON (verifiers refuse it)")
        if res.duplicates:
            r.warnings.append("header has duplicate keys: parsers disagree on which value counts")
        return res.value

    def key_url_warnings(self, header: dict[str, Any]) -> None:
        for name, what in KEY_URL_HEADERS.items():
            if name in header:
                self.r.warnings.append(
                    f"header carries {name} ({what}): never fetched or "
                    f"trusted; keys come only from the configuration"
                )

    def jws(self, parts: list[str]) -> InspectionReport | None:
        """Read a compact JWS and check its signature; a report when the structure alone
        decides the status, else None (the claims and the verdict come next)."""
        r = self.r
        r.kind = "jws"
        r.segments = [
            {"name": n, "length": len(p)}
            for n, p in zip(("header", "payload", "signature"), parts, strict=True)
        ]
        header = self.header(parts[0])
        if header is None:
            return self.done("malformed", self.malformed[0])
        sig = r.signature
        alg = header.get("alg")
        kid = header.get("kid")
        sig.header_alg = alg if isinstance(alg, str) else None
        sig.kid = kid if isinstance(kid, str) else None
        if kid is not None and not isinstance(kid, str):
            r.notes.append("header kid is not a string (ignored)")
        if "alg" not in header:
            self.malformed.append("header has no alg")
        elif not isinstance(alg, str):
            self.malformed.append("header alg is not a string")
        self.key_url_warnings(header)
        htyp = header.get("typ")
        if htyp is not None and (not isinstance(htyp, str) or htyp.lower() not in JWT_TYPS):
            r.warnings.append(f"header typ {quote(htyp)} does not mark a JWT")
        self.crit_and_b64(header)

        # signature segment
        sig_bytes = b""
        try:
            sdec = b64url_decode(parts[2], "signature")
            sig_bytes = sdec.data
            r.notes.extend(sdec.notes)
        except JoseDecodeError as exc:
            self.malformed.append(f"signature: {exc}")
        # payload segment
        payload_bytes = self.payload_bytes(parts[1])
        if payload_bytes is not None:
            self.payload(payload_bytes)
        if self.malformed:
            return self.done("malformed", self.malformed[0])

        is_none = isinstance(alg, str) and alg.lower() == "none"
        if is_none:
            r.warnings.append("alg none: the token is unsigned and is never accepted")
            sig.verified = False
            sig.detail = "alg none: unsigned tokens never verify"
            if sig_bytes:
                r.notes.append("alg none but the signature segment is not empty")
        elif alg not in ALL_ALGS:
            self.unsupported.append(f"algorithm {quote(alg, 30)} is not supported")
            self.unchecked(f"algorithm {quote(alg, 30)} is not supported")
        elif r.detached and self.detached_payload is None:
            self.unchecked("the payload is detached (supply it to check the signature)")
        else:
            signing_input = self.signing_input(parts, payload_bytes or b"")
            self.verify(alg, signing_input, sig_bytes)
        self.kid_warning()

        return None

    def crit_and_b64(self, header: dict[str, Any]) -> None:
        r = self.r
        crit = header.get("crit")
        crit_names: list[str] = []
        if "crit" in header:
            if not isinstance(crit, list) or not crit or not all(isinstance(c, str) for c in crit):
                self.malformed.append("header crit must be a non-empty list of names")
            else:
                crit_names = crit
                unknown = [c for c in crit if c not in UNDERSTOOD_CRIT]
                if unknown:
                    self.unsupported.append(
                        "critical header parameter"
                        + ("s " if len(unknown) > 1 else " ")
                        + ", ".join(quote(c, 30) for c in unknown[:5])
                        + " not understood: verifiers must refuse the token"
                    )
                missing = [c for c in crit if c not in header]
                if missing:
                    r.notes.append(
                        "crit names parameter(s) absent from the header: "
                        + ", ".join(quote(c, 30) for c in missing[:5])
                    )
        if "b64" in header:
            b64 = header["b64"]
            if not isinstance(b64, bool):
                self.malformed.append("header b64 must be true or false")
            elif b64 is False:
                r.b64 = False
                self.unsupported.append("unencoded payload (b64: false, RFC 7797): not a JWT")
                if "b64" not in crit_names:
                    r.notes.append(
                        'b64 false without crit ["b64"]: recipients that ignore b64 '
                        "read the payload differently"
                    )

    def payload_bytes(self, seg: str) -> bytes | None:
        r = self.r
        if seg == "":
            r.detached = True
            r.payload_type = "detached"
            self.unsupported.append("the payload is detached (empty payload segment): not a JWT")
            if self.detached_payload is None:
                return None
            r.notes.append("detached payload supplied separately")
            return self.detached_payload
        if not r.b64:
            # RFC 7797: the payload travels as-is (ASCII only in the compact form here)
            return seg.encode("ascii", "replace")
        try:
            dec = b64url_decode(seg, "payload")
        except JoseDecodeError as exc:
            self.malformed.append(f"payload: {exc}")
            return None
        r.notes.extend(dec.notes)
        return dec.data

    def payload(self, data: bytes) -> None:
        r = self.r
        r.payload_size = len(data)
        detached = r.detached
        if not data:
            r.payload_type = "detached" if detached else "empty"
            if not detached:
                self.unsupported.append("the payload is empty: not a JWT")
            return
        res = parse_json(data, "payload")
        text: str | None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if res.ok and isinstance(res.value, dict):
            r.payload = res.value
            r.payload_type = "claims" if not detached else "detached"
            r.notes.extend(res.notes)
            if res.trailing:
                self.malformed.append("payload has trailing data after its JSON (verifiers refuse it)")
            if res.duplicates:
                r.warnings.append(
                    "payload has duplicate claims "
                    + ", ".join(quote(d, 30) for d in res.duplicates[:5])
                    + ": parsers disagree on which value counts"
                )
            return
        r.payload_text = text[:PREVIEW] if text is not None else None
        if res.ok:
            r.payload_type = "json" if not detached else "detached"
            r.notes.extend(res.notes)
            self.unsupported.append("the payload is JSON but not a claim set (not an object)")
            return
        looks_json = text is not None and text.lstrip()[:1] in ("{", "[")
        if looks_json:
            r.payload_type = "text" if not detached else "detached"
            self.malformed.append(f"payload: {res.error}")
            return
        if text is not None:
            r.payload_type = "text" if not detached else "detached"
            self.unsupported.append("the payload is text, not a JSON claim set (not a JWT)")
        else:
            r.payload_type = "binary" if not detached else "detached"
            self.unsupported.append("the payload is binary, not a JSON claim set (not a JWT)")

    def signing_input(self, parts: list[str], payload: bytes) -> bytes:
        head = parts[0].encode("ascii")
        if not self.r.b64:
            return head + b"." + payload
        if self.r.detached:
            return head + b"." + b64url_encode(payload).encode("ascii")
        return head + b"." + parts[1].encode("ascii")
