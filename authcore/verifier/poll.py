"""How a ``Verifier`` stays current without NOTIFY: SQLite, and PostgreSQL behind a transaction
pooler with no direct ``listen_url``.

A background thread polls every ``staleness/2``. SQLite: ``revocations WHERE id > :last`` (SQLite
writers are serialised, so ids commit in order and nothing is skipped). PostgreSQL: ids do not
commit in order, so each poll re-reads every cached user and session instead (the listener's
resync, ``authcore.verifier.listen``): a snapshot taken after the poll started.
"""

from __future__ import annotations

import logging
import time

from authcore import notices
from authcore.db import read_conn
from authcore.revocation import Notice, group_rows
from authcore.verifier.updates import Updates, first_line

log = logging.getLogger("authcore.verifier")

PAGE = 1000

_POLL = notices.rows_after(PAGE)
_MAX_ID = notices.MAX_ID


class Polling(Updates):
    """The ``Verifier``'s polling side (a mixin: these methods run on its background thread)."""

    def _resync(self) -> None:  # the listener's (``Listening``): a Verifier has both sides
        raise NotImplementedError

    def _run_poll(self) -> None:
        """The background thread: poll, mark synced, wait ``staleness/2``; until closed."""
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self._poll_once()
                self._connected = True
                self._mark_synced(started)
            except Exception as exc:  # noqa: BLE001 - any failure polls again (logged and counted)
                self._cache.count("errors")
                self._connected = False
                log.warning("verifier poll failed: %s", first_line(exc))
            self._stop.wait(self._poll_interval)

    def _poll_once(self) -> None:
        """Apply every revocation row after the watermark (``self._last_id``), page by page;
        PostgreSQL: re-read the cached state (see the module docstring)."""
        if self.engine.dialect.name == "postgresql":
            self._resync()
            return
        with read_conn(self.engine) as conn:
            if self._last_id is None:
                # The cache is empty at start (nothing is cached before the first sync).
                self._last_id = int(conn.execute(_MAX_ID).scalar_one())
                self._reset("poll")
                return
            while True:
                rows = conn.execute(_POLL, {"after": self._last_id}).all()
                received = time.time()
                for group in group_rows(rows):
                    try:
                        notice = Notice.from_rows(group)
                    except ValueError as exc:  # a kind this authcore does not know (a newer writer's)
                        log.warning("%s: dropping the user cache", exc)
                        self._reset("poll")
                    else:
                        self._apply(notice, "poll", received, group[0].at)
                    self._last_id = int(group[-1].id)
                if len(rows) < PAGE:
                    return
