"""The append-only, hash-chained audit log.

Every event stores ``hash = sha256(canonical(content) + prev_hash)``; ``audit_head`` holds the
newest sequence number and hash, and its row lock serialises writers on PostgreSQL (SQLite writers
are serialised by ``BEGIN IMMEDIATE``). ``verify_chain`` finds the first altered, deleted or
reordered event.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from hashlib import sha256
from typing import Any

from sqlalchemy import Engine, bindparam, func, insert, null, select, update

from authcore.compiled import Compiled, PerDialect
from authcore.db import read_conn
from authcore.errors import ValidationError
from authcore.models import GENESIS_HASH, audit_events, audit_head, utc_to_sqlite


@dataclass
class EventIn:
    """An event to append; ``at``/``seq``/hashes are filled in by ``append``."""

    action: str
    actor: str
    reason: str = ""
    target_user_id: int | None = None
    target_session: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    client: str | None = None  # claimed context (``ssh 10.1.2.3``), never the identity


@dataclass(frozen=True)
class AuditRecord:
    id: int
    seq: int
    at: datetime
    actor: str
    action: str
    target_user_id: int | None
    target_session: str | None
    reason: str
    details: dict[str, Any]
    prev_hash: str
    hash: str
    client: str | None = None
    db_role: str | None = None


_str = json.encoder.encode_basestring  # what an ensure_ascii=False encoder writes for a str


def _reusable(enc: json.JSONEncoder) -> Callable[[Any], str]:
    """``enc.encode`` without building its C encoder again on every call (``encode`` does, which
    costs as much as encoding a small dict). The same text for everything but circular data
    (no circular-reference check; event details are plain data). Falls back to ``enc.encode``
    where the C encoder is missing or differs."""
    # CPython's private C encoder (pinned in pyproject; typeshed does not declare it)
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None or enc.indent is not None:
        return enc.encode
    text = json.encoder.encode_basestring_ascii if enc.ensure_ascii else _str
    try:
        run = make(
            None,
            enc.default,
            text,
            None,
            enc.key_separator,
            enc.item_separator,
            enc.sort_keys,
            enc.skipkeys,
            enc.allow_nan,
        )
    except TypeError:  # another Python's C encoder signature
        return enc.encode
    join = "".join

    def encode(value: Any) -> str:
        if type(value) is str:
            return text(value)
        return join(run(value, 0))

    return encode


# The canonical form of an event: a compact JSON array, keys sorted, non-ASCII kept as is.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
_canon = _reusable(_CANONICAL)
# json.dumps(value) with the default settings: what SQLAlchemy's JSON type stores on SQLite.
_dumps = _reusable(json.JSONEncoder())


def _c(value: Any) -> str:
    """One item of the canonical array, encoded as the whole array's encoding writes it."""
    t = type(value)
    if t is str:
        return _str(value)
    if t is int:
        return int.__repr__(value)
    if value is None:
        return "null"
    return _canon(value)


def _at_json(at: datetime) -> str:
    """``at.isoformat(timespec="microseconds")`` as a JSON string. For a UTC datetime (what
    authcore writes) it is assembled from ``utc_to_sqlite``'s text, which a write has usually
    made for the same datetime already (the same digits; tests compare)."""
    if at.tzinfo is UTC:
        t = utc_to_sqlite(at)
        return f'"{t[:10]}T{t[11:]}+00:00"'
    return _str(at.isoformat(timespec="microseconds"))


def _digest(
    seq: int,
    at_json: str,
    actor: str,
    action: str,
    target_user_id: int | None,
    target_session: str | None,
    reason: str,
    details: dict[str, Any],
    prev_hash: str,
    client: str | None = None,
    db_role: str | None = None,
) -> str:
    """``event_hash`` with ``at`` already encoded. The array is joined from its items encoded
    one by one: byte for byte what encoding the whole array gives (tests compare both), without
    building an encoder per event."""
    s, c = _str, _c  # text fields are str all but always: encode those without a call to _c
    body = (
        f"[{c(seq)},{at_json},{s(actor) if type(actor) is str else c(actor)},"
        f"{s(action) if type(action) is str else c(action)},{c(target_user_id)},"
        f"{c(target_session)},{s(reason) if type(reason) is str else c(reason)},"
        f"{_canon(details)},{s(prev_hash) if type(prev_hash) is str else c(prev_hash)}"
    )
    if client is not None or db_role is not None:
        body += f",{c(client)},{c(db_role)}"
    return sha256((body + "]").encode("utf-8")).hexdigest()


