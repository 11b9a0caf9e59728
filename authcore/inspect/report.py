"""What an inspection produces (``InspectionReport`` and its pieces) and the state the checks share.

``Findings`` is the report under construction plus the problems found so far, sorted by the
status they lead to; the checks (``structure``, ``signature``, ``claims``, ``live``) each add
to it and ``inspector`` picks the verdict by precedence. The wording helpers live here so that
every message quotes untrusted values the same way (cleaned and cut).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from authcore.jose import json_safe
from authcore.keys import Key
from authcore.text import clean
from authcore.timeutil import fmt_utc, humanize_delta

if TYPE_CHECKING:
    from authcore.inspect.livestate import LiveState

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
# Plain classes, not dataclasses: the checks fill them in and ``to_dict`` reads them; on Python
# 3.11 a dataclass compiles its generated methods at import, ~1.2 ms of every ``tokens decode``
# start for these three. ``_Fields`` keeps what those methods gave: ``==`` field by field and a
# readable ``repr``.
class _Fields:
    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return vars(self) == vars(other)

    __hash__ = None  # type: ignore[assignment]  # mutable: unhashable, as an eq dataclass

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__qualname__}({fields})"


class SignatureResult(_Fields):
    """``verified``: True (a configured key verified it), False (refused), None (not checked)."""

    def __init__(
        self,
        verified: bool | None = None,
        kid: str | None = None,
        key: str | None = None,
        alg: str | None = None,
        header_alg: str | None = None,
        detail: str = "",
        tried: list[str] | None = None,
    ) -> None:
        self.verified = verified
        self.kid = kid  # the header's kid, as found (untrusted)
        self.key = key  # description of the key that verified
        self.alg = alg  # the algorithm pinned by that key
        self.header_alg = header_alg  # what the header claims (untrusted)
        self.detail = detail
        self.tried: list[str] = [] if tried is None else tried

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


class TimeInfo(_Fields):
    """One time claim: the raw value, UTC ISO 8601, relative words and a note if odd."""

    def __init__(
        self,
        raw: Any,
        iso: str | None = None,
        relative: str | None = None,
        note: str | None = None,
        epoch: float | None = None,
        valid: bool = True,
    ) -> None:
        self.raw = raw
        self.iso = iso
        self.relative = relative
        self.note = note
        self.epoch = epoch  # the value as verifiers read it (seconds), None if unusable
        self.valid = valid  # a JSON number (RFC 7519 NumericDate)

    def to_dict(self) -> dict[str, Any]:
        return {"raw": json_safe(self.raw), "iso": self.iso, "relative": self.relative, "note": self.note}


class InspectionReport(_Fields):
    """One inspection's result: a single ``status`` (see ``STATUSES``) and its ``reason``, what was
    decoded, and the checks' details; ``to_dict`` is its JSON form. Made with a status and a
    reason; the checks fill in the rest."""

    def __init__(self, status: str, reason: str, *, checked_at: datetime | None = None) -> None:
        self.status = status
        self.reason = reason
        self.kind = "not_jwt"  # jws | jwe | not_jwt
        self.fingerprint: str | None = None  # sha256 hex of the normalised token
        self.size = 0  # characters of the normalised token
        self.segments: list[dict[str, Any]] = []
        self.header: dict[str, Any] | None = None
        self.payload: dict[str, Any] | None = None  # the claim set when the payload is a JSON object
        self.payload_type: str | None = None  # claims | json | text | binary | detached | empty
        self.payload_text: str | None = None  # preview when the payload is not a claim set
        self.payload_size: int | None = None
        self.b64 = True  # False: RFC 7797 unencoded payload
        self.detached = False
        self.signature = SignatureResult()
        self.times: dict[str, TimeInfo] = {}
        self.claims: dict[str, dict[str, Any]] = {}  # iss/aud/typ checks
        self.warnings: list[str] = []
        self.notes: list[str] = []
        self.user: dict[str, Any] | None = None
        self.live: dict[str, str] = {"state": "off", "detail": ""}
        self.consequence: str | None = None
        self.checked_at = checked_at

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
