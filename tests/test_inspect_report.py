"""authcore.inspect.report: the result types, the wording helpers every message uses, and the
state the checks share (``Findings``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from authcore.inspect import LiveState
from authcore.inspect.report import (
    STATUSES,
    Findings,
    InspectionReport,
    SignatureResult,
    TimeInfo,
    clock_time,
    quote,
    span,
)

NOW = datetime(2026, 11, 27, 14, 28, tzinfo=UTC)


def test_quote_cleans_and_cuts_untrusted_text() -> None:
    assert quote("plain") == "'plain'"
    shown = quote("a\x1b[31mred\x00" + "x" * 200)
    assert "\x1b" not in shown and "\x00" not in shown
    assert len(shown) < 80
    assert quote(12) == "'12'"  # non-strings are shown as their text


def test_span_handles_any_magnitude() -> None:
    assert span(-90) == span(90)  # a duration, sign dropped
    assert "year" in span(1e15)  # beyond timedelta's range: still words
    assert span(1e15).startswith("about ")


def test_clock_time_omits_today_s_date() -> None:
    assert clock_time(NOW.replace(hour=16, minute=5), NOW) == "16:05 UTC"
    other = clock_time(NOW + timedelta(days=1), NOW)
    assert other.startswith("2026-11-28") and other.endswith("UTC")


def test_report_ok_exit_code_and_json() -> None:
    r = InspectionReport(status="valid", reason="fine", checked_at=NOW)
    assert r.ok and r.exit_code == 0
    r.times["exp"] = TimeInfo(raw=float("inf"), note="infinite")
    r.header = {"alg": "HS256", "weird": b"\x00bytes"}
    r.signature = SignatureResult(verified=True, kid="k\x1b1", tried=["a"])
    data = r.to_dict()
    json.dumps(data, allow_nan=False)  # whatever the token held, the report is plain JSON
    assert data["checked_at"] == NOW.isoformat()
    assert data["signature"]["tried"] == ["a"]
    for status in STATUSES:
        if status != "valid":
            bad = InspectionReport(status=status, reason="")
            assert not bad.ok and bad.exit_code == 1


def test_report_pieces_compare_by_value_and_show_their_fields() -> None:
    """Plain classes (no dataclass code generation at import) that still compare field by field,
    refuse to hash and show every field, as the dataclasses they were did."""
    a, b = TimeInfo(raw=5, note="n"), TimeInfo(raw=5, note="n")
    assert a == b and a != TimeInfo(raw=6, note="n") and a != SignatureResult()
    assert repr(a) == "TimeInfo(raw=5, iso=None, relative=None, note='n', epoch=None, valid=True)"
    assert SignatureResult(tried=["x"]) == SignatureResult(tried=["x"]) != SignatureResult()
    assert SignatureResult().tried is not SignatureResult().tried  # a list of its own each
    r1, r2 = (
        InspectionReport("valid", "fine", checked_at=NOW),
        InspectionReport("valid", "fine", checked_at=NOW),
    )
    assert r1 == r2 and r1.segments is not r2.segments and r1.signature is not r2.signature
    r2.warnings.append("w")
    assert r1 != r2
    shown = repr(r1)
    assert shown.startswith("InspectionReport(status='valid', reason='fine', kind='not_jwt', ")
    assert shown.endswith(f"checked_at={NOW!r})") and "signature=SignatureResult(verified=None" in shown
    for piece in (a, SignatureResult(), r1):
        with pytest.raises(TypeError):
            hash(piece)


def test_findings_start_malformed_with_live_state_by_lookup() -> None:
    f = Findings([], None, None, NOW, None)
    assert f.r.status == "malformed" and f.r.checked_at == NOW
    assert f.r.live["state"] == "off"
    assert f.leeway == 0.0
    f.live_skip("not asked")  # no lookup configured: stays off
    assert f.r.live["state"] == "off"

    def lookup(uid: int, sid: str | None) -> LiveState:
        return LiveState(uid, exists=True)

    g = Findings([], None, lookup, NOW, None)
    assert g.r.live["state"] == "skipped"
    g.live_skip("signature not verified")
    assert g.r.live == {"state": "skipped", "detail": "signature not verified"}
    assert g.done("expired", "why") is g.r
    assert (g.r.status, g.r.reason) == ("expired", "why")