def event_hash(
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    target_user_id: int | None,
    target_session: str | None,
    reason: str,
    details: dict[str, Any],
    prev_hash: str,
    client: str | None = None,
    db_role: str | None = None,
) -> str:
    """``sha256`` of the canonical JSON of ``[seq, at, actor, action, target_user_id,
    target_session, reason, details, prev_hash]`` (``at`` as ISO 8601 to the microsecond),
    extended by ``client, db_role`` when either is set. Events written before those columns
    existed have both NULL and keep their 9-item hash, so old chains stay verifiable; a newer
    event cannot pass as an old one (dropping the two items changes its hash). PostgreSQL
    computes the same text in ``authcore_event_hash`` (migration 0004; tests compare)."""
    return _digest(
        seq,
        _at_json(at),
        actor,
        action,
        target_user_id,
        target_session,
        reason,
        details,
        prev_hash,
        client,
        db_role,
    )


_COLS = (
    "seq",
    "at",
    "actor",
    "action",
    "target_user_id",
    "target_session",
    "reason",
    "details",
    "prev_hash",
    "hash",
    "client",
)


def _values(table: Any, cols: tuple[str, ...], prefix: str) -> dict[str, Any]:
    """``{column: bindparam(prefix + column)}``: an INSERT's VALUES with named binds (a bind may
    not take its column's name inside a CTE)."""
    return {c: bindparam(prefix + c, type_=table.c[c].type) for c in cols}


_EV = tuple("e_" + c for c in _COLS)  # the event binds, in _COLS order
_INSERT = insert(audit_events).values(_values(audit_events, _COLS, "e_")).inline()
_SET_HEAD = (
    update(audit_head)
    .where(audit_head.c.id == 1)
    .values(seq=bindparam("head_seq"), hash=bindparam("head_hash"))
)


def _lock_head(dialect: Any) -> Any:
    """The chain head, locked for the append (PostgreSQL ``FOR UPDATE``; SQLite's ``BEGIN
    IMMEDIATE`` holds the write lock already). PostgreSQL also reads the role the column default
    (``session_user``) writes: the hash covers it."""
    role = func.session_user() if dialect.name == "postgresql" else null()
    return select(audit_head.c.seq, audit_head.c.hash, role).where(audit_head.c.id == 1).with_for_update()


@dataclass(frozen=True)
class _Sql:
    """The append's statements compiled for one dialect, and ``audit_events``' converters."""

    lock_head: Compiled
    insert: Compiled
    set_head: Compiled
    insert_and_set_head: Compiled | None  # PostgreSQL: one statement (one round trip) for one event
    row: Any  # event tuple (_COLS order) -> driver parameters
    row_and_head: Any  # event tuple + (seq, hash) -> driver parameters
    head: Any  # (seq, hash) -> set_head's driver parameters
    at: Any  # UTCDateTime's bind processor
    details: Any  # JSON's bind processor


def _build_sql(dialect: Any) -> _Sql:
    ins = Compiled(_INSERT, dialect).only_converts("e_at", "e_details")
    set_head = Compiled(_SET_HEAD, dialect)
    both = None
    if dialect.name == "postgresql":  # WITH e AS (INSERT ...) UPDATE audit_head ...
        both = Compiled(_SET_HEAD.add_cte(_INSERT.cte("e")), dialect).only_converts("e_at", "e_details")
    details = ins.proc("e_details")
    if dialect.name == "sqlite" and dialect._json_serializer is None:  # noqa: SLF001 - pinned (pyproject)
        details = _dumps  # what that processor does there (json.dumps), minus its per-call setup
    return _Sql(
        lock_head=Compiled(_lock_head(dialect), dialect),
        insert=ins,
        set_head=set_head,
        insert_and_set_head=both,
        row=ins.packer(_EV),
        row_and_head=both.packer((*_EV, "head_seq", "head_hash")) if both else None,
        head=set_head.packer(("head_seq", "head_hash")),
        at=ins.proc("e_at"),
        details=details,
    )


