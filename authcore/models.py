"""The schema as typed SQLAlchemy declarative models. Alembic migrations create it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    TypeDecorator,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ID = BigInteger().with_variant(Integer(), "sqlite")


_fromiso = datetime.fromisoformat
_last_utc: tuple[datetime | None, str] = (None, "")


def utc_to_sqlite(value: datetime) -> str:
    """A UTC datetime as SQLite stores it: ``YYYY-MM-DD HH:MM:SS.ffffff`` of the UTC time, the
    text ``UTCDateTime`` + SQLAlchemy's DATETIME write (tests compare both), in C calls. The last
    conversion is remembered: a write converts one ``now`` for several statements (datetimes are
    immutable; the pair is replaced whole, so threads never see a mismatched pair)."""
    global _last_utc
    last = _last_utc
    if last[0] is value:
        return last[1]
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    text = value.astimezone(UTC).isoformat(" ", "microseconds")[:26]
    _last_utc = (value, text)
    return text


SQLITE_UTC = "+00:00"  # what SQLite's stored text lacks to read as aware UTC


def utc_from_sqlite(value: str | None) -> datetime | None:
    """SQLite's stored text -> an aware UTC datetime (what ``UTCDateTime`` reads)."""
    return None if value is None else _fromiso(value + SQLITE_UTC)


def utc_to_pg(value: datetime) -> datetime:
    """An aware datetime as ``timestamptz`` takes it (in UTC); a naive one is refused."""
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    return value.astimezone(UTC)


def utc_from_pg(value: datetime | None) -> datetime | None:
    """psycopg's ``timestamptz`` (aware, in the session's zone) -> aware UTC. authcore's direct
    connections run in ``TimeZone = 'UTC'`` (``authcore.db``), where psycopg's values carry
    ``UTC`` itself and come back as they are; another zone (a pooled engine: the server's
    default) is converted (~0.6 µs a value with a ``ZoneInfo``, two a user record)."""
    if value is None:
        return None
    tz = value.tzinfo
    if tz is UTC:
        return value
    return value.replace(tzinfo=UTC) if tz is None else value.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in Python; ``timestamptz`` on PostgreSQL, naive UTC text on SQLite.

    The converters above are the same rules for driver SQL (``authcore.compiled``): SQLAlchemy's
    own chain (this decorator, then the dialect's DATETIME) costs several Python calls a value.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    @staticmethod
    def driver_bind(dialect: Any) -> Callable[[datetime], str | datetime]:
        """Python value -> driver value, as this type + ``dialect`` convert it."""
        return utc_to_sqlite if dialect.name == "sqlite" else utc_to_pg

    @staticmethod
    def driver_result(dialect: Any) -> Callable[[Any], datetime | None]:
        """Driver value -> aware UTC datetime, as this type + ``dialect`` convert it."""
        return utc_from_sqlite if dialect.name == "sqlite" else utc_from_pg

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        value = utc_to_pg(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return utc_from_pg(value)  # SQLite's DATETIME has parsed the text (naive UTC) already


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        # the disabled users, newest first (authcore.attention), partial: ~2 % of the rows
        Index(
            "ix_users_disabled_at",
            "disabled_at",
            postgresql_where=text("disabled"),
            sqlite_where=text("disabled = 1"),  # as SQLAlchemy renders ``where(users.c.disabled)``
        ),
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(320))
    username: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    token_version: Mapped[int] = mapped_column(Integer, default=0)


class Session(Base):
    __tablename__ = "sessions"
    __table_args__ = (
        Index("ix_sessions_user_created", "user_id", "created_at"),
        Index("ix_sessions_created", "created_at", "user_id"),  # who logged in lately (0008)
        Index("ix_sessions_expires", "expires_at"),
        # an IP-prefix filter of the session list, a range of each (0011; COLLATE "C" on
        # PostgreSQL), covering its page's terms (0013: SessionService.recent reads no row per match)
        Index("ix_sessions_last_ip", "last_ip", "created_at", "public_id", "expires_at"),
        Index("ix_sessions_first_ip", "first_ip", "created_at", "public_id", "expires_at"),
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    first_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    last_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(Text, nullable=True)
    refresh_counter: Mapped[int] = mapped_column(Integer, default=0)
    refresh_rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # grace replays in this rotation; a server default, so bulk inserts (demo) may omit it
    refresh_replays: Mapped[int] = mapped_column(Integer, server_default="0")


class AuditEvent(Base):
    """Append-only; each row's ``hash`` covers its content and ``prev_hash``."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_user_id", "target_user_id", "id"),
        Index("ix_audit_action_id", "action", "id"),
        Index("ix_audit_actor_id", "actor", "id"),  # audit list --actor (migration 0010)
        Index("ix_audit_at", "at"),  # audit list --since/--until a time (migration 0010)
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    target_user_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    target_session: Mapped[str | None] = mapped_column(String(40), nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    # Claimed context (e.g. ``ssh 10.1.2.3`` from SSH_CONNECTION): never an identity.
    client: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # PostgreSQL: the role the connection authenticated as, written by the database
    # (column default ``session_user``); NULL on SQLite.
    db_role: Mapped[str | None] = mapped_column(String(200), nullable=True)


class AuditHead(Base):
    """One row: the sequence number and hash of the newest audit event (the chain's anchor)."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    hash: Mapped[str] = mapped_column(String(64))


class Revocation(Base):
    """A short log of revocations, for verifiers that poll (SQLite) or catch up after a reconnect."""

    __tablename__ = "revocations"
    __table_args__ = (Index("ix_revocations_at", "at"),)

    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(String(16))  # version | disabled | enabled | session
    user_id: Mapped[int] = mapped_column(BigInteger)
    token_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    session_id: Mapped[str | None] = mapped_column(String(40), nullable=True)


class UserEvent(Base):
    """Append-only, no hash chain: what users' own requests did (logout, refresh replay and
    reuse), kept off ``audit_head``'s lock so they never queue behind the operator's chain."""

    __tablename__ = "user_events"
    __table_args__ = (
        Index("ix_user_events_user_id", "user_id", "id"),
        Index("ix_user_events_action_id", "action", "id"),
        Index("ix_user_events_action_at", "action", "at"),  # a window of one action
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    action: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(BigInteger)
    session_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


def _table(model: type[Base]) -> Table:
    """The model's ``Table``: SQLAlchemy types ``__table__`` as any ``FromClause`` (a mapping may be
    to a join or a subquery); these are all plain tables, which insert/update/delete need."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


users = _table(User)
sessions = _table(Session)
#: The columns a new session row is written with (login and the demo's bulk load alike); the id
#: is the database's, the rest (``refresh_rotated_at``, ``refresh_replays``) start empty.
SESSION_INSERT_COLUMNS = (
    "public_id",
    "token_hash",
    "user_id",
    "created_at",
    "last_seen_at",
    "expires_at",
    "first_ip",
    "last_ip",
    "user_agent",
    "refresh_counter",
)
audit_events = _table(AuditEvent)
audit_head = _table(AuditHead)
revocations = _table(Revocation)
user_events = _table(UserEvent)

GENESIS_HASH = "0" * 64


class BulkRun(Base):
    """A resumable bulk operation: where its keyset walk over users has got to."""

    __tablename__ = "bulk_runs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    action: Mapped[str] = mapped_column(String(32))
    query: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_user_id: Mapped[int] = mapped_column(BigInteger, default=0)
    done_count: Mapped[int] = mapped_column(Integer, default=0)
    expected_count: Mapped[int] = mapped_column(Integer, default=0)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


bulk_runs = _table(BulkRun)
