"""Compact JWS/JWT verification for the hot path, with PyJWT's rules and PyJWT's crypto.

``jwt.decode`` re-merges its options, re-prepares the key and checks every base64 character in
a Python generator on each call; that is most of its cost for HS256. ``KeyDecoder`` prepares
one key's PyJWT algorithm object once and applies the same checks, in the same order, raising
the same ``jwt`` exceptions with the same messages (``tests/test_jwtdecode.py`` compares both
on valid, tampered and malformed tokens). Signatures are checked by PyJWT's own
``Algorithm.verify``. What PyJWT would only accept with ``detached_payload`` (``b64: false``)
is refused, as ``jwt.decode`` without it refuses it.

The rules are PyJWT 2.15's (``pyproject.toml`` pins it; re-run the differential test before
widening). Two deliberate differences: a ``str`` token that cannot be UTF-8 encoded (a lone
surrogate) is a ``DecodeError`` where PyJWT lets ``UnicodeEncodeError`` escape, and PyJWT's
``InsecureKeyLengthWarning`` for a short key is issued once, when the key is prepared, instead of
on every call.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
import warnings
from collections.abc import Sequence
from typing import Any

import jwt
from jwt.exceptions import (
    DecodeError,
    ExpiredSignatureError,
    ImmatureSignatureError,
    InvalidAlgorithmError,
    InvalidAudienceError,
    InvalidIssuedAtError,
    InvalidIssuerError,
    InvalidJTIError,
    InvalidSignatureError,
    InvalidSubjectError,
    InvalidTokenError,
    MissingRequiredClaimError,
)
from jwt.warnings import InsecureKeyLengthWarning

_ALPHABET = re.compile(rb"[A-Za-z0-9_-]*")
_SUPPORTED_CRIT = frozenset({"b64"})


def _segment(seg: bytes, name: str) -> bytes:
    """base64url with PyJWT's strictness: up to two '=' only on a multiple of 4, the URL-safe
    alphabet only, and the canonical encoding (no stray trailing bits)."""
    stripped = seg
    if seg.endswith(b"="):
        stripped = seg.rstrip(b"=")
        if len(seg) - len(stripped) > 2 or len(seg) % 4:
            raise DecodeError(f"Invalid {name} padding")
    n = len(stripped)
    if n % 4 == 1 or not _ALPHABET.fullmatch(stripped):
        raise DecodeError(f"Invalid {name} padding")
    try:
        out = base64.urlsafe_b64decode(stripped + b"=" * (-n % 4))
    except (TypeError, binascii.Error) as err:
        raise DecodeError(f"Invalid {name} padding") from err
    if base64.urlsafe_b64encode(out).rstrip(b"=") != stripped:
        raise DecodeError(f"Invalid {name} padding")
    return out


class Parsed:
    """A token split and decoded, its signature not yet checked."""

    __slots__ = ("header", "payload", "signature", "signing_input")

    def __init__(
        self, header: dict[str, Any], payload: bytes, signing_input: bytes, signature: bytes
    ) -> None:
        self.header = header
        self.payload = payload
        self.signing_input = signing_input
        self.signature = signature

    @property
    def kid(self) -> str | None:
        return self.header.get("kid")


def parse(token: str | bytes) -> Parsed:
    """Split and decode a compact JWS as PyJWT's ``_load`` + header checks do."""
    if isinstance(token, str):
        try:
            token = token.encode("utf-8")
        except UnicodeEncodeError as err:
            raise DecodeError("Invalid token type. Token must be a <class 'bytes'>") from err
    if not isinstance(token, bytes):
        raise DecodeError("Invalid token type. Token must be a <class 'bytes'>")
    signing_input, dot, crypto = token.rpartition(b".")
    header_seg, dot2, payload_seg = signing_input.partition(b".")
    if not dot or not dot2:
        raise DecodeError("Not enough segments")
    header_bytes = _segment(header_seg, "header")
    try:
        header = json.loads(header_bytes)
    except (ValueError, RecursionError) as e:
        raise DecodeError(f"Invalid header string: {e}") from e
    if not isinstance(header, dict):
        raise DecodeError("Invalid header string: must be a json object")
    if header.get("b64", True) is False:
        if payload_seg:
            raise DecodeError("Payload segment must be empty when 'b64' is false.")
        payload = b""
    else:
        payload = _segment(payload_seg, "payload")
    signature = _segment(crypto, "crypto")
    if "kid" in header and not isinstance(header["kid"], str):
        raise InvalidTokenError("Key ID header parameter must be a string")
    if "crit" in header:
        crit = header["crit"]
        if not isinstance(crit, list) or len(crit) == 0:
            raise InvalidTokenError("Invalid 'crit' header: must be a non-empty list")
        for ext in crit:
            if not isinstance(ext, str):
                raise InvalidTokenError("Invalid 'crit' header: values must be strings")
            if ext not in _SUPPORTED_CRIT:
                raise InvalidTokenError(f"Unsupported critical extension: {ext}")
            if ext not in header:
                raise InvalidTokenError(f"Critical extension '{ext}' is missing from headers")
    if header.get("b64", True) is False:
        crit = header.get("crit") or []
        if not isinstance(crit, list) or "b64" not in crit:
            raise InvalidTokenError("The 'b64' header parameter requires 'b64' to be listed in 'crit'.")
        raise DecodeError(
            'It is required that you pass in a value for the "detached_payload" '
            "argument to decode a message having the b64 header set to false."
        )
    return Parsed(header, payload, signing_input, signature)


