"""Needs attention: the users an operator should look at now, each with why and what to do.

Four signals, each one indexed query (sizes stay those of the window or of the answer, never of
the tables: ``bench/attention.py`` measures them at 1M users against 10k):

- ``refresh_reuse``: a refresh token presented again after its rotation (``user_events``,
  ``REFRESH_REUSE``) within ``since``: a stolen token, or a client bug. Index
  ``ix_user_events_action_at``.
- ``new_place``: a session opened within ``since`` from a country or network (ASN) the user's
  sessions of the previous 30 days never came from. Needs the GeoIP database (``geoip_db``);
  without it the signal is reported absent, never silently empty.
- ``session_burst``: at least ``[attention] burst_sessions`` sessions opened within
  ``burst_window`` (credential stuffing that works, a scripted client). Index
  ``ix_sessions_created`` for the window, ``ix_sessions_user_created`` per candidate.
- ``disabled_sessions``: disabled users who still hold unexpired sessions (disabling refuses
  them, but does not delete them). A state, not an event: ``since`` does not apply. Partial
  index ``ix_users_disabled_at``.

Each finding names the operator action that fits it (an ``AdminService`` method, the kind in
the console's action registry); the console renders, it decides nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, func, select

from authcore.db import read_conn
from authcore.models import sessions, user_events, users
from authcore.timeutil import humanize_delta, utcnow
from authcore.userevents import REFRESH_REUSE

if TYPE_CHECKING:  # pragma: no cover
    from sqlalchemy import Connection, Engine

    from authcore.config import AttentionSettings
    from authcore.geoip import GeoIP, Location

#: The longest ``since`` accepted: the history the signals read is kept about that long.
MAX_SINCE = timedelta(days=30)
#: Findings per signal (newest first); the report says when a signal had more.
DEFAULT_LIMIT = 200
#: How far back ``new_place`` looks for the places a user came from before.
HISTORY = timedelta(days=30)
#: How many of the window's newest sessions ``new_place`` locates (each is one lookup, and its
#: user's history one indexed read): a bound per call; the report says when the window had more.
PLACE_CHECKS = 5000


class Signal(StrEnum):
    REFRESH_REUSE = "refresh_reuse"
    NEW_PLACE = "new_place"
    SESSION_BURST = "session_burst"
    DISABLED_SESSIONS = "disabled_sessions"


TITLES = {
    Signal.REFRESH_REUSE: "refresh token reuse",
    Signal.NEW_PLACE: "session from a new country or network",
    Signal.SESSION_BURST: "many new sessions in a short window",
    Signal.DISABLED_SESSIONS: "disabled user still holds sessions",
}

#: The operator action that fits each signal (``AdminService`` method = action registry kind).
ACTIONS = {
    Signal.REFRESH_REUSE: "revoke_tokens",
    Signal.NEW_PLACE: "delete_session",
    Signal.SESSION_BURST: "delete_sessions",
    Signal.DISABLED_SESSIONS: "delete_sessions",
}


@dataclass(frozen=True)
class Finding:
    """One user one signal flagged: ``at`` the newest occurrence, ``count`` how many."""

    signal: Signal
    user_id: int
    email: str
    at: datetime
    count: int
    why: str
    session_id: str | None = None  # the session the finding is about, when it is one
    disabled: bool = False

    @property
    def action(self) -> str:
        return ACTIONS[self.signal]

    @property
    def key(self) -> str:
        """Unique within a report: one row per (signal, user[, session])."""
        return f"{self.signal}:{self.user_id}:{self.session_id or ''}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "signal": str(self.signal),
            "user_id": self.user_id,
            "email": self.email,
            "at": self.at.isoformat(),
            "count": self.count,
            "why": self.why,
            "session": self.session_id,
            "disabled": self.disabled,
            "action": self.action,
        }


@dataclass(frozen=True)
class SignalStatus:
    """Whether a signal ran (``available``), why not (``note``) and whether it had more
    findings than it returned (``truncated``)."""

    signal: Signal
    available: bool = True
    note: str = ""
    truncated: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "signal": str(self.signal),
            "title": TITLES[self.signal],
            "available": self.available,
            "note": self.note,
            "truncated": self.truncated,
        }


@dataclass(frozen=True)
class AttentionReport:
    since: datetime
    now: datetime
    findings: list[Finding] = field(default_factory=list)
    signals: list[SignalStatus] = field(default_factory=list)

    def status(self, signal: Signal) -> SignalStatus:
        return next(s for s in self.signals if s.signal == signal)

    def to_dict(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(),
            "now": self.now.isoformat(),
            "signals": [s.to_dict() for s in self.signals],
            "findings": [f.to_dict() for f in self.findings],
        }


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


class Attention:
    """The signals over one engine. ``settings``: the ``[attention]`` thresholds; ``geoip``:
    an opened GeoIP database, or None (``new_place`` is then absent, and says so)."""

    def __init__(
        self, engine: Engine, settings: AttentionSettings, geoip: GeoIP | None = None, geoip_note: str = ""
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.geoip = geoip
        self.geoip_note = geoip_note or "no GeoIP database configured (geoip_db)"

    def report(
        self,
        since: timedelta = timedelta(hours=24),
        *,
        now: datetime | None = None,
        limit: int = DEFAULT_LIMIT,
    ) -> AttentionReport:
        """Every signal for the window ``[now - since, now]``, findings newest first."""
        if since <= timedelta(0) or since > MAX_SINCE:
            from authcore.errors import ValidationError

            raise ValidationError(f"since must be positive and at most {humanize_delta(MAX_SINCE)}")
        now = now or utcnow()
        start = now - since
        limit = max(1, min(int(limit), 1000))
        findings: list[Finding] = []
        statuses: list[SignalStatus] = []
        with read_conn(self.engine) as conn:
            runs: list[tuple[Signal, Callable[[], tuple[list[Finding], bool]] | None]] = [
                (Signal.REFRESH_REUSE, lambda: self.refresh_reuse(conn, start, now, limit)),
                (
                    Signal.NEW_PLACE,
                    None if self.geoip is None else lambda: self.new_place(conn, start, now, limit),
                ),
                (Signal.SESSION_BURST, lambda: self.session_burst(conn, start, now, limit)),
                (Signal.DISABLED_SESSIONS, lambda: self.disabled_sessions(conn, now, limit)),
            ]
            for signal, run in runs:
                if run is None:
                    statuses.append(SignalStatus(signal, available=False, note=self.geoip_note))
                    continue
                found, more = run()
                findings.extend(found)
                statuses.append(SignalStatus(signal, truncated=more))
        findings.sort(key=lambda f: f.at, reverse=True)
        return AttentionReport(start, now, findings, statuses)

    # -- the signals: each returns (findings, whether there were more than ``limit``) --------
    def refresh_reuse(
        self, conn: Connection, start: datetime, now: datetime, limit: int
    ) -> tuple[list[Finding], bool]:
        rows = list(conn.execute(reuse_stmt(start, now, limit + 1)))
        found = [
            Finding(
                Signal.REFRESH_REUSE,
                r.user_id,
                r.email,
                r.last,
                r.n,
                f"{_plural(r.n, 'rotated refresh token')} presented again "
                "(the session was ended); revoke every token of the user",
                r.sid if r.n == 1 else None,
                bool(r.disabled),
            )
            for r in rows[:limit]
        ]
        return found, len(rows) > limit

    def new_place(
        self, conn: Connection, start: datetime, now: datetime, limit: int
    ) -> tuple[list[Finding], bool]:
        """The window's newest ``PLACE_CHECKS`` sessions (``ix_sessions_created``, newest
        first), each located by its first address; the places of the same user's sessions in
        the ``HISTORY`` before it (``ix_sessions_user_created``, both addresses of each). A
        session whose country or ASN is not among them is flagged; a user with no session in
        that history (a first login, or one after a month away) is not: there is nothing to
        compare with."""
        geoip = self.geoip
        assert geoip is not None
        recent = list(conn.execute(place_recent_stmt(start, now, PLACE_CHECKS + 1)))
        more = len(recent) > PLACE_CHECKS
        located = [(r, loc) for r in recent[:PLACE_CHECKS] if (loc := geoip.lookup(r.first_ip)) is not None]
        history: dict[int, list[tuple[datetime, str, str]]] = {}
        uids = sorted({r.user_id for r, _loc in located})
        for chunk in _chunks(uids, 500):
            for h in conn.execute(place_history_stmt(chunk, start - HISTORY, now)):
                for ip in {h.first_ip, h.last_ip} - {None}:
                    history.setdefault(h.user_id, []).append((h.created_at, h.public_id, ip))
        flagged: list[tuple[Any, Location, set[str], set[tuple[int, str | None]]]] = []
        for r, loc in located:
            ips = [
                ip
                for at, sid, ip in history.get(r.user_id, [])
                if sid != r.public_id and r.created_at - HISTORY <= at < r.created_at
            ]
            if not ips:
                continue
            # addresses are looked up until the place is known on both counts (the usual
            # login, from a known place, stops early); only a flagged one reads them all
            want_country, want_asn = loc.country is not None, loc.asn is not None
            before = []
            for ip in ips:
                seen = geoip.lookup(ip)
                before.append(seen)
                if seen is not None:
                    want_country = want_country and seen.country != loc.country
                    want_asn = want_asn and seen.asn != loc.asn
                if not (want_country or want_asn):
                    break
            if not (want_country or want_asn):
                continue
            countries = {x.country for x in before if x is not None and x.country}
            asns = {(x.asn, x.asn_org) for x in before if x is not None and x.asn is not None}
            # only against what is known: an address the file does not place compares with nothing
            new_country = bool(countries) and loc.country is not None and loc.country not in countries
            new_asn = bool(asns) and loc.asn is not None and loc.asn not in {a for a, _o in asns}
            if new_country or new_asn:
                flagged.append((r, loc, countries if new_country else set(), asns if new_asn else set()))
        people = _people(conn, {r.user_id for r, *_ in flagged})
        found = [
            Finding(
                Signal.NEW_PLACE,
                r.user_id,
                people[r.user_id][0],
                r.created_at,
                1,
                _place_why(loc, countries, asns),
                r.public_id,
                people[r.user_id][1],
            )
            for r, loc, countries, asns in flagged
            if r.user_id in people
        ]
        return found[:limit], more or len(found) > limit

    def session_burst(
        self, conn: Connection, start: datetime, now: datetime, limit: int
    ) -> tuple[list[Finding], bool]:
        """Users with at least ``burst_sessions`` sessions in the window are the candidates (one
        range scan of ``ix_sessions_created``); their session times, read per user
        (``ix_sessions_user_created``), decide whether that many fall within ``burst_window``."""
        need, width = self.settings.burst_sessions, self.settings.burst_window
        cap = limit * 4
        uids = list(conn.execute(burst_candidates_stmt(start, now, need, cap + 1)).scalars())
        more = len(uids) > cap
        times: dict[int, list[datetime]] = {}
        for chunk in _chunks(uids[:cap], 500):
            for uid, created in conn.execute(burst_times_stmt(chunk, start, now)):
                times.setdefault(uid, []).append(created)
        bursts = {uid: b for uid, ts in times.items() if (b := densest(ts, width))[0] >= need}
        people = _people(conn, bursts)
        found = [
            Finding(
                Signal.SESSION_BURST,
                uid,
                people[uid][0],
                last,
                n,
                f"{_plural(n, 'new session')} within {humanize_delta(width)} "
                f"(threshold: {need} within {humanize_delta(width)})",
                None,
                people[uid][1],
            )
            for uid, (n, last) in bursts.items()
            if uid in people
        ]
        found.sort(key=lambda f: (f.at, f.user_id), reverse=True)
        return found[:limit], more or len(found) > limit

    def disabled_sessions(self, conn: Connection, now: datetime, limit: int) -> tuple[list[Finding], bool]:
        rows = list(conn.execute(disabled_stmt(now, limit + 1)))
        found = [
            Finding(
                Signal.DISABLED_SESSIONS,
                r.id,
                r.email,
                r.disabled_at or r.newest,
                r.n,
                f"disabled, but holds {_plural(r.n, 'unexpired session')} "
                "(refused while disabled; deleting them ends them for good)",
                None,
                True,
            )
            for r in rows[:limit]
        ]
        return found, len(rows) > limit

    def explain(
        self, since: timedelta = timedelta(hours=24), *, now: datetime | None = None
    ) -> list[tuple[str, str]]:
        """``(statement, plan)`` for every statement ``report`` runs, from the database itself
        (``EXPLAIN QUERY PLAN`` on SQLite, ``EXPLAIN`` on PostgreSQL): the index check of the
        tests and of ``bench/attention.py``."""
        from authcore.users.search import Explain

        now = now or utcnow()
        start = now - since
        stmts = [
            ("refresh_reuse", reuse_stmt(start, now, DEFAULT_LIMIT)),
            ("session_burst", burst_candidates_stmt(start, now, self.settings.burst_sessions, DEFAULT_LIMIT)),
            ("session_burst times", burst_times_stmt([1, 2, 3], start, now)),
            ("disabled_sessions", disabled_stmt(now, DEFAULT_LIMIT)),
            ("new_place", place_recent_stmt(start, now, PLACE_CHECKS)),
            ("new_place history", place_history_stmt([1, 2, 3], start - HISTORY, now)),
        ]
        out = []
        with read_conn(self.engine) as conn:
            for name, stmt in stmts:
                # the driver's rows: the statement's own result types (a datetime column) do not
                # apply to the plan's columns
                rows = conn.execute(Explain(stmt)).cursor.fetchall()
                out.append((name, "\n".join(str(r[-1]) for r in rows)))
        return out


# -- the statements (Core), one per question; ``explain`` shows the same ones ------------------
def reuse_stmt(start: datetime, now: datetime, limit: int) -> Select[Any]:
    """Reuse events in ``[start, now]`` per user (``ix_user_events_action_at``), newest first."""
    ue = user_events
    per_user = (
        select(
            ue.c.user_id,
            func.count().label("n"),
            func.max(ue.c.at).label("last"),
            func.max(ue.c.session_id).label("sid"),
        )
        .where(ue.c.action == REFRESH_REUSE, ue.c.at >= start, ue.c.at <= now)
        .group_by(ue.c.user_id)
        .subquery()
    )
    return (
        select(per_user, users.c.email, users.c.disabled)
        .join(users, users.c.id == per_user.c.user_id)
        .order_by(per_user.c.last.desc(), per_user.c.user_id)
        .limit(limit)
    )


def place_recent_stmt(start: datetime, now: datetime, limit: int) -> Select[Any]:
    """The window's newest sessions with their first address (``ix_sessions_created``)."""
    s = sessions
    return (
        select(s.c.public_id, s.c.user_id, s.c.created_at, s.c.first_ip)
        .where(s.c.created_at >= start, s.c.created_at <= now)
        .order_by(s.c.created_at.desc(), s.c.user_id.desc())
        .limit(limit)
    )


