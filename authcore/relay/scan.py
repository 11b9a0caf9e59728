"""Which ``revocations`` rows the relay has not published yet, none skipped, none twice.

On PostgreSQL a row's id comes from a sequence when it is inserted, not when it commits: a slow
transaction can commit id 7 after id 8 was seen, and an ``id > last`` scan would skip it (why the
verifier does not replay the table by id, ``authcore.verifier.listen``). So the scanner keeps:

* ``floor``: every id <= floor is settled (published, or will never commit);
* ``above``: the ids > floor already settled (published, or known never to commit);
* ``gaps``: ids between them not seen yet, each with the transaction horizon it waits for.

A gap is settled when the transaction that took its id has ended: at the scan after a gap is
first seen the scanner notes which transactions of this database are running (each holds the
lock on its own xid, ``pg_locks``; the gap's holder has its xid by then: it wrote before or while
taking the id); once none of them runs any more at the start of a later scan, the holder has
ended, so the row is in that scan or never will be. Each scan reads ``id > floor``; the floor
moves up to the lowest open gap. No time window, no guess: a transaction of this database that
stays open for an hour holds the floor for an hour (the published ids above it are skipped by
id, so nothing is sent twice meanwhile), and other databases' transactions do not.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Text, cast, column, func, select, table

from authcore import notices
from authcore.compiled import once
from authcore.revocation import SIDS_PER_NOTICE, USERS_PER_NOTICE, Notice, group_rows, rule

PAGE = 5000

_ROWS = notices.rows_after(PAGE)
_locks = table(
    "pg_locks", column("locktype"), column("mode"), column("granted"), column("transactionid"), column("pid")
)
_activity = table("pg_stat_activity", column("pid"), column("datname"))
# the transactions of this database that are running: each holds ExclusiveLock on its own xid
_RUNNING = (
    select(cast(_locks.c.transactionid, Text))
    .join_from(_locks, _activity, _locks.c.pid == _activity.c.pid)
    .where(
        _locks.c.locktype == "transactionid",
        _locks.c.mode == "ExclusiveLock",
        _locks.c.granted,
        _activity.c.datname == func.current_database(),
    )
)
_MAX_ID = notices.MAX_ID
_rows_sql = once(_ROWS)
_running_sql = once(_RUNNING)
_max_sql = once(_MAX_ID)


@dataclass(frozen=True)
class Chunk:
    """Rows of one revocation (at most one NOTIFY payload's worth) and the message body: the
    notice's one payload, or for a kind this authcore does not know (a newer writer's) just
    ``{"k": kind}``, which a verifier cannot decode and so drops its user cache, as it does for
    such a NOTIFY."""

    ids: tuple[int, ...]
    body: bytes


@dataclass
class Scan:
    running: frozenset[str]  # this database's transactions running before the rows were read
    seen: list[int] = field(default_factory=list)
    chunks: list[Chunk] = field(default_factory=list)


def _chunks(rows: Sequence[Any]) -> list[Chunk]:
    out: list[Chunk] = []
    for group in group_rows(rows):
        r = rule(group[0].kind)
        if r is None:
            raw = json.dumps({"k": str(group[0].kind)[:16]}, separators=(",", ":")).encode()
            out.append(Chunk(tuple(int(g.id) for g in group), raw))
            continue
        step = SIDS_PER_NOTICE if r.sessions else USERS_PER_NOTICE
        for i in range(0, len(group), step):
            part = group[i : i + step]
            (payload,) = Notice.from_rows(part).payloads()  # one payload: chunked to its size
            out.append(Chunk(tuple(int(g.id) for g in part), payload.encode()))
    return out


class Scanner:
    """The relay's position in the table (see the module docstring). Not thread-safe: one
    relay session uses it on one thread at a time."""

    def __init__(self, floor: int, above: set[int] | None = None) -> None:
        self.floor = floor
        self.above: set[int] = {i for i in (above or ()) if i > floor}
        self.gaps: dict[int, frozenset[str] | None] = {}

    def scan(self, conn: Any, dialect: Any) -> Scan:
        """Read every row above the floor (``conn``: an autocommit psycopg connection); the new
        ones come back as chunks, in id order, for the caller to publish then ``settle``."""
        from psycopg.rows import namedtuple_row

        out = Scan(frozenset())
        if self.gaps:  # only a gap needs to know who is running (one round trip saved otherwise)
            with conn.cursor() as cur:
                q = _running_sql(dialect)
                cur.execute(q.sql, q.params({}))
                out.running = frozenset(str(r[0]) for r in cur.fetchall())
        sql = _rows_sql(dialect)
        after = self.floor
        new: list[Any] = []
        with conn.cursor(row_factory=namedtuple_row) as cur:
            while True:
                cur.execute(sql.sql, sql.params({"after": after}))
                rows = cur.fetchall()
                for r in rows:
                    out.seen.append(int(r.id))
                    if r.id not in self.above:
                        new.append(r)
                if len(rows) < PAGE:
                    break
                after = int(rows[-1].id)
        out.chunks = _chunks(new)
        return out

    def published(self, ids: Sequence[int]) -> None:
        self.above.update(ids)

    def header_state(self, ids: Sequence[int]) -> tuple[int, set[int]]:
        """``(floor, above)`` as they stand once ``ids`` are published: what a restarted relay
        resumes from if this is the last message in the stream."""
        return self.floor, self.above.union(ids)

    def settle(self, scan: Scan) -> None:
        """After the scan's chunks were published: note new gaps, settle old ones, raise the
        floor to just below the lowest open gap."""
        seen = set(scan.seen)
        for g, horizon in list(self.gaps.items()):
            if g in seen or g in self.above:
                del self.gaps[g]
            elif horizon is None:
                # The scan that first missed g looked at the running transactions before it read
                # its rows: g's holder may have started in between. This scan looked later: the
                # holder is among these, or has ended.
                self.gaps[g] = scan.running
            elif not horizon & scan.running:
                del self.gaps[g]  # its holder ended before this scan read: it never committed
                self.above.add(g)  # settled, like a published id
        hi = max(self.above, default=self.floor)
        for g in range(self.floor + 1, hi + 1):
            if g not in self.above and g not in self.gaps and g not in seen:
                self.gaps[g] = None  # first seen missing
        self.floor = (min(self.gaps) - 1) if self.gaps else hi
        self.above = {i for i in self.above if i > self.floor}


def table_end(conn: Any, dialect: Any) -> int:
    """The highest id in ``revocations`` (0 when empty): where a relay with an empty stream
    starts (verifiers starting then load what they need from the database)."""
    with conn.cursor() as cur:
        m = _max_sql(dialect)
        cur.execute(m.sql, m.params({}))
        got = cur.fetchone()
        return int(got[0]) if got else 0
