"""Revocation notices: a row in ``revocations`` plus, on PostgreSQL, a ``NOTIFY``.

Both happen inside the caller's transaction, so a rolled-back change announces nothing.
Verifiers LISTEN on ``CHANNEL`` (PostgreSQL) or poll the table (SQLite, and after a reconnect).
What a notice holds and how it is encoded (rows and payloads) is ``authcore.revocation``'s.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, bindparam, func, insert, select

from authcore.compiled import Compiled, PerDialect
from authcore.models import revocations
from authcore.revocation import Kind, Notice

CHANNEL = "authcore_revocations"
_COLS = ("at", "kind", "user_id", "token_version", "session_id")


_NV = tuple("n_" + c for c in _COLS)  # the notice binds, in _COLS order
_INSERT = (
    insert(revocations).values({c: bindparam("n_" + c, type_=revocations.c[c].type) for c in _COLS}).inline()
)
_NOTIFY = select(func.pg_notify(CHANNEL, bindparam("payload", type_=String)))


def rows_after(page: int) -> Any:
    """The notice rows after the id bound as ``after``, oldest first, at most ``page``: what a
    poller (``verifier.poll``) and the relay (``relay.scan``) read to catch up, one statement."""
    return (
        select(
            revocations.c.id,
            revocations.c.at,
            revocations.c.kind,
            revocations.c.user_id,
            revocations.c.token_version,
            revocations.c.session_id,
        )
        .where(revocations.c.id > bindparam("after"))
        .order_by(revocations.c.id)
        .limit(page)
    )


#: The newest notice row's id (0 when there is none): where a catch-up starts from.
MAX_ID = select(func.coalesce(func.max(revocations.c.id), 0))


@dataclass(frozen=True)
class _Sql:
    insert: Compiled
    notify: Compiled | None  # PostgreSQL only
    insert_and_notify: Compiled | None  # PostgreSQL: one notice row and its NOTIFY, one statement
    row: Any  # notice tuple (_COLS order) -> driver parameters
    row_and_payload: Any  # notice tuple + payload -> driver parameters
    at: Any  # UTCDateTime's bind processor (the only column type that converts; tests check)


def _build_sql(dialect: Any) -> _Sql:
    ins = Compiled(_INSERT, dialect).only_converts("n_at")
    notify = both = None
    if dialect.name == "postgresql":  # WITH r AS (INSERT ...) SELECT pg_notify(...)
        notify = Compiled(_NOTIFY, dialect)
        both = Compiled(_NOTIFY.add_cte(_INSERT.cte("r")), dialect).only_converts("n_at")
    return _Sql(
        ins,
        notify,
        both,
        ins.packer(_NV),
        both.packer((*_NV, "payload")) if both else None,
        ins.proc("n_at"),
    )


_sql = PerDialect(_build_sql)


def publish(
    conn: Any,
    at: datetime,
    kind: Kind,
    user_ids: Sequence[int],
    versions: Sequence[int | None] | None = None,
    session_ids: Iterable[str] = (),
) -> None:
    """Record and announce a revocation (``revocation.Notice.of(kind, ...)``).

    ``conn``: a SQLAlchemy ``Connection`` or an ``authcore.fastpath.RawTx``. Rows go to the
    driver already converted (``at`` by its column's SQLAlchemy bind processor, once); on
    PostgreSQL one notice row and its NOTIFY are one statement."""
    sql = _sql(conn.dialect)
    pack = sql.row
    if sql.notify is None:  # SQLite: verifiers poll the table, so the rows are the notice
        rows = Notice.rows_of(sql.at(at), kind, user_ids, versions, session_ids)
        if rows:
            conn.exec_driver_sql(sql.insert.sql, [pack(r) for r in rows] if len(rows) > 1 else pack(rows[0]))
        return
    notice = Notice.of(kind, user_ids, versions, session_ids)
    rows = notice.rows(sql.at(at))
    if not rows:
        return
    texts = notice.payloads()
    if len(rows) == 1 and len(texts) == 1 and sql.insert_and_notify is not None:
        conn.exec_driver_sql(sql.insert_and_notify.sql, sql.row_and_payload((*rows[0], texts[0])))
        return
    conn.exec_driver_sql(sql.insert.sql, [pack(r) for r in rows] if len(rows) > 1 else pack(rows[0]))
    notify = sql.notify
    assert notify is not None
    for text in texts:
        conn.exec_driver_sql(notify.sql, notify.params({"payload": text}))
