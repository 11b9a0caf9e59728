"""PostgreSQL: how a ``Verifier`` stays current by LISTEN.

A dedicated autocommit psycopg connection LISTENs on ``notices.CHANNEL`` in the verifier's
background thread and applies each notice to the cache. Every ``staleness/4`` it sends a
``SELECT 1`` heartbeat; a completed heartbeat proves every notice committed before it started has
been applied. After a lost connection it reconnects, LISTENs again, then re-reads the state of
every cached user and session in bulk (a fresh snapshot taken after LISTEN), so nothing that
committed while it was away is missed. (Replaying ``revocations`` by id is not safe on
PostgreSQL: sequence ids are handed out before commit, so they do not arrive in id order.)

LISTEN needs a session of its own on the server: through a transaction pooler (PgBouncer) the
client's LISTEN lands on a server connection that goes back to the pool, and notices never come.
So the listener connects to the direct ``listen_url``; an engine marked pooled without one polls
instead (``authcore.verifier.poll``), with one warning (``listen_target``).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, bindparam, select
from sqlalchemy.engine import make_url

from authcore import notices
from authcore.db import bound_waits, is_pooled, mask_url, normalize_url, pooled_option, read_conn
from authcore.errors import ValidationError
from authcore.models import sessions, users
from authcore.revocation import Notice
from authcore.verifier.updates import Updates, first_line

if TYPE_CHECKING:  # pragma: no cover
    import psycopg

log = logging.getLogger("authcore.verifier")

TICK_S = 0.25  # longest the listener waits before re-checking for close()
CHUNK = 500  # ids per IN (...) during a resync
_CHANNEL = re.compile(r"[a-z_][a-z0-9_]{0,62}")  # a plain identifier: LISTEN takes no bind

_USERS_IN = select(users.c.id, users.c.token_version, users.c.disabled).where(
    users.c.id.in_(bindparam("ids", expanding=True))
)
_SESSIONS_IN = select(sessions.c.public_id, sessions.c.user_id, sessions.c.expires_at).where(
    sessions.c.public_id.in_(bindparam("sids", expanding=True))
)


def libpq_url(url: str) -> str:
    """``postgresql+psycopg://...`` (SQLAlchemy) -> ``postgresql://...`` (libpq/psycopg)."""
    u = make_url(normalize_url(url))
    if u.get_backend_name() != "postgresql":
        raise ValidationError("LISTEN needs a PostgreSQL URL")
    u, pooled = pooled_option(u)
    if pooled:
        raise ValidationError("the LISTEN URL must be a direct connection, not one through a pooler")
    return u.set(drivername="postgresql").render_as_string(hide_password=False)


def listen_target(engine: Engine, listen_url: str | None, poll_s: float) -> str | None:
    """The libpq URL the listener connects to, or None: poll. PostgreSQL listens on
    ``listen_url``, else on the engine's own URL unless that goes through a transaction pooler
    (``make_engine(pooled=True)``): then it warns once, here, and polls (re-reading the
    cached users every ``poll_s``) rather than LISTEN on a pooled connection that never hears a
    notice. SQLite polls."""
    if engine.dialect.name != "postgresql":
        return None
    if listen_url:
        return libpq_url(listen_url)
    if is_pooled(engine):
        log.warning(
            "verifier: %s goes through a transaction pooler and no listen_url is set, so LISTEN "
            "cannot work; polling instead (every %.2fs, one query per %d cached users); set "
            "listen_url (config) or AUTHCONSOLE_LISTEN_URL to a direct URL for notices in ms",
            mask_url(engine.url.render_as_string(hide_password=False)),
            poll_s,
            CHUNK,
        )
        return None
    return libpq_url(engine.url.render_as_string(hide_password=False))


