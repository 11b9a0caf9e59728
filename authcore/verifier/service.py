"""``Verifier``: strict access-token checks from an in-memory cache of revocation state.

The facade: lifecycle (start, close, fork), the verification paths (cache, miss, stale) and
stats. The cache itself is ``authcore.verifier.cache``; staying current is
``authcore.verifier.listen`` (PostgreSQL) or ``authcore.verifier.poll`` (SQLite).

Staleness bound (``config.staleness``, default 2 s): the verifier answers from its cache only while
its last confirmed sync started at most ``staleness`` ago. Past that (listener down, poller
failing, verifier closed) every verification falls back to one database check (``on_stale="db"``,
the default: correct answers at the old per-request cost, and a ``DatabaseUnavailable`` refusal if
the database is down too) or is refused with ``VerifierStale`` (``on_stale="refuse"``). It never
answers from a cache more than ``staleness`` behind.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal, Self

from authcore.config import resolve_listen_url
from authcore.db import deadline
from authcore.errors import DatabaseUnavailable, TokenError, ValidationError
from authcore.fastpath import HotQuery
from authcore.relay.bus import BusTarget, require_nats
from authcore.revocation import judge_row
from authcore.tokens import _CHECK, Claims, TokenService
from authcore.verifier.bus import Bussing
from authcore.verifier.cache import RevocationCache
from authcore.verifier.listen import Listening, listen_target
from authcore.verifier.poll import Polling
from authcore.verifier.updates import AppliedUpdate

if TYPE_CHECKING:  # pragma: no cover
    from authcore.core import AuthCore

log = logging.getLogger("authcore.verifier")

DEFAULT_APP_NAME = "authcore-verifier"
StalePolicy = Literal["db", "refuse"]


class VerifierStale(DatabaseUnavailable):
    """The verifier has not synced within its staleness bound and ``on_stale="refuse"``."""


@dataclass(frozen=True)
class VerifierStats:
    mode: str  # listen | poll | bus
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
    bus_seq: int | None = None  # bus: the last stream sequence applied

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _seconds(value: timedelta | float | None, default: timedelta) -> float:
    if value is None:
        value = default
    s = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if not s > 0:
        raise ValidationError("staleness must be positive")
    return s


class Verifier(Listening, Polling, Bussing):
    """Strict access-token verification from a cache kept current by LISTEN (PG), polling, or
    a relay's NATS JetStream stream (``bus``).

    :param core: the process's ``AuthCore`` (its engine, token settings and keys are used).
    :param staleness: the bound (seconds or timedelta); default ``core.config.staleness``.
    :param on_stale: ``"db"`` (check the database per verification while stale) or ``"refuse"``
        (raise ``VerifierStale``).
    :param max_users: LRU bound on cached users. ``max_dead_sessions``: on deleted session ids.
    :param application_name: the listener connection's ``application_name`` (PostgreSQL).
    :param listen_url: a direct (non-pooled) URL for the LISTEN connection; default the config's
        ``listen_url``, else the engine's. LISTEN does not work through a transaction pooler: an
        engine marked pooled with neither polls, and says so once (``listen.listen_target``).
    :param bus: ``nats://host:port``: stay current from the stream a relay (``authcore.relay``)
        fills instead of a LISTEN connection of its own (``authcore.verifier.bus``; the ``bus``
        extra). ``bus_stream``/``bus_subject``: the relay's (default ``AUTHCORE_REVOCATIONS`` /
        ``authcore.revocations``). PostgreSQL only; misses and the stale path still query it.
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
        bus: str | None = None,
        bus_stream: str | None = None,
        bus_subject: str | None = None,
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
        self.application_name = application_name
        self._bus: BusTarget | None = None
        self._bus_seq: int | None = None
        self._bus_gap = False
        self._bus_beats: list[tuple[int, float]] = []
        self._bus_heard = 0
        self._bus_wake: asyncio.Event | None = None
        self._bus_loop: asyncio.AbstractEventLoop | None = None
        if bus is not None:
            if self.engine.dialect.name != "postgresql":
                raise ValidationError("a bus verifier needs PostgreSQL (the relay reads its NOTIFY)")
            require_nats()
            self._bus = BusTarget.of(bus, bus_stream, bus_subject)
            self._listen_url = None
            self.mode = "bus"
        else:
            self._listen_url = listen_target(
                self.engine, listen_url or resolve_listen_url(core.config), self.staleness / 2
            )
            self.mode = "listen" if self._listen_url else "poll"
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

        self._cache = RevocationCache(max_users, max_dead_sessions)
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
        target = {"listen": self._run_listen, "poll": self._run_poll, "bus": self._run_bus}[self.mode]
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
        loop, wake = self._bus_loop, self._bus_wake
        if loop is not None and wake is not None:  # the bus pump waits on its loop: wake it
            try:
                loop.call_soon_threadsafe(wake.set)
            except RuntimeError:  # that loop has ended already
                pass
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
            self._ready = threading.Event()
            self._stop = threading.Event()
            running = self._thread is not None and not self._closed
            self._thread = None
            self._bus_wake = self._bus_loop = None  # the parent's loop: not running here
            self._connected = False
            self._synced_at = None
            self._listener_pid = None
            self._beat_started = None
            self._db_down = None
            self._last_id = None
            self._bus_seq = None  # the child's cache is empty: it starts at the stream's end
            self._cache.after_fork()
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
        """Answer from the cache: None (accepted) or raise; on a miss the generation for ``_load``."""
        return self._cache.answer(claims)

    def _load(self, claims: Claims, g0: int) -> None:
        """A miss: one query, cached unless an update raced it (generation ``g0``)."""
        row = self._query(claims)
        self._cache.store(claims, row, g0)
        judge_row(claims, row)

    def cached_refusal(self, claims: Claims) -> TokenError | None:
        """What the cache alone says against ``claims`` (no database, no counters): the error
        ``check`` would raise, or None when the cache does not refuse (a miss included)."""
        if not self.is_fresh():
            return None
        return self._cache.refusal(claims)

    def _stale_check(self, claims: Claims) -> None:
        if self.on_stale == "refuse":
            self._cache.count("stale_refusals")
            raise VerifierStale(
                f"revocation cache is more than {self.staleness:g}s stale "
                f"({self.mode} {'closed' if self._closed else 'not synced'})"
            )
        self._cache.count("db_fallbacks")
        judge_row(claims, self._query(claims))

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

    def invalidate(self, user_id: int | None = None) -> None:
        """Forget one user (or everything but the deleted-session set); next use reloads."""
        self._cache.invalidate(user_id)

    def wait_refused(
        self, token: str, timeout: float, *, armed: threading.Event | None = None, poll: float = 0.05
    ) -> float | None:
        """Block until ``verify_access(token)`` refuses; ``time.time()`` then, or None on timeout.

        The token is re-verified on the thread that applies each update touching its user, right
        after the cache changes, and an update that makes it refused is timed at its
        ``applied_at`` (the moment the cache changed: when the first request would be refused,
        not when this thread got scheduled, nor when the check confirming it ended); and here
        every ``poll`` s (covers resyncs and staleness).
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

        def refuse(when: float | None = None) -> None:
            if not refused.is_set():
                at.append(time.time() if when is None else when)
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
                refuse(upd.applied_at)  # refused from the moment the cache changed, not after this check

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
        n, cached, dead = self._cache.snapshot()
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
            self._bus_seq if self.mode == "bus" else None,
        )


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