def place_history_stmt(uids: list[int], start: datetime, now: datetime) -> Select[Any]:
    """These users' sessions from ``start`` (the window's start minus ``HISTORY``) to ``now``,
    both addresses (``ix_sessions_user_created``)."""
    s = sessions
    return select(s.c.user_id, s.c.public_id, s.c.created_at, s.c.first_ip, s.c.last_ip).where(
        s.c.user_id.in_(uids), s.c.created_at >= start, s.c.created_at <= now
    )


def _place_why(loc: Location, countries: set[str], asns: set[tuple[int, str | None]]) -> str:
    parts = []
    if countries:
        parts.append(f"new country {loc.country} (before: {', '.join(sorted(countries)) or 'unknown'})")
    elif loc.asn is not None and asns:
        org = f" {loc.asn_org}" if loc.asn_org else ""
        seen = ", ".join(f"AS{a}" for a, _o in sorted(asns, key=lambda x: x[0])[:5])
        parts.append(f"new network AS{loc.asn}{org} (before: {seen})")
    if countries and loc.asn is not None and asns:
        parts.append(f"network AS{loc.asn} new too")
    return "; ".join(parts) + f", in the {HISTORY.days} days before; end this session if it is not the user"


def burst_candidates_stmt(start: datetime, now: datetime, need: int, limit: int) -> Select[Any]:
    """Users with at least ``need`` sessions opened in ``[start, now]`` (``ix_sessions_created``)."""
    s = sessions
    return (
        select(s.c.user_id)
        .where(s.c.created_at >= start, s.c.created_at <= now)
        .group_by(s.c.user_id)
        .having(func.count() >= need)
        .order_by(func.max(s.c.created_at).desc(), s.c.user_id)
        .limit(limit)
    )


