"""``UserService``: create users (apps' sign-up, the demo), read them, resolve references, search."""

from __future__ import annotations

import re

from sqlalchemy import Engine, bindparam, insert, or_, select

from authcore.db import read_conn, write_tx
from authcore.errors import AmbiguousUser, ConstraintViolation, NotFound, ValidationError
from authcore.models import users
from authcore.reads import Read, Reads
from authcore.text import require_plain
from authcore.timeutil import utcnow
from authcore.users.records import USER_COLS, UserRecord, active_count, rec
from authcore.users.refs import check_username, parse_ref
from authcore.users.search import Cursor, Page, Phase, Searcher

MAX_CANDIDATES = 5  # an ambiguous reference lists at most this many candidates
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


class UserService:
    """``reads``: where browsing reads (``search``, ``explain``) run (``authcore.reads``); the
    lookups an action resolves its user with (``get``, ``find``) always read the primary."""

    def __init__(self, engine: Engine, reads: Reads | None = None) -> None:
        self.engine = engine
        self.reads = reads or Reads(engine)
        self._searchers = {id(engine): Searcher(engine)}

    def _searcher(self, engine: Engine) -> Searcher:
        s = self._searchers.get(id(engine))
        if s is None:
            s = self._searchers[id(engine)] = Searcher(engine)
        return s

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
        except ConstraintViolation:
            raise ValidationError(f"email or username already taken: {email!r} / {username!r}") from None
        return self.get(uid)

    # -- reads ---------------------------------------------------------------------------------
    def get(self, user_id: int) -> UserRecord:
        stmt = select(*USER_COLS, active_count(bindparam("now")).label("active_sessions")).where(
            users.c.id == user_id
        )
        with read_conn(self.engine) as conn:
            row = conn.execute(stmt, {"now": utcnow()}).first()
        if row is None:
            raise NotFound(f"no user with id {user_id}")
        return rec(row)

    def find(self, ref: str | int) -> UserRecord:
        """Resolve a user reference to exactly one user (rules: ``parse_ref``).

        Raises ``NotFound`` when nothing matches and ``AmbiguousUser`` (listing the candidates)
        when more than one user does: an operator's reference never picks one of several.
        """
        if isinstance(ref, int):
            return self.get(ref)
        fields = parse_ref(ref)
        now = utcnow()
        cols = [*USER_COLS, active_count(bindparam("now")).label("active_sessions")]
        stmt = select(*cols).where(or_(*fields.conditions())).order_by(users.c.id).limit(MAX_CANDIDATES + 1)
        with read_conn(self.engine) as conn:
            rows = conn.execute(stmt, {"now": now}).all()
        if not rows:
            raise NotFound(f"no user matches {fields.text[:80]!r}")
        if len(rows) > 1:
            found = tuple(rec(r) for r in rows[:MAX_CANDIDATES])
            more = " and more" if len(rows) > MAX_CANDIDATES else ""
            listed = "; ".join(
                f"id:{u.id} email {u.email[:80]!r} username {u.username[:64]!r}" for u in found
            )
            raise AmbiguousUser(
                f"{fields.text[:80]!r} matches more than one user ({listed}"
                f"{more}); nothing done: name the user by id (id:N)",
                found,
            )
        return rec(rows[0])

    # -- search (authcore.users.search) --------------------------------------------------------
    def search(self, query: str, limit: int = 50, after: Cursor | None = None) -> Page:
        """Exact id or username, then prefixes of email, username and display name, then
        substrings (``Phase``).

        Each phase is one indexed statement with a LIMIT (see ``UserSearch``); a page never
        counts or scans the table, whatever its size, and ``after`` continues by keyset.
        """
        return self.reads.run(Read.BROWSE, lambda e: self._searcher(e).search(query, limit, after))

    def explain(self, query: str, limit: int = 50, after: Cursor | None = None) -> list[tuple[Phase, str]]:
        """``(phase, plan)`` for every statement ``search`` may run for these arguments, from the
        database itself (``EXPLAIN QUERY PLAN`` on SQLite, ``EXPLAIN`` on PostgreSQL)."""
        return self.reads.run(Read.BROWSE, lambda e: self._searcher(e).explain(query, limit, after))