_sql = PerDialect(_build_sql)


def append(conn: Any, events: Sequence[EventIn], at: datetime, *, head: tuple[Any, ...] | None = None) -> int:
    """Append ``events`` to the chain inside the caller's transaction. Returns the last seq.

    ``conn``: a SQLAlchemy ``Connection`` or an ``authcore.fastpath.RawTx``. Rows go to the
    driver already converted by the columns' own SQLAlchemy bind processors (``at`` once for
    all rows), as ``insert(audit_events)`` would send them (tests compare the stored bytes).
    ``head``: the chain's ``(seq, hash, db_role)`` when the caller has already read it in this
    transaction *under the lock* (``FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE``);
    otherwise it is locked and read here. ``db_role``: ``session_user`` on PostgreSQL (what the
    column default writes), None on SQLite.

    PostgreSQL, a role without INSERT on ``audit_events`` (every role but the owner): each
    event goes through ``authcore_audit_append``, which hashes and links it in SQL.
    """
    if not events:
        return 0
    if conn.dialect.name == "postgresql":
        from authcore import pgroles

        if not pgroles.direct_writer(conn):
            return pgroles.append_events(conn, events)
    sql = _sql(conn.dialect)
    if head is None or head[0] is None:  # not read yet, or read as missing
        lock = sql.lock_head
        got = conn.exec_driver_sql(lock.sql, lock.params({})).fetchone()
        if got is None:
            raise RuntimeError("the audit_head row is missing: run authconsole db upgrade")
        head = (got[0], got[1], got[2])
    seq: int
    seq, prev, role = head
    at_json = _at_json(at)
    at_db = sql.at(at)
    details = sql.details
    rows = []
    for ev in events:
        seq += 1
        h = _digest(
            seq,
            at_json,
            ev.actor,
            ev.action,
            ev.target_user_id,
            ev.target_session,
            ev.reason,
            ev.details,
            prev,
            ev.client,
            role,
        )
        rows.append(
            (
                seq,
                at_db,
                ev.actor,
                ev.action,
                ev.target_user_id,
                ev.target_session,
                ev.reason,
                details(ev.details),
                prev,
                h,
                ev.client,
            )
        )
        prev = h
    if len(rows) == 1 and sql.insert_and_set_head is not None:
        conn.exec_driver_sql(sql.insert_and_set_head.sql, sql.row_and_head((*rows[0], seq, prev)))
        return seq
    pack = sql.row
    conn.exec_driver_sql(sql.insert.sql, [pack(r) for r in rows] if len(rows) > 1 else pack(rows[0]))
    conn.exec_driver_sql(sql.set_head.sql, sql.head((seq, prev)))
    return seq


def _record(row: Any) -> AuditRecord:
    return AuditRecord(
        id=row.id,
        seq=row.seq,
        at=row.at,
        actor=row.actor,
        action=row.action,
        target_user_id=row.target_user_id,
        target_session=row.target_session,
        reason=row.reason,
        details=row.details or {},
        prev_hash=row.prev_hash,
        hash=row.hash,
        client=row.client,
        db_role=row.db_role,
    )


def list_events(engine: Engine, **filters: Any) -> list[AuditRecord]:
    """Newest first, keyset-paged by ``seq``: ``list_statement(**filters)``, run."""
    with read_conn(engine) as conn:
        return [_record(r) for r in conn.execute(list_statement(**filters))]


