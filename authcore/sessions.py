"""Server-side sessions: one row per login. Only the SHA-256 digest of the secret token is stored."""

from __future__ import annotations

import hashlib
import math
import re
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from enum import Enum
from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Integer,
    Select,
    String,
    Subquery,
    and_,
    bindparam,
    delete,
    false,
    func,
    insert,
    literal_column,
    or_,
    select,
    tuple_,
    union,
    update,
)

from authcore import activity, audit, fastpath, pgroles, userevents
from authcore.audit import EventIn
from authcore.compiled import once
from authcore.db import NO_PREPARE, read_conn, write_tx
from authcore.errors import NotFound, UserDisabled
from authcore.fastpath import HotQuery
from authcore.models import SESSION_INSERT_COLUMNS, sessions, users
from authcore.reads import Read, Reads
from authcore.text import LIKE_ESCAPE, clean, like_escape, prefix_successor, require_plain
from authcore.timeutil import fmt_utc, utcnow
from authcore.useragent import UA_MAX  # the one limit: stored, and parsed, up to it


def token_digest(raw: str) -> str:
    """SHA-256 hex digest of a raw session token (what the database stores)."""
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def new_public_id() -> str:
    return "ses_" + secrets.token_urlsafe(12)


@dataclass(frozen=True)
class SessionRecord:
    public_id: str
    user_id: int
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    first_ip: str | None
    last_ip: str | None
    user_agent: str | None
    refresh_counter: int = 0
    email: str | None = None

    def active(self, now: datetime | None = None) -> bool:
        return self.expires_at > (now or utcnow())

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("created_at", "last_seen_at", "expires_at"):
            d[k] = d[k].isoformat()
        d["active"] = self.active()
        return d


@dataclass(frozen=True)
class ResolvedSession:
    """What an app gets for a valid session token: the session and its user."""

    session: SessionRecord
    user_id: int
    email: str
    username: str
    token_version: int


_SESSION_COLS = [
    sessions.c.public_id,
    sessions.c.user_id,
    sessions.c.created_at,
    sessions.c.last_seen_at,
    sessions.c.expires_at,
    sessions.c.first_ip,
    sessions.c.last_ip,
    sessions.c.user_agent,
    sessions.c.refresh_counter,
]


def _srec(row: Any, email: str | None = None) -> SessionRecord:
    return SessionRecord(
        row.public_id,
        row.user_id,
        row.created_at,
        row.last_seen_at,
        row.expires_at,
        row.first_ip,
        row.last_ip,
        row.user_agent,
        row.refresh_counter,
        email if email is not None else getattr(row, "email", None),
    )


# Hot path, built once: one join resolves a token to its live session and enabled user.
_RESOLVE = (
    select(*_SESSION_COLS, users.c.email, users.c.username, users.c.token_version)
    .join(users, users.c.id == sessions.c.user_id)
    .where(
        sessions.c.token_hash == bindparam("h"),
        sessions.c.expires_at > bindparam("now"),
        users.c.disabled.is_(False),
    )
)
_TOUCH = (
    update(sessions)
    .where(sessions.c.public_id == bindparam("sid"))
    .values(last_seen_at=bindparam("now"), last_ip=bindparam("ip"))
)
_INSERT = insert(sessions)
_INSERTED = SESSION_INSERT_COLUMNS
# PostgreSQL with activity on: the same INSERT and its activity NOTIFY, one statement.
_INSERT_NOTIFY = activity.with_notify(
    insert(sessions).values({c: bindparam("s_" + c, type_=sessions.c[c].type) for c in _INSERTED})
)
# Only an enabled user's row is touched (and locked); no row back = unknown or disabled, and
# nothing has been written.
_LOGIN = (
    update(users)
    .where(users.c.id == bindparam("uid"), users.c.disabled.is_(False))
    .values(last_login_at=bindparam("now"))
    .returning(users.c.token_version)
)
_EXISTS = select(users.c.id).where(users.c.id == bindparam("uid"))


def new_row(
    user_id: int, now: datetime, ttl: timedelta, ip: str | None = None, user_agent: str | None = None
) -> tuple[dict[str, Any], str]:
    """A login's session row (a new public id, the digest of a new raw token, its times) and the
    raw token: what ``SessionService.open`` inserts (``bench.activity_load`` makes rows the same way)."""
    raw = secrets.token_urlsafe(32)
    row: dict[str, Any] = {
        "public_id": new_public_id(),
        "token_hash": token_digest(raw),
        "user_id": user_id,
        "created_at": now,
        "last_seen_at": now,
        "expires_at": now + ttl,
        "first_ip": ip,
        "last_ip": ip,
        "user_agent": user_agent[:UA_MAX] if user_agent else None,
        "refresh_counter": 0,
    }
    return row, raw


