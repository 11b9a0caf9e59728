"""UTC helpers and duration parsing."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def utcnow() -> datetime:
    """The current time, timezone-aware UTC, to the microsecond."""
    return datetime.now(UTC)


def parse_duration(value: float | str) -> timedelta:
    """``900``, ``"15m"``, ``"30d"`` -> timedelta. Raises ValueError on anything else."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        if value <= 0:
            raise ValueError(f"duration must be positive: {value!r}")
        return timedelta(seconds=value)
    m = _DURATION.match(str(value))
    if not m or int(m.group(1)) <= 0:
        raise ValueError(f"not a duration (use e.g. 900, '15m', '30d'): {value!r}")
    return timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])


def fmt_utc(dt: datetime | None, seconds: bool = False) -> str:
    """``2026-11-27 14:32 UTC`` (or with seconds); empty for None."""
    if dt is None:
        return ""
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC")


def humanize_delta(delta: timedelta) -> str:
    """``3 h 12 min``, ``4 min 10 s``, ``2 d 3 h``: the two largest units, always positive."""
    total = int(abs(delta.total_seconds()))
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        if total >= size or (unit == "s" and not parts):
            qty, total = divmod(total, size)
            parts.append(f"{qty} {unit}")
        if len(parts) == 2:
            break
    return " ".join(parts)
