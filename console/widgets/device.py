"""Session cells for what ``core.devices`` made of a session: its device (parsed user agent)
and where its address is. Both come from untrusted text (the client's user agent, the MMDB
file's ASN names), so every piece goes through ``console.safe``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text

from console.safe import safe, safe_join
from console.widgets.table import Col

if TYPE_CHECKING:  # pragma: no cover
    from authcore.devices import SessionDevice

#: The location column, shown only when a GeoIP file is configured (``AuthConsoleApp.located``).
WHERE = Col("where", "where", 10, optional=True)


def with_where(cols: list[Col], located: bool, after: str = "ip") -> list[Col]:
    """``cols`` with the location column after ``after`` when a GeoIP file is configured;
    without one the column is absent, never empty."""
    if not located:
        return cols
    i = next(i for i, c in enumerate(cols) if c.key == after) + 1
    return [*cols[:i], WHERE, *cols[i:]]


def device_cell(dev: SessionDevice | None, user_agent: str | None) -> Text:
    """``Chrome 120 · Windows 10``; a user agent the rules do not know shows as sent (dim)."""
    agent = dev.agent if dev is not None else None
    if agent is not None and agent.summary:
        return safe(agent.summary)
    return safe(user_agent, style="dim")


def where_cell(dev: SessionDevice | None) -> Text:
    """``DE AS64500``; ``-`` when the file does not know the address."""
    loc = dev.location if dev is not None else None
    if loc is None or not loc.short:
        return Text("-", style="dim")
    return safe(loc.short)


def detail(dev: SessionDevice | None, user_agent: str | None, located: bool) -> Text:
    """The detail pane's device line: parsed parts, the location with its ASN name, then the
    user agent as sent."""
    agent = dev.agent if dev is not None else None
    parts: list[Text] = []
    if agent is not None:
        for label, value in (("browser", agent.browser), ("os", agent.os), ("device", agent.device)):
            if value:
                parts.append(safe_join(Text(f"{label} ", style="dim"), safe(value, max_len=60)))
    if located:
        loc = dev.location if dev is not None else None
        where = safe(loc.long, max_len=120) if loc is not None and loc.long else Text("unknown", style="dim")
        parts.append(safe_join(Text("where ", style="dim"), where))
    ua = safe(user_agent or "(no user agent)", style="italic")
    return safe_join(*parts, ua, sep=" · ") if parts else ua
