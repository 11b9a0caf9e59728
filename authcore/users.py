"""Users: create, look up, and search with keyset pages that stay on an index."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Engine,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    column,
    func,
    insert,
    literal_column,
    not_,
    or_,
    select,
    table,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.elements import ClauseElement

from authcore.db import NO_PREPARE, read_conn, write_tx
from authcore.errors import AmbiguousUser, NotFound, ValidationError
from authcore.fastpath import HotQuery, bind_processor, utc_from_sqlite
from authcore.models import UTCDateTime, sessions, users
from authcore.text import require_plain
from authcore.timeutil import utcnow

MAX_QUERY = 320
PAGE_MAX = 500
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


MAX_CANDIDATES = 5  # an ambiguous reference lists at most this many candidates
USERNAME_MAX = 64


def check_username(username: str) -> None:
    """The rule for new usernames: 1 to 64 characters, never mistaken for another kind of
    reference -- no ``@`` (an email), not all digits (an id), no ``:`` (``id:N``/``email:``
    prefixes), no control or invisible characters (``authcore.text``)."""
    from authcore.text import has_unsafe

    if not username or len(username) > USERNAME_MAX:
        raise ValidationError(f"a username needs 1 to {USERNAME_MAX} characters")
    if "@" in username:
        raise ValidationError("a username may not contain '@' (it would read as an email)")
    if ":" in username:
        raise ValidationError("a username may not contain ':' (it would read as id:N)")
    if username.isdigit():
        raise ValidationError("a username may not be all digits (it would read as an id)")
    if has_unsafe(username):
        raise ValidationError("a username may not contain control or invisible characters")


@dataclass(frozen=True)
class UserRef:
    """A parsed user reference: which fields to compare with which text."""

    text: str
    user_id: int | None = None
    email: str | None = None
    username: str | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        conds: list[ColumnElement[bool]] = []
        if self.user_id is not None:
            conds.append(users.c.id == self.user_id)
        if self.email is not None:
            conds.append(func.lower(users.c.email) == self.email.lower())
        if self.username is not None:
            conds.append(func.lower(users.c.username) == self.username.lower())
        return conds


_ID_MAX = 2**63 - 1


def parse_ref(ref: str) -> UserRef:
    """How an operator names a user (CLI arguments, console fields; docs/security.md).

    * ``id:N`` -- the id, nothing else; ``email:X`` / ``username:X`` -- that field alone;
    * digits alone -- the id, and also a username equal to them (usernames created before the
      rule in ``check_username``), so such a clash is reported, not resolved;
    * anything else -- email and username, case-insensitively.

    A reference matching more than one user is refused by ``UserService.find``; ``id:N``
    always names exactly one.
    """
    text = normalize_query(str(ref))
    if not text:
        raise ValidationError("empty user reference")
    field, sep, rest = text.partition(":")
    if sep and field.lower() in ("id", "email", "username"):
        rest = rest.strip()
        if not rest:
            raise ValidationError(f"empty {field.lower()} in user reference")
        if field.lower() == "id":
            if not (rest.isascii() and rest.isdigit() and int(rest) <= _ID_MAX):
                raise ValidationError(f"not a user id: {rest[:40]!r}")
            return UserRef(text, user_id=int(rest))
        if field.lower() == "email":
            return UserRef(text, email=rest)
        return UserRef(text, username=rest)
    if text.isascii() and text.isdigit():
        if int(text) > _ID_MAX:
            raise ValidationError(f"not a user id: {text[:40]!r}")
        return UserRef(text, user_id=int(text), username=text)
    return UserRef(text, email=text, username=text)


@dataclass(frozen=True)
class UserRecord:
    id: int
    email: str
    username: str
    display_name: str
    created_at: datetime
    last_login_at: datetime | None
    disabled: bool
    disabled_at: datetime | None
    token_version: int
    active_sessions: int = 0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("created_at", "last_login_at", "disabled_at"):
            d[k] = d[k].isoformat() if d[k] else None
        return d


@dataclass(frozen=True)
class Cursor:
    """Where a search page ended: phase (0 id, 1 email, 2 username, 3 name, 4 contains, 9 all)."""

    phase: int
    key: str
    id: int

    def encode(self) -> str:
        return f"{self.phase}:{self.id}:{self.key}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            phase, ident, key = text.split(":", 2)
            return cls(int(phase), key, int(ident))
        except ValueError:
            raise ValidationError(f"bad page cursor {text[:40]!r}") from None


@dataclass(frozen=True)
class Page:
    items: list[UserRecord]
    next: Cursor | None


def _active_count(now_param: Any) -> Any:
    return (
        select(func.count())
        .select_from(sessions)
        .where(sessions.c.user_id == users.c.id, sessions.c.expires_at > now_param)
        .correlate(users)
        .scalar_subquery()
    )


_USER_COLS = [
    users.c.id,
    users.c.email,
    users.c.username,
    users.c.display_name,
    users.c.created_at,
    users.c.last_login_at,
    users.c.disabled,
    users.c.disabled_at,
    users.c.token_version,
]


_new = object.__new__
_set = object.__setattr__


def _utc_pg(v: datetime | None) -> datetime | None:
    return None if v is None else v.astimezone(UTC)


def _record_builder(dialect: str) -> Callable[[Any], UserRecord]:
    """Rows in ``_USER_COLS`` + active_sessions order (driver values) -> ``UserRecord``.

    Search builds up to 500 of these per page: timestamps are converted inline (same result as
    ``UTCDateTime``; tests compare both) and the frozen dataclass is filled in one go (its
    ``__init__``, one ``object.__setattr__`` per field, costs 8x).
    """
    utc = _utc_pg if dialect == "postgresql" else utc_from_sqlite

    def build(r: Any) -> UserRecord:
        rec = _new(UserRecord)
        _set(
            rec,
            "__dict__",
            {
                "id": r[0],
                "email": r[1],
                "username": r[2],
                "display_name": r[3] or "",
                "created_at": utc(r[4]),
                "last_login_at": utc(r[5]),
                "disabled": bool(r[6]),
                "disabled_at": utc(r[7]),
                "token_version": r[8],
                "active_sessions": int(r[9] or 0),
            },
        )
        return rec

    return build


def _rec(row: Any) -> UserRecord:
    return UserRecord(
        row.id,
        row.email,
        row.username,
        row.display_name or "",
        row.created_at,
        row.last_login_at,
        bool(row.disabled),
        row.disabled_at,
        row.token_version,
        int(getattr(row, "active_sessions", 0) or 0),
    )


def normalize_query(query: str) -> str:
    """Trim, drop control characters and NUL; refuse absurd lengths."""
    from authcore.text import clean

    q = clean(query, max_len=None).strip()
    if len(q) > MAX_QUERY:
        raise ValidationError(f"search term too long ({len(q)} characters, at most {MAX_QUERY})")
    return q


def prefix_successor(prefix: str) -> str:
    """The smallest string greater than every string that starts with ``prefix``."""
    chars = list(prefix)
    while chars:
        last = ord(chars[-1])
        if last < 0x10FFFF:
            chars[-1] = chr(last + 1 if last + 1 not in range(0xD800, 0xE000) else 0xE000)
            return "".join(chars)
        chars.pop()
    return "\U0010ffff"


CONTAINS_MIN = 3  # shorter terms take the prefix phases only (a trigram needs 3 characters)
CONTAINS_SLACK = 8  # PostgreSQL: extra candidates per chunk, for the prefix hits it drops

# SQLite's FTS5 trigram table (migration 0003): rowid = users.id.
_fts = table("users_trgm", column("rowid", Integer))
_FTS_MATCH = literal_column("users_trgm").op("MATCH")(bindparam("m", type_=String))
# PostgreSQL's generated column (migration 0003): lower(email) \x01 lower(username) \x01 ...
_SEARCH_TEXT = literal_column("users.search_text", String)


def like_contains(term: str) -> str:
    """A LIKE pattern matching ``term`` anywhere, wildcards in the term taken literally."""
    esc = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{esc}%"


def fts_phrase(term: str) -> str:
    """An FTS5 query for ``term`` as one phrase (with the trigram tokenizer: a substring)."""
    return '"' + term.replace('"', '""') + '"'


class UserSearch:
    """Search statements for one dialect, each built once and reused.

    Phases run in order and each one's SQL stays on an index, with a LIMIT, keyset-paged:
    0 exact id (primary key); 1, 2, 3 prefix of email, username, display name as a range
    ``lo <= lower(col) < hi`` on the ``lower(col), id`` indexes (COLLATE "C" on PostgreSQL);
    4 contains, ordered by id, excluding what the prefix phases already returned: on SQLite one
    join of the FTS5 trigram table (rowids come in order, so it stops at the LIMIT whatever the
    term); on PostgreSQL candidate ids (``pg_candidates``: pg_trgm GIN for rare terms, an
    index-only walk of ``(id) INCLUDE (search_text)`` for common ones) then their rows
    (``pg_rows``). Every statement takes its values as parameters: ``lo``, ``hi``, ``now``,
    ``lim`` and, as needed, ``ak``/``aid`` (keyset), ``xid`` (exact-id hit to exclude), ``m``
    (FTS5 phrase), ``pat`` (LIKE pattern), ``ids`` (candidates).
    """

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.postgres = dialect == "postgresql"
        c = (lambda e: e.collate("C")) if self.postgres else (lambda e: e)
        self.keys = {
            1: c(func.lower(users.c.email)),
            2: c(func.lower(users.c.username)),
            3: c(func.lower(users.c.display_name)),
        }
        self._built: dict[tuple[int, bool, bool], Select[Any]] = {}
        self.by_id = self._final(select(*self._cols()).where(users.c.id == bindparam("xid")))

    @staticmethod
    def _cols() -> list[Any]:
        return [*_USER_COLS, _active_count(bindparam("now")).label("active_sessions")]

    @staticmethod
    def _final(stmt: Select[Any]) -> Select[Any]:
        return stmt.execution_options(**{NO_PREPARE: True})  # plan with the values (db.py)

    def _in_range(self, phase: int) -> ColumnElement[bool]:
        k = self.keys[phase]
        return and_(k >= bindparam("lo", type_=String), k < bindparam("hi", type_=String))

    def statement(self, phase: int, keyset: bool, exclude_id: bool) -> Select[Any]:
        """The statement for ``phase``; ``keyset`` continues after ``ak``/``aid``."""
        key = (phase, keyset, exclude_id)
        stmt = self._built.get(key)
        if stmt is None:
            stmt = self._built[key] = self._final(self._build(phase, keyset, exclude_id))
        return stmt

    def _build(self, phase: int, keyset: bool, exclude_id: bool) -> Select[Any]:
        lim = bindparam("lim", type_=Integer)
        aid = bindparam("aid", type_=Integer)
        if phase == 9:  # empty query: newest users first
            stmt = select(*self._cols()).order_by(users.c.id.desc()).limit(lim)
            return stmt.where(users.c.id < aid) if keyset else stmt
        if phase == 4:
            return self._contains(keyset, exclude_id, lim, aid)
        key = self.keys[phase]
        hi = bindparam("hi", type_=String)
        if keyset:
            # (key, id) > (ak, aid), spelled so that ``ak <= key < hi`` is the index range on
            # both engines (SQLite does not seek an expression index with a row value).
            ak = bindparam("ak", type_=String)
            cond = and_(key >= ak, key < hi, or_(key > ak, users.c.id > aid))
        else:
            cond = self._in_range(phase)
        stmt = select(*self._cols(), key.label("k")).where(cond)
        for earlier in range(1, phase):
            stmt = stmt.where(not_(self._in_range(earlier)))
        if exclude_id:
            stmt = stmt.where(users.c.id != bindparam("xid"))
        return stmt.order_by(key, users.c.id).limit(lim)

    def _contains(self, keyset: bool, exclude_id: bool, lim: Any, aid: Any) -> Select[Any]:
        if self.postgres:
            raise ValueError("PostgreSQL runs contains as pg_candidates + pg_rows")
        # SQLite: FTS5 yields rowids in order and stops at the LIMIT, common term or not.
        ident = _fts.c.rowid
        stmt = select(*self._cols()).select_from(_fts.join(users, users.c.id == ident)).where(_FTS_MATCH)
        for earlier in (1, 2, 3):
            stmt = stmt.where(not_(self._in_range(earlier)))
        if exclude_id:
            stmt = stmt.where(users.c.id != bindparam("xid"))
        if keyset:
            stmt = stmt.where(ident > aid)
        return stmt.order_by(ident).limit(lim)

    # -- PostgreSQL contains: candidate ids first, then the rows ------------------------------
    def pg_candidates(self) -> Select[Any]:
        """Ids whose ``search_text`` contains the term, in id order, after ``aid``, at most
        ``lim``. Only ``id`` and ``search_text`` are read, so for a common term the planner walks
        ``ix_users_id_search`` (id INCLUDE search_text) as an index-only scan and stops at the
        LIMIT; for a rare one it takes the trigram GIN index and sorts the few ids."""
        key = (40, True, False)
        stmt = self._built.get(key)
        if stmt is None:
            lim = bindparam("lim", type_=Integer)
            stmt = self._built[key] = self._final(
                select(users.c.id)
                .where(
                    _SEARCH_TEXT.like(bindparam("pat", type_=String)),
                    users.c.id > bindparam("aid", type_=Integer),
                )
                .order_by(users.c.id)
                .limit(lim)
            )
        return stmt

    def pg_rows(self, exclude_id: bool) -> Select[Any]:
        """The users among candidate ``ids`` that no prefix phase (or the exact id) returned."""
        key = (41, True, exclude_id)
        stmt = self._built.get(key)
        if stmt is None:
            from sqlalchemy.dialects.postgresql import ARRAY

            ids = bindparam("ids", type_=ARRAY(BigInteger))
            stmt = select(*self._cols()).where(users.c.id == func.any(ids))
            for earlier in (1, 2, 3):
                stmt = stmt.where(not_(self._in_range(earlier)))
            if exclude_id:
                stmt = stmt.where(users.c.id != bindparam("xid"))
            stmt = self._built[key] = self._final(stmt.order_by(users.c.id))
        return stmt

    def params(self, q: str, now: datetime) -> dict[str, Any]:
        """The values every phase statement of one search shares."""
        p: dict[str, Any] = {"lo": q, "hi": prefix_successor(q) if q else "", "now": now}
        if len(q) >= CONTAINS_MIN:
            if self.postgres:
                p["pat"] = like_contains(q)
            else:
                p["m"] = fts_phrase(q)
        return p

    def phases(self, q: str) -> list[int]:
        if not q:
            return [9]
        phases = [1, 2, 3]
        if q.isascii() and q.isdigit() and len(q) < 19:
            phases.insert(0, 0)
        if len(q) >= CONTAINS_MIN:
            phases.append(4)
        return phases


class UserService:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._search = UserSearch(engine.dialect.name)
        self._hot: dict[Any, HotQuery] = {}
        self._build = _record_builder(engine.dialect.name)
        now_proc = bind_processor(engine, UTCDateTime())
        self._now = (lambda: now_proc(utcnow())) if now_proc else utcnow  # driver form

    def _hot_query(self, phase: int, keyset: bool, exact: bool) -> HotQuery:
        """Search statements run through ``HotQuery`` (compiled once, this thread's connection,
        never prepared on PostgreSQL): per page, authcore adds little to the SQL itself."""
        key = (phase, keyset, exact)
        hq = self._hot.get(key)
        if hq is None:
            stmt = self._search.by_id if phase == 0 else self._search.statement(*key)
            hq = self._hot[key] = HotQuery(self.engine, stmt, prepare=False)
        return hq

    # -- writes used by apps (sign-up) and the demo -------------------------------------------
    def create(self, email: str, username: str, display_name: str = "") -> UserRecord:
        email, username = email.strip(), username.strip()
        for value, what in (
            (email, "the email"),
            (username, "the username"),
            (display_name, "the display name"),
        ):
            require_plain(value, what)  # one rule for both engines (authcore.text)
        if not _EMAIL.match(email) or len(email) > 320:
            raise ValidationError(f"not an email address: {email[:80]!r}")
        check_username(username)
        now = utcnow()
        try:
            with write_tx(self.engine) as conn:
                uid = conn.execute(
                    insert(users).returning(users.c.id),
                    {
                        "email": email,
                        "username": username,
                        "display_name": display_name[:200],
                        "created_at": now,
                        "disabled": False,
                        "token_version": 0,
                    },
                ).scalar_one()
        except IntegrityError:
            raise ValidationError(f"email or username already taken: {email!r} / {username!r}") from None
        return self.get(uid)

    # -- reads ---------------------------------------------------------------------------------
    def get(self, user_id: int) -> UserRecord:
        stmt = select(*_USER_COLS, _active_count(bindparam("now")).label("active_sessions")).where(
            users.c.id == user_id
        )
        with read_conn(self.engine) as conn:
            row = conn.execute(stmt, {"now": utcnow()}).first()
        if row is None:
            raise NotFound(f"no user with id {user_id}")
        return _rec(row)

    def find(self, ref: str | int) -> UserRecord:
        """Resolve a user reference to exactly one user (rules: ``parse_ref``).

        Raises ``NotFound`` when nothing matches and ``AmbiguousUser`` (listing the candidates)
        when more than one user does: an operator's reference never picks one of several.
        """
        if isinstance(ref, int):
            return self.get(ref)
        fields = parse_ref(ref)
        now = utcnow()
        cols = [*_USER_COLS, _active_count(bindparam("now")).label("active_sessions")]
        stmt = select(*cols).where(or_(*fields.conditions())).order_by(users.c.id).limit(MAX_CANDIDATES + 1)
        with read_conn(self.engine) as conn:
            rows = conn.execute(stmt, {"now": now}).all()
        if not rows:
            raise NotFound(f"no user matches {fields.text[:80]!r}")
        if len(rows) > 1:
            found = tuple(_rec(r) for r in rows[:MAX_CANDIDATES])
            more = " and more" if len(rows) > MAX_CANDIDATES else ""
            listed = "; ".join(
                f"id:{u.id} email {u.email[:80]!r} username {u.username[:64]!r}" for u in found
            )
            raise AmbiguousUser(
                f"{fields.text[:80]!r} matches more than one user ({listed}"
                f"{more}); nothing done: name the user by id (id:N)",
                found,
            )
        return _rec(rows[0])

    def _prepare(
        self, query: str, after: Cursor | None, driver: bool = False
    ) -> tuple[list[int], dict[str, Any], bool]:
        q = normalize_query(query).lower()
        phases = self._search.phases(q)
        params = self._search.params(q, self._now() if driver else utcnow())
        if 0 not in phases and q:
            # An exact username ranks first too ("alice" before "alice.kim@..."): one lookup
            # on the unique lower(username) index, excluded from the later phases like an id.
            hit = self._hot_other(
                "exact_username",
                lambda: select(users.c.id).where(self._search.keys[2] == bindparam("lo", type_=String)),
            ).fetch_driver(params)
            if hit:
                phases.insert(0, 0)
                params["xid"] = hit[0][0]
        exact = 0 in phases
        if exact and "xid" not in params:
            params["xid"] = int(q)
        if after is not None:
            phases = [p for p in phases if p >= after.phase]
        return phases, params, exact

    def search(self, query: str, limit: int = 50, after: Cursor | None = None) -> Page:
        """Exact id, then prefixes of email, username and display name, then substrings.

        Each phase is one indexed statement with a LIMIT (see ``UserSearch``); a page never
        counts or scans the table, whatever its size, and ``after`` continues by keyset.
        """
        limit = max(1, min(int(limit), PAGE_MAX))
        phases, params, exact = self._prepare(query, after, driver=True)
        items: list[UserRecord] = []
        last: Cursor | None = None
        for phase in phases:
            need = limit - len(items)
            if need <= 0:
                break
            if phase == 0:
                if after is None:
                    for r in self._hot_query(0, False, False).fetch_driver(params):
                        items.append(self._build(r))
                        last = Cursor(0, "", r[0])
                continue
            keyset = after is not None and after.phase == phase
            if phase == 4 and self._search.postgres:
                start = after.id if keyset and after is not None else 0
                got = self._pg_contains(params, need, start, exact)
                items.extend(got)
                if got:
                    last = Cursor(4, "", got[-1].id)
                continue
            params["lim"] = need
            if keyset:
                assert after is not None
                params["ak"], params["aid"] = after.key, after.id
            rows = self._hot_query(phase, keyset, exact).fetch_driver(params)
            items.extend(map(self._build, rows))
            if rows:
                r = rows[-1]
                last = Cursor(phase, r[10] if phase in (1, 2, 3) else "", r[0])
        return Page(items, last if len(items) >= limit else None)

    def _pg_contains(self, params: dict[str, Any], need: int, start: int, exact: bool) -> list[UserRecord]:
        """Phase 4 on PostgreSQL: candidate ids (index-only walk or GIN), then their rows
        minus prefix-phase hits; another chunk only when those hits left the page short."""
        cand = self._hot_other("pg_candidates", self._search.pg_candidates)
        rows_q = self._hot_other(f"pg_rows{int(exact)}", lambda: self._search.pg_rows(exact))
        out: list[UserRecord] = []
        while need > 0:
            chunk = need + CONTAINS_SLACK
            ids = [r[0] for r in cand.fetch_driver({**params, "lim": chunk, "aid": start})]
            if not ids:
                break
            rows = rows_q.fetch_driver({**params, "ids": ids})
            got = [self._build(r) for r in rows[:need]]
            out += got
            need -= len(got)
            if len(ids) < chunk or len(rows) > len(got):
                break
            start = ids[-1]
        return out

    def _hot_other(self, name: str, factory: Callable[[], Any]) -> HotQuery:
        hq = self._hot.get(name)
        if hq is None:
            hq = self._hot[name] = HotQuery(self.engine, factory(), prepare=False)
        return hq

    def explain(self, query: str, limit: int = 50, after: Cursor | None = None) -> list[tuple[int, str]]:
        """``(phase, plan)`` for every statement ``search`` may run for these arguments.

        The plan comes from the database (``EXPLAIN QUERY PLAN`` on SQLite, ``EXPLAIN`` on
        PostgreSQL) for the very statement, parameters and execution options search uses.
        """
        limit = max(1, min(int(limit), PAGE_MAX))
        phases, params, exact = self._prepare(query, after)
        params["lim"] = limit
        out: list[tuple[int, str]] = []
        with read_conn(self.engine) as conn:
            for phase in phases:
                if phase == 0:
                    stmt = self._search.by_id
                elif phase == 4 and self._search.postgres:
                    keyset = after is not None and after.phase == 4
                    p = {**params, "aid": after.id if keyset and after is not None else 0, "ids": [0]}
                    plans = [
                        conn.execute(Explain(s), p).all()
                        for s in (self._search.pg_candidates(), self._search.pg_rows(exact))
                    ]
                    out.append((4, "\n".join(str(r[-1]) for rows in plans for r in rows)))
                    continue
                else:
                    keyset = after is not None and after.phase == phase
                    if keyset:
                        assert after is not None
                        params["ak"], params["aid"] = after.key, after.id
                    stmt = self._search.statement(phase, keyset, exact)
                rows = conn.execute(Explain(stmt), params).all()
                text = "\n".join(str(r[-1]) for r in rows)
                out.append((phase, text))
        return out


class Explain(Executable, ClauseElement):
    """``EXPLAIN`` (PostgreSQL) / ``EXPLAIN QUERY PLAN`` (SQLite) of a statement, executed with
    the statement's own execution options."""

    inherit_cache = False

    def __init__(self, stmt: Any) -> None:
        self.stmt = stmt
        self._execution_options = stmt._execution_options  # noqa: SLF001 - pinned (pyproject)


@compiles(Explain)
def _compile_explain(element: Explain, compiler: Any, **kw: Any) -> str:
    head = "EXPLAIN QUERY PLAN " if compiler.dialect.name == "sqlite" else "EXPLAIN "
    return head + compiler.process(element.stmt, **kw)
