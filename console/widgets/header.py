"""The one-line header (screen, READ-ONLY badge, operator and role, the read replica's lag,
masked database URL) and the outage banner. Every value comes from the database or the
environment: all of it goes through ``safe``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import Static

from console.safe import safe

if TYPE_CHECKING:  # pragma: no cover
    from authcore.reads import ReplicaStatus


def middle_cut(text: str, width: int) -> str:
    """``sqlite:////very/lo…/demo.db``: keep both ends of a long URL."""
    if len(text) <= width or width < 5:
        return text[: max(width, 0)]
    head = (width - 1) // 2
    return text[:head] + "…" + text[len(text) - (width - 1 - head) :]


class ConsoleHeader(Static):
    """``authconsole › Users  READ-ONLY  op alice (admin)  replica 0.4s  db sqlite:///…``."""  # noqa: RUF002 - as drawn

    def __init__(
        self,
        title: str,
        *,
        url: str,
        actor: str,
        role: str,
        read_only: bool,
        replica: ReplicaStatus | None = None,
    ) -> None:
        super().__init__(id="console-header", markup=False)
        self.title_text = title
        self.url = url
        self.actor = actor
        self.role = role
        self.read_only = read_only
        self.replica = replica

    def on_mount(self) -> None:
        self._paint()

    def on_resize(self) -> None:
        self._paint()

    def set_identity(self, *, url: str, actor: str, role: str, read_only: bool) -> None:
        self.url, self.actor, self.role, self.read_only = url, actor, role, read_only
        self._paint()

    def set_replica(self, replica: ReplicaStatus | None) -> None:
        self.replica = replica
        self._paint()

    def set_title(self, title: str) -> None:
        self.title_text = title
        self._paint()

    def _paint(self) -> None:
        width = self.size.width or self.app.size.width
        for brand, title_max in ((True, 40), (False, 30), (False, 16)):
            line = self._line(brand, title_max)
            if width - line.cell_len >= 24:
                break
        room = max(width - line.cell_len - 1, 8)
        line.append_text(safe(middle_cut(self.url, room), max_len=None, style="dim"))
        self.update(line)

    def _line(self, brand: bool, title_max: int) -> Text:
        """Everything but the URL: brand (wide terminals), title, READ-ONLY, operator (role)."""
        line = Text(no_wrap=True, overflow="ellipsis", end="")
        if brand:
            line.append(" authconsole ", style="bold reverse")
        line.append(" ")
        line.append_text(safe(self.title_text, max_len=title_max, style="bold"))
        if self.read_only:
            line.append(" ")
            line.append(" READ-ONLY ", style="bold reverse yellow")
        line.append("  op ")
        line.append_text(safe(self.actor, max_len=30, style="bold"))
        line.append(" (")
        line.append_text(safe(self.role, max_len=12))
        line.append(") advisory" if self.url.startswith("sqlite") and self.role == "viewer" else ")")
        # SQLite: one operator; roles there stop mistakes only
        if self.replica is not None:
            line.append("  ")
            line.append_text(replica_badge(self.replica))
        line.append("  db ")
        return line


def replica_badge(r: ReplicaStatus) -> Text:
    """The read replica in a few cells: ``replica ok``, ``replica 1.2s``, and past the bound (or
    down, or not a standby) a warning: ``⚠ replica 12s behind``, ``⚠ replica down``."""
    paused = " paused" if r.paused else ""
    if not r.up:
        return Text(" ⚠ replica down: reads on primary ", style="bold reverse red")
    if not r.standby:
        return Text(" ⚠ replica not a standby ", style="bold reverse red")
    if r.warn:
        return Text(f" ⚠ replica {r.lag_s:.0f}s behind{paused} ", style="bold reverse yellow")
    if r.caught_up:
        return Text(f"replica ok{paused}", style="green")
    return Text(f"replica {r.lag_s:.1f}s{paused}", style="dim")


class OutageBanner(Static):
    """Shown while the database is unreachable; hidden otherwise."""

    def __init__(self) -> None:
        super().__init__(id="outage", markup=False)
        self.display = False

    def show(self, message: str | None, retry_every: float) -> None:
        if not message:
            self.display = False
            return
        text = Text(" DATABASE UNAVAILABLE ", style="bold reverse red")
        text.append(" ")
        text.append_text(safe(message, max_len=300))
        text.append(f"  · retrying every {retry_every:g}s · r retries now", style="bold")
        self.update(text)
        self.display = True


class StatusLine(Static):
    """A one-line status under a table: counts, 'loading', or the last error with its retry key."""

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id, classes="status", markup=False)
        self.about_outage = False  # what it says holds only while the database is away

    def say(self, text: Text | str, style: str = "", *, outage: bool = False) -> None:
        self.about_outage = outage
        self.update(text if isinstance(text, Text) else safe(text, max_len=400, style=style))