def login_write(row: dict[str, Any], *, notify: bool) -> tuple[Any, dict[str, Any]]:
    """The session INSERT a login sends for ``row`` (``new_row``) and its values; with ``notify``
    (PostgreSQL, activity on) the INSERT and its activity NOTIFY, one statement. ``open`` sends
    it; ``bench.activity_load`` replays it in batches (the same writes without an app's work)."""
    if not notify:
        return _INSERT, row
    values = {"s_" + k: v for k, v in row.items()}
    values["activity_payload"] = activity.payload(
        activity.Kind.LOGIN, row["created_at"], row["user_id"], row["public_id"]
    )
    return _INSERT_NOTIFY, values


# The logout DELETE by ``public_id`` or ``token_hash``, compiled once per dialect for the driver.
_END = {
    col: once(
        delete(sessions)
        .where(sessions.c[col] == bindparam("v"))
        .returning(sessions.c.user_id, sessions.c.public_id)
    )
    for col in ("public_id", "token_hash")
}


_FN_PRUNE = once(
    pgroles.function_value("authcore_prune_sessions", "cutoff", "batch", "actor", "client", "reason")
)


def active_sessions(user_id: Any, now: Any) -> Any:
    """How many sessions of ``user_id`` are live at ``now`` (Core expressions or values), as a
    scalar subquery: the one definition of an active session (``expires_at > now``, as
    ``SessionRecord.active``), used by revocation results and user listings alike."""
    return (
        select(func.count())
        .select_from(sessions)
        .where(sessions.c.user_id == user_id, sessions.c.expires_at > now)
        .scalar_subquery()
    )


def _listing(engine: Engine, stmt: Any, params: dict[str, Any] | None = None) -> list[SessionRecord]:
    """A session listing's rows on ``engine`` (the one ``Reads.run`` picked)."""
    with read_conn(engine) as conn:
        return [_srec(r) for r in conn.execute(stmt, params or {})]


class Filter(Enum):
    """What a session-list filter (``SessionService.recent``) matches."""

    NONE = "none"
    IP = "ip"
    """An IP prefix: ``last_ip`` or ``first_ip`` starts with it (an index range of each)."""
    TEXT = "text"
    """Anything else: an IP prefix, or user-agent text (anywhere, any case), or a session id."""


# Digits with a dot (IPv4), or hex digits with a colon (IPv6, dotted IPv4 tails too): the start
# of an address as servers write it, and text no user agent search needs alone (a version such
# as "115.0" is one: search "Firefox/115" for it). Bare digits ("10") or hex ("fe80") stay TEXT:
# a version number or a word as much as an address.
_IP_PREFIX = re.compile(r"[0-9]+\.[0-9.]*|[0-9A-Fa-f]*:[0-9A-Fa-f:.]*")


def filter_kind(text: str) -> Filter:
    """How ``recent`` reads the (cleaned) filter ``text``; see ``Filter``."""
    if not text:
        return Filter.NONE
    return Filter.IP if _IP_PREFIX.fullmatch(text) else Filter.TEXT


def _ip_range(col: Any, postgres: bool) -> ColumnElement[bool]:
    """``col`` starts with ``lo``: ``lo <= col < hi`` (``hi = prefix_successor(lo)``), in byte
    order, which the 0011 indexes are in (COLLATE "C" on PostgreSQL, BINARY on SQLite)."""
    key = col.collate("C") if postgres else col
    return and_(key >= bindparam("lo", type_=String), key < bindparam("hi", type_=String))


def _starts(col: Any) -> ColumnElement[bool]:
    """``col`` starts with ``lo``: ``_ip_range``'s rule, spelled so that no index range takes
    it. The group read filters its /16's entries with it; as a range, PostgreSQL (estimating
    the /16 and the range as independent: a row or two) read the whole range from the address
    index instead and sorted it, the cost the group index is there to avoid."""
    lo = bindparam("lo", type_=String)
    one: ColumnElement[int] = literal_column("1")
    return func.substr(col, one, func.length(lo)) == lo


