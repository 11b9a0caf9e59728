"""Following live activity: ``ActivityFeed``, a background reader the console drains.

One daemon thread per feed reads what ``authcore.activity`` says each kind comes from:

* PostgreSQL with a direct connection: LISTEN on ``activity.CHANNEL`` (logins, refreshes), on a
  connection from ``verifier.listen.open_listener`` (the one bounded listener), plus, every
  ``poll_s``, ``user_events`` by id and the audit log by ``seq``. After a lost connection it
  reconnects with backoff and re-reads the logins of the gap from ``sessions.created_at``
  (indexed); refreshes of the gap cannot be re-read (no index on PostgreSQL, see
  ``authcore.activity``), so the feed says so with a ``gap`` event rather than pretend.
* SQLite (and PostgreSQL through a pooler without ``listen_url``): the same polls, plus
  ``sessions`` by id (logins; SQLite's writers are serialised, so rowid order is commit order)
  and by ``refresh_rotated_at`` (rotations; indexed by migration 0009 on SQLite). On a pooled
  PostgreSQL logins are read by ``created_at`` and refreshes are not seen (said once, as a gap).
  A poll sees committed rows: a session that was created and deleted between two polls (within
  ``poll_s``) is not shown as a login, and rotations are read from the session's row, so two
  rotations of one session between two polls show as the last one.

PostgreSQL hands out sequence ids before commit, so ids do not arrive in id order: each id read
starts ``OVERLAP`` ids below the highest seen and skips what it has seen. Audit ``seq`` needs no
overlap (the chain's head lock orders it).

Bursts are the reader's problem, not the screen's: events go into a bounded buffer (the oldest
are dropped past ``buffer``, and counted), and ``drain(limit)`` hands over at most the newest
``limit`` with the totals per kind since the last drain, so a screen draining a few times a
second does bounded work whatever the event rate. Every read is a bounded statement on the
engine (``authcore.db``); the listener's waits are bounded by ``beat_s``.

Nobody looking (``pause()``; the console's tail under another screen): the feed's thread shares
its process (the GIL) with whoever is typing, so it stops turning what it reads into events. It
wakes every ``poll_s`` instead of at each NOTIFY, takes what the socket holds, counts the
payloads per kind from their heads (``activity.payload_kinds``) and keeps only the newest
``hold`` raw (payloads, rows); the polls go on (their cursors must), de-duplicate by key and keep
rows the same way. ``resume()`` builds events (emails included) from what was kept, oldest
first, and the next ``drain`` hands them over with every count of the pause (``Batch.away``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, bindparam, select

from authcore import activity
from authcore.activity import AUDIT_KINDS, USER_EVENT_KINDS, ActivityEvent, Kind
from authcore.db import read_conn
from authcore.models import audit_events, sessions, user_events, users
from authcore.timeutil import utcnow
from authcore.verifier.updates import first_line

log = logging.getLogger("authcore.activity")

OVERLAP = 256  # ids re-read below the highest seen (PostgreSQL commits out of id order)
PAGE = 2000  # rows per read per source and poll
ROTATION_SLACK = timedelta(seconds=1)  # a rotation's time is taken just before its lock
EMAILS_PER_READ = 300  # user ids looked up per batch (the newest events')
EMAIL_CACHE = 10_000
SEEN_KEYS = 50_000

_AUDIT_COLS = (
    audit_events.c.seq,
    audit_events.c.at,
    audit_events.c.actor,
    audit_events.c.action,
    audit_events.c.target_user_id,
    audit_events.c.target_session,
    audit_events.c.reason,
    audit_events.c.details,
)
_AUDIT_AFTER = (
    select(*_AUDIT_COLS)
    .where(audit_events.c.seq > bindparam("after"), audit_events.c.action.in_(list(AUDIT_KINDS)))
    .order_by(audit_events.c.seq)
    .limit(PAGE)
)
_AUDIT_LAST = (
    select(*_AUDIT_COLS)
    .where(audit_events.c.action.in_(list(AUDIT_KINDS)))
    .order_by(audit_events.c.seq.desc())
    .limit(bindparam("n"))
)
_AUDIT_HEAD = select(audit_events.c.seq).order_by(audit_events.c.seq.desc()).limit(1)
_UE_COLS = (
    user_events.c.id,
    user_events.c.at,
    user_events.c.action,
    user_events.c.user_id,
    user_events.c.session_id,
)
_UE_AFTER = (
    select(*_UE_COLS).where(user_events.c.id > bindparam("after")).order_by(user_events.c.id).limit(PAGE)
)
_UE_LAST = select(*_UE_COLS).order_by(user_events.c.id.desc()).limit(bindparam("n"))
_S_COLS = (sessions.c.id, sessions.c.public_id, sessions.c.user_id, sessions.c.created_at)
_LOGINS_AFTER_ID = (
    select(*_S_COLS).where(sessions.c.id > bindparam("after")).order_by(sessions.c.id).limit(PAGE)
)
_LOGINS_LAST_ID = select(*_S_COLS).order_by(sessions.c.id.desc()).limit(bindparam("n"))
_LOGINS_SINCE = (
    select(*_S_COLS)
    .where(sessions.c.created_at >= bindparam("since", type_=sessions.c.created_at.type))
    .order_by(sessions.c.created_at)
    .limit(PAGE)
)
_LOGINS_LAST_AT = select(*_S_COLS).order_by(sessions.c.created_at.desc()).limit(bindparam("n"))
_R_COLS = (
    sessions.c.public_id,
    sessions.c.user_id,
    sessions.c.refresh_counter,
    sessions.c.refresh_rotated_at,
)
_ROTATED_SINCE = (
    select(*_R_COLS)
    .where(sessions.c.refresh_rotated_at > bindparam("since", type_=sessions.c.refresh_rotated_at.type))
    .order_by(sessions.c.refresh_rotated_at)
    .limit(PAGE)
)
_ROTATED_LAST = (
    select(*_R_COLS)
    .where(sessions.c.refresh_rotated_at.is_not(None))
    .order_by(sessions.c.refresh_rotated_at.desc())
    .limit(bindparam("n"))
)
_EMAILS = select(users.c.id, users.c.email).where(users.c.id.in_(bindparam("ids", expanding=True)))
HELD_PAYLOADS_PER_WAKE = 10 * PAGE  # paused: what one wake takes from the socket, at most

#: What a read hands on: kind, key (de-duplication), time (order), and how to build the event
#: from ``raw`` (only done for what will be shown).
Item = tuple[Kind, str, datetime, Callable[[Any], ActivityEvent | None], Any]


@dataclass(frozen=True)
class Batch:
    """What ``drain`` hands over: the newest ``events`` (oldest first), how many arrived since
    the last drain (``total``, ``by_kind``; more than ``events`` in a burst), how many the
    buffer dropped, and the feed's state line."""

    events: list[ActivityEvent]
    total: int
    by_kind: dict[Kind, int] = field(default_factory=dict)
    dropped: int = 0
    state: str = ""
    away: int = 0  # of ``total``, how many came while the feed was paused


