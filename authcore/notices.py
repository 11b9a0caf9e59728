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

from authcore.fastpath import PerDialect, _bind_processor
from authcore.models import revocations
from authcore.revocation import Kind, Notice

CHANNEL = "authcore_revocations"
_COLS = ("at", "kind", "user_id", "token_version", "session_id")


@dataclass(frozen=True)
class _Sql:
    insert: str
    notify: str | None  # PostgreSQL only
    insert_and_notify: str | None  # PostgreSQL: one notice row and its NOTIFY, one statement
    at: Any  # UTCDateTime's bind processor (the only column type that converts; tests check)


def _build_sql(dialect: Any) -> _Sql:
    pg = dialect.name == "postgresql"
    ph = "%s" if pg else "?"
    insert = f"INSERT INTO revocations ({', '.join(_COLS)}) VALUES ({', '.join([ph] * 5)})"
    notify = f"SELECT pg_notify('{CHANNEL}', %s)" if pg else None
    if any(_bind_processor(revocations.c[c].type, dialect) is not None for c in _COLS[1:]):
        raise RuntimeError(
            "revocations: a column type now converts values; notices.publish must apply its processor"
        )
    return _Sql(
        insert,
        notify,
        f"WITH r AS ({insert}) {notify}" if pg else None,
        _bind_processor(revocations.c.at.type, dialect) or (lambda v: v),
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

    ``conn``: a SQLAlchemy ``Connection`` or an ``authcore.fastwrite.RawTx``. Rows go to the
    driver already converted (``at`` by its column's SQLAlchemy bind processor, once); on
    PostgreSQL one notice row and its NOTIFY are one statement."""
    sql = _sql(conn.dialect)
    notice = Notice.of(kind, user_ids, versions, session_ids)
    rows = notice.rows(sql.at(at))
    if not rows:
        return
    if sql.notify is None:  # SQLite: verifiers poll the table
        conn.exec_driver_sql(sql.insert, rows if len(rows) > 1 else rows[0])
        return
    texts = notice.payloads()
    if len(rows) == 1 and len(texts) == 1 and sql.insert_and_notify is not None:
        conn.exec_driver_sql(sql.insert_and_notify, (*rows[0], texts[0]))
        return
    conn.exec_driver_sql(sql.insert, rows if len(rows) > 1 else rows[0])
    for text in texts:
        conn.exec_driver_sql(sql.notify, (text,))