# An IPv4 prefix that names its /16 ("81.23.", "81.23.4"): the key of the group indexes.
_GROUP_OF = re.compile(r"[0-9]+\.[0-9]+\.")


def ip_group(col: Any, postgres: bool) -> ColumnElement[str]:
    """The address through its second dot ("81.23." of "81.23.4.5"): the key of the group
    indexes (migration 0014), which list each /16's sessions newest first. An address that
    starts with a prefix through its second dot has that prefix's group on both engines (other
    addresses get NULL on PostgreSQL, other text on SQLite), so ``ip_group(col) = g`` loses no
    match of a prefix whose group is ``g``. The constants are literals: SQLite uses an
    expression index only for the same expression text."""
    if postgres:
        return func.substring(col, literal_column(r"'^[0-9]+\.[0-9]+\.'"))
    dot: ColumnElement[str] = literal_column("'.'")
    one: ColumnElement[int] = literal_column("1")
    first = func.instr(col, dot)
    return func.substr(col, one, first + func.instr(func.substr(col, first + one), dot))


def _filter(text: str) -> tuple[Filter, dict[str, Any]]:
    """A session-list filter: its kind (``filter_kind`` of the cleaned ``text``) and the values
    of ``_match``'s parameters."""
    text = clean(text, max_len=None)  # a filter, like search: control characters dropped
    kind = filter_kind(text)
    params: dict[str, Any] = {}
    if kind is not Filter.NONE:
        params.update(lo=text, hi=prefix_successor(text))
    if kind is Filter.IP and (group := _GROUP_OF.match(text)):
        params["g"] = group.group(0)
    if kind is Filter.TEXT:
        params.update(pat="%" + like_escape(text) + "%", sid=text)
    return kind, params


def _match(kind: Filter, postgres: bool, walk: bool = False) -> ColumnElement[bool]:
    """The one rule of what a filter of ``kind`` (not ``NONE``) matches, with ``_filter``'s
    parameters. ``walk``: inside a function, where a term drives no index on SQLite, so the
    walk stays on ix_sessions_created (SQLAlchemy renders no INDEXED BY hint for SQLite)."""
    terms = [_ip_range(sessions.c.last_ip, postgres), _ip_range(sessions.c.first_ip, postgres)]
    if kind is Filter.TEXT:
        terms += [
            sessions.c.user_agent.ilike(bindparam("pat", type_=String), escape=LIKE_ESCAPE),
            sessions.c.public_id == bindparam("sid", type_=String),
        ]
    match = or_(*terms)
    return func.coalesce(match, false()) if walk else match


_ORDER = (sessions.c.created_at.desc(), sessions.c.public_id.desc())  # the list's order and keyset


def _newest_first(stmt: Select[Any], active_only: bool, keyset: bool) -> Select[Any]:
    """``stmt`` limited to live sessions and/or those after the keyset (``bat``, ``bid``),
    newest first, ``lim`` of them: what every shape of ``recent``'s page shares."""
    if active_only:
        stmt = stmt.where(_live(sessions))
    if keyset:
        stmt = stmt.where(_after(sessions))
    return stmt.order_by(*_ORDER).limit(bindparam("lim", type_=Integer))


def _live(t: Any) -> ColumnElement[bool]:
    """``active_only``: not expired at ``now`` (``t``: the table or a subquery of its rows)."""
    live: ColumnElement[bool] = t.c.expires_at > bindparam("now", type_=sessions.c.expires_at.type)
    return live


def _after(t: Any) -> ColumnElement[bool]:
    """The keyset: older than (``bat``, ``bid``) in the list's order."""
    bat = bindparam("bat", type_=sessions.c.created_at.type)
    older: ColumnElement[bool] = tuple_(t.c.created_at, t.c.public_id) < tuple_(bat, bindparam("bid"))
    return older


def _newest_of_newest(active_only: bool, keyset: bool) -> Subquery:
    """SQLite, an IP prefix without a /16: its page among the newest ``budget`` sessions (after
    the keyset) alone: the walk of ``ix_sessions_created``, newest first, down to the
    ``budget``-th newest session's time (read from that index alone). A page that this fills is
    the page (no match is newer than those); one it does not is read again as ``_ip_shape``
    says. A prefix as common as ``10.`` (a third of the sessions) fills it from ~150 rows, where
    ``_broad_on_sqlite`` would first count sqrt(lim * sessions) index entries (39k at 30M
    sessions): the walk's cost, without the growth."""
    newest = select(sessions.c.created_at)
    if keyset:
        newest = newest.where(_after(sessions))
    bound = newest.order_by(sessions.c.created_at.desc()).limit(1).offset(bindparam("budget", type_=Integer))
    page = select(*_SESSION_COLS).where(
        _match(Filter.IP, False, walk=True), sessions.c.created_at >= bound.scalar_subquery()
    )
    return _newest_first(page, active_only, keyset).subquery("page")