def _at(e: ActivityEvent) -> datetime:
    return e.at


def _item_at(it: Item) -> datetime:
    return it[2]


def _same(e: ActivityEvent) -> ActivityEvent:
    return e


def _audit_key(seq: int) -> str:
    return f"a{seq}"


def _user_event_key(id_: int) -> str:
    return f"u{id_}"


def _audit_event(r: Any) -> ActivityEvent:
    kind = AUDIT_KINDS[r.action]
    details = r.details or {}
    detail = r.reason or ""
    if r.action == "bulk_revoke_tokens":
        n = details.get("users") or details.get("count") or details.get("bumped")
        detail = f"{n} users · {detail}" if n else detail
    elif r.action == "delete_sessions":
        detail = f"all sessions · {detail}"
    key = _audit_key(r.seq)
    return ActivityEvent(kind, r.at, r.target_user_id, r.target_session, r.actor, detail, key)


def _user_event(r: Any) -> ActivityEvent | None:
    kind = USER_EVENT_KINDS.get(r.action)
    if kind is None:
        return None
    actor = "system" if kind is Kind.REUSE else "user"
    detail = {"logout": "logout", "refresh_replay": "replay within the grace window"}.get(r.action, "")
    return ActivityEvent(kind, r.at, r.user_id, r.session_id, actor, detail, _user_event_key(r.id))


def _login(r: Any) -> ActivityEvent:
    return ActivityEvent(
        Kind.LOGIN, r.created_at, r.user_id, r.public_id, "user", "", activity.login_key(r.public_id)
    )


