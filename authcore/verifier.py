"""``Verifier``: strict access-token checks from an in-memory cache of revocation state.

Each app process creates one ``Verifier`` and keeps it for its lifetime (one built before a fork,
e.g. gunicorn ``--preload``, restarts itself in the child: see ``_after_fork``)::

    core = AuthCore.from_config(load_config(), app=True)
    verifier = Verifier(core)                       # starts a background thread
    claims = verifier.verify_access(access_token)   # signature + claims + revocation, no query
    verifier.close()                                 # or ``with Verifier(core) as verifier:``

The cache holds, per user, ``token_version``, the disabled flag and the sessions seen live, plus a
bounded set of sessions known to be deleted. A cache hit costs no database query; a miss loads the
user (and the token's session) with one query. Both maps are bounded LRUs.

Staying current:

* PostgreSQL: a dedicated autocommit psycopg connection LISTENs on ``notices.CHANNEL`` in a
  background thread and applies each notice to the cache. Every ``staleness/4`` it sends a
  ``SELECT 1`` heartbeat; a completed heartbeat proves every notice committed before it started
  has been applied. After a lost connection it reconnects, LISTENs again, then re-reads the state
  of every cached user and session in bulk (a fresh snapshot taken after LISTEN), so nothing that
  committed while it was away is missed. (Replaying ``revocations`` by id is not safe on
  PostgreSQL: sequence ids are handed out before commit, so they do not arrive in id order.)
* SQLite: no NOTIFY. A background thread polls ``revocations WHERE id > :last`` every
  ``staleness/2`` (SQLite writers are serialised, so ids commit in order and nothing is skipped).

Staleness bound (``config.staleness``, default 2 s): the verifier answers from its cache only while
its last confirmed sync started at most ``staleness`` ago. Past that (listener down, poller
failing, verifier closed) every verification falls back to one database check (``on_stale="db"``,
the default: correct answers at the old per-request cost, and a ``DatabaseUnavailable`` refusal if
the database is down too) or is refused with ``VerifierStale`` (``on_stale="refuse"``). It never
answers from a cache more than ``staleness`` behind.

Measuring propagation: ``on_update`` callbacks receive an ``AppliedUpdate`` with wall-clock
timestamps; ``measure_propagation`` times revoke commit -> refusal over many rounds with in-process
(``LocalProbe``) or child-process (``VerifierNode``) verifiers. ``python -m authcore.verifier`` is
the child-process side (JSON lines on stdin/stdout).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import queue
import re
import subprocess
import sys
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol, Self

from sqlalchemy import bindparam, func, select
from sqlalchemy.engine import make_url

from authcore import notices
from authcore.db import bound_waits, deadline, normalize_url, read_conn
from authcore.errors import (
    DatabaseUnavailable,
    SessionInvalid,
    TokenError,
    TokenRevoked,
    UserDisabled,
    ValidationError,
)
from authcore.fastpath import HotQuery
from authcore.models import revocations, sessions, users
from authcore.tokens import _CHECK, Claims, TokenService

if TYPE_CHECKING:  # pragma: no cover
    import psycopg

    from authcore.core import AuthCore

log = logging.getLogger("authcore.verifier")

DEFAULT_APP_NAME = "authcore-verifier"
StalePolicy = Literal["db", "refuse"]

_MAX_SESSIONS_PER_USER = 256
_TICK_S = 0.25  # longest the listener waits before re-checking for close()
_CHUNK = 500  # ids per IN (...) during a resync
_POLL_PAGE = 1000

_POLL = (
    select(
        revocations.c.id,
        revocations.c.at,
        revocations.c.kind,
        revocations.c.user_id,
        revocations.c.token_version,
        revocations.c.session_id,
    )
    .where(revocations.c.id > bindparam("last"))
    .order_by(revocations.c.id)
    .limit(_POLL_PAGE)
)
_MAX_ID = select(func.coalesce(func.max(revocations.c.id), 0))
_USERS_IN = select(users.c.id, users.c.token_version, users.c.disabled).where(
    users.c.id.in_(bindparam("ids", expanding=True))
)
_SESSIONS_IN = select(sessions.c.public_id, sessions.c.user_id, sessions.c.expires_at).where(
    sessions.c.public_id.in_(bindparam("sids", expanding=True))
)


class VerifierStale(DatabaseUnavailable):
    """The verifier has not synced within its staleness bound and ``on_stale="refuse"``."""


@dataclass(frozen=True)
class AppliedUpdate:
    """One revocation notice as applied to the cache (passed to ``on_update`` callbacks).

    ``kind``: version | disabled | enabled | session | resync | reset. ``source``: notify (LISTEN),
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


@dataclass(frozen=True)
class VerifierStats:
    mode: str  # listen | poll
    connected: bool
    fresh: bool
    age_s: float | None  # since the start of the last confirmed sync
    staleness_s: float
    on_stale: str
    users_cached: int
    dead_sessions_cached: int
    hits: int
    misses: int
    db_fallbacks: int
    stale_refusals: int
    updates_applied: int
    reconnects: int
    resyncs: int
    errors: int
    listener_pid: int | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class _Entry:
    version: int
    disabled: bool
    sessions: dict[str, float] = field(default_factory=dict)  # live session -> expires (epoch s)