def _ip_page(postgres: bool, active_only: bool, keyset: bool, group: bool = False) -> Subquery:
    """An IP prefix's page, its matches read from the IP indexes alone (migration 0013: each is
    ``ip, created_at, public_id, expires_at``, so every term here is in the index).

    One arm per column, each the newest ``lim`` of its range; their union (a session matching
    both counts once) is cut to the newest ``lim``, and only those sessions' rows are read. The
    page of the whole ``OR`` is within the two arms' pages, so this is the same page; and a
    narrow prefix costs its index entries plus ``lim`` rows instead of a row per match.
    PostgreSQL plans each arm from its statistics: a broad prefix walks ``ix_sessions_created``
    newest first and stops at the arm's ``lim``.

    ``group`` (a prefix through its /16, ``g``): each arm reads its /16's group index instead
    (migration 0014: ``ip_group(ip), created_at, public_id, expires_at, ip``), newest first,
    the range a filter in the index, and stops at ``lim``: ``81.23.`` costs ``lim`` entries
    whatever the table's size, where its range costs every match (~14k at 30M sessions)."""
    hit_cols = (sessions.c.created_at, sessions.c.public_id)
    arms = []
    for col in (sessions.c.last_ip, sessions.c.first_ip):
        if group:
            arm = select(*hit_cols).where(
                ip_group(col, postgres) == bindparam("g", type_=String), _starts(col)
            )
        else:
            arm = select(*hit_cols).where(_ip_range(col, postgres))
        arms.append(_newest_first(arm, active_only, keyset).subquery())
    hits = union(*(select(a.c.created_at, a.c.public_id) for a in arms)).subquery("hits")
    ids = (
        select(hits.c.public_id)
        .order_by(hits.c.created_at.desc(), hits.c.public_id.desc())
        .limit(bindparam("lim", type_=Integer))
        .subquery("ids")
    )
    return (
        select(*_SESSION_COLS)
        .join_from(ids, sessions, sessions.c.public_id == ids.c.public_id)
        .subquery("page")
    )


class IpShape(Enum):
    """How ``recent`` reads an IP prefix's page (``_ip_shape`` decides per prefix)."""

    RANGE = "range"
    """Every match from the IP indexes' range, the newest ``lim`` kept: a narrow prefix."""
    GROUP = "group"
    """The prefix's /16 group index, newest first, stopping at ``lim``: a prefix through its
    /16 that is not narrow."""
    WALK = "walk"
    """SQLite, a broad prefix without a group: ``ix_sessions_created`` newest first."""
    NEWEST = "newest"
    """SQLite, tried first for a prefix without a group: the newest ``NEWEST_PAGES`` pages of
    sessions, filtered (``_newest_of_newest``)."""


#: SQLite: how many pages of the newest sessions a prefix without a /16 is first looked for in.
NEWEST_PAGES = 8


@cache
def _recent(dialect: str, kind: Filter, active_only: bool, keyset: bool, shape: IpShape) -> Select[Any]:
    """``recent``'s statement, built once per shape: the page of sessions (newest first), then
    its users. An IP prefix reads its page as ``shape`` says (``_ip_shape``); any other filter
    walks ``ix_sessions_created`` (see ``_broad_on_sqlite``)."""
    postgres = dialect == "postgresql"
    if kind is Filter.IP and shape is IpShape.NEWEST:
        p = _newest_of_newest(active_only, keyset)
    elif kind is Filter.IP and shape is not IpShape.WALK:
        p = _ip_page(postgres, active_only, keyset, group=shape is IpShape.GROUP)
    else:
        page = select(*_SESSION_COLS)
        if kind is not Filter.NONE:
            page = page.where(_match(kind, postgres, shape is IpShape.WALK))
        p = _newest_first(page, active_only, keyset).subquery("page")
    stmt = (
        select(*(p.c[c.name] for c in _SESSION_COLS), users.c.email)
        .join_from(p, users, users.c.id == p.c.user_id)
        .order_by(p.c.created_at.desc(), p.c.public_id.desc())
    )
    return stmt.execution_options(**{NO_PREPARE: True})  # planned for its values (db.py)


