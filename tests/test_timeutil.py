"""authcore.timeutil: aware UTC now, durations as operators write them, and the two display forms
(absolute ``YYYY-MM-DD HH:MM UTC`` and a two-unit relative delta)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from authcore.timeutil import fmt_utc, humanize_delta, parse_duration, utcnow


def test_utcnow_is_aware_utc_and_current() -> None:
    before = datetime.now(UTC)
    now = utcnow()
    assert now.tzinfo is UTC
    assert before <= now <= datetime.now(UTC)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (900, 900),
        (0.5, 0.5),
        ("900", 900),
        ("45s", 45),
        ("15m", 900),
        ("2h", 7200),
        ("30d", 30 * 86400),
        ("1w", 604800),
        ("  15 m  ", 900),
        ("007", 7),
    ],
)
def test_parse_duration_accepts(value: float | str, seconds: float) -> None:
    assert parse_duration(value) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    "value",
    [0, -5, 0.0, -0.1, "0", "0m", "-5m", "15x", "1.5h", "m", "", "  ", "15 m m", "1e3", "15M"],
)
def test_parse_duration_refuses(value: float | str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(value)


@pytest.mark.parametrize("value", [True, False])
def test_parse_duration_refuses_booleans(value: bool) -> None:
    """``True`` is an int in Python; as a TOML value it is a mistake, not one second."""
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(value)


def test_fmt_utc_converts_to_utc_and_formats() -> None:
    plus2 = timezone(timedelta(hours=2))
    dt = datetime(2026, 11, 27, 16, 32, 5, 999_999, tzinfo=plus2)
    assert fmt_utc(dt) == "2026-11-27 14:32 UTC"
    assert fmt_utc(dt, seconds=True) == "2026-11-27 14:32:05 UTC"
    assert fmt_utc(None) == ""
    assert fmt_utc(datetime(2026, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1)))) == "2025-12-31 23:30 UTC"


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(0), "0 s"),
        (timedelta(seconds=59), "59 s"),
        (timedelta(seconds=59.9), "59 s"),
        (timedelta(seconds=60), "1 min"),
        (timedelta(minutes=4, seconds=10), "4 min 10 s"),
        (timedelta(hours=3, minutes=12, seconds=30), "3 h 12 min"),
        (timedelta(days=2, hours=3, minutes=59), "2 d 3 h"),
        (timedelta(days=1), "1 d"),
        (timedelta(days=1, minutes=5), "1 d 5 min"),  # zero units are skipped, not printed
        (timedelta(days=400), "400 d"),
        (-timedelta(hours=1, minutes=1), "1 h 1 min"),  # always positive
    ],
)
def test_humanize_delta(delta: timedelta, text: str) -> None:
    assert humanize_delta(delta) == text
