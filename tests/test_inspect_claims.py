"""authcore.inspect.claims: time claims read as verifiers read them, lifetime, issuer/audience
and typ checks against ``TokenSettings``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from authcore.config import TokenSettings
from authcore.inspect.claims import ClaimChecks

NOW = datetime(2026, 11, 27, 14, 28, tzinfo=UTC)
T = int(NOW.timestamp())
SETTINGS = TokenSettings(secret="x" * 40)  # issuer/audience "authconsole", leeway 10 s


def checks(settings: TokenSettings | None = SETTINGS) -> ClaimChecks:
    return ClaimChecks([], settings, None, NOW, None)


def claims(**over: Any) -> dict[str, Any]:
    base = {"iss": "authconsole", "aud": "authconsole", "typ": "access", "iat": T - 60, "exp": T + 840}
    base.update(over)
    return {k: v for k, v in base.items() if v is not ...}


@pytest.mark.parametrize(
    ("raw", "note"),
    [
        (True, "a boolean, not a time"),
        ("1764000000", "a string holding a number: a NumericDate must be a JSON number"),
        ("tomorrow", "a string, not a time"),
        ([1], "a list, not a time"),
        (float("nan"), "NaN, not a time"),
        (10**400, "infinite or absurdly large, not a time"),
    ],
)
def test_unusable_time_values(raw: Any, note: str) -> None:
    info = checks().time_claim("exp", raw)
    assert (info.valid, info.note, info.epoch) == (False, note, None)


def test_time_words_and_iso() -> None:
    c = checks()
    exp = c.time_claim("exp", T + 300)
    assert exp.iso == "2026-11-27T14:33:00Z" and exp.relative == "valid for another 5 min"
    assert c.time_claim("exp", T - 5).relative.endswith("(within the 10 s leeway)")
    assert c.time_claim("nbf", T + 60).relative == "not valid for another 1 min"
    assert c.time_claim("iat", T - 60).relative == "issued 1 min ago"
    assert c.time_claim("auth_time", T - 60).relative == "1 min ago"


def test_milliseconds_and_out_of_range_are_explained() -> None:
    ms = checks().time_claim("exp", T * 1000)
    assert ms.valid and ms.epoch == T * 1000  # read as seconds, like verifiers do
    assert ms.note.startswith("looks like milliseconds (2026-11-27T14:28:00Z if read as ms)")
    old = checks().time_claim("iat", -1)
    assert old.note == "before 1970"
    far = checks().time_claim("exp", 10**13)
    assert far.iso is None and "beyond the years 1-9999" in far.note


def test_bad_time_claims_are_malformed_except_auth_time() -> None:
    c = checks()
    c.claims(claims(exp="soon", auth_time="yesterday"))
    assert c.malformed == ["exp claim is a string, not a time"]


def test_lifetime_over_the_limit_is_warned() -> None:
    c = checks()
    c.claims(claims(typ="refresh", iat=T, exp=T + 31 * 86400))
    assert any(w == "lifetime 31 d is longer than the configured maximum 30 d" for w in c.r.warnings)
    c = checks()
    c.claims(claims(iat=..., exp=T + 40 * 86400, typ="refresh"))
    assert any(w == "expires in 40 d, beyond the configured maximum lifetime 30 d" for w in c.r.warnings)
    c = checks()
    c.claims(claims(iat=T, exp=T))
    assert "exp is not after iat/nbf" in c.r.notes


def test_issuer_and_audience_for_another_service_are_foreign() -> None:
    c = checks()
    c.claims(claims(iss="other", aud=["x", "authconsole"]))
    assert c.r.claims["aud"]["ok"] is True  # a list that includes ours
    assert c.foreign == ["issuer 'other' is not the configured 'authconsole'"]
    c = checks()
    c.claims(claims(aud=...))
    assert c.foreign == ["no aud claim (configured audience 'authconsole')"]
    c = checks(settings=None)
    c.claims(claims(iss="other"))
    assert c.foreign == [] and "iss" not in c.r.claims  # no settings: nothing to compare with


def test_typ_checks() -> None:
    c = checks()
    c.claims(claims(typ="id"))
    assert c.r.claims["typ"] == {"ok": False, "detail": "typ claim 'id' is neither access nor refresh"}
    c = checks()
    c.claims(claims(exp=T + 3600, rc=1))
    assert c.r.claims["typ"]["detail"] == (
        "typ 'access' but its lifetime (1 h 1 min) is longer than access_ttl (15 min); "
        "typ 'access' carries rc, a refresh-token claim"
    )
    c = checks()
    c.claims(claims(typ="refresh"))
    assert c.r.warnings == ["typ 'refresh' with an access-token lifetime (15 min)"]
    c = checks()
    c.claims(claims(typ=...))
    assert c.r.warnings == ["no typ claim: authcore verifiers cannot tell access from refresh and refuse it"]


def test_time_problems_use_the_leeway() -> None:
    c = checks()
    c.claims(claims(exp=T - 5))
    assert c.time_problems() == (None, None)  # within the 10 s leeway
    c = checks()
    c.claims(claims(exp=T - 60))
    expired, early = c.time_problems()
    assert expired == "expired 1 min ago (2026-11-27 14:27:00 UTC)" and early is None
    c = checks()
    c.claims(claims(nbf=T + 120, iat=T + 120, exp=T + 900))
    assert c.time_problems() == (None, "not valid for another 2 min (nbf)")
    c = checks()
    c.claims(claims(iat=T + 120, exp=T + 900))
    assert c.time_problems() == (None, "issued 2 min in the future (iat)")


def test_leeway_comes_from_settings() -> None:
    c = checks(TokenSettings(secret="x" * 40, leeway=timedelta(minutes=2)))
    c.claims(claims(exp=T - 60))
    assert c.time_problems() == (None, None)
