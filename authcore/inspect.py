"""The token inspector: decode, verify and explain any pasted token, and link it to live state.

``inspect_token`` never raises. It normalises the input (whitespace, quotes, ``Bearer`` and
``Authorization:`` prefixes), caps its size, decodes with the project's own base64url/JSON code
(``authcore.jose``) so that it can show what PyJWT refuses, verifies the signature with configured
keys only (the algorithm always comes from the key), checks the claims against ``TokenSettings``
and, when a live-state callable is given and the signature verified, compares the token with the
user and session rows. The result is one ``InspectionReport`` with a single status.

The raw token is never stored in the report: ``fingerprint`` (SHA-256 of the normalised token) is
the reference. Header and payload values are untrusted data: render them through
``authcore.text.clean`` (and neutralise markup in a UI). Messages the report writes itself
(``reason``, ``warnings``, ``notes``, details) already have untrusted parts cleaned.

This module imports neither SQLAlchemy nor Textual at import time (``live_lookup`` imports
SQLAlchemy when it is called) and PyJWT only when a signature is checked.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from authcore.jose import JoseDecodeError, b64url_decode, b64url_encode, json_safe, parse_json
from authcore.keys import ALL_ALGS, HMAC_ALGS, Key, KeyRing
from authcore.text import clean
from authcore.timeutil import fmt_utc, humanize_delta, utcnow

MAX_SIZE = 65536
STATUSES = (
    "valid",
    "expired",
    "not_yet_valid",
    "revoked",
    "invalid_signature",
    "unverified",
    "malformed",
    "unsupported",
)
TIME_CLAIMS = ("exp", "nbf", "iat", "auth_time")
KEY_URL_HEADERS = {
    "jku": "a JWK Set URL",
    "x5u": "an X.509 certificate URL",
    "jwk": "an embedded public key",
    "x5c": "an embedded certificate chain",
}
UNDERSTOOD_CRIT = {"b64"}
JWT_TYPS = {"jwt", "at+jwt", "application/jwt", "application/at+jwt"}
MS_THRESHOLD = 1e11  # seconds-since-epoch beyond year 5138: almost certainly milliseconds
_MAX_EPOCH = 253402300799  # 9999-12-31T23:59:59Z
_MIN_EPOCH = -62135596800  # 0001-01-01T00:00:00Z
_MAX_UID = 2**63 - 1
_PREFIX = re.compile(r"^(?:authorization\s*:\s*|bearer(?:\s+|$))", re.IGNORECASE)
_WS = re.compile(r"\s+")
_QUOTES_WS = "\"'`\u201c\u201d\u2018\u2019"
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9_\-+/=.]*")
PREVIEW = 2000

LiveLookup = Callable[[int, "str | None"], "LiveState"]


def _q(value: Any, limit: int = 60) -> str:
    """An untrusted value quoted for a message: cleaned and cut."""
    return repr(clean(value if isinstance(value, str) else str(value), max_len=limit))


def _when(dt: datetime, now: datetime) -> str:
    """``14:32 UTC`` today, else ``2026-11-27 14:32 UTC``."""
    return dt.strftime("%H:%M UTC") if dt.date() == now.date() else fmt_utc(dt)


def _span(seconds: float) -> str:
    """A duration in words, for any magnitude (``humanize_delta`` for normal ones)."""
    s = abs(seconds)
    if s < 8e13:
        return humanize_delta(timedelta(seconds=s))
    return f"about {s / 31557600:.3g} years"


# -- report pieces ----------------------------------------------------------------------------
@dataclass
class SignatureResult:
    """``verified``: True (a configured key verified it), False (refused), None (not checked)."""

    verified: bool | None = None
    kid: str | None = None  # the header's kid, as found (untrusted)
    key: str | None = None  # description of the key that verified
    alg: str | None = None  # the algorithm pinned by that key
    header_alg: str | None = None  # what the header claims (untrusted)
    detail: str = ""
    tried: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "verified": self.verified,
            "kid": json_safe(self.kid),
            "key": self.key,
            "alg": self.alg,
            "header_alg": json_safe(self.header_alg),
            "detail": self.detail,
            "tried": list(self.tried),
        }


@dataclass
class TimeInfo:
    """One time claim: the raw value, UTC ISO 8601, relative words and a note if odd."""

    raw: Any
    iso: str | None = None
    relative: str | None = None
    note: str | None = None
    epoch: float | None = None  # the value as verifiers read it (seconds), None if unusable
    valid: bool = True  # a JSON number (RFC 7519 NumericDate)

    def to_dict(self) -> dict[str, Any]:
        return {"raw": json_safe(self.raw), "iso": self.iso, "relative": self.relative, "note": self.note}


@dataclass(frozen=True)
class LiveState:
    """The rows behind a token: its user (by ``sub``) and, if asked, its session (by ``sid``)."""

    user_id: int
    exists: bool
    disabled: bool = False
    token_version: int | None = None
    email: str | None = None
    sid: str | None = None
    session_exists: bool | None = None  # None: no sid was asked for
    session_expires_at: datetime | None = None


@dataclass
class InspectionReport:
    status: str
    reason: str
    kind: str = "not_jwt"  # jws | jwe | not_jwt
    fingerprint: str | None = None  # sha256 hex of the normalised token
    size: int = 0  # characters of the normalised token
    segments: list[dict[str, Any]] = field(default_factory=list)
    header: dict[str, Any] | None = None
    payload: dict[str, Any] | None = None  # the claim set when the payload is a JSON object
    payload_type: str | None = None  # claims | json | text | binary | detached | empty
    payload_text: str | None = None  # preview when the payload is not a claim set
    payload_size: int | None = None
    b64: bool = True  # False: RFC 7797 unencoded payload
    detached: bool = False
    signature: SignatureResult = field(default_factory=SignatureResult)
    times: dict[str, TimeInfo] = field(default_factory=dict)
    claims: dict[str, dict[str, Any]] = field(default_factory=dict)  # iss/aud/typ checks
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    user: dict[str, Any] | None = None
    live: dict[str, str] = field(default_factory=lambda: {"state": "off", "detail": ""})
    consequence: str | None = None
    checked_at: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.status == "valid"

    @property
    def exit_code(self) -> int:
        return 0 if self.status == "valid" else 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "reason": self.reason,
            "kind": self.kind,
            "fingerprint": self.fingerprint,
            "size": self.size,
            "segments": [dict(s) for s in self.segments],
            "header": json_safe(self.header),
            "payload": json_safe(self.payload),
            "payload_type": self.payload_type,
            "payload_text": json_safe(self.payload_text),
            "payload_size": self.payload_size,
            "b64": self.b64,
            "detached": self.detached,
            "signature": self.signature.to_dict(),
            "times": {k: v.to_dict() for k, v in self.times.items()},
            "claims": json_safe(self.claims),
            "warnings": list(self.warnings),
            "notes": list(self.notes),
            "user": json_safe(self.user),
            "live": dict(self.live),
            "consequence": self.consequence,
            "checked_at": self.checked_at.isoformat() if self.checked_at else None,
        }


# -- input ------------------------------------------------------------------------------------
def normalise(text: str) -> tuple[str, list[str]]:
    """Strip whitespace, quotes and leading ``Authorization:`` / ``Bearer``; return the token
    text and what was removed (as notes)."""
    notes: list[str] = []
    t = text
    for _ in range(8):
        before = t
        t = t.strip()
        stripped = t.strip(_QUOTES_WS)
        if stripped != t:
            if "quotes" not in notes:
                notes.append("quotes")
            t = stripped.strip()
        m = _PREFIX.match(t)
        if m:
            word = "Authorization:" if m.group(0).lower().startswith("auth") else "Bearer"
            if word not in notes:
                notes.append(word)
            t = t[m.end() :]
        if t == before:
            break
    if any(ch.isspace() for ch in t):
        joined = _WS.sub("", t)
        if joined.count(".") >= 2 and _TOKEN_CHARS.fullmatch(joined):
            notes.append("line breaks/spaces inside the token (rejoined)")
            t = joined
    return t, notes


def _input_text(text: Any, max_size: int) -> tuple[str | None, int, str | None]:
    """(text, size in bytes, error). The size check comes before any other work."""
    if isinstance(text, bytes | bytearray | memoryview):
        raw = bytes(text)
        if len(raw) > max_size:
            return None, len(raw), "too_large"
        try:
            return raw.decode("utf-8"), len(raw), None
        except UnicodeDecodeError:
            return raw.decode("utf-8", "replace"), len(raw), None
    if not isinstance(text, str):
        return None, 0, f"not text ({type(text).__name__})"
    if len(text) > max_size:
        return None, len(text), "too_large"
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > max_size:
        return None, size, "too_large"
    return text, size, None


# -- the inspection ---------------------------------------------------------------------------
class _Inspector:
    def __init__(
        self,
        keys: list[Key],
        settings: Any,
        live: LiveLookup | None,
        now: datetime,
        detached_payload: bytes | None,
    ) -> None:
        self.keys = keys
        self.settings = settings
        self.live = live
        self.now = now
        self.now_ts = now.timestamp()
        self.detached_payload = detached_payload
        self.leeway = settings.leeway.total_seconds() if settings is not None else 0.0
        self.r = InspectionReport(status="malformed", reason="", checked_at=now)
        # problems found, by status; the verdict picks by precedence
        self.malformed: list[str] = []
        self.unsupported: list[str] = []
        self.foreign: list[str] = []  # claims for another issuer/audience (unsupported, last)
        self.revoked: list[str] = []
        self.why_unchecked = "not checked"
        self.r.live = (
            {"state": "off", "detail": "no database: live state not checked"}
            if live is None
            else {
                "state": "skipped",
                "detail": "looked up only for a well-formed token whose signature verifies",
            }
        )

    def live_skip(self, detail: str) -> None:
        if self.live is not None:
            self.r.live = {"state": "skipped", "detail": detail}

    # status helpers ---------------------------------------------------------------------------
    def done(self, status: str, reason: str) -> InspectionReport:
        self.r.status, self.r.reason = status, reason
        return self.r

    def run(self, text: Any, max_size: int) -> InspectionReport:
        r = self.r
        body, size, error = _input_text(text, max_size)
        if error == "too_large":
            r.size = size
            limit = f"{max_size // 1024} KiB" if max_size % 1024 == 0 else f"{max_size} bytes"
            return self.done(
                "malformed", f"input is too large ({size} bytes, the limit is {limit}): not decoded"
            )
        if body is None:
            return self.done("malformed", f"input is {error}")
        token, removed = normalise(body)
        if removed:
            r.notes.append("input normalised: removed " + ", ".join(removed))
        m = _TOKEN_CHARS.match(token)
        end = m.end() if m else 0
        garbage = token[end:]
        token = token[:end]
        if token.count(".") == 3 and token.endswith("."):
            token, garbage = token[:-1], "." + garbage
        if garbage:
            r.notes.append(f"{len(garbage)} character(s) of trailing garbage after the token (ignored)")
        if not token:
            return self.done(
                "malformed", "not a JWT: no token characters found" if body.strip() else "empty input"
            )
        r.fingerprint = hashlib.sha256(token.encode("ascii")).hexdigest()
        r.size = len(token)
        parts = token.split(".")
        if len(parts) == 5:
            return self.jwe(parts)
        if len(parts) != 3:
            r.kind = "not_jwt"
            r.segments = [{"name": f"part {i + 1}", "length": len(p)} for i, p in enumerate(parts)]
            return self.done(
                "malformed",
                f"not a JWT: {len(parts)} segment{'s' if len(parts) != 1 else ''} (a JWS has 3, a JWE 5)",
            )
        return self.jws(parts)

    # JWE ----------------------------------------------------------------------------------------
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
        what = ", ".join(f"{k} {_q(v, 30)}" for k, v in (("alg", alg), ("enc", enc)) if v)
        self.key_url_warnings(header)
        return self.done(
            "unsupported",
            f"encrypted token (JWE{', ' + what if what else ''}): its content cannot be read here",
        )

    # JWS ----------------------------------------------------------------------------------------
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

    def jws(self, parts: list[str]) -> InspectionReport:
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
            r.warnings.append(f"header typ {_q(htyp)} does not mark a JWT")
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
            self.unsupported.append(f"algorithm {_q(alg, 30)} is not supported")
            self.unchecked(f"algorithm {_q(alg, 30)} is not supported")
        elif r.detached and self.detached_payload is None:
            self.unchecked("the payload is detached (supply it to check the signature)")
        else:
            signing_input = self.signing_input(parts, payload_bytes or b"")
            self.verify(alg, signing_input, sig_bytes)
        self.kid_warning()

        if isinstance(r.payload, dict):
            self.claims(r.payload)
        return self.verdict()

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
                        + ", ".join(_q(c, 30) for c in unknown[:5])
                        + " not understood: verifiers must refuse the token"
                    )
                missing = [c for c in crit if c not in header]
                if missing:
                    r.notes.append(
                        "crit names parameter(s) absent from the header: "
                        + ", ".join(_q(c, 30) for c in missing[:5])
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
                    + ", ".join(_q(d, 30) for d in res.duplicates[:5])
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

    def pool(self) -> list[Key]:
        """The keys the token names: with a kid, the keys with that kid, else those without a
        kid; without a kid, every key. A single key is always in it (like ``TokenService``)."""
        kid = self.r.signature.kid
        if len(self.keys) == 1 or kid is None:
            return list(self.keys)
        return [k for k in self.keys if k.kid == kid] or [k for k in self.keys if k.kid is None]

    def verify(self, alg: str, signing_input: bytes, sig_bytes: bytes) -> None:
        """Try every key of the pool whose pinned algorithm is the header's and whose JWK allows
        verifying. ``invalid_signature`` only when such a key was tried and failed; no such key
        leaves the signature unchecked (``unverified``)."""
        sig = self.r.signature
        if not self.keys:
            self.unchecked("no key configured")
            return
        pool = self.pool()
        if not pool:
            n = len(self.keys)
            self.unchecked(
                f"no configured key matches kid {_q(sig.kid)} ({n} key{'s' if n != 1 else ''} configured)"
            )
            return
        from jwt.algorithms import get_default_algorithms

        algs = get_default_algorithms()
        fitting: list[Key] = []
        refused: list[Key] = []
        for key in pool:
            if key.alg != alg:
                sig.tried.append(f"{key.describe()}: pinned to {key.alg}, the header says {_q(alg, 20)}")
            elif key.refusal:
                refused.append(key)
                sig.tried.append(f"{key.describe()}: refused: {key.refusal}")
            else:
                fitting.append(key)
        for key in fitting:
            if key.hmac_too_short:
                self.r.warnings.append(
                    f"HMAC key {key.describe()} is {len(key.verify_key)} bytes, shorter than "
                    f"its {HMAC_ALGS[key.alg]}-byte hash (RFC 7518 3.2)"
                )
            try:
                ok = bool(algs[key.alg].verify(signing_input, key.verify_key, sig_bytes))
                why = "signature does not match"
            except Exception as exc:  # noqa: BLE001 - a bad key or signature never escapes
                ok, why = False, f"could not verify ({type(exc).__name__})"
            if ok:
                sig.verified, sig.key, sig.alg = True, key.describe(), key.alg
                sig.detail = f"verified with {key.describe()}"
                sig.tried.append(f"{key.describe()}: verified")
                return
            sig.tried.append(f"{key.describe()}: {why}")
        if fitting:
            n = len(fitting)
            sig.verified = False
            sig.detail = (
                f"signature does not match {'the' if n == 1 else 'any of the'} "
                f"{n} {alg} key{'s' if n != 1 else ''} tried"
            )
        elif refused:
            self.unchecked(
                f"key{'s' if len(refused) != 1 else ''} "
                f"{', '.join(k.describe() for k in refused[:3])} may not verify "
                f"signatures: {refused[0].refusal}"
            )
        else:
            pinned = ", ".join(sorted({k.alg for k in pool}))
            self.unchecked(
                f"no configured key is for {_q(alg, 20)} (the keys are pinned to "
                f"{pinned}; the algorithm comes from the key, never the header)"
            )

    def unchecked(self, why: str) -> None:
        self.why_unchecked = why
        self.r.signature.detail = why

    def kid_warning(self) -> None:
        kid = self.r.signature.kid
        if kid is not None and self.keys and not any(k.kid == kid for k in self.keys):
            self.r.warnings.append(f"kid {_q(kid)} matches no configured key")

    # claims ---------------------------------------------------------------------------------
    def time_claim(self, name: str, raw: Any) -> TimeInfo:
        info = TimeInfo(raw=raw)
        if isinstance(raw, bool):
            info.valid, info.note = False, "a boolean, not a time"
            return info
        if isinstance(raw, str):
            info.valid = False
            try:
                float(raw)
                info.note = "a string holding a number: a NumericDate must be a JSON number"
            except ValueError:
                info.note = "a string, not a time"
            return info
        if not isinstance(raw, int | float):
            info.valid, info.note = False, f"a {type(raw).__name__}, not a time"
            return info
        value = float(raw) if not isinstance(raw, int) or abs(raw) < 2**1023 else math.inf
        if math.isnan(value):
            info.valid, info.note = False, "NaN, not a time"
            return info
        if math.isinf(value):
            info.valid, info.note = False, "infinite or absurdly large, not a time"
            return info
        info.epoch = value
        notes = []
        if abs(value) > MS_THRESHOLD:
            ms = value / 1000
            if _MIN_EPOCH <= ms <= _MAX_EPOCH:
                as_ms = datetime.fromtimestamp(ms, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                notes.append(f"looks like milliseconds ({as_ms} if read as ms); verifiers read seconds")
            else:
                notes.append("huge value: verifiers read seconds")
        if _MIN_EPOCH <= value <= _MAX_EPOCH:
            info.iso = datetime.fromtimestamp(value, UTC).isoformat().replace("+00:00", "Z")
        else:
            notes.append("beyond the years 1-9999")
        if value < 0:
            notes.append("before 1970")
        diff = value - self.now_ts
        d = _span(diff)
        if name == "exp":
            if diff <= 0:
                info.relative = f"expired {d} ago"
                if -diff <= self.leeway:
                    info.relative += f" (within the {_span(self.leeway)} leeway)"
            else:
                info.relative = f"valid for another {d}"
        elif name == "nbf":
            info.relative = f"not valid for another {d}" if diff > 0 else f"valid since {d} ago"
        elif name == "iat":
            info.relative = f"issued {d} in the future" if diff > 0 else f"issued {d} ago"
        else:
            info.relative = f"{d} in the future" if diff > 0 else f"{d} ago"
        info.note = "; ".join(notes) or None
        return info

    def claims(self, payload: dict[str, Any]) -> None:
        r = self.r
        s = self.settings
        for name in TIME_CLAIMS:
            if name in payload:
                info = self.time_claim(name, payload[name])
                r.times[name] = info
                if not info.valid and name != "auth_time":
                    self.malformed.append(f"{name} claim is {info.note}")
        if "exp" not in payload:
            r.warnings.append("no exp claim: the token never expires")
        self.lifetime(payload)
        if s is not None:
            self.check_iss_aud(payload)
        self.check_typ(payload)

    def lifetime(self, payload: dict[str, Any]) -> None:
        s = self.settings
        t = self.r.times
        exp = t.get("exp")
        if exp is None or exp.epoch is None:
            return
        start = next((t[n].epoch for n in ("iat", "nbf") if n in t and t[n].epoch is not None), None)
        if start is not None and exp.epoch <= start:
            self.r.notes.append("exp is not after iat/nbf")
        if s is None:
            return
        limit = s.lifetime_limit.total_seconds()
        if start is not None:
            life = exp.epoch - start
            if life > limit:
                self.r.warnings.append(
                    f"lifetime {_span(life)} is longer than the configured maximum {_span(limit)}"
                )
        elif exp.epoch - self.now_ts > limit:
            self.r.warnings.append(
                f"expires in {_span(exp.epoch - self.now_ts)}, beyond the "
                f"configured maximum lifetime {_span(limit)}"
            )

    def check_iss_aud(self, payload: dict[str, Any]) -> None:
        s = self.settings
        r = self.r
        iss = payload.get("iss")
        if "iss" not in payload:
            c = {"ok": False, "detail": f"no iss claim (configured issuer {_q(s.issuer)})"}
        elif iss != s.issuer:
            c = {"ok": False, "detail": f"issuer {_q(iss)} is not the configured {_q(s.issuer)}"}
        else:
            c = {"ok": True, "detail": f"issuer {_q(iss)} matches"}
        r.claims["iss"] = c
        aud = payload.get("aud")
        if "aud" not in payload:
            a = {"ok": False, "detail": f"no aud claim (configured audience {_q(s.audience)})"}
        elif aud == s.audience if isinstance(aud, str) else isinstance(aud, list) and s.audience in aud:
            a = {"ok": True, "detail": f"audience {_q(s.audience)} matches"}
        else:
            a = {
                "ok": False,
                "detail": f"audience {_q(aud)} does not include the configured {_q(s.audience)}",
            }
        r.claims["aud"] = a
        for check in (c, a):
            if not check["ok"]:
                self.foreign.append(check["detail"])
                r.warnings.append(check["detail"])

    def check_typ(self, payload: dict[str, Any]) -> None:
        s = self.settings
        r = self.r
        if "typ" not in payload:
            if s is not None:
                r.warnings.append(
                    "no typ claim: authcore verifiers cannot tell access from refresh and refuse it"
                )
            return
        typ = payload["typ"]
        problems: list[str] = []
        if typ not in ("access", "refresh"):
            problems.append(f"typ claim {_q(typ)} is neither access nor refresh")
        elif s is not None:
            t = r.times
            exp, iat = t.get("exp"), t.get("iat")
            life = (
                exp.epoch - iat.epoch
                if exp and iat and exp.epoch is not None and iat.epoch is not None
                else None
            )
            access_max = s.access_ttl.total_seconds() + self.leeway
            if typ == "access" and life is not None and life > access_max:
                problems.append(
                    f"typ 'access' but its lifetime ({_span(life)}) is longer than "
                    f"access_ttl ({_span(s.access_ttl.total_seconds())})"
                )
            if typ == "access" and "rc" in payload:
                problems.append("typ 'access' carries rc, a refresh-token claim")
            if (
                typ == "refresh"
                and life is not None
                and s.refresh_ttl > s.access_ttl
                and life <= s.access_ttl.total_seconds()
            ):
                problems.append(f"typ 'refresh' with an access-token lifetime ({_span(life)})")
        r.claims["typ"] = {"ok": not problems, "detail": "; ".join(problems) or f"typ {_q(typ)}"}
        r.warnings.extend(problems)

    # live state -----------------------------------------------------------------------------
    def live_state(self) -> None:
        r = self.r
        payload = r.payload or {}
        if self.live is None:
            return
        if self.foreign:
            r.live = {"state": "skipped", "detail": "token for another issuer or audience"}
            return
        sub = payload.get("sub")
        uid: int | None = None
        if isinstance(sub, str) and sub.isascii() and sub.isdigit() and len(sub) < 20:
            uid = int(sub)
        elif isinstance(sub, int) and not isinstance(sub, bool):
            uid = sub
        if uid is None or not 0 < uid <= _MAX_UID:
            r.live = {
                "state": "skipped",
                "detail": f"sub {_q(sub)} is not an authcore user id" if "sub" in payload else "no sub claim",
            }
            return
        sid = payload.get("sid")
        if sid is not None and not isinstance(sid, str):
            r.notes.append("sid claim is not a string (ignored)")
            sid = None
        try:
            st = self.live(uid, sid)
        except Exception as exc:  # noqa: BLE001 - a database problem never escapes
            r.live = {"state": "unavailable", "detail": "live state unavailable: " + _one_line(exc)}
            return
        if not isinstance(st, LiveState):
            r.live = {"state": "unavailable", "detail": "live state unavailable: bad lookup"}
            return
        r.live = {"state": "checked", "detail": "user and session looked up"}
        tv = payload.get("token_version")
        tv_ok = isinstance(tv, int) and not isinstance(tv, bool)
        problems: list[str] = []
        if not st.exists:
            problems.append(f"user {uid} no longer exists")
        else:
            if st.disabled:
                problems.append(f"user {uid} is disabled")
            if tv_ok and st.token_version is not None and tv < st.token_version:
                problems.append(f"revoked: token version {tv}, user is at {st.token_version}")
            if sid is not None and st.session_exists is False:
                problems.append(f"session {_q(sid, 40)} no longer exists")
            elif sid is not None and st.session_expires_at is not None and st.session_expires_at <= self.now:
                problems.append(
                    f"session {_q(sid, 40)} ended "
                    f"{_span(self.now_ts - st.session_expires_at.timestamp())} ago"
                )
        if st.exists and not tv_ok:
            r.notes.append("no integer token_version claim: revocation by version not checked")
        elif st.exists and st.token_version is not None and tv > st.token_version:
            r.warnings.append(
                f"token_version {tv} is ahead of the user's {st.token_version} "
                f"(issued against another database?)"
            )
        self.revoked = problems
        r.user = {
            "id": uid,
            "exists": st.exists,
            "disabled": st.disabled,
            "email": st.email,
            "token_version": st.token_version,
            "token_version_claim": tv if tv_ok else None,
            "sid": sid,
            "session_exists": st.session_exists,
            "session_expires_at": (st.session_expires_at.isoformat() if st.session_expires_at else None),
            "revoked": bool(problems),
            "problems": list(problems),
        }

    def consequence(self) -> str | None:
        r = self.r
        if r.user is None:
            return None
        typ = (r.payload or {}).get("typ")
        exp = r.times.get("exp")
        until = (
            datetime.fromtimestamp(exp.epoch + self.leeway, UTC)
            if exp is not None and exp.epoch is not None and _MIN_EPOCH < exp.epoch + self.leeway < _MAX_EPOCH
            else None
        )
        expired = until is not None and until <= self.now
        if self.revoked:
            if typ == "refresh":
                return "refresh will be refused"
            if typ == "access":
                if expired:
                    return "this access token has expired too; every verifier refuses it"
                if until is None:
                    return (
                        "this access token is accepted by non-strict verifiers (it has no "
                        "usable exp); strict verifiers refuse it now"
                    )
                return (
                    f"this access token is accepted by non-strict verifiers until "
                    f"{_when(until, self.now)} ({_span((until - self.now).total_seconds())})"
                    f"; strict verifiers refuse it now"
                )
            return "strict verifiers and refresh refuse it now"
        if expired:
            return (
                "refresh will be refused: the token has expired"
                if typ == "refresh"
                else "every verifier refuses it: the token has expired"
            )
        if typ == "refresh":
            return "refresh will be accepted"
        if typ == "access":
            return "accepted by strict and non-strict verifiers" + (
                f" until {_when(until, self.now)}" if until else ""
            )
        return "the user and session are live"

    # verdict --------------------------------------------------------------------------------
    def verdict(self) -> InspectionReport:
        r = self.r
        sig = r.signature
        if self.malformed:
            return self.done("malformed", self.malformed[0])
        if self.unsupported:
            return self.done("unsupported", self.unsupported[0])
        if sig.verified is False:
            self.live_skip("signature not verified: live state not looked up")
            return self.done("invalid_signature", sig.detail)
        expired, early = self.time_problems()
        if sig.verified is None:
            self.live_skip("signature not verified: live state not looked up")
            claims_say = expired or early
            reason = f"signature not checked: {self.why_unchecked}"
            if claims_say:
                reason += f"; its unverified claims say: {claims_say}"
            else:
                reason += " (the claims are unverified)"
            return self.done("unverified", reason)
        self.live_state()
        r.consequence = self.consequence()
        if r.user is not None:
            r.user["consequence"] = r.consequence
        if self.revoked:
            return self.done("revoked", self.revoked[0])
        if expired:
            return self.done("expired", expired)
        if early:
            return self.done("not_yet_valid", early)
        if self.foreign:
            return self.done("unsupported", self.foreign[0] + " (verifiers refuse it)")
        exp = r.times.get("exp")
        parts = [sig.detail]
        parts.append(exp.relative if exp is not None and exp.relative else "no exp: never expires")
        if r.live.get("state") != "checked":
            parts.append(
                "live state not checked" if r.live.get("state") != "unavailable" else "live state unavailable"
            )
        return self.done("valid", "; ".join(parts))

    def time_problems(self) -> tuple[str | None, str | None]:
        t = self.r.times
        now, lw = self.now_ts, self.leeway
        expired = early = None
        exp = t.get("exp")
        if exp is not None and exp.epoch is not None and now > exp.epoch + lw:
            when = f" ({exp.iso.replace('T', ' ').replace('Z', ' UTC')})" if exp.iso else ""
            expired = f"{exp.relative}{when}"
        nbf = t.get("nbf")
        iat = t.get("iat")
        if nbf is not None and nbf.epoch is not None and now < nbf.epoch - lw:
            early = f"{nbf.relative} (nbf)"
        elif iat is not None and iat.epoch is not None and iat.epoch > now + lw:
            early = f"{iat.relative} (iat)"
        return expired, early


def _one_line(exc: BaseException) -> str:
    """An exception as one line, with any password in a URL or DSN masked."""
    from authcore.errors import AuthCoreError

    if isinstance(exc, AuthCoreError):
        text = str(exc)
    else:
        orig = getattr(exc, "orig", None) or exc
        text = f"{type(exc).__name__}: {str(orig).strip()}"
    text = text.splitlines()[0] if text.strip() else type(exc).__name__
    text = re.sub(r"password=\S+", "password=***", text)
    text = re.sub(r"(//[^:/@\s]+:)[^@\s]*@", r"\1***@", text)
    return clean(text, max_len=300)


def _key_list(keys: Any) -> list[Key]:
    if keys is None:
        return []
    if isinstance(keys, KeyRing):
        return list(keys.keys) + list(keys.refused)
    if isinstance(keys, Key):
        return [keys]
    return [k for k in keys if isinstance(k, Key)]


def inspect_token(
    text: str | bytes,
    *,
    keys: list[Key] | KeyRing | Key | None = None,
    settings: Any = None,
    live: LiveLookup | None = None,
    now: datetime | None = None,
    max_size: int = MAX_SIZE,
    detached_payload: bytes | None = None,
) -> InspectionReport:
    """Decode, verify and explain ``text``; never raises.

    ``keys``: the verification keys (each pins its algorithm). ``settings``: ``TokenSettings``
    for issuer, audience, leeway and lifetime checks (None: no claim checks, no leeway).
    ``live``: ``live(user_id, sid) -> LiveState`` (see ``live_lookup``), called at most once and
    only when the signature verified. ``detached_payload``: the payload bytes of a token whose
    payload segment is empty.
    """
    try:
        when = now or utcnow()
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        insp = _Inspector(_key_list(keys), settings, live, when, detached_payload)
        return insp.run(text, max_size)
    except Exception as exc:  # noqa: BLE001 - the inspector never raises
        return InspectionReport(
            status="malformed",
            reason=f"could not inspect: internal error ({type(exc).__name__})",
            checked_at=None,
        )


def live_lookup(engine: Any) -> LiveLookup:
    """A ``live(user_id, sid)`` callable for ``inspect_token`` on ``engine``.

    One query per call: the user row outer-joined with the session row (``sid``) that belongs
    to it. SQLAlchemy is imported here, not at module import time.
    """
    from sqlalchemy import bindparam, select

    from authcore.db import read_conn
    from authcore.models import sessions, users

    stmt = (
        select(
            users.c.id,
            users.c.email,
            users.c.token_version,
            users.c.disabled,
            sessions.c.public_id.label("sid"),
            sessions.c.expires_at,
        )
        .select_from(
            users.outerjoin(
                sessions, (sessions.c.public_id == bindparam("sid")) & (sessions.c.user_id == users.c.id)
            )
        )
        .where(users.c.id == bindparam("uid"))
    )

    def lookup(user_id: int, sid: str | None) -> LiveState:
        with read_conn(engine) as conn:
            row = conn.execute(stmt, {"uid": user_id, "sid": sid}).first()
        if row is None:
            return LiveState(user_id=user_id, exists=False, sid=sid)
        return LiveState(
            user_id=user_id,
            exists=True,
            disabled=bool(row.disabled),
            token_version=int(row.token_version),
            email=row.email,
            sid=sid,
            session_exists=(row.sid is not None) if sid is not None else None,
            session_expires_at=row.expires_at if sid is not None else None,
        )

    return lookup


__all__ = [
    "InspectionReport",
    "LiveState",
    "SignatureResult",
    "TimeInfo",
    "STATUSES",
    "MAX_SIZE",
    "inspect_token",
    "live_lookup",
    "normalise",
]