@cache
def _probe(postgres: bool, column: str) -> Select[int]:
    """How many entries of ``column``'s IP range there are, counting up to ``k`` (from its
    index alone)."""
    col = sessions.c[column]
    capped = select(col).where(_ip_range(col, postgres)).limit(bindparam("k", type_=Integer)).subquery()
    return select(func.count()).select_from(capped)


def _reaches(conn: Connection, params: dict[str, Any], k: int) -> bool:
    """Whether the IP range holds ``k`` entries in either address column (the second column
    counted only if the first falls short)."""
    postgres, values = conn.dialect.name == "postgresql", {**params, "k": k}
    return any(conn.execute(_probe(postgres, c), values).scalar_one() >= k for c in ("last_ip", "first_ip"))


_ROWS = select(func.max(sessions.c.id))
#: A prefix with fewer matches than this many pages in each column reads them all (``RANGE``).
NARROW = 8


def _ip_shape(conn: Connection, params: dict[str, Any]) -> IpShape:
    """How to read an IP prefix's page. A prefix through its /16 (``g``): its range if that
    holds fewer than ``NARROW`` pages of matches in each column (an address, a /24: at most
    that many entries read), else its group (``lim`` entries for a whole /16; for a longer
    prefix ``lim`` over its share of the /16). Any other prefix: its range, or on SQLite, when
    broad, the walk (``_broad_on_sqlite``; PostgreSQL decides that from its statistics)."""
    if "g" in params:
        return IpShape.GROUP if _reaches(conn, params, NARROW * int(params["lim"])) else IpShape.RANGE
    return IpShape.WALK if _broad_on_sqlite(conn, params) else IpShape.RANGE


def _broad_on_sqlite(conn: Connection, params: dict[str, Any]) -> bool:
    """SQLite: whether an IP prefix is broad enough that walking ``ix_sessions_created`` (newest
    first, stopping at the page) beats reading its matches from the IP indexes and sorting them.

    SQLite has no statistics on a range (a database may not even have ``sqlite_stat1``), so its
    planner takes the IP indexes for every prefix, and for "10." (a third of the sessions) reads
    a million rows. Reading M matches costs ~M row reads; the walk ~lim * N / M: they cross at
    M = sqrt(lim * N). Counting up to that many index entries (index only, no row reads) decides.
    PostgreSQL decides the same from its statistics (False there)."""
    if conn.dialect.name != "sqlite":
        return False
    n = conn.execute(_ROWS).scalar() or 0
    return _reaches(conn, params, max(int(params["lim"]), math.isqrt(int(params["lim"]) * n)))