def list_statement(
    *,
    user_id: int | None = None,
    action: str | None = None,
    actor: str | None = None,
    limit: int = 50,
    before_seq: int | None = None,
    since_seq: int | None = None,
    until_seq: int | None = None,
    since_at: datetime | None = None,
    until_at: datetime | None = None,
) -> Any:
    """The SELECT of ``list_events``: newest first, keyset-paged by ``seq``. ``since_seq`` and
    ``until_seq`` are inclusive, ``since_at`` inclusive and ``until_at`` exclusive. Each filter
    has an index to start from (``ix_audit_user_id``, ``ix_audit_action_id``,
    ``ix_audit_actor_id``, ``ix_audit_at``, the unique ``seq``): tests/test_auditstream.py reads
    the plans."""
    limit = max(1, min(int(limit), 1000))
    stmt = select(audit_events).order_by(audit_events.c.seq.desc()).limit(limit)
    if user_id is not None:
        stmt = stmt.where(audit_events.c.target_user_id == user_id)
    if action:
        stmt = stmt.where(audit_events.c.action == action)
    if actor:
        stmt = stmt.where(audit_events.c.actor == actor)
    if before_seq is not None:
        stmt = stmt.where(audit_events.c.seq < before_seq)
    if since_seq is not None:
        stmt = stmt.where(audit_events.c.seq >= since_seq)
    if until_seq is not None:
        stmt = stmt.where(audit_events.c.seq <= until_seq)
    if since_at is not None or until_at is not None:
        # Ordered by an expression, not the column: otherwise a planner without a histogram
        # (SQLite) walks ``seq`` backwards past every event newer than the range to spare a
        # sort. The range comes from ``ix_audit_at``; sorting it costs what was asked for.
        stmt = stmt.order_by(None).order_by((audit_events.c.seq + 0).desc())
        if since_at is not None:
            stmt = stmt.where(audit_events.c.at >= since_at)
        if until_at is not None:
            stmt = stmt.where(audit_events.c.at < until_at)
    return stmt


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    head_seq: int
    head_hash: str
    problem: str = ""
    first_bad_seq: int | None = None
    first_bad_id: int | None = None
    heads_checked: int = 0  # expected heads found in the chain (``expect``)


RETENTION_ACTION = "audit_retention"


def _chain_start(conn: Any) -> tuple[int, str]:
    """Where the chain starts: seq 1 after the genesis hash, or -- after a retention run removed
    older events (``authcore_audit_retain``, PostgreSQL) -- the first kept event, accepted only
    when a retention event recorded exactly that seq and its ``prev_hash``. That event is itself
    in the chain walked afterwards, so it cannot be edited without being found."""
    first = conn.execute(
        select(audit_events.c.seq, audit_events.c.prev_hash)
        .where(audit_events.c.seq > 0)
        .order_by(audit_events.c.seq)
        .limit(1)
    ).first()
    if first is None or first.seq == 1:
        return 1, GENESIS_HASH
    for (d,) in conn.execute(
        select(audit_events.c.details).where(
            audit_events.c.action == RETENTION_ACTION, audit_events.c.seq > first.seq
        )
    ):
        if (d or {}).get("first_kept_seq") == first.seq and d.get("first_kept_prev_hash") == first.prev_hash:
            return first.seq, first.prev_hash
    return 1, GENESIS_HASH


@dataclass(frozen=True)
class ExpectedHead:
    """A ``SEQ:HASH`` recorded elsewhere (a ticket, a log shipper): the chain must hold an event
    ``seq`` whose hash is ``hash``. Since each hash covers its predecessor, that pins every
    event up to ``seq`` against a rewrite of the whole chain and its anchor."""

    seq: int
    hash: str

    def __str__(self) -> str:
        return f"{self.seq}:{self.hash}"


_HEAD = re.compile(r"([0-9]{1,18}):([0-9a-fA-F]{64})")
HEADS_FILE_MAX = 1 << 20


def parse_head(text: str) -> ExpectedHead:
    """``SEQ:HASH`` (decimal sequence number >= 1, 64 hex digits) -> ``ExpectedHead``."""
    m = _HEAD.fullmatch(text.strip())
    if m is None or int(m.group(1)) < 1:
        shown = text.strip()[:24].encode("ascii", "backslashreplace").decode()
        raise ValidationError(f"not an audit head (SEQ:HASH, 64 hex digits): {shown!r}")
    return ExpectedHead(int(m.group(1)), m.group(2).lower())


