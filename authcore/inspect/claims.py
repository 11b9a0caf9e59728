"""The claims: time claims read as verifiers read them, lifetime, issuer/audience and typ.

Time claims are RFC 7519 NumericDates (JSON numbers of seconds); values a verifier would misread
(strings, milliseconds, beyond the years 1-9999) are explained rather than converted. Issuer,
audience and lifetime checks need ``TokenSettings``; without settings only the times are read.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from authcore.inspect.report import Findings, TimeInfo, quote, span

TIME_CLAIMS = ("exp", "nbf", "iat", "auth_time")
MS_THRESHOLD = 1e11  # seconds-since-epoch beyond year 5138: almost certainly milliseconds
MAX_EPOCH = 253402300799  # 9999-12-31T23:59:59Z
MIN_EPOCH = -62135596800  # 0001-01-01T00:00:00Z


class ClaimChecks(Findings):
    """Fills ``report.times`` and ``report.claims``; bad time claims are malformed, claims for
    another issuer or audience are ``foreign``."""

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
            if MIN_EPOCH <= ms <= MAX_EPOCH:
                as_ms = datetime.fromtimestamp(ms, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                notes.append(f"looks like milliseconds ({as_ms} if read as ms); verifiers read seconds")
            else:
                notes.append("huge value: verifiers read seconds")
        if MIN_EPOCH <= value <= MAX_EPOCH:
            info.iso = datetime.fromtimestamp(value, UTC).isoformat().replace("+00:00", "Z")
        else:
            notes.append("beyond the years 1-9999")
        if value < 0:
            notes.append("before 1970")
        diff = value - self.now_ts
        d = span(diff)
        if name == "exp":
            if diff <= 0:
                info.relative = f"expired {d} ago"
                if -diff <= self.leeway:
                    info.relative += f" (within the {span(self.leeway)} leeway)"
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
                    f"lifetime {span(life)} is longer than the configured maximum {span(limit)}"
                )
        elif exp.epoch - self.now_ts > limit:
            self.r.warnings.append(
                f"expires in {span(exp.epoch - self.now_ts)}, beyond the "
                f"configured maximum lifetime {span(limit)}"
            )

    def check_iss_aud(self, payload: dict[str, Any]) -> None:
        s = self.settings
        r = self.r
        iss = payload.get("iss")
        c: dict[str, Any]
        a: dict[str, Any]
        if "iss" not in payload:
            c = {"ok": False, "detail": f"no iss claim (configured issuer {quote(s.issuer)})"}
        elif iss != s.issuer:
            c = {"ok": False, "detail": f"issuer {quote(iss)} is not the configured {quote(s.issuer)}"}
        else:
            c = {"ok": True, "detail": f"issuer {quote(iss)} matches"}
        r.claims["iss"] = c
        aud = payload.get("aud")
        if "aud" not in payload:
            a = {"ok": False, "detail": f"no aud claim (configured audience {quote(s.audience)})"}
        elif aud == s.audience if isinstance(aud, str) else isinstance(aud, list) and s.audience in aud:
            a = {"ok": True, "detail": f"audience {quote(s.audience)} matches"}
        else:
            a = {
                "ok": False,
                "detail": f"audience {quote(aud)} does not include the configured {quote(s.audience)}",
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
            problems.append(f"typ claim {quote(typ)} is neither access nor refresh")
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
                    f"typ 'access' but its lifetime ({span(life)}) is longer than "
                    f"access_ttl ({span(s.access_ttl.total_seconds())})"
                )
            if typ == "access" and "rc" in payload:
                problems.append("typ 'access' carries rc, a refresh-token claim")
            if (
                typ == "refresh"
                and life is not None
                and s.refresh_ttl > s.access_ttl
                and life <= s.access_ttl.total_seconds()
            ):
                problems.append(f"typ 'refresh' with an access-token lifetime ({span(life)})")
        r.claims["typ"] = {"ok": not problems, "detail": "; ".join(problems) or f"typ {quote(typ)}"}
        r.warnings.extend(problems)

    def time_problems(self) -> tuple[str | None, str | None]:
        """(expired, not yet valid): each the words for the report, or None."""
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
