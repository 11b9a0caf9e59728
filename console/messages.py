"""Messages thread workers post back to their screen (``post_message`` is thread-safe).

Dataclass messages: Textual's ``Message.__post_init__`` does the message set-up.

Each carries what it was asked for (query, user id...) so a screen can drop a late answer to an
older question.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from textual.message import Message

if TYPE_CHECKING:  # pragma: no cover - annotations only: the app paints before SQLAlchemy loads
    from authcore.activityfeed import ActivityFeed
    from authcore.audit import AuditRecord, ChainReport
    from authcore.core import AuthCore
    from authcore.devices import SessionDevice
    from authcore.reads import ReplicaStatus
    from authcore.revoke import RevokeResult
    from authcore.sessions import SessionRecord
    from authcore.users import Page, UserRecord


@dataclass
class CoreReady(Message):
    """The ``AuthCore`` the console was started without is built (see ``console.connect``)."""

    core: AuthCore


@dataclass
class ReplicaChecked(Message):
    """The read replica's state and lag, polled by the app (``AuthCore.replica_status``)."""

    status: ReplicaStatus


@dataclass
class UsersPage(Message):
    """A page of user search results (``append``: the next page of the same query)."""

    query: str
    page: Page
    append: bool = False


@dataclass
class UserLoaded(Message):
    """One user's profile, sessions and recent audit events."""

    user: UserRecord
    sessions: list[SessionRecord]
    events: list[AuditRecord]
    devices: dict[str, SessionDevice] = field(default_factory=dict)  # by public_id (core.devices)


@dataclass
class DevicesParsed(Message):
    """User agents a page's worker parsed after it posted the page (``Devices.unparsed``):
    ``key`` is what the page was for (the sessions filter text, the user id)."""

    key: str
    devices: dict[str, SessionDevice]


@dataclass
class SessionsPage(Message):
    """Recent sessions across users for a filter text."""

    text: str
    items: list[SessionRecord]
    append: bool = False
    devices: dict[str, SessionDevice] = field(default_factory=dict)  # by public_id (core.devices)


@dataclass
class AuditPage(Message):
    """Audit events for a (user, action) filter; ``user_label`` names the resolved user."""

    filters: tuple[str, str]
    events: list[AuditRecord]
    append: bool = False
    user_label: str = ""


@dataclass
class AuditLive(Message):
    """Events newer than the audit screen's newest (``after``), for the filters it showed when
    asked, newest first; ``full``: there may be more than these, so the page loads again."""

    filters: tuple[str, str]
    after: int
    events: list[AuditRecord]
    full: bool = False


@dataclass
class ChainChecked(Message):
    report: ChainReport
    seals: Any = None  # authcore.seal.SealReport when [audit] seals is configured


@dataclass
class PreviewReady(Message):
    """A dry run finished: what the action would do, to show in the confirm dialog."""

    action: str
    preview: RevokeResult
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class ActionDone(Message):
    """A confirmed action committed; ``propagation_ms``: until strict verifiers refuse."""

    result: RevokeResult
    propagation_ms: float | None = None


@dataclass
class TokenInspected(Message):
    """The inspector's report (``report.to_dict()``) for the pasted text, or why there is none."""

    text: str
    report: dict[str, Any] | None
    error: str = ""


@dataclass
class ActivityStarted(Message):
    """The live activity feed read its backlog and runs (``console.screens.activity``)."""

    feed: ActivityFeed