def read_heads_file(path: str | os.PathLike[str]) -> list[ExpectedHead]:
    """Expected heads from a file: one ``SEQ:HASH`` per line; blank lines and ``#`` comments
    are skipped. Only a regular file up to 1 MiB is read (never blocks on a FIFO or device)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as e:
        raise ValidationError(f"cannot read heads file: {e.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ValidationError("the heads file is not a regular file")
        if st.st_size > HEADS_FILE_MAX:
            raise ValidationError(f"the heads file is larger than {HEADS_FILE_MAX} bytes")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(HEADS_FILE_MAX + 1)
    finally:
        os.close(fd)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError("the heads file is not UTF-8 text") from None
    heads: list[ExpectedHead] = []
    for n, raw in enumerate(text.splitlines(), 1):
        body = raw.split("#", 1)[0].strip()
        if not body:
            continue
        try:
            heads.append(parse_head(body))
        except ValidationError as e:
            raise ValidationError(f"heads file line {n}: {e}") from None
    if not heads:
        raise ValidationError("the heads file holds no SEQ:HASH line")
    return heads


def verify_chain(engine: Engine, batch: int = 5000, expect: Sequence[ExpectedHead] = ()) -> ChainReport:
    """Walk the whole chain in ``seq`` order and report the first inconsistency.

    ``expect``: heads recorded elsewhere; each must be in the chain (event ``seq`` with that
    hash). A chain rewritten consistently (every hash and the anchor recomputed) passes the walk
    but not this.
    """
    want: dict[int, set[str]] = {}
    for h in expect:
        want.setdefault(h.seq, set()).add(h.hash)
    found = 0
    checked = 0
    last_id = 0
    with read_conn(engine) as conn:
        head = conn.execute(select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)).one()
        expected_seq, prev = _chain_start(conn)
        last_seq = expected_seq - 1
        while True:
            rows = conn.execute(
                select(audit_events)
                .where(audit_events.c.seq > last_seq)
                .order_by(audit_events.c.seq)
                .limit(batch)
            ).all()
            if not rows:
                break
            for r in rows:
                rec = _record(r)
                bad = None
                if rec.seq != expected_seq:
                    bad = f"event seq {expected_seq} is missing (next is seq {rec.seq}): deleted or reordered"
                elif rec.id <= last_id:
                    bad = f"event seq {rec.seq} (id {rec.id}) is out of order: reordered"
                elif rec.prev_hash != prev:
                    bad = f"event seq {rec.seq} (id {rec.id}) does not link to its predecessor"
                elif (
                    event_hash(
                        rec.seq,
                        rec.at,
                        rec.actor,
                        rec.action,
                        rec.target_user_id,
                        rec.target_session,
                        rec.reason,
                        rec.details,
                        rec.prev_hash,
                        rec.client,
                        rec.db_role,
                    )
                    != rec.hash
                ):
                    bad = f"event seq {rec.seq} (id {rec.id}) was altered: its hash does not match"
                elif rec.seq in want:
                    other = sorted(want[rec.seq] - {rec.hash})
                    if other:
                        bad = (
                            f"expected head {rec.seq}:{other[0][:16]}… is not in the chain: "
                            f"event seq {rec.seq} has hash {rec.hash[:16]}… (chain rewritten)"
                        )
                    else:
                        found += 1
                if bad:
                    return ChainReport(False, checked, head.seq, head.hash, bad, rec.seq, rec.id, found)
                prev, last_id, expected_seq = rec.hash, rec.id, rec.seq + 1
                checked += 1
                last_seq = rec.seq
    if head.seq != last_seq or head.hash != prev:
        return ChainReport(
            False,
            checked,
            head.seq,
            head.hash,
            f"the chain ends at seq {last_seq} but its anchor says seq "
            f"{head.seq}: newest events deleted or anchor altered",
            last_seq + 1,
            None,
            found,
        )
    beyond = sorted(s for s in want if s > last_seq)
    if beyond:
        return ChainReport(
            False,
            checked,
            head.seq,
            head.hash,
            f"expected head seq {beyond[0]} is not in the chain: it ends at seq "
            f"{last_seq} (events deleted and chain rewritten)",
            beyond[0],
            None,
            found,
        )
    return ChainReport(True, checked, head.seq, head.hash, heads_checked=found)