def _rotation(r: Any) -> ActivityEvent:
    key = activity.refresh_key(r.public_id, r.refresh_counter)
    return ActivityEvent(Kind.REFRESH, r.refresh_rotated_at, r.user_id, r.public_id, "user", "", key)


def _audit_item(r: Any) -> Item:
    return (AUDIT_KINDS[r.action], _audit_key(r.seq), r.at, _audit_event, r)


def _login_item(r: Any) -> Item:
    return (Kind.LOGIN, activity.login_key(r.public_id), r.created_at, _login, r)


def _rotation_item(r: Any) -> Item:
    key = activity.refresh_key(r.public_id, r.refresh_counter)
    return (Kind.REFRESH, key, r.refresh_rotated_at, _rotation, r)


class ActivityFeed:
    """Start with ``start()``, take events with ``drain()``, stop with ``close()``.

    ``listen_url``: the libpq URL to LISTEN on (``verifier.listen.listen_target``), None to
    poll. ``backlog``: how many recent events to show first. ``poll_s``: the table reads'
    period. ``beat_s``: the listener's heartbeat period and the bound of its every wait.
    ``hold``: while paused, how many of the newest are kept to build on ``resume()``."""

    def __init__(
        self,
        engine: Engine,
        *,
        listen_url: str | None = None,
        poll_s: float = 0.5,
        backlog: int = 50,
        buffer: int = 5000,
        beat_s: float = 5.0,
        hold: int = 200,
        application_name: str = "authconsole-activity",
    ) -> None:
        self.engine = engine
        self.listen_url = listen_url
        self.poll_s = poll_s
        self.backlog = backlog
        self.beat_s = beat_s
        self.application_name = application_name
        self.sqlite = engine.dialect.name == "sqlite"
        self._lock = threading.Lock()
        self._buffer: deque[ActivityEvent] = deque(maxlen=max(1, buffer))
        self._total = 0
        self._dropped = 0
        self._by_kind: Counter[Kind] = Counter()
        self._away = 0
        self._stop = threading.Event()
        self._wake = threading.Event()  # cuts a paused or polling wait short (resume, close)
        self._wanted = threading.Event()  # someone is looking: build events as they come
        self._wanted.set()
        self.hold = max(1, hold)
        # paused (the feed's thread only): the newest raw payloads and rows, and every count
        self._held_payloads: deque[str] = deque(maxlen=self.hold)
        self._held_rows: deque[tuple[Callable[[Any], ActivityEvent | None], Any]] = deque(maxlen=self.hold)
        self._held_total = 0
        self._held_kinds: Counter[Kind] = Counter()
        self._thread: threading.Thread | None = None
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._emails: OrderedDict[int, str | None] = OrderedDict()
        self._seq = 0  # audit seq read up to
        self._ue = 0  # highest user_events id seen
        self._sid = 0  # SQLite: highest sessions id seen
        self._rot: datetime | None = None  # SQLite: newest rotation seen
        self._logins_at: datetime | None = None  # pooled PostgreSQL: newest login seen
        self._gaps = 0
        self.state = "starting"
        self.errors = 0
        self.primed = threading.Event()

    # -- the consumer's side -------------------------------------------------------------------
    def start(self) -> ActivityFeed:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="authcore-activity", daemon=True)
            self._thread.start()
        return self

    def drain(self, limit: int = 200) -> Batch:
        """The newest ``limit`` events since the last drain (oldest first) and the totals."""
        with self._lock:
            events = list(self._buffer)[-limit:] if limit > 0 else []
            batch = Batch(events, self._total, dict(self._by_kind), self._dropped, self.state, self._away)
            self._buffer.clear()
            self._total = 0
            self._dropped = 0
            self._away = 0
            self._by_kind.clear()
        return batch

    def pause(self) -> None:
        """Nobody is looking: from now on count what comes and keep only the newest ``hold``
        raw, building no events (see the module docstring). Cheap; any thread."""
        self._wanted.clear()

    def resume(self) -> None:
        """Someone is looking again: the thread wakes, builds events from what it kept, and the
        next ``drain`` hands them over with the pause's counts. Cheap; any thread."""
        self._wanted.set()
        self._wake.set()

    @property
    def paused(self) -> bool:
        return not self._wanted.is_set()

    @property
    def away(self) -> int:
        """How many events the paused feed has counted and not handed over yet."""
        return self._held_total

    def close(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self._wake.set()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- the reader's side ---------------------------------------------------------------------
    def _live(self) -> bool:
        """Someone is looking; what was kept while nobody was is handed on first."""
        if not self._wanted.is_set():
            return False
        if self._held_total or self._held_payloads or self._held_rows:
            self._release()
        return True

    def _doze(self, seconds: float) -> None:
        self._wake.wait(seconds)
        self._wake.clear()

    def _push(self, events: Iterable[ActivityEvent]) -> None:
        """Built events (decoded payloads, the backlog, a gap): as ``_take``."""
        self._take([(e.kind, e.key, e.at, _same, e) for e in events])

    def _take(self, items: Iterable[Item]) -> None:
        """What a read found: the unseen (by key) built and handed on, oldest first -- or,
        paused, counted and the newest kept raw."""
        fresh: list[Item] = []
        seen = self._seen
        for it in items:
            if it[1] in seen:
                continue
            seen[it[1]] = None
            fresh.append(it)
        while len(seen) > SEEN_KEYS:
            seen.popitem(last=False)
        if not fresh:
            return
        if not self._live():
            fresh.sort(key=_item_at)  # a read's sources come one after another: kept newest
            self._held_rows.extend((make, raw) for _, _, _, make, raw in fresh)
            self._held_kinds.update(kind for kind, _, _, _, _ in fresh)
            self._held_total += len(fresh)
            return
        events = [e for _, _, _, make, raw in fresh if (e := make(raw)) is not None]
        events.sort(key=_at)
        self._publish(events)

    def _hold_payloads(self, conn: Any) -> None:
        """Paused, PostgreSQL: what the socket holds now (one wake, not one per NOTIFY)."""
        n = 0
        while n < HELD_PAYLOADS_PER_WAKE:
            texts = [x.payload for x in conn.notifies(timeout=0, stop_after=PAGE)]
            if not texts:
                return
            n += len(texts)
            self._hold(texts)

    def _hold(self, texts: list[str]) -> None:
        """Payloads heard while paused: counted by kind from their heads, the newest kept."""
        self._held_payloads.extend(texts)
        counts = activity.payload_kinds(texts)
        self._held_kinds.update(counts)
        self._held_total += sum(counts.values())

    @staticmethod
    def _decoded(texts: Iterable[str]) -> list[ActivityEvent]:
        got: list[ActivityEvent] = []
        for text in texts:
            try:
                got.append(activity.decode(text))
            except ValueError as exc:
                log.warning("activity: %s", exc)
        return got

    def _release(self) -> None:
        """Resumed: events built from what was kept (the newest ``hold``), with the pause's
        counts. A payload also read from a table (around a reconnect) is counted once."""
        payloads, rows = list(self._held_payloads), list(self._held_rows)
        total, kinds = self._held_total, Counter(self._held_kinds)
        self._held_payloads.clear()
        self._held_rows.clear()
        self._held_total = 0
        self._held_kinds.clear()
        seen = self._seen
        events: list[ActivityEvent] = []
        for heard in self._decoded(payloads):
            if heard.key in seen:
                total -= 1
                kinds[heard.kind] -= 1
                continue
            seen[heard.key] = None
            events.append(heard)
        events += [e for make, raw in rows if (e := make(raw)) is not None]
        events.sort(key=_at)
        self._publish(events[-self.hold :], total, +kinds)

    def _publish(
        self, events: list[ActivityEvent], away: int | None = None, kinds: Counter[Kind] | None = None
    ) -> None:
        """Into the buffer (emails filled in) with the totals: the events', or ``away`` and
        ``kinds`` counted while paused."""
        if events:
            events = self._with_emails(events)
        with self._lock:
            over = len(self._buffer) + len(events) - (self._buffer.maxlen or 0)
            if over > 0:
                self._dropped += over
            self._buffer.extend(events)
            if away is None:
                self._total += len(events)
                self._by_kind.update(ev.kind for ev in events)
            else:
                self._total += away
                self._away += away
                self._by_kind.update(kinds or {})

    def _with_emails(self, events: list[ActivityEvent]) -> list[ActivityEvent]:
        """Fill in users' emails for the newest events (one bounded IN read, cached)."""
        cache = self._emails
        tail = events[-EMAILS_PER_READ:]
        wanted = {e.user_id for e in tail if e.user_id is not None and e.user_id not in cache}
        if wanted:
            try:
                with read_conn(self.engine) as conn:
                    found = {r.id: r.email for r in conn.execute(_EMAILS, {"ids": sorted(wanted)})}
            except Exception as exc:  # noqa: BLE001 - emails are a nicety; ids still show
                log.debug("activity: emails not read: %s", first_line(exc))
                found = None
            if found is not None:
                for uid in wanted:
                    cache[uid] = found.get(uid)
                while len(cache) > EMAIL_CACHE:
                    cache.popitem(last=False)
        head = len(events) - len(tail)
        return events[:head] + [
            e.with_email(cache.get(e.user_id)) if e.user_id is not None else e for e in tail
        ]

    def _set_state(self, state: str) -> None:
        with self._lock:
            self.state = state

    def _gap(self, detail: str) -> None:
        self._gaps += 1
        self._push([ActivityEvent(Kind.GAP, utcnow(), None, None, "authcore", detail, f"g{self._gaps}")])

    def _run(self) -> None:
        delay = 0.5
        while not self._stop.is_set():
            try:
                if self.listen_url is not None:
                    self._listen()  # primes once LISTEN is in place (nothing falls between)
                else:
                    if not self.primed.is_set():
                        self._prime()
                        self.primed.set()
                    self._set_state(f"polling every {self.poll_s:g} s")
                    while not self._stop.is_set():
                        self._live()
                        self._poll()
                        delay = 0.5
                        self._doze(self.poll_s)
            except Exception as exc:  # noqa: BLE001 - any failure: say so, back off, go on
                if self._stop.is_set():
                    break
                self.errors += 1
                self._set_state(f"reconnecting in {delay:.1f} s: {first_line(exc)}")
                log.warning("activity: %s; retrying in %.1fs", first_line(exc), delay)
                self._stop.wait(delay)
                delay = min(delay * 2, 10.0)
        self.primed.set()

    def _prime(self) -> None:
        """The newest ``backlog`` events, and every cursor set to where the tables are now. What
        the next reads re-read (their overlap) is read here too and marked seen, so the recent
        past never comes back as new."""
        n = max(1, self.backlog)
        m = max(n, OVERLAP)
        got: list[ActivityEvent] = []
        self._lost_at = utcnow()
        with read_conn(self.engine) as conn:
            head = conn.execute(_AUDIT_HEAD).scalar()
            self._seq = int(head or 0)
            # newest-first reads, turned oldest-first: events of one instant keep their order
            got += [_audit_event(r) for r in reversed(conn.execute(_AUDIT_LAST, {"n": n}).all())]
            ue = conn.execute(_UE_LAST, {"n": m}).all()[::-1]
            self._ue = max((r.id for r in ue), default=0)
            got += [e for e in map(_user_event, ue) if e is not None]
            if self.sqlite:
                rows = conn.execute(_LOGINS_LAST_ID, {"n": m}).all()[::-1]
                self._sid = max((r.id for r in rows), default=0)
                got += [_login(r) for r in rows]
                rot = list(conn.execute(_ROTATED_LAST, {"n": n}).all())[::-1]
                self._rot = max((r.refresh_rotated_at for r in rot), default=None) or utcnow()
                rot += conn.execute(_ROTATED_SINCE, {"since": self._rot - ROTATION_SLACK}).all()
                got += [_rotation(r) for r in rot]
            else:
                rows = list(conn.execute(_LOGINS_LAST_AT, {"n": n}).all())[::-1]
                self._logins_at = max((r.created_at for r in rows), default=None) or utcnow()
                rows += conn.execute(_LOGINS_SINCE, {"since": self._logins_at - ROTATION_SLACK}).all()
                got += [_login(r) for r in rows]
        unique = {e.key: e for e in got}
        ordered = sorted(unique.values(), key=lambda e: e.at)
        self._push(ordered[-n:])
        for e in ordered:  # what the backlog left out is old, not new: never shown later
            self._seen[e.key] = None

    def _poll(self) -> None:
        """One read of every polled source (see the module docstring). Rows re-read (the
        overlaps) are skipped by key before any event is built."""
        got: list[Item] = []
        with read_conn(self.engine) as conn:
            for r in conn.execute(_AUDIT_AFTER, {"after": self._seq}):
                self._seq = max(self._seq, int(r.seq))
                got.append(_audit_item(r))
            for u in conn.execute(_UE_AFTER, {"after": max(0, self._ue - OVERLAP)}):
                self._ue = max(self._ue, int(u.id))
                kind = USER_EVENT_KINDS.get(u.action)
                if kind is not None:
                    got.append((kind, _user_event_key(u.id), u.at, _user_event, u))
            if self.listen_url is None:
                got += self._poll_sessions(conn)
        self._take(got)

    def _poll_sessions(self, conn: Any) -> list[Item]:
        got: list[Item] = []
        if self.sqlite:
            for r in conn.execute(_LOGINS_AFTER_ID, {"after": max(0, self._sid - OVERLAP)}):
                self._sid = max(self._sid, int(r.id))
                got.append(_login_item(r))
            since = (self._rot or utcnow()) - ROTATION_SLACK
            rows = list(conn.execute(_ROTATED_SINCE, {"since": since}))
            if len(rows) == PAGE and all(
                activity.refresh_key(r.public_id, r.refresh_counter) in self._seen for r in rows
            ):
                rows = list(conn.execute(_ROTATED_SINCE, {"since": self._rot}))  # a full page seen
            for r in rows:
                self._rot = max(self._rot or r.refresh_rotated_at, r.refresh_rotated_at)
                got.append(_rotation_item(r))
            return got
        # PostgreSQL through a pooler, no LISTEN: logins by time, refreshes unseen (said once)
        if self._gaps == 0:
            self._gap("no direct connection to LISTEN on (set listen_url): refreshes are not shown")
        since = (self._logins_at or utcnow()) - ROTATION_SLACK
        for r in conn.execute(_LOGINS_SINCE, {"since": since}):
            self._logins_at = max(self._logins_at or r.created_at, r.created_at)
            got.append(_login_item(r))
        return got

    def _listen(self) -> None:
        """PostgreSQL: LISTEN, then pump notices and poll the tables until stopped or broken."""
        from authcore.verifier.listen import open_listener

        assert self.listen_url is not None
        lost_at = self._lost_at if self.errors else None
        conn = open_listener(
            self.listen_url, self.application_name, self.beat_s, channels=(activity.CHANNEL,)
        )
        try:
            if not self.primed.is_set():  # after LISTEN: a login committed meanwhile is heard
                self._prime()
                self.primed.set()
            elif lost_at is not None:  # after LISTEN: the gap's logins from the table
                self._resync(lost_at)
            self._set_state("live (PostgreSQL LISTEN)")
            beat = time.monotonic()
            while not self._stop.is_set():
                if self._live():  # woken by each NOTIFY
                    texts = [n.payload for n in conn.notifies(timeout=self.poll_s, stop_after=PAGE)]
                    if self._live():  # (not paused meanwhile) each turned into an event
                        self._push(self._decoded(texts))
                    else:
                        self._hold(texts)
                else:  # nobody looking: wake every poll_s, count, keep the newest raw
                    self._doze(self.poll_s)
                    self._hold_payloads(conn)
                self._poll()
                if time.monotonic() - beat >= self.beat_s:
                    conn.execute("SELECT 1")  # bounded by beat_s: a silent server is down
                    beat = time.monotonic()
                self._lost_at = utcnow()
        finally:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - broken already
                pass

    _lost_at: datetime = datetime.min.replace(tzinfo=UTC)

    def _resync(self, since: datetime) -> None:
        with read_conn(self.engine) as conn:
            got = [_login_item(r) for r in conn.execute(_LOGINS_SINCE, {"since": since - ROTATION_SLACK})]
        self._take(got)
        secs = (utcnow() - since).total_seconds()
        self._gap(
            f"listener reconnected after {secs:.1f} s: logins of the gap re-read, "
            "refreshes of the gap not shown"
        )


class Activity:
    """``core.activity``: follow what happens (``follow``), from the core's engine and config
    (the LISTEN URL: ``listen_url``/``AUTHCONSOLE_LISTEN_URL``, else the engine's own unless it
    goes through a pooler)."""

    def __init__(self, engine: Engine, config: Any) -> None:
        self.engine = engine
        self.config = config

    def follow(self, *, backlog: int = 50, poll_s: float = 0.5, **kw: Any) -> ActivityFeed:
        """A started ``ActivityFeed``; the caller closes it."""
        from authcore.config import resolve_listen_url
        from authcore.verifier.listen import listen_target

        url = listen_target(self.engine, resolve_listen_url(self.config), poll_s)
        return ActivityFeed(self.engine, listen_url=url, poll_s=poll_s, backlog=backlog, **kw).start()
