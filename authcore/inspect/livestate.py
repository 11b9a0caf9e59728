"""``LiveState``: what a live lookup returns for the inspector (``live_lookup``, an app's own).

A module of its own so that an inspection without a live lookup (``tokens decode --no-db``)
does not build the frozen dataclass (~0.5 ms at every start on Python 3.11, which compiles
its generated methods); ``authcore.inspect`` exports it on first use.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class LiveState:
    """The rows behind a token: its user (by ``sub``) and, if asked, its session (by ``sid``)."""

    user_id: int
    exists: bool
    disabled: bool = False
    token_version: int | None = None
    email: str | None = None
    sid: str | None = None
    session_exists: bool | None = None  # None: no sid was asked for
    session_expires_at: datetime | None = None