def burst_times_stmt(uids: list[int], start: datetime, now: datetime) -> Select[Any]:
    """The candidates' session times in the window (``ix_sessions_user_created``)."""
    s = sessions
    return (
        select(s.c.user_id, s.c.created_at)
        .where(s.c.user_id.in_(uids), s.c.created_at >= start, s.c.created_at <= now)
        .order_by(s.c.user_id, s.c.created_at)
    )


def disabled_stmt(now: datetime, limit: int) -> Select[Any]:
    """Disabled users holding an unexpired session, newest disabled first
    (``ix_users_disabled_at``, partial on ``disabled``), each one's unexpired sessions counted
    through ``ix_sessions_user_created``."""
    s, u = sessions, users
    live = (
        select(func.count()).where(s.c.user_id == u.c.id, s.c.expires_at > now).correlate(u).scalar_subquery()
    )
    newest = select(func.max(s.c.created_at)).where(s.c.user_id == u.c.id).correlate(u).scalar_subquery()
    holds = select(s.c.id).where(s.c.user_id == u.c.id, s.c.expires_at > now).exists()
    return (
        select(u.c.id, u.c.email, u.c.disabled_at, live.label("n"), newest.label("newest"))
        .where(u.c.disabled, holds)  # as ix_users_disabled_at's predicate renders
        # the index's order only (no id tiebreak: users disabled at one instant would all be
        # read and sorted before the first row; ties come in the index's own order)
        .order_by(u.c.disabled_at.desc())
        .limit(limit)
    )


def densest(times: list[datetime], width: timedelta) -> tuple[int, datetime]:
    """The most of the sorted, non-empty ``times`` within any ``width`` (both ends included), and
    the last time of the first such window: two pointers, one pass."""
    best, best_at, lo = 0, times[0], 0
    for hi, t in enumerate(times):
        while t - times[lo] > width:
            lo += 1
        if hi - lo + 1 > best:
            best, best_at = hi - lo + 1, t
    return best, best_at


def _people(conn: Connection, uids: Iterable[int]) -> dict[int, tuple[str, bool]]:
    """Email and disabled flag of each user id (primary key lookups)."""
    out: dict[int, tuple[str, bool]] = {}
    for chunk in _chunks(list(uids), 500):
        for r in conn.execute(
            select(users.c.id, users.c.email, users.c.disabled).where(users.c.id.in_(chunk))
        ):
            out[r.id] = (r.email, bool(r.disabled))
    return out


def _chunks(items: list[int], size: int) -> Iterable[list[int]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
