"""What an inspection produces (``InspectionReport`` and its pieces) and the state the checks share.

``Findings`` is the report under construction plus the problems found so far, sorted by the
status they lead to; the checks (``structure``, ``signature``, ``claims``, ``live``) each add
to it and ``inspector`` picks the verdict by precedence. The wording helpers live here so that
every message quotes untrusted values the same way (cleaned and cut).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from authcore.jose import json_safe
from authcore.keys import Key
from authcore.text import clean
from authcore.timeutil import fmt_utc, humanize_delta

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

LiveLookup = Callable[[int, "str | None"], "LiveState"]


def quote(value: Any, limit: int = 60) -> str:
    """An untrusted value quoted for a message: cleaned and cut."""
    return repr(clean(value if isinstance(value, str) else str(value), max_len=limit))


def clock_time(dt: datetime, now: datetime) -> str:
    """``14:32 UTC`` today, else ``2026-11-27 14:32 UTC``."""
    return dt.strftime("%H:%M UTC") if dt.date() == now.date() else fmt_utc(dt)


def span(seconds: float) -> str:
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
    """One inspection's result: a single ``status`` (see ``STATUSES``) and its ``reason``, what was
    decoded, and the checks' details; ``to_dict`` is its JSON form."""

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


# -- the shared state of one inspection -------------------------------------------------------
class Findings:
    """One inspection's context (keys, settings, clock) and what its checks found so far."""

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
