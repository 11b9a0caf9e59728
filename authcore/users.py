"""Users: create, look up, and search with keyset pages that stay on an index."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Engine,
    and_,
    bindparam,
    func,
    insert,
    literal,
    not_,
    or_,
    select,
    tuple_,
)
from sqlalchemy.exc import IntegrityError

from authcore.db import read_conn, write_tx
from authcore.errors import NotFound, ValidationError
from authcore.models import sessions, users
from authcore.timeutil import utcnow

MAX_QUERY = 320
PAGE_MAX = 500
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


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
    return (select(func.count()).select_from(sessions)
            .where(sessions.c.user_id == users.c.id, sessions.c.expires_at > now_param)
            .correlate(users).scalar_subquery())


_USER_COLS = [users.c.id, users.c.email, users.c.username, users.c.display_name,
              users.c.created_at, users.c.last_login_at, users.c.disabled, users.c.disabled_at,
              users.c.token_version]


def _rec(row: Any) -> UserRecord:
    return UserRecord(row.id, row.email, row.username, row.display_name or "", row.created_at,
                      row.last_login_at, bool(row.disabled), row.disabled_at, row.token_version,
                      int(getattr(row, "active_sessions", 0) or 0))


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


class UserSearch:
    """Search statements for one dialect, built once."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        c = (lambda e: e.collate("C")) if dialect == "postgresql" else (lambda e: e)
        self.keys = {1: c(func.lower(users.c.email)), 2: c(func.lower(users.c.username)),
                     3: c(func.lower(users.c.display_name))}

    def _in_range(self, phase: int) -> ColumnElement[bool]:
        k = self.keys[phase]
        return and_(k >= bindparam("lo"), k < bindparam("hi"))

    def statement(self, phase: int, limit: int, after: Cursor | None, exclude_id: int | None):
        cols = [*_USER_COLS, _active_count(bindparam("now")).label("active_sessions")]
        if phase == 9:  # empty query: newest users first
            stmt = select(*cols).order_by(users.c.id.desc()).limit(limit)
            if after is not None:
                stmt = stmt.where(users.c.id < after.id)
            return stmt, None
        key = self.keys[phase]
        stmt = select(*cols, key.label("k")).where(self._in_range(phase))
        for earlier in range(1, phase):
            stmt = stmt.where(not_(self._in_range(earlier)))
        if exclude_id is not None:
            stmt = stmt.where(users.c.id != exclude_id)
        if after is not None and after.phase == phase:
            stmt = stmt.where(tuple_(key, users.c.id) > tuple_(literal(after.key), after.id))
        return stmt.order_by(key, users.c.id).limit(limit), key


class UserService:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._search = UserSearch(engine.dialect.name)

    # -- writes used by apps (sign-up) and the demo -------------------------------------------
    def create(self, email: str, username: str, display_name: str = "") -> UserRecord:
        email, username = email.strip(), username.strip()
        if not _EMAIL.match(email) or len(email) > 320:
            raise ValidationError(f"not an email address: {email[:80]!r}")
        if not username or len(username) > 64:
            raise ValidationError("a username needs 1 to 64 characters")
        now = utcnow()
        try:
            with write_tx(self.engine) as conn:
                uid = conn.execute(insert(users).returning(users.c.id), {
                    "email": email, "username": username, "display_name": display_name[:200],
                    "created_at": now, "disabled": False, "token_version": 0}).scalar_one()
        except IntegrityError:
            raise ValidationError(f"email or username already taken: {email!r} / {username!r}") \
                from None
        return self.get(uid)

    # -- reads ---------------------------------------------------------------------------------
    def get(self, user_id: int) -> UserRecord:
        stmt = select(*_USER_COLS, _active_count(bindparam("now")).label("active_sessions")).where(
            users.c.id == user_id)
        with read_conn(self.engine) as conn:
            row = conn.execute(stmt, {"now": utcnow()}).first()
        if row is None:
            raise NotFound(f"no user with id {user_id}")
        return _rec(row)

    def find(self, ref: str | int) -> UserRecord:
        """Resolve an id, an email or a username (case-insensitive) to one user."""
        if isinstance(ref, int):
            return self.get(ref)
        text = normalize_query(str(ref))
        if not text:
            raise ValidationError("empty user reference")
        conds = [func.lower(users.c.email) == text.lower(),
                 func.lower(users.c.username) == text.lower()]
        if text.isascii() and text.isdigit() and len(text) < 19:
            conds.insert(0, users.c.id == int(text))
        stmt = select(*_USER_COLS, _active_count(bindparam("now")).label("active_sessions")).where(
            or_(*conds)).limit(2)
        with read_conn(self.engine) as conn:
            rows = conn.execute(stmt, {"now": utcnow()}).all()
        if not rows:
            raise NotFound(f"no user matches {text[:80]!r}")
        if len(rows) > 1 and text.isascii() and text.isdigit():
            rows = [r for r in rows if r.id == int(text)] or rows
        return _rec(rows[0])

    def search(self, query: str, limit: int = 50, after: Cursor | None = None) -> Page:
        """Exact id, then prefixes of email, username and display name, each on its index."""
        limit = max(1, min(int(limit), PAGE_MAX))
        q = normalize_query(query).lower()
        now = utcnow()
        if not q:
            phases = [9]
        else:
            phases = [1, 2, 3]
            if q.isascii() and q.isdigit() and len(q) < 19:
                phases.insert(0, 0)
        exact_id = int(q) if q and 0 in phases else None
        if after is not None:
            phases = [p for p in phases if p >= after.phase]
        items: list[UserRecord] = []
        last: Cursor | None = None
        params = {"lo": q, "hi": prefix_successor(q) if q else "", "now": now}
        with read_conn(self.engine) as conn:
            for phase in phases:
                need = limit - len(items)
                if need <= 0:
                    break
                if phase == 0:
                    if after is None:
                        row = conn.execute(select(
                            *_USER_COLS, _active_count(bindparam("now")).label("active_sessions")
                        ).where(users.c.id == exact_id), params).first()
                        if row is not None:
                            items.append(_rec(row))
                            last = Cursor(0, "", row.id)
                    continue
                stmt, _key = self._search.statement(phase, need, after, exact_id)
                for row in conn.execute(stmt, params):
                    items.append(_rec(row))
                    last = Cursor(phase, getattr(row, "k", "") or "", row.id)
        return Page(items, last if len(items) >= limit else None)
