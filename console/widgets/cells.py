"""Cell formatting: relative times against the app's clock, badges. Everything returns Text."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.text import Text

from console.safe import safe

_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def short_delta(seconds: float) -> str:
    """``42s``, ``5m``, ``3h``, ``12d``: the largest whole unit."""
    total = int(abs(seconds))
    for unit, size in _UNITS:
        if total >= size or unit == "s":
            return f"{total // size}{unit}"
    return "0s"  # pragma: no cover


def rel(dt: datetime | None, now: datetime) -> Text:
    """``5m ago`` / ``in 21d`` relative to ``now`` (the app's clock); empty for None."""
    if dt is None:
        return Text("-", style="dim")
    secs = (dt - now).total_seconds()
    if abs(secs) < 1:
        return Text("now")
    return Text(f"in {short_delta(secs)}" if secs > 0 else f"{short_delta(secs)} ago")


def stamp(dt: datetime | None) -> Text:
    """``2025-01-02 14:32`` in UTC; ``-`` for None."""
    if dt is None:
        return Text("-", style="dim")
    return Text(dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M"))


def day(dt: datetime | None) -> Text:
    """``2025-01-02`` in UTC; ``-`` for None."""
    if dt is None:
        return Text("-", style="dim")
    return Text(dt.astimezone(UTC).strftime("%Y-%m-%d"))


def when(dt: datetime | None, now: datetime) -> Text:
    """``2025-01-02 14:32 UTC (5m ago)``."""
    if dt is None:
        return Text("never", style="dim")
    out = stamp(dt)
    out.append(" UTC (")
    out.append_text(rel(dt, now))
    out.append(")")
    return out


def yes_no(flag: bool, yes_style: str = "bold red") -> Text:
    return Text("yes", style=yes_style) if flag else Text("no", style="dim")


def state(active: bool) -> Text:
    return Text("active", style="green") if active else Text("expired", style="dim")


def number(value: int | None) -> Text:
    return Text("-" if value is None else str(value), justify="right")


def ident(value: object) -> Text:
    """An id: cleaned like any other value (public ids are ours, but stay inert anyway)."""
    return safe(value, max_len=64)


REUSE = "refresh_reuse_detected"


def action(name: str) -> Text:
    """An audit action; refresh token reuse (a likely theft) stands out."""
    if name == REUSE:
        return Text("⚠ " + REUSE, style="bold reverse red")
    return safe(name, style="bold")
