"""One inspection: input, structure, signature, claims, live state, then a single verdict.

The checks add findings (malformed, unsupported, foreign, revoked) and the verdict picks the
status by precedence, so that the worst problem is the one reported.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from authcore.inspect.claims import ClaimChecks
from authcore.inspect.live import LiveChecks
from authcore.inspect.normalise import MAX_SIZE, TOKEN_CHARS, normalise, read_input
from authcore.inspect.report import InspectionReport, LiveLookup
from authcore.inspect.signature import key_list
from authcore.inspect.structure import StructureChecks
from authcore.keys import Key, KeyRing
from authcore.timeutil import utcnow


class Inspector(StructureChecks, ClaimChecks, LiveChecks):
    """Runs the checks in order and picks the verdict."""

    def run(self, text: Any, max_size: int) -> InspectionReport:
        r = self.r
        body, size, error = read_input(text, max_size)
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
        m = TOKEN_CHARS.match(token)
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
        early = self.jws(parts)
        if early is not None:
            return early
        if isinstance(r.payload, dict):
            self.claims(r.payload)
        return self.verdict()

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
        insp = Inspector(key_list(keys), settings, live, when, detached_payload)
        return insp.run(text, max_size)
    except Exception as exc:  # noqa: BLE001 - the inspector never raises
        return InspectionReport(
            status="malformed",
            reason=f"could not inspect: internal error ({type(exc).__name__})",
            checked_at=None,
        )
