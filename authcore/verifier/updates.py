"""Applying updates to a ``Verifier``'s cache: what its background loops share with it.

``Updates`` is the base of the ``Verifier`` and of its two loops (``listen.Listening``,
``poll.Polling``): one notice applied to the cache, its ``on_update`` callbacks told, a sync
marked. The attributes below are set by ``Verifier.__init__``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from sqlalchemy import Engine

    from authcore.revocation import Notice
    from authcore.verifier.cache import RevocationCache

log = logging.getLogger("authcore.verifier")


@dataclass(frozen=True)
class AppliedUpdate:
    """One revocation notice as applied to the cache (passed to ``on_update`` callbacks).

    ``kind``: a ``revocation.Kind`` value, or resync | reset. ``source``: notify (LISTEN),
    poll (SQLite) or resync (after a reconnect). Times are ``time.time()`` (comparable across
    processes on one host); ``revoked_at`` is the revocation row's ``at`` when known (poll).
    """

    kind: str
    user_ids: tuple[int, ...]
    versions: tuple[int | None, ...]
    session_ids: tuple[str, ...]
    source: str
    received_at: float
    applied_at: float
    revoked_at: datetime | None = None


class Updates:
    """Applying notices to the cache and marking syncs (shared by the Verifier and its loops)."""

    engine: Engine
    application_name: str
    _cache: RevocationCache
    _callbacks: list[Callable[[AppliedUpdate], None]]
    _closed: bool
    _synced_at: float | None
    _ready: threading.Event
    _stop: threading.Event
    _connected: bool
    _listener_pid: int | None
    _beat_started: float | None
    _beat_timeout: float
    _heartbeat: float
    _listen_url: str | None
    _last_id: int | None
    _poll_interval: float
    _reconnect_delay: float
    _max_backoff: float

    # -- applying updates ----------------------------------------------------------------------
    def _apply(
        self, notice: Notice, source: str, received_at: float, revoked_at: datetime | None = None
    ) -> None:
        self._cache.apply(notice)
        self._after_update(
            notice.kind.value,
            notice.user_ids,
            notice.versions,
            notice.session_ids,
            source,
            received_at,
            revoked_at,
        )

    def _after_update(
        self,
        kind: str,
        uids: tuple[int, ...],
        versions: tuple[int | None, ...],
        sids: tuple[str, ...],
        source: str,
        received_at: float,
        revoked_at: datetime | None = None,
    ) -> None:
        if self._callbacks:
            upd = AppliedUpdate(kind, uids, versions, sids, source, received_at, time.time(), revoked_at)
            for cb in list(self._callbacks):
                try:
                    cb(upd)
                except Exception:  # a callback must not stop the listener
                    log.exception("verifier on_update callback failed")

    def _reset(self, source: str) -> None:
        self._cache.reset()
        self._after_update("reset", (), (), (), source, time.time())

    def _mark_synced(self, started: float) -> None:
        if self._closed:
            return
        if self._synced_at is None or started > self._synced_at:
            self._synced_at = started
        self._ready.set()


def first_line(exc: BaseException) -> str:
    """An exception's first line for the log, any password masked (``urls.mask_password``)."""
    from authcore.urls import mask_password

    text = str(exc).strip()
    return mask_password(text.splitlines()[0] if text else exc.__class__.__name__)