class KeyDecoder:
    """One key, one algorithm, the claim rules fixed: ``jwt.decode(token, key, algorithms=[alg],
    audience=..., issuer=..., leeway=..., options={"require": require})`` in fewer steps."""

    def __init__(
        self,
        alg: str,
        key: Any,
        *,
        audience: str | None,
        issuer: str | None,
        leeway: float,
        require: Sequence[str],
    ) -> None:
        try:
            self._alg_obj = jwt.get_algorithm_by_name(alg)
        except NotImplementedError as e:
            raise InvalidAlgorithmError("Algorithm not supported") from e
        self._key = self._alg_obj.prepare_key(key)
        short = self._alg_obj.check_key_length(self._key)
        if short:
            warnings.warn(short, InsecureKeyLengthWarning, stacklevel=2)
        self.alg = alg
        self._audience = audience
        self._issuer = issuer
        self._leeway = float(leeway)
        self._require = tuple(require)

    def verify(self, p: Parsed) -> None:
        """The signature, with the algorithm pinned to this key's (never the header's)."""
        try:
            alg = p.header["alg"]
        except KeyError:
            raise InvalidAlgorithmError("Algorithm not specified") from None
        if not alg or alg != self.alg:
            raise InvalidAlgorithmError("The specified alg value is not allowed")
        if not self._alg_obj.verify(p.signing_input, self._key, p.signature):
            raise InvalidSignatureError("Signature verification failed")

    def claims(self, p: Parsed) -> dict[str, Any]:
        """The payload as a dict, its registered claims checked as PyJWT checks them."""
        try:
            payload = json.loads(p.payload)
        except (ValueError, RecursionError) as e:
            raise DecodeError(f"Invalid payload string: {e}") from e
        if not isinstance(payload, dict):
            raise DecodeError("Invalid payload string: must be a json object")
        for claim in self._require:
            if payload.get(claim) is None:
                raise MissingRequiredClaimError(claim)
        now = time.time()
        leeway = self._leeway
        if "iat" in payload:
            try:
                iat = int(payload["iat"])
            except (ValueError, TypeError, OverflowError):
                raise InvalidIssuedAtError("Issued At claim (iat) must be an integer.") from None
            if iat > now + leeway:
                raise ImmatureSignatureError("The token is not yet valid (iat)")
        if "nbf" in payload:
            try:
                nbf = int(payload["nbf"])
            except (ValueError, TypeError, OverflowError):
                raise DecodeError("Not Before claim (nbf) must be an integer.") from None
            if nbf > now + leeway:
                raise ImmatureSignatureError("The token is not yet valid (nbf)")
        if "exp" in payload:
            try:
                exp = int(payload["exp"])
            except (ValueError, TypeError, OverflowError):
                raise DecodeError("Expiration Time claim (exp) must be an integer.") from None
            if exp <= now - leeway:
                raise ExpiredSignatureError("Signature has expired")
        if self._issuer is not None:
            if "iss" not in payload:
                raise MissingRequiredClaimError("iss")
            iss = payload["iss"]
            if not isinstance(iss, str):
                raise InvalidIssuerError("Payload Issuer (iss) must be a string")
            if iss != self._issuer:
                raise InvalidIssuerError("Invalid issuer")
        self._check_aud(payload)
        if "sub" in payload and not isinstance(payload["sub"], str):
            raise InvalidSubjectError("Subject must be a string")
        if "jti" in payload and not isinstance(payload["jti"], str):
            raise InvalidJTIError("JWT ID must be a string")
        return payload

    def _check_aud(self, payload: dict[str, Any]) -> None:
        aud = payload.get("aud")
        if self._audience is None:
            if aud:
                raise InvalidAudienceError("Invalid audience")
            return
        if not aud:
            raise MissingRequiredClaimError("aud")
        if isinstance(aud, str):
            aud = [aud]
        if not isinstance(aud, list) or any(not isinstance(c, str) for c in aud):
            raise InvalidAudienceError("Invalid claim format in token")
        if self._audience not in aud:
            raise InvalidAudienceError("Audience doesn't match")

    def decode(self, token: str | bytes) -> dict[str, Any]:
        """Parse, verify the signature, check the claims: the payload, or a ``jwt`` exception."""
        p = parse(token)
        self.verify(p)
        return self.claims(p)
