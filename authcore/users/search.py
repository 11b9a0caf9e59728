"""User search: named phases, each one indexed statement with a LIMIT, keyset-paged.

A search runs its phases in order (``Phase``) and fills one page from them; a page never counts
or scans the table, whatever its size. ``UserSearch`` builds each phase's statement once per
dialect; ``Searcher`` runs them on ``authcore.fastpath.HotQuery`` (compiled once, never prepared
on PostgreSQL so that each search is planned with its values) and explains them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Engine,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    column,
    func,
    literal_column,
    not_,
    or_,
    select,
    table,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

from authcore.db import NO_PREPARE, read_conn
from authcore.errors import ValidationError
from authcore.fastpath import HotQuery, bind_processor, split_statements
from authcore.models import UTCDateTime, users
from authcore.text import like_escape, prefix_successor
from authcore.timeutil import utcnow
from authcore.users.records import USER_COLS, UserRecord, active_count, records_builder
from authcore.users.refs import normalize_query

PAGE_MAX = 500
CONTAINS_MIN = 3  # shorter terms take the prefix phases only (a trigram needs 3 characters)


class Phase(IntEnum):
    """The phases of a search, in the order they run. The values are written into page
    cursors (``Cursor.encode``) that the CLI prints, so they never change."""

    EXACT = 0
    """The user the term names exactly (all digits: that id; else a username equal to the
    term), ranked first and excluded from every later phase."""
    EMAIL_PREFIX = 1
    """Emails starting with the term: a range on the ``lower(email), id`` index."""
    USERNAME_PREFIX = 2
    """Usernames starting with the term, minus email-prefix hits: ``lower(username), id``."""
    NAME_PREFIX = 3
    """Display names starting with the term, minus earlier prefix hits: ``lower(display_name),
    id``."""
    CONTAINS = 4
    """The term anywhere (3 characters or more), by id, minus every prefix hit: SQLite's FTS5
    trigram table; PostgreSQL's trigram GIN (rare term) or a walk in id order that stops at the
    LIMIT (common term). One statement per page on both engines, however many of the term's
    hits are prefix hits."""
    NEWEST = 9
    """An empty term: every user, newest (highest id) first."""


PREFIX_PHASES = (Phase.EMAIL_PREFIX, Phase.USERNAME_PREFIX, Phase.NAME_PREFIX)
Keys = dict[Phase, ColumnElement[str]]  # a prefix phase's sort key, as one statement reads it
_KEY_AT = len(USER_COLS) + 1  # a prefix phase's row: USER_COLS, active_sessions, then its key


@dataclass(frozen=True)
class Cursor:
    """Where a search page ended: the phase, its sort key (prefix phases) and the last id."""

    phase: Phase
    key: str
    id: int

    def encode(self) -> str:
        return f"{int(self.phase)}:{self.id}:{self.key}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            phase, ident, key = text.split(":", 2)
            return cls(Phase(int(phase)), key, int(ident))
        except ValueError:
            raise ValidationError(f"bad page cursor {text[:40]!r}") from None


@dataclass(frozen=True)
class Page:
    items: list[UserRecord]
    next: Cursor | None


# SQLite's FTS5 trigram table (migration 0003): rowid = users.id.
_fts = table("users_trgm", column("rowid", Integer))
_FTS_MATCH = literal_column("users_trgm").op("MATCH")(bindparam("m", type_=String))
# PostgreSQL's generated column (migration 0003): lower(email) \x01 lower(username) \x01 ...
_SEARCH_TEXT = literal_column("users.search_text", String)
# PostgreSQL plans the contains phase with this in its own transaction. The walk's index is
# ~a third of the table's size, and on a server whose data is in memory a page of it costs what a
# page of the table does; at the default random_page_cost (4, a spinning disk's ratio) PostgreSQL
# prices the index's pages as random reads and the primary key's heap pages as sequential ones,
# and walks the table: ~2x the work a row (docs/performance.md, "PostgreSQL contains"). Priced
# right, the walk looked cheap enough to split over parallel workers, whose start-up is
# milliseconds for a page of 50: none.
CONTAINS_LOCAL = "SET LOCAL random_page_cost = 1.1; SET LOCAL max_parallel_workers_per_gather = 0"


def like_contains(term: str) -> str:
    """A LIKE pattern matching ``term`` anywhere, wildcards in the term taken literally."""
    return f"%{like_escape(term)}%"


def fts_phrase(term: str) -> str:
    """An FTS5 query for ``term`` as one phrase (with the trigram tokenizer: a substring)."""
    return '"' + term.replace('"', '""') + '"'


class UserSearch:
    """Search statements for one dialect, each built once and reused.

    Each phase's SQL stays on an index, with a LIMIT, keyset-paged (see ``Phase``): the prefix
    phases are a range ``lo <= lower(col) < hi`` on the ``lower(col), id`` indexes (COLLATE "C"
    on PostgreSQL); contains on SQLite is one join of the FTS5 trigram table (rowids come in
    order, so it stops at the LIMIT whatever the term); on PostgreSQL ``search_text LIKE`` with
    the prefix hits excluded in the same statement, so the planner picks per value between the
    pg_trgm GIN index (rare term: its few rows, sorted) and a walk in id order that stops at the
    LIMIT (common term). Every statement takes its values as parameters: ``lo``, ``hi``,
    ``now``, ``lim`` and, as needed, ``ak``/``aid`` (keyset), ``xid`` (exact hit to exclude),
    ``m`` (FTS5 phrase), ``pat`` (LIKE pattern).
    """

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.postgres = dialect == "postgresql"
        c: Callable[[ColumnElement[str]], ColumnElement[str]] = (
            (lambda e: e.collate("C")) if self.postgres else (lambda e: e)
        )
        self.keys = {
            Phase.EMAIL_PREFIX: c(func.lower(users.c.email)),
            Phase.USERNAME_PREFIX: c(func.lower(users.c.username)),
            Phase.NAME_PREFIX: c(func.lower(users.c.display_name)),
        }
        # the same keys read from their fields of search_text (the contains phase's exclusions)
        self.text_keys: Keys = {
            phase: c(func.split_part(_SEARCH_TEXT, literal_column("chr(1)"), n))
            for n, phase in enumerate(PREFIX_PHASES, start=1)
        }
        self._built: dict[tuple[Phase, bool, bool], Select[Any]] = {}
        self.by_id = self._final(select(*self._cols()).where(users.c.id == bindparam("xid")))

    @staticmethod
    def _cols() -> list[Any]:
        return [*USER_COLS, active_count(bindparam("now")).label("active_sessions")]

    @staticmethod
    def _final(stmt: Select[Any]) -> Select[Any]:
        return stmt.execution_options(**{NO_PREPARE: True})  # plan with the values (db.py)

    def _in_range(self, phase: Phase, keys: Keys | None = None) -> ColumnElement[bool]:
        k = (keys or self.keys)[phase]
        return and_(k >= bindparam("lo", type_=String), k < bindparam("hi", type_=String))

    def _not_in_prefixes(
        self, stmt: Select[Any], before: Phase | None = None, keys: Keys | None = None
    ) -> Select[Any]:
        """``stmt`` minus the hits of the prefix phases that run before ``before`` (all of
        them when None); ``keys``: where the prefix keys are read (default ``self.keys``)."""
        for earlier in PREFIX_PHASES:
            if earlier == before:
                break
            stmt = stmt.where(not_(self._in_range(earlier, keys)))
        return stmt

    def statement(self, phase: Phase, keyset: bool, exclude_id: bool) -> Select[Any]:
        """The statement for ``phase``; ``keyset`` continues after ``ak``/``aid``."""
        key = (phase, keyset, exclude_id)
        stmt = self._built.get(key)
        if stmt is None:
            stmt = self._built[key] = self._final(self._build(phase, keyset, exclude_id))
        return stmt

    def _build(self, phase: Phase, keyset: bool, exclude_id: bool) -> Select[Any]:
        lim = bindparam("lim", type_=Integer)
        aid = bindparam("aid", type_=Integer)
        if phase == Phase.NEWEST:
            stmt = select(*self._cols()).order_by(users.c.id.desc()).limit(lim)
            return stmt.where(users.c.id < aid) if keyset else stmt
        if phase == Phase.CONTAINS:
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
        stmt = self._not_in_prefixes(select(*self._cols(), key.label("k")).where(cond), before=phase)
        if exclude_id:
            stmt = stmt.where(users.c.id != bindparam("xid"))
        return stmt.order_by(key, users.c.id).limit(lim)

    def _contains(self, keyset: bool, exclude_id: bool, lim: Any, aid: Any) -> Select[Any]:
        if self.postgres:
            return self._contains_pg(keyset, exclude_id, lim, aid)
        # SQLite: FTS5 yields rowids in order and stops at the LIMIT, common term or not.
        ident = _fts.c.rowid
        stmt = select(*self._cols()).select_from(_fts.join(users, users.c.id == ident)).where(_FTS_MATCH)
        stmt = self._not_in_prefixes(stmt)
        if exclude_id:
            stmt = stmt.where(users.c.id != bindparam("xid"))
        if keyset:
            stmt = stmt.where(ident > aid)
        return stmt.order_by(ident).limit(lim)

    def _contains_pg(self, keyset: bool, exclude_id: bool, lim: Any, aid: Any) -> Select[Any]:
        """The page's ids from ``id`` and ``search_text`` alone, then their rows.

        Every term of the ids' statement is in ``ix_users_id_search`` (``id INCLUDE
        search_text``, migration 0003), the prefix exclusions included: each prefix key read
        from its field of ``search_text`` (``PG_TEXT_KEYS``). So a common term walks that index
        alone in id order and stops at the LIMIT (run with ``CONTAINS_LOCAL``: see there); a
        rare term reads its few ids from the trigram index and sorts them. One statement per
        page either way, whatever share of the term's hits the prefix phases took (a deep page
        of "jam" took 5 statements, docs/performance.md "Rows that missed")."""
        ids = select(users.c.id).where(_SEARCH_TEXT.like(bindparam("pat", type_=String)))
        ids = self._not_in_prefixes(ids, keys=self.text_keys)
        if exclude_id:
            ids = ids.where(users.c.id != bindparam("xid"))
        if keyset:
            ids = ids.where(users.c.id > aid)
        page = ids.order_by(users.c.id).limit(lim).subquery("ids")
        return select(*self._cols()).join_from(page, users, users.c.id == page.c.id).order_by(page.c.id)

    def params(self, q: str, now: datetime) -> dict[str, Any]:
        """The values every phase statement of one search shares."""
        p: dict[str, Any] = {"lo": q, "hi": prefix_successor(q) if q else "", "now": now}
        if len(q) >= CONTAINS_MIN:
            if self.postgres:
                p["pat"] = like_contains(q)
            else:
                p["m"] = fts_phrase(q)
        return p

    def phases(self, q: str) -> list[Phase]:
        """The phases a (normalised, lower-cased) term runs, in order."""
        if not q:
            return [Phase.NEWEST]
        phases = list(PREFIX_PHASES)
        if q.isascii() and q.isdigit() and len(q) < 19:
            phases.insert(0, Phase.EXACT)
        if len(q) >= CONTAINS_MIN:
            phases.append(Phase.CONTAINS)
        return phases


class Searcher:
    """Runs ``UserSearch`` statements on one engine: pages (``search``) and plans (``explain``)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.stmts = UserSearch(engine.dialect.name)
        self._hot: dict[Any, HotQuery] = {}
        self._build = records_builder(engine.dialect.name)
        now_proc = bind_processor(engine, UTCDateTime())
        self._now = (lambda: now_proc(utcnow())) if now_proc else utcnow  # driver form

    def _hot_query(self, phase: Phase, keyset: bool, exact: bool) -> HotQuery:
        """Search statements run through ``HotQuery`` (compiled once, this thread's connection,
        never prepared on PostgreSQL): per page, authcore adds little to the SQL itself."""
        key = (phase, keyset, exact)
        hq = self._hot.get(key)
        if hq is None:
            stmt = self.stmts.by_id if phase == Phase.EXACT else self.stmts.statement(*key)
            local = CONTAINS_LOCAL if phase == Phase.CONTAINS else ""
            hq = self._hot[key] = HotQuery(self.engine, stmt, prepare=False, local=local)
        return hq

    def _hot_other(self, name: str, factory: Callable[[], Any]) -> HotQuery:
        hq = self._hot.get(name)
        if hq is None:
            hq = self._hot[name] = HotQuery(self.engine, factory(), prepare=False)
        return hq

    def _prepare(
        self, query: str, after: Cursor | None, driver: bool = False
    ) -> tuple[list[Phase], dict[str, Any], bool]:
        q = normalize_query(query).lower()
        phases = self.stmts.phases(q)
        params = self.stmts.params(q, self._now() if driver else utcnow())
        if Phase.EXACT not in phases and q:
            # An exact username ranks first too ("alice" before "alice.kim@..."): one lookup
            # on the unique lower(username) index, excluded from the later phases like an id.
            hit = self._hot_other(
                "exact_username",
                lambda: select(users.c.id).where(
                    self.stmts.keys[Phase.USERNAME_PREFIX] == bindparam("lo", type_=String)
                ),
            ).fetch_driver(params)
            if hit:
                phases.insert(0, Phase.EXACT)
                params["xid"] = hit[0][0]
        exact = Phase.EXACT in phases
        if exact and "xid" not in params:
            params["xid"] = int(q)
        if after is not None:
            phases = [p for p in phases if p >= after.phase]
        return phases, params, exact

    def search(self, query: str, limit: int = 50, after: Cursor | None = None) -> Page:
        """Fill one page from the phases in order (see ``UserService.search``)."""
        limit = max(1, min(int(limit), PAGE_MAX))
        phases, params, exact = self._prepare(query, after, driver=True)
        items: list[UserRecord] = []
        last: Cursor | None = None
        for phase in phases:
            need = limit - len(items)
            if need <= 0:
                break
            if phase == Phase.EXACT:
                if after is None:
                    hit = self._hot_query(Phase.EXACT, False, False).fetch_driver(params)
                    items.extend(self._build(hit))
                    if hit:
                        last = Cursor(Phase.EXACT, "", hit[-1][0])
                continue
            keyset = after is not None and after.phase == phase
            params["lim"] = need
            if keyset:
                assert after is not None
                params["ak"], params["aid"] = after.key, after.id
            rows = self._hot_query(phase, keyset, exact).fetch_driver(params)
            if items:
                items.extend(self._build(rows))
            else:
                items = self._build(rows)
            if rows:
                r = rows[-1]
                last = Cursor(phase, r[_KEY_AT] if phase in PREFIX_PHASES else "", r[0])
        return Page(items, last if len(items) >= limit else None)

    def explain(self, query: str, limit: int = 50, after: Cursor | None = None) -> list[tuple[Phase, str]]:
        """``(phase, plan)`` for every statement ``search`` may run for these arguments.

        The plan comes from the database (``EXPLAIN QUERY PLAN`` on SQLite, ``EXPLAIN`` on
        PostgreSQL) for the very statement, parameters and execution options search uses.
        """
        limit = max(1, min(int(limit), PAGE_MAX))
        phases, params, exact = self._prepare(query, after)
        params["lim"] = limit
        out: list[tuple[Phase, str]] = []
        with read_conn(self.engine) as conn:
            for phase in phases:
                if phase == Phase.EXACT:
                    stmt = self.stmts.by_id
                else:
                    keyset = after is not None and after.phase == phase
                    if keyset:
                        assert after is not None
                        params["ak"], params["aid"] = after.key, after.id
                    stmt = self.stmts.statement(phase, keyset, exact)
                if phase == Phase.CONTAINS and self.stmts.postgres:
                    for setting in split_statements(CONTAINS_LOCAL):  # as search plans it (this transaction)
                        conn.exec_driver_sql(setting)
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
def _compile_explain(element: Explain, compiler: SQLCompiler, **kw: Any) -> str:
    head = "EXPLAIN QUERY PLAN " if compiler.dialect.name == "sqlite" else "EXPLAIN "
    return head + compiler.process(element.stmt, **kw)