class SessionService:
    def __init__(
        self,
        engine: Engine,
        default_ttl: timedelta,
        on_delete: Any = None,
        guard: Any = None,
        *,
        activity: bool = True,
        reads: Reads | None = None,
    ) -> None:
        """``reads``: where the listings (``for_user``, ``recent``) run (``authcore.reads``)."""
        self.engine = engine
        # a login announces itself on PostgreSQL (authcore.activity); SQLite needs nothing
        self.notify_activity = activity and engine.dialect.name == "postgresql"
        self.reads = reads or Reads(engine)
        self._guard = guard  # AuthCore's read-only/role check (destructive calls only)
        self.default_ttl = default_ttl
        self._on_delete = on_delete  # callback(conn, user_id, public_ids) for revocation notices
        self._resolve = HotQuery(engine, _RESOLVE)  # the app's hot path: see authcore.fastpath
        self._writer: fastpath.Writer | None = None  # logouts: see _end

    def create(
        self,
        user_id: int,
        *,
        ip: str | None = None,
        user_agent: str | None = None,
        ttl: timedelta | None = None,
    ) -> tuple[SessionRecord, str]:
        """Open a session; returns the record and the raw token (shown once, never stored).

        Refuses a user who could not get tokens: ``NotFound`` (no such user), ``UserDisabled``;
        either way nothing is written. Apps log in with ``AuthCore.login`` (session + pair).
        """
        rec, raw, _version = self.open(user_id, ip=ip, user_agent=user_agent, ttl=ttl)
        return rec, raw

    def open(
        self,
        user_id: int,
        *,
        ip: str | None = None,
        user_agent: str | None = None,
        ttl: timedelta | None = None,
    ) -> tuple[SessionRecord, str, int]:
        """``create``, also returning the user's ``token_version`` read under the row lock
        that the session insert commits with (what ``AuthCore.login`` signs the pair with)."""
        for value, what in ((user_agent, "the user agent"), (ip, "the IP address")):
            if value:
                require_plain(value, what)  # one rule for both engines (authcore.text)
        now = utcnow()
        row, raw = new_row(user_id, now, ttl or self.default_ttl, ip, user_agent)
        with write_tx(self.engine) as conn:
            # Lock the user row first (as delete-all-sessions and disable do), then insert: a
            # login racing a delete-all or a disable lands wholly before it or after it (and then
            # is refused); never a deadlock, never a session for a disabled user.
            version = conn.execute(_LOGIN, {"uid": user_id, "now": now}).scalar()
            if version is None:
                if conn.execute(_EXISTS, {"uid": user_id}).first() is None:
                    raise NotFound(f"no user with id {user_id}")
                raise UserDisabled("user is disabled")
            conn.execute(*login_write(row, notify=self.notify_activity))
        return (
            SessionRecord(row["public_id"], user_id, now, now, row["expires_at"], ip, ip, row["user_agent"]),
            raw,
            int(version),
        )

    def resolve(self, raw_token: str) -> ResolvedSession | None:
        """The live session and user for a raw token, in one query; None if unknown/expired."""
        row = self._resolve.first(h=token_digest(raw_token), now=utcnow())
        if row is None:
            return None
        return ResolvedSession(_srec(row), row.user_id, row.email, row.username, row.token_version)

    def touch(self, public_id: str, ip: str | None = None) -> bool:
        require_plain(public_id, "the session id")
        if ip:
            require_plain(ip, "the IP address")
        with write_tx(self.engine) as conn:
            return conn.execute(_TOUCH, {"sid": public_id, "now": utcnow(), "ip": ip}).rowcount > 0

    def logout(self, raw_token: str) -> bool:
        """Cookie logout: end the session behind a raw session token. Idempotent, like ``end``."""
        return self._end("token_hash", token_digest(raw_token))

    def end(self, public_id: str | None) -> bool:
        """The user's logout: delete the session, announce it to verifiers, record a ``logout``
        user event. Returns whether this call deleted it; a session already gone (a second
        logout, a parallel one, an operator's delete, expiry and prune) returns False and raises
        nothing. ``None`` (a token without a session) returns False. Operators use
        ``AdminService.delete_session`` (audited, and ``NotFound`` when the session is gone)."""
        if not public_id:
            return False
        return self._end("public_id", public_id)

    def _end(self, column: str, value: str) -> bool:
        """One short transaction on the driver connection (``authcore.fastpath``): the DELETE,
        the ``logout`` user event (``authcore.userevents``: no audit-chain lock) and the
        revocation notice. A logout queues only behind writes to the same session row."""
        w = self._writer
        if w is None:
            w = self._writer = fastpath.Writer(self.engine)
        end = _END[column]
        now = utcnow()
        with w.transaction() as tx:
            c = end(tx.dialect)
            row = tx.exec_driver_sql(c.sql, c.params({"v": value})).fetchone()
            if row is None:
                return False
            uid, sid = row[0], row[1]
            userevents.record(tx, now, userevents.LOGOUT, uid, sid)
            if self._on_delete:
                self._on_delete(tx, uid, [sid])
        return True

    def get(self, public_id: str) -> SessionRecord | None:
        require_plain(public_id, "the session id")  # the one rule (authcore.text), both engines
        stmt = (
            select(*_SESSION_COLS, users.c.email)
            .join(users, users.c.id == sessions.c.user_id)
            .where(sessions.c.public_id == public_id)
        )
        with read_conn(self.engine) as conn:
            row = conn.execute(stmt).first()
        return _srec(row) if row else None

    def for_user(
        self, user_id: int, *, active_only: bool = False, limit: int = 200, text: str = ""
    ) -> list[SessionRecord]:
        """The user's sessions, newest first; ``text`` filters them as ``recent``'s does (the
        same rule, ``_match``). The planner picks the index: the user's, or for a narrow IP prefix
        among many sessions of the user, the IP indexes."""
        kind, params = _filter(text)
        stmt = (
            select(*_SESSION_COLS)
            .where(sessions.c.user_id == user_id)
            .order_by(sessions.c.created_at.desc(), sessions.c.id.desc())
            .limit(limit)
        )
        if active_only:
            stmt = stmt.where(sessions.c.expires_at > utcnow())

        def run(engine: Engine) -> list[SessionRecord]:
            postgres = engine.dialect.name == "postgresql"
            return _listing(
                engine, stmt if kind is Filter.NONE else stmt.where(_match(kind, postgres)), params
            )

        return self.reads.run(Read.BROWSE, run)

    def recent(
        self,
        *,
        limit: int = 100,
        text: str = "",
        active_only: bool = False,
        before: tuple[datetime, str] | None = None,
    ) -> list[SessionRecord]:
        """Newest sessions across users, optionally filtered (``filter_kind``): an IP prefix
        matches ``last_ip`` or ``first_ip`` from their start; any other text also matches the
        user agent (anywhere, any case) or a session id (exactly)."""
        kind, params = _filter(text)
        params.update(lim=max(1, min(limit, 1000)), now=utcnow())
        if before is not None:
            params.update(bat=before[0], bid=before[1])

        def run(engine: Engine) -> list[SessionRecord]:
            dialect, keyset = engine.dialect.name, before is not None
            with read_conn(engine) as conn:
                if kind is Filter.IP and dialect == "sqlite" and "g" not in params:
                    budget = {**params, "budget": NEWEST_PAGES * params["lim"] - 1}  # an offset
                    rows = conn.execute(
                        _recent(dialect, kind, active_only, keyset, IpShape.NEWEST), budget
                    ).all()
                    if len(rows) >= params["lim"]:
                        return [_srec(r) for r in rows]
                shape = _ip_shape(conn, params) if kind is Filter.IP else IpShape.RANGE
                stmt = _recent(dialect, kind, active_only, keyset, shape)
                return [_srec(r) for r in conn.execute(stmt, params)]

        return self.reads.run(Read.BROWSE, run)

    def prune(
        self,
        batch: int = 5000,
        older_than: timedelta = timedelta(0),
        *,
        actor: str = "system",
        client: str | None = None,
        reason: str = "expired sessions pruned",
        dry_run: bool = False,
        cutoff: datetime | None = None,
    ) -> int:
        """Delete expired sessions in batches (short transactions). Returns how many.

        Each batch that deletes something writes a ``sessions_pruned`` audit event (actor,
        ``reason``, count, cutoff) in its own transaction. Expired sessions are already refused,
        so no revocation notice is sent. Destructive, so revoke's rules apply: the reason rule,
        the guard (read-only mode, viewer role) before any change, and ``dry_run`` to count what
        would go (pass that ``cutoff`` back to delete exactly the sessions previewed).
        PostgreSQL, a role without direct write rights: each batch is one call of
        ``authcore_prune_sessions`` (granted to the admin role only), given the same reason.
        """
        from authcore.revoke import _reason  # the one reason rule

        reason = _reason(reason)
        cutoff = cutoff or utcnow() - older_than
        if dry_run:
            with read_conn(self.engine) as conn:
                return int(
                    conn.execute(
                        select(func.count()).select_from(sessions).where(sessions.c.expires_at <= cutoff)
                    ).scalar_one()
                )
        if self._guard is not None:
            self._guard(1)
        total = 0
        n: int
        via_function = self.engine.dialect.name == "postgresql" and not pgroles.direct_writer(self.engine)
        while True:
            if via_function:
                with write_tx(self.engine) as conn:
                    fn = _FN_PRUNE(conn.dialect)
                    values = {
                        "cutoff": cutoff,
                        "batch": batch,
                        "actor": actor,
                        "client": client,
                        "reason": reason,
                    }
                    ((n,),) = pgroles.call(conn, fn.sql, fn.params(values))
                total += n
                if n < batch:
                    return total
                continue
            with write_tx(self.engine) as conn:
                ids = select(sessions.c.id).where(sessions.c.expires_at <= cutoff).limit(batch)
                n = conn.execute(delete(sessions).where(sessions.c.id.in_(ids))).rowcount
                if n:
                    audit.append(
                        conn,
                        [
                            EventIn(
                                "sessions_pruned",
                                actor,
                                reason,
                                details={"deleted": n, "expired_before": fmt_utc(cutoff)},
                                client=client,
                            )
                        ],
                        utcnow(),
                    )
            total += n
            if n < batch:
                return total