def libpq_url(url: str) -> str:
    """``postgresql+psycopg://...`` (SQLAlchemy) -> ``postgresql://...`` (libpq/psycopg)."""
    u = make_url(normalize_url(url))
    if u.get_backend_name() != "postgresql":
        raise ValidationError("LISTEN needs a PostgreSQL URL")
    return u.set(drivername="postgresql").render_as_string(hide_password=False)


def _seconds(value: timedelta | float | None, default: timedelta) -> float:
    if value is None:
        value = default
    s = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if not s > 0:
        raise ValidationError("staleness must be positive")
    return s


class Verifier:
    """Strict access-token verification from a cache kept current by LISTEN (PG) or polling.

    :param core: the process's ``AuthCore`` (its engine, token settings and keys are used).
    :param staleness: the bound (seconds or timedelta); default ``core.config.staleness``.
    :param on_stale: ``"db"`` (check the database per verification while stale) or ``"refuse"``
        (raise ``VerifierStale``).
    :param max_users: LRU bound on cached users. ``max_dead_sessions``: on deleted session ids.
    :param application_name: the listener connection's ``application_name`` (PostgreSQL).
    :param listen_url: a direct (non-pooled) URL for the LISTEN connection; default the engine's.
        LISTEN does not work through a transaction-pooling bouncer.
    :param on_update: callback(AppliedUpdate), called on the background thread after each update.
    :param ready_timeout: how long the constructor waits for the first sync (never raises; until
        then verifications take the stale path). ``start=False`` starts nothing (call ``start()``).
    :param attach: route ``core.tokens.verify_access(strict=True)`` through this verifier until
        ``close()``.
    :param db_timeout: a verification that needs the database answers or raises
        ``DatabaseUnavailable`` within this (default ``max(2, staleness)`` s; docs/verifier.md,
        "Bounds on every database call").
    """

    def __init__(
        self,
        core: AuthCore,
        *,
        staleness: timedelta | float | None = None,
        on_stale: StalePolicy = "db",
        max_users: int = 100_000,
        max_dead_sessions: int = 100_000,
        application_name: str = DEFAULT_APP_NAME,
        listen_url: str | None = None,
        on_update: Callable[[AppliedUpdate], None] | None = None,
        ready_timeout: float = 5.0,
        attach: bool = False,
        start: bool = True,
        reconnect_delay: float = 0.05,
        db_timeout: float | None = None,
    ) -> None:
        if on_stale not in ("db", "refuse"):
            raise ValidationError("on_stale must be 'db' or 'refuse'")
        if max_users < 1 or max_dead_sessions < 1:
            raise ValidationError("cache bounds must be positive")
        self.core = core
        self.engine = core.engine
        self.tokens: TokenService = core.tokens
        self.staleness = _seconds(staleness, core.config.staleness)
        self.on_stale: StalePolicy = on_stale
        self.mode = "listen" if self.engine.dialect.name == "postgresql" else "poll"
        self.application_name = application_name
        self._listen_url = (
            libpq_url(listen_url or self.engine.url.render_as_string(hide_password=False))
            if self.mode == "listen"
            else None
        )
        self._max_users = max_users
        self._max_dead = max_dead_sessions
        self._heartbeat = self.staleness / 4
        # Bounds (docs/verifier.md): a database check of a verification answers or raises
        # DatabaseUnavailable within db_timeout (>= 2 s: psycopg's shortest connect timeout);
        # a heartbeat not answered within beat_timeout counts the listener as down.
        self.db_timeout = max(2.0, self.staleness) if db_timeout is None else float(db_timeout)
        self._beat_timeout = max(0.5, self.staleness / 2)
        self._beat_started: float | None = None
        self._db_holdoff = min(1.0, self.staleness / 2)  # after a failed check, fail fast this long
        self._db_down: tuple[float, str] | None = None
        self._poll_interval = self.staleness / 2
        self._reconnect_delay = reconnect_delay
        self._max_backoff = max(reconnect_delay, min(1.0, self.staleness / 4))

        self._lock = threading.Lock()
        self._users: OrderedDict[int, _Entry] = OrderedDict()
        self._dead: OrderedDict[tuple[int, str], None] = OrderedDict()
        self._gen = 0  # bumped by every applied update (guards miss loads)
        self._callbacks: list[Callable[[AppliedUpdate], None]] = [on_update] if on_update else []
        self._synced_at: float | None = None  # monotonic start of the last confirmed sync
        self._connected = False
        self._listener_pid: int | None = None
        self._last_id: int | None = None  # poll watermark
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._attached = False
        self._pid = os.getpid()  # the process whose thread this is (see _after_fork)
        self._hot_check: HotQuery | None = None
        self._previous_check: Callable[[Claims], object] | None = None
        self._n = dict.fromkeys(
            (
                "hits",
                "misses",
                "db_fallbacks",
                "stale_refusals",
                "updates",
                "reconnects",
                "resyncs",
                "errors",
            ),
            0,
        )
        if attach:
            self._previous_check = self.tokens.set_strict_check(self.check)
            self._attached = True
        _LIVE.add(self)
        if start:
            self.start()
            if ready_timeout > 0:
                self.wait_ready(ready_timeout)

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None or self._closed:
            return
        target = self._run_listen if self.mode == "listen" else self._run_poll
        self._thread = threading.Thread(target=target, name=f"authcore-verifier-{self.mode}", daemon=True)
        self._thread.start()

    def wait_ready(self, timeout: float) -> bool:
        """Wait for the first sync; True when the cache is in use."""
        return self._ready.wait(timeout) and self.is_fresh()

    def close(self) -> None:
        """Stop the background thread; later verifications take the stale path."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
        self._synced_at = None
        self._connected = False
        if self._attached:
            self.tokens.set_strict_check(self._previous_check)
            self._attached = False

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def thread_alive(self) -> bool:
        return self._pid == os.getpid() and self._thread is not None and self._thread.is_alive()

    def _after_fork(self) -> None:
        """In a forked child (gunicorn ``--preload``): start over as this process's verifier.

        The parent's thread does not exist here, its listener connection and pooled connections
        are the parent's sockets (left open: closing them would end the parent's sessions), and
        its lock may have been held mid-update at the fork. So: new lock and events, an empty
        user cache (the deleted-session set is kept: every entry in it stays true), the core's
        engine and fast-path connections dropped without closing, and, if the parent's verifier
        was running, a new thread (which connects, LISTENs or polls, and syncs; until then checks
        take the stale path). Called by the ``os.register_at_fork`` hook, and by the pid check on
        use should a fork bypass the hook.
        """
        with _FORK_LOCK:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._lock = threading.Lock()
            self._ready = threading.Event()
            self._stop = threading.Event()
            running = self._thread is not None and not self._closed
            self._thread = None
            self._connected = False
            self._synced_at = None
            self._listener_pid = None
            self._beat_started = None
            self._db_down = None
            self._last_id = None
            self._users = OrderedDict()
            self._gen += 1
            self._n = dict.fromkeys(self._n, 0)
            after_fork = getattr(self.core, "after_fork", None)
            if after_fork is not None:
                after_fork()
            if running:
                self.start()

    def add_update_callback(self, fn: Callable[[AppliedUpdate], None]) -> None:
        self._callbacks.append(fn)

    def remove_update_callback(self, fn: Callable[[AppliedUpdate], None]) -> None:
        self._callbacks.remove(fn)

    # -- verification --------------------------------------------------------------------------
    def is_fresh(self) -> bool:
        if self._pid != os.getpid():  # the pid check on use (every check and stats pass here)
            self._after_fork()
        s = self._synced_at
        return s is not None and time.monotonic() - s <= self.staleness

    def verify_access(self, token: str) -> Claims:
        """Signature and claims (``TokenService.decode``) plus the revocation check.

        Raises ``TokenError`` (``TokenExpired``, ``TokenRevoked``, ``UserDisabled``,
        ``SessionInvalid``...), like ``TokenService.verify_access(strict=True)``.
        """
        claims = self.tokens.decode(token, "access")
        self.check(claims)
        return claims

    async def averify_access(self, token: str) -> Claims:
        """``verify_access`` for ``async`` code: never blocks the event loop on the database.

        Signature, claims and a cache hit run inline (CPU only, no thread hop; the lock is held
        for a dict lookup). A cache miss (a user not cached, a new session, a token newer than
        the cache) and the stale path with ``on_stale="db"`` run their one query in a worker
        thread (``asyncio.to_thread``). ``on_stale="refuse"`` raises ``VerifierStale`` inline.
        """
        claims = self.tokens.decode(token, "access")
        if not self.is_fresh():
            if self.on_stale == "refuse":
                self._stale_check(claims)
            await asyncio.to_thread(self._stale_check, claims)
            return claims
        g0 = self._check_cached(claims)
        if g0 is not None:
            await asyncio.to_thread(self._load, claims, g0)
        return claims

    def check(self, claims: Claims) -> None:
        """The revocation part alone, for already decoded claims."""
        if not self.is_fresh():
            self._stale_check(claims)
            return
        g0 = self._check_cached(claims)
        if g0 is not None:
            self._load(claims, g0)

    def _check_cached(self, claims: Claims) -> int | None:
        """Answer from the cache: return None (accepted) or raise; on a miss return the cache
        generation to hand to ``_load``."""
        uid, sid, tv = claims.user_id, claims.sid, claims.token_version
        with self._lock:
            e = self._users.get(uid)
            if e is not None:  # same order of checks as TokenService._judge
                if e.disabled:
                    self._hit(uid)
                    raise UserDisabled("user is disabled")
                if tv < e.version:
                    self._hit(uid)
                    raise TokenRevoked(f"revoked: token version {tv}, user is at {e.version}")
            if sid is not None and (uid, sid) in self._dead:
                self._n["hits"] += 1
                raise SessionInvalid("session ended")
            # A token newer than the cache, or an unseen session: load rather than guess.
            if e is not None and tv == e.version and (sid is None or sid in e.sessions):
                self._hit(uid)
                if sid is not None and e.sessions[sid] <= time.time():
                    raise SessionInvalid("session ended")
                return None
            self._n["misses"] += 1
            return self._gen

    def _load(self, claims: Claims, g0: int) -> None:
        """A miss: one query, cached unless an update raced it (generation ``g0``)."""
        uid, sid = claims.user_id, claims.sid
        row = self._query(claims)
        with self._lock:
            if sid is not None and row is not None and row.sid is None:
                self._dead_add(uid, sid)  # deleted sessions never come back
            if row is not None and self._gen == g0:  # no update raced the query: safe to cache
                e = self._users.get(uid)
                if e is None:
                    e = self._users[uid] = _Entry(int(row.token_version), bool(row.disabled))
                    if len(self._users) > self._max_users:
                        self._users.popitem(last=False)
                else:
                    e.version = max(e.version, int(row.token_version))
                    e.disabled = bool(row.disabled)
                    self._users.move_to_end(uid)
                if sid is not None and row.sid is not None:
                    e.sessions[sid] = row.expires_at.timestamp()
                    if len(e.sessions) > _MAX_SESSIONS_PER_USER:
                        e.sessions.pop(next(iter(e.sessions)))
        TokenService._judge(claims, row)  # noqa: SLF001 - authcore's one judgement

    def cached_refusal(self, claims: Claims) -> TokenError | None:
        """What the cache alone says against ``claims`` (no database, no counters): the error
        ``check`` would raise, or None when the cache does not refuse (a miss included)."""
        if not self.is_fresh():
            return None
        uid, sid, tv = claims.user_id, claims.sid, claims.token_version
        with self._lock:
            e = self._users.get(uid)
            if e is not None:
                if e.disabled:
                    return UserDisabled("user is disabled")
                if tv < e.version:
                    return TokenRevoked(f"revoked: token version {tv}, user is at {e.version}")
            if sid is not None and (uid, sid) in self._dead:
                return SessionInvalid("session ended")
            if e is not None and sid is not None and sid in e.sessions and e.sessions[sid] <= time.time():
                return SessionInvalid("session ended")
        return None

    def _hit(self, uid: int) -> None:  # caller holds the lock
        self._users.move_to_end(uid)
        self._n["hits"] += 1

    def _stale_check(self, claims: Claims) -> None:
        if self.on_stale == "refuse":
            with self._lock:
                self._n["stale_refusals"] += 1
            raise VerifierStale(
                f"revocation cache is more than {self.staleness:g}s stale "
                f"({self.mode} {'closed' if self._closed else 'not synced'})"
            )
        with self._lock:
            self._n["db_fallbacks"] += 1
        TokenService._judge(claims, self._query(claims))  # noqa: SLF001 - authcore's one judgement

    def _query(self, claims: Claims) -> Any:
        """``verify_refresh``'s query (``_CHECK``) on the fast path: pooled autocommit driver
        connections sized by ``pool_size`` (see ``authcore.fastpath``). Answered, or
        ``DatabaseUnavailable``, within ``db_timeout`` (connect included): fail closed."""
        hot = self._hot_check
        if hot is None:
            hot = self._hot_check = HotQuery(self.engine, _CHECK)
        down = self._db_down
        if down is not None and time.monotonic() < down[0]:
            raise DatabaseUnavailable(down[1])  # failed moments ago: fail fast, not 2 s each
        try:
            with deadline(self.db_timeout):
                return hot.first(uid=claims.user_id, sid=claims.sid)
        except DatabaseUnavailable as exc:
            self._db_down = (time.monotonic() + self._db_holdoff, str(exc))
            raise

    def _dead_add(self, uid: int, sid: str) -> None:  # caller holds the lock
        self._dead[(uid, sid)] = None
        self._dead.move_to_end((uid, sid))
        if len(self._dead) > self._max_dead:
            self._dead.popitem(last=False)

    def invalidate(self, user_id: int | None = None) -> None:
        """Forget one user (or everything but the deleted-session set); next use reloads."""
        with self._lock:
            self._gen += 1
            if user_id is None:
                self._users.clear()
            else:
                self._users.pop(user_id, None)

    def wait_refused(
        self, token: str, timeout: float, *, armed: threading.Event | None = None, poll: float = 0.05
    ) -> float | None:
        """Block until ``verify_access(token)`` refuses; ``time.time()`` then, or None on timeout.

        The token is re-verified on the thread that applies each update touching its user, right
        after the cache changes (so the time is when the first request would be refused, not
        when this thread got scheduled), and here every ``poll`` s (covers resyncs and staleness).
        ``armed`` is set once the token has been seen accepted, so a caller can revoke only
        after the watch is in place.
        """
        deadline = time.monotonic() + timeout
        try:
            claims = self.tokens.decode(token, "access")
        except TokenError:
            return time.time()
        uid = claims.user_id
        refused = threading.Event()
        at: list[float] = []

        def refuse() -> None:
            if not refused.is_set():
                at.append(time.time())
                refused.set()

        def check() -> None:
            try:
                self.verify_access(token)
            except TokenError:
                refuse()

        def on_update(upd: AppliedUpdate) -> None:
            # The signature and claims were checked above; an update can only revoke. Only the
            # cache is read here (never the database, on the thread applying notices): a user
            # the update dropped from the cache is left to the polling check below.
            if refused.is_set() or (upd.user_ids and uid not in upd.user_ids):
                return
            if self.cached_refusal(claims) is not None:
                refuse()

        self.add_update_callback(on_update)
        try:
            check()
            if not refused.is_set() and armed is not None:
                armed.set()
            while not refused.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                if not refused.wait(min(remaining, poll)):
                    check()
            return at[0]
        finally:
            self.remove_update_callback(on_update)

    def stats(self) -> VerifierStats:
        """``connected``: this process's thread is alive and holds its connection (LISTEN) or
        its last poll succeeded."""
        fresh = self.is_fresh()  # first: a forked child starts over here (pid check)
        s = self._synced_at
        with self._lock:
            n = dict(self._n)
            cached, dead = len(self._users), len(self._dead)
        beat = self._beat_started  # a heartbeat unanswered past its deadline: a silent peer
        overdue = beat is not None and time.monotonic() - beat > self._beat_timeout
        connected = self._connected and self.thread_alive and not overdue
        return VerifierStats(
            self.mode,
            connected,
            fresh,
            None if s is None else time.monotonic() - s,
            self.staleness,
            self.on_stale,
            cached,
            dead,
            n["hits"],
            n["misses"],
            n["db_fallbacks"],
            n["stale_refusals"],
            n["updates"],
            n["reconnects"],
            n["resyncs"],
            n["errors"],
            self._listener_pid,
        )

    # -- applying updates ----------------------------------------------------------------------
    def _apply(
        self,
        kind: str,
        uids: tuple[int, ...],
        versions: tuple[int | None, ...],
        sids: tuple[str, ...],
        source: str,
        received_at: float,
        revoked_at: datetime | None = None,
    ) -> None:
        with self._lock:
            self._gen += 1
            self._n["updates"] += 1
            if kind == "session":
                uid = uids[0]
                e = self._users.get(uid)
                for s in sids:
                    self._dead_add(uid, s)
                    if e is not None:
                        e.sessions.pop(s, None)
            elif kind in ("version", "disabled", "enabled"):
                for u, v in zip(uids, versions, strict=True):
                    e = self._users.get(u)
                    if e is None:
                        continue
                    if v is None:  # version unknown: forget the user, the next use reloads
                        del self._users[u]
                        continue
                    if v > e.version:
                        e.version = v
                    if kind == "disabled":
                        e.disabled = True
                    elif kind == "enabled":
                        e.disabled = False
            else:
                log.warning("unknown revocation kind %r: dropping the user cache", kind)
                self._users.clear()
        self._after_update(kind, uids, versions, sids, source, received_at, revoked_at)

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
        with self._lock:
            self._gen += 1
            self._users.clear()
        self._after_update("reset", (), (), (), source, time.time())

    def _mark_synced(self, started: float) -> None:
        if self._closed:
            return
        if self._synced_at is None or started > self._synced_at:
            self._synced_at = started
        self._ready.set()

    # -- PostgreSQL: LISTEN --------------------------------------------------------------------
    def _open_listener(self) -> psycopg.Connection[Any]:
        import psycopg

        assert self._listen_url is not None
        conn = psycopg.connect(
            self._listen_url,
            autocommit=True,
            application_name=self.application_name,
            connect_timeout=5,
            keepalives=1,
            keepalives_idle=5,
            keepalives_interval=2,
            keepalives_count=3,
            tcp_user_timeout=10_000,
        )
        # Every wait on this connection (LISTEN, heartbeat) is bounded: a server that accepts
        # bytes but never answers (frozen, a proxy that stopped forwarding) counts as down.
        bound_waits(conn, self._beat_timeout)
        try:
            conn.execute(f"LISTEN {notices.CHANNEL}")
        except BaseException:
            conn.close()
            raise
        return conn

    def _run_listen(self) -> None:
        delay = self._reconnect_delay
        first = True
        while not self._stop.is_set():
            conn = None
            try:
                started = time.monotonic()
                conn = self._open_listener()
                self._listener_pid = conn.info.backend_pid
                if not first:
                    with self._lock:
                        self._n["reconnects"] += 1
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
                with self._lock:
                    self._n["errors"] += 1
                self._connected = False
                log.warning("verifier listener: %s; reconnecting in %.2fs", _first_line(exc), delay)
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
                for n in conn.notifies(timeout=min(remaining, _TICK_S)):
                    self._on_notify(n.payload)

    def _on_notify(self, payload: str) -> None:
        received = time.time()
        try:
            p = json.loads(payload)
            kind = str(p["k"])
            if kind == "session":
                uids: tuple[int, ...] = (int(p["u"]),)
                sids = tuple(str(s) for s in p["s"])
                versions: tuple[int | None, ...] = ()
            else:
                uids = tuple(int(u) for u in p["u"])
                versions = tuple(None if v is None else int(v) for v in p["v"])
                sids = ()
        except (ValueError, KeyError, TypeError):
            log.warning("unreadable revocation notice: dropping the user cache")
            self._reset("notify")
            return
        self._apply(kind, uids, versions, sids, "notify", received)

    def _resync(self) -> None:
        """Re-read every cached user and session (after LISTEN is in place)."""
        received = time.time()
        with self._lock:
            self._gen += 1  # loads in flight from before the resync must not be cached
            uids = list(self._users)
            live = [(u, s) for u, e in self._users.items() for s in e.sessions]
        rows: dict[int, Any] = {}
        srows: dict[str, Any] = {}
        with read_conn(self.engine) as conn:
            for i in range(0, len(uids), _CHUNK):
                for r in conn.execute(_USERS_IN, {"ids": uids[i : i + _CHUNK]}):
                    rows[r.id] = r
            sids = [s for _u, s in live]
            for i in range(0, len(sids), _CHUNK):
                for r in conn.execute(_SESSIONS_IN, {"sids": sids[i : i + _CHUNK]}):
                    srows[r.public_id] = r
        changed: list[int] = []
        ended: list[str] = []
        with self._lock:
            self._gen += 1
            self._n["resyncs"] += 1
            for u in uids:
                e = self._users.get(u)
                if e is None:
                    continue
                r = rows.get(u)
                if r is None:
                    del self._users[u]
                    changed.append(u)
                    continue
                if int(r.token_version) > e.version or bool(r.disabled) != e.disabled:
                    changed.append(u)
                e.version = max(e.version, int(r.token_version))
                e.disabled = bool(r.disabled)
            for u, s in live:
                sr = srows.get(s)
                if sr is None or sr.user_id != u:
                    self._dead_add(u, s)
                    ended.append(s)
                    e = self._users.get(u)
                    if e is not None:
                        e.sessions.pop(s, None)
        self._after_update("resync", tuple(changed), (), tuple(ended), "resync", received)

    # -- SQLite: polling -----------------------------------------------------------------------
    def _run_poll(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self._poll_once()
                self._connected = True
                self._mark_synced(started)
            except Exception as exc:  # noqa: BLE001 - any failure polls again (logged and counted)
                with self._lock:
                    self._n["errors"] += 1
                self._connected = False
                log.warning("verifier poll failed: %s", _first_line(exc))
            self._stop.wait(self._poll_interval)

    def _poll_once(self) -> None:
        with read_conn(self.engine) as conn:
            if self._last_id is None:
                # The cache is empty at start (nothing is cached before the first sync).
                self._last_id = int(conn.execute(_MAX_ID).scalar_one())
                self._reset("poll")
                return
            while True:
                rows = conn.execute(_POLL, {"last": self._last_id}).all()
                received = time.time()
                for group in _group(rows):
                    r0 = group[0]
                    if r0.kind == "session":
                        self._apply(
                            "session",
                            (int(r0.user_id),),
                            (),
                            tuple(r.session_id for r in group),
                            "poll",
                            received,
                            r0.at,
                        )
                    else:
                        self._apply(
                            r0.kind,
                            tuple(int(r.user_id) for r in group),
                            tuple(r.token_version for r in group),
                            (),
                            "poll",
                            received,
                            r0.at,
                        )
                    self._last_id = int(group[-1].id)
                if len(rows) < _POLL_PAGE:
                    return


_LIVE: weakref.WeakSet[Verifier] = weakref.WeakSet()
_FORK_LOCK = threading.Lock()


def _after_fork_in_child() -> None:
    global _FORK_LOCK
    _FORK_LOCK = threading.Lock()  # a parent thread may have held it at the fork
    for v in list(_LIVE):
        try:
            v._after_fork()  # noqa: SLF001 - the module's own fork hook
        except Exception:
            log.exception("verifier: restarting after fork failed")


os.register_at_fork(after_in_child=_after_fork_in_child)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    line = text.splitlines()[0] if text else exc.__class__.__name__
    return re.sub(r"password=\S+", "password=***", line)


def _group(rows: Sequence[Any]) -> Iterable[list[Any]]:
    """Consecutive rows of one revocation (same kind and time; same user for sessions)."""
    group: list[Any] = []
    for r in rows:
        if group and (
            r.kind != group[0].kind
            or r.at != group[0].at
            or (r.kind == "session" and r.user_id != group[0].user_id)
        ):
            yield group
            group = []
        group.append(r)
    if group:
        yield group


# == Measuring propagation ==========================================================================


class Probe(Protocol):
    """Something that can watch a token and tell when it became refused (``time.time()``)."""

    def arm(self, token: str, timeout: float) -> None: ...

    def refused_at(self, timeout: float) -> float | None: ...


class LocalProbe:
    """A probe on an in-process ``Verifier`` (a watcher thread per armed token)."""

    def __init__(self, verifier: Verifier) -> None:
        self.verifier = verifier
        self._thread: threading.Thread | None = None
        self._result: float | None = None

    def arm(self, token: str, timeout: float) -> None:
        armed = threading.Event()
        self._result = None

        def watch() -> None:
            self._result = self.verifier.wait_refused(token, timeout, armed=armed)

        self._thread = threading.Thread(target=watch, daemon=True)
        self._thread.start()
        while not armed.wait(0.01):
            if not self._thread.is_alive():
                raise RuntimeError("the token was refused before the revoke")

    def refused_at(self, timeout: float) -> float | None:
        assert self._thread is not None, "arm() first"
        self._thread.join(timeout)
        return self._result


@dataclass(frozen=True)
class PropagationStats:
    """Revoke commit -> refusal delays in milliseconds (one sample per probe per round)."""

    samples_ms: tuple[float, ...]
    timeouts: int = 0

    @property
    def n(self) -> int:
        return len(self.samples_ms)

    def percentile(self, q: float) -> float:
        """Nearest-rank percentile, ``q`` in [0, 100]."""
        if not self.samples_ms:
            return math.nan
        s = sorted(self.samples_ms)
        return s[max(0, math.ceil(q / 100 * len(s)) - 1)]

    @property
    def p50(self) -> float:
        return self.percentile(50)

    @property
    def p95(self) -> float:
        return self.percentile(95)

    @property
    def p99(self) -> float:
        return self.percentile(99)

    @property
    def max(self) -> float:
        return max(self.samples_ms) if self.samples_ms else math.nan

    def summary(self) -> str:
        return (
            f"n={self.n} p50={self.p50:.1f} ms p95={self.p95:.1f} ms "
            f"p99={self.p99:.1f} ms max={self.max:.1f} ms timeouts={self.timeouts}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "p50_ms": self.p50,
            "p95_ms": self.p95,
            "p99_ms": self.p99,
            "max_ms": self.max,
            "timeouts": self.timeouts,
        }


def measure_propagation(
    core: AuthCore,
    user_id: int,
    probes: Sequence[Probe],
    *,
    rounds: int = 200,
    timeout: float = 10.0,
    jitter: float = 0.0,
    reason: str = "verifier propagation measurement",
) -> PropagationStats:
    """Bump ``user_id``'s token_version ``rounds`` times; time each probe's refusal.

    Each round issues an access token, arms every probe (each has seen the token accepted),
    then revokes through ``core.admin.revoke_tokens``. The delay runs from the moment the
    revoking transaction sends COMMIT (``time.time()`` in a SQLAlchemy ``commit`` event) to the
    probe's refusal. Every round is a real, audited revocation: use a dedicated user.
    ``jitter``: sleep a random [0, jitter) s before each revoke, so a polling verifier is sampled
    at random points of its poll cycle (use the poll interval, ``staleness/2``).
    """
    import random

    from sqlalchemy import event

    me = threading.get_ident()
    commits: list[float] = []

    def on_commit(_conn: Any) -> None:
        if threading.get_ident() == me:
            commits.append(time.time())

    samples: list[float] = []
    timeouts = 0
    event.listen(core.engine, "commit", on_commit)
    try:
        for _ in range(rounds):
            token = core.tokens.issue_pair(user_id).access_token
            for p in probes:
                p.arm(token, timeout)
            if jitter > 0:
                time.sleep(random.uniform(0, jitter))  # noqa: S311 - timing jitter, not a secret
            commits.clear()
            core.admin.revoke_tokens(user_id, reason)
            t_commit = commits[-1]
            for p in probes:
                t = p.refused_at(timeout)
                if t is None:
                    timeouts += 1
                else:
                    samples.append(max(0.0, (t - t_commit) * 1000))
    finally:
        event.remove(core.engine, "commit", on_commit)
    return PropagationStats(tuple(samples), timeouts)


class VerifierNode:
    """A ``Verifier`` in a child process (``python -m authcore.verifier``), driven over pipes.

    A probe for ``measure_propagation`` ("revoke -> refused by another process"), and a handle
    for multi-process tests. With ``core``, the child verifies with exactly that core's keys,
    issuer, audience and leeway (and its database, unless ``db_url`` says otherwise), whatever
    ``AUTHCORE_SECRET`` or the config hold. Without it, the child reads its keys from
    ``AUTHCORE_SECRET`` in ``env`` (or the config file named by ``config``).

    The URL (it may hold a password) and the keys reach the child on its stdin pipe, never on
    its command line, which every local user can read (``ps``, ``/proc/PID/cmdline``).
    """

    def __init__(
        self,
        db_url: str | None = None,
        *,
        core: AuthCore | None = None,
        staleness: float | None = None,
        application_name: str | None = None,
        on_stale: StalePolicy = "db",
        config: str | None = None,
        script: str | os.PathLike[str] | None = None,
        env: dict[str, str] | None = None,
        ready_timeout: float = 30.0,
    ) -> None:
        if db_url is None:
            if core is None:
                raise ValueError("VerifierNode needs db_url or core")
            db_url = core.engine.url.render_as_string(hide_password=False)
        setup: dict[str, Any] = {"db": db_url}
        if core is not None:
            setup["keys"] = [_key_to_json(k) for k in core.keyring.keys]
            ts = core.config.tokens
            setup["tokens"] = {
                "issuer": ts.issuer,
                "audience": ts.audience,
                "algorithm": ts.algorithm,
                "leeway": ts.leeway.total_seconds(),
                "access_ttl": ts.access_ttl.total_seconds(),
            }
            if staleness is None:
                staleness = core.config.staleness.total_seconds()
        cmd = [sys.executable, os.fspath(script)] if script else [sys.executable, "-m", "authcore.verifier"]
        cmd += ["--setup-stdin", "--on-stale", on_stale]
        if staleness is not None:
            cmd += ["--staleness", str(staleness)]
        if application_name:
            cmd += ["--app-name", application_name]
        if config:
            cmd += ["--config", config]
        self.proc = subprocess.Popen(  # noqa: S603 - sys.executable and our own arguments
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1, env=env
        )
        self._send(setup)  # first line: what must not be on the command line
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()
        self.hello = self._recv(ready_timeout)
        if not self.hello.get("ready"):
            self.close()
            raise RuntimeError(f"verifier node did not become ready: {self.hello}")
        self.pid = int(self.hello["pid"])

    def _read_loop(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def _send(self, obj: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(obj) + "\n")
        self.proc.stdin.flush()

    def _recv(self, timeout: float) -> dict[str, Any]:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"verifier node silent for {timeout}s") from None
        if line is None:
            raise RuntimeError(f"verifier node exited (code {self.proc.poll()})")
        result: dict[str, Any] = json.loads(line)
        return result

    def request(self, obj: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
        self._send(obj)
        return self._recv(timeout)

    def verify(self, token: str) -> dict[str, Any]:
        """``{"ok": True, "user_id": ...}`` or ``{"ok": False, "error": ..., "code": ...}``."""
        return self.request({"op": "verify", "token": token})

    def stats(self) -> dict[str, Any]:
        return self.request({"op": "stats"})

    def arm(self, token: str, timeout: float) -> None:
        reply = self.request({"op": "watch", "token": token, "timeout": timeout})
        if not reply.get("armed"):
            raise RuntimeError(f"verifier node could not watch the token: {reply}")

    def refused_at(self, timeout: float) -> float | None:
        reply = self._recv(timeout + 5)
        t = reply.get("refused_at")
        return float(t) if t is not None else None

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self._send({"op": "quit"})
                self.proc.wait(timeout=20)
            except Exception:  # noqa: BLE001 - any failure to stop politely ends in kill
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout):
            if f is not None:
                try:
                    f.close()
                except Exception:  # noqa: BLE001 - the child is gone; its pipes may be too
                    pass

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _key_to_json(key: Any) -> dict[str, Any]:
    """A verification key as JSON for a ``VerifierNode`` child (public half only)."""
    import base64

    if key.is_hmac:
        return {
            "alg": key.alg,
            "kid": key.kid,
            "hmac": base64.b64encode(bytes(key.verify_key)).decode("ascii"),
        }
    from cryptography.hazmat.primitives import serialization

    pem = key.verify_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return {"alg": key.alg, "kid": key.kid, "pem": pem.decode("ascii")}


def _node_core(setup: dict[str, Any], config_path: str | None) -> AuthCore:
    """The child's core: the parent's keys and token settings when it sent them."""
    import base64

    from authcore.config import Config, TokenSettings, load_config
    from authcore.core import AuthCore
    from authcore.keys import KeyRing, key_from_pem, key_from_secret

    config = load_config(config_path) if config_path else Config()
    if "keys" not in setup:
        return AuthCore.from_config(config, setup["db"])
    src = "the parent core"
    keys = [
        key_from_secret(base64.b64decode(k["hmac"]), k["alg"], k["kid"], source=src)
        if "hmac" in k
        else key_from_pem(k["pem"].encode("ascii"), k["alg"], k["kid"], src)
        for k in setup["keys"]
    ]
    t = setup["tokens"]
    config.tokens = TokenSettings(
        issuer=t["issuer"],
        audience=t["audience"],
        algorithm=t["algorithm"],
        leeway=timedelta(seconds=t["leeway"]),
        access_ttl=timedelta(seconds=t["access_ttl"]),
    )
    from authcore.db import make_engine

    return AuthCore(make_engine(setup["db"], create=False), config, keyring=KeyRing(signing=None, keys=keys))


def node_main(argv: Sequence[str] | None = None) -> int:
    """Child side of ``VerifierNode``: one JSON command per stdin line, one reply per line.

    With ``--setup-stdin`` the first line is ``{"db": URL, "keys": [...], "tokens": {...}}``
    (what ``VerifierNode`` sends: the URL and keys stay off the command line). Commands:
    ``verify`` {token}; ``watch`` {token, timeout} (replies ``armed`` at once, then
    ``refused_at`` (``time.time()``) or null on timeout); ``stats``; ``quit``.
    """
    ap = argparse.ArgumentParser(prog="python -m authcore.verifier")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--db", help="database URL (visible in ps: prefer --setup-stdin)")
    src.add_argument(
        "--setup-stdin", action="store_true", help="read the URL (and keys) as one JSON line on stdin"
    )
    ap.add_argument("--config")
    ap.add_argument("--staleness", type=float)
    ap.add_argument("--app-name", default=DEFAULT_APP_NAME)
    ap.add_argument("--on-stale", choices=("db", "refuse"), default="db")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    setup = json.loads(sys.stdin.readline()) if args.setup_stdin else {"db": args.db}
    core = _node_core(setup, args.config)
    out = sys.stdout

    def reply(obj: dict[str, Any]) -> None:
        out.write(json.dumps(obj) + "\n")
        out.flush()

    with Verifier(
        core,
        staleness=args.staleness,
        application_name=args.app_name,
        on_stale=args.on_stale,
        ready_timeout=30,
    ) as v:
        reply({"ready": v.is_fresh(), "pid": os.getpid(), "mode": v.mode})
        for line in sys.stdin:
            try:
                cmd = json.loads(line)
                op = cmd.get("op")
            except ValueError:
                reply({"error": "bad json"})
                continue
            if op == "quit":
                break
            if op == "stats":
                reply(v.stats().to_dict())
            elif op == "verify":
                try:
                    c = v.verify_access(cmd["token"])
                    reply({"ok": True, "user_id": c.user_id, "token_version": c.token_version})
                except TokenError as exc:
                    reply(
                        {"ok": False, "error": exc.__class__.__name__, "code": exc.code, "message": str(exc)}
                    )
                except DatabaseUnavailable as exc:
                    reply(
                        {
                            "ok": False,
                            "error": exc.__class__.__name__,
                            "code": "unavailable",
                            "message": str(exc),
                        }
                    )
            elif op == "watch":
                try:
                    v.verify_access(cmd["token"])
                except TokenError as exc:
                    reply({"armed": False, "code": exc.code, "message": str(exc)})
                    continue
                reply({"armed": True})
                t = v.wait_refused(cmd["token"], float(cmd.get("timeout", 10.0)))
                reply({"refused_at": t})
            else:
                reply({"error": f"unknown op {op!r}"})
    core.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(node_main())