def open_listener(
    url: str, application_name: str, beat_timeout: float, channels: Sequence[str] = (notices.CHANNEL,)
) -> psycopg.Connection[Any]:
    """An autocommit connection LISTENing on ``channels`` (the revocation channel unless told):
    every wait on it is bounded by ``beat_timeout``. Shared by every follower of a NOTIFY
    channel (verifiers, ``authcore.auditstream``): one way to connect, bound and LISTEN."""
    import psycopg

    conn = psycopg.connect(
        url,
        autocommit=True,
        application_name=application_name,
        connect_timeout=5,
        keepalives=1,
        keepalives_idle=5,
        keepalives_interval=2,
        keepalives_count=3,
        tcp_user_timeout=10_000,
    )
    # Every wait on this connection (LISTEN, heartbeat) is bounded: a server that accepts
    # bytes but never answers (frozen, a proxy that stopped forwarding) counts as down.
    bound_waits(conn, beat_timeout)
    try:
        for channel in channels:
            if not _CHANNEL.fullmatch(channel):
                raise ValidationError(f"not a channel name: {channel[:64]!r}")
            conn.execute(f"LISTEN {channel}")
    except BaseException:
        conn.close()
        raise
    return conn


class Listening(Updates):
    """The ``Verifier``'s LISTEN side (a mixin: these methods run on its background thread)."""

    def _open_listener(self) -> psycopg.Connection[Any]:
        assert self._listen_url is not None
        return open_listener(self._listen_url, self.application_name, self._beat_timeout)

    def _run_listen(self) -> None:
        """The background thread: connect, LISTEN, resync, pump; reconnect with backoff."""
        delay = self._reconnect_delay
        first = True
        while not self._stop.is_set():
            conn = None
            try:
                started = time.monotonic()
                conn = self._open_listener()
                self._listener_pid = conn.info.backend_pid
                if not first:
                    self._cache.count("reconnects")
                # Commits after LISTEN arrive as notices; the resync snapshot (taken after LISTEN)
                # covers everything before. Cached state from before the gap is re-read.
                self._resync()
                self._connected = True
                self._mark_synced(started)
                delay = self._reconnect_delay
                first = False
                self._pump(conn)
            except Exception as exc:  # noqa: BLE001 - any failure reconnects (logged and counted)
                if self._stop.is_set():
                    break
                self._cache.count("errors")
                self._connected = False
                log.warning("verifier listener: %s; reconnecting in %.2fs", first_line(exc), delay)
                self._stop.wait(delay)
                delay = min(delay * 2, self._max_backoff)
            finally:
                self._connected = False
                self._beat_started = None
                if conn is not None:
                    try:
                        conn.close()
                    except Exception:  # noqa: BLE001 - broken already
                        pass

    def _pump(self, conn: psycopg.Connection[Any]) -> None:
        """Heartbeat every ``staleness/4``; apply notices as they arrive."""
        while not self._stop.is_set():
            beat = self._beat_started = time.monotonic()
            conn.execute("SELECT 1")  # within _beat_timeout or OperationalError (bound_waits)
            self._beat_started = None
            # Notices that arrived during the heartbeat sit in psycopg's backlog: drain them.
            for n in conn.notifies(timeout=0):
                self._on_notify(n.payload)
            self._mark_synced(beat)
            end = beat + self._heartbeat
            while not self._stop.is_set():
                remaining = end - time.monotonic()
                if remaining <= 0:
                    break
                for n in conn.notifies(timeout=min(remaining, TICK_S)):
                    self._on_notify(n.payload)

    def _on_notify(self, payload: str) -> None:
        received = time.time()
        try:
            notice = Notice.decode(payload)
        except ValueError as exc:  # unreadable, or a kind this authcore does not know
            log.warning("%s: dropping the user cache", exc)
            self._reset("notify")
            return
        self._apply(notice, "notify", received)

    def _resync(self) -> None:
        """Re-read every cached user and session (after LISTEN is in place)."""
        received = time.time()
        uids, live = self._cache.resync_targets()
        rows: dict[int, Any] = {}
        srows: dict[str, Any] = {}
        with read_conn(self.engine) as conn:
            for i in range(0, len(uids), CHUNK):
                for r in conn.execute(_USERS_IN, {"ids": uids[i : i + CHUNK]}):
                    rows[r.id] = r
            sids = [s for _u, s in live]
            for i in range(0, len(sids), CHUNK):
                for r in conn.execute(_SESSIONS_IN, {"sids": sids[i : i + CHUNK]}):
                    srows[r.public_id] = r
        changed, ended = self._cache.resync_apply(uids, live, rows, srows)
        self._after_update("resync", tuple(changed), (), tuple(ended), "resync", received)
