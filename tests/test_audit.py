"""authcore.audit: ``append`` links events into one hash chain inside the caller's transaction,
``list_events`` pages it newest first, ``verify_chain`` finds the first inconsistency, and the
expected-head helpers parse ``SEQ:HASH``. Both engines.

(The CLI side of ``audit verify --expect-head`` is tests/test_audit_heads.py; seals are
tests/test_seal.py.)
"""

from __future__ import annotations

import itertools
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from authcore import audit
from authcore.audit import EventIn
from authcore.errors import ValidationError
from authcore.models import GENESIS_HASH, audit_head
from tests.support.pg import bypass_audit_trigger

T0 = datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)


def write(engine: Engine, events: list[EventIn], at: datetime = T0) -> int:
    with engine.begin() as conn:
        return audit.append(conn, events, at)


def head(engine: Engine) -> tuple[int, str]:
    with engine.connect() as conn:
        row = conn.execute(select(audit_head.c.seq, audit_head.c.hash)).one()
    return row.seq, row.hash


@pytest.fixture
def chain(engine: Engine) -> list[audit.AuditRecord]:
    """Seven events in three transactions: users 1 and 2, two actors, three actions."""
    write(
        engine,
        [
            EventIn(
                "revoke_tokens",
                "alice",
                "stolen laptop",
                target_user_id=1,
                details={"token_version": 2},
                client="ssh 10.0.0.1",
            )
        ],
    )
    write(
        engine,
        [
            EventIn("disable_user", "bob", "offboarding", target_user_id=2),
            EventIn("delete_session", "bob", "", target_user_id=2, target_session="s1"),
            EventIn("revoke_tokens", "bob", "again", target_user_id=1),
        ],
        T0 + timedelta(seconds=1),
    )
    write(
        engine,
        [
            EventIn("enable_user", "alice", "back", target_user_id=2, details={"n": [1]}),
            EventIn("revoke_tokens", "alice", "x", target_user_id=2),
            EventIn("sessions_pruned", "cron", "", details={"deleted": 5}),
        ],
        T0 + timedelta(seconds=2),
    )
    return audit.list_events(engine, limit=100)


def test_append_links_each_event_to_the_previous_one(engine: Engine, chain: list[audit.AuditRecord]) -> None:
    oldest_first = chain[::-1]
    assert [r.seq for r in oldest_first] == list(range(1, 8))
    assert oldest_first[0].prev_hash == GENESIS_HASH
    for prev, rec in itertools.pairwise(oldest_first):
        assert rec.prev_hash == prev.hash
    for rec in chain:  # every stored hash is the documented function of the stored fields
        assert rec.hash == audit.event_hash(
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
    first = oldest_first[0]
    assert (first.at, first.details, first.client) == (T0, {"token_version": 2}, "ssh 10.0.0.1")
    assert head(engine) == (7, chain[0].hash)
    report = audit.verify_chain(engine, batch=3)  # several batches
    assert (report.ok, report.checked, report.head_seq, report.problem) == (True, 7, 7, "")


def test_append_returns_the_last_seq_and_nothing_for_no_events(
    engine: Engine, chain: list[audit.AuditRecord]
) -> None:
    assert write(engine, [EventIn("a", "x"), EventIn("b", "x")]) == 9
    assert write(engine, []) == 0
    assert head(engine)[0] == 9


def test_a_rolled_back_append_leaves_chain_and_anchor(engine: Engine, chain: list[audit.AuditRecord]) -> None:
    before = head(engine)
    with pytest.raises(RuntimeError), engine.begin() as conn:  # noqa: PT012 - the whole block rolls back
        audit.append(conn, [EventIn("revoke_tokens", "mallory", "oops")], T0)
        raise RuntimeError("the change it records failed")
    assert head(engine) == before
    assert len(audit.list_events(engine, limit=100)) == 7
    assert audit.verify_chain(engine).ok


def test_list_events_filters_and_keyset_pages(engine: Engine, chain: list[audit.AuditRecord]) -> None:
    seqs = lambda recs: [r.seq for r in recs]  # noqa: E731
    assert seqs(audit.list_events(engine, user_id=1)) == [4, 1]
    assert seqs(audit.list_events(engine, action="revoke_tokens")) == [6, 4, 1]
    assert seqs(audit.list_events(engine, actor="bob")) == [4, 3, 2]
    assert seqs(audit.list_events(engine, user_id=2, actor="alice")) == [6, 5]
    pages, before = [], None
    while True:
        page = audit.list_events(engine, limit=3, before_seq=before)
        if not page:
            break
        pages.append(seqs(page))
        before = page[-1].seq
    assert pages == [[7, 6, 5], [4, 3, 2], [1]]
    assert len(audit.list_events(engine, limit=0)) == 1  # clamped to 1..1000


def _tamper(engine: Engine, sql: str) -> None:
    with engine.begin() as conn:
        bypass_audit_trigger(conn)
        conn.exec_driver_sql(sql)


@pytest.mark.parametrize(
    ("sql", "bad_seq", "problem"),
    [
        (
            "UPDATE audit_events SET reason = 'nothing happened' WHERE seq = 3",
            3,
            "event seq 3 (id 3) was altered: its hash does not match",
        ),
        (
            "DELETE FROM audit_events WHERE seq = 4",
            5,  # found at the event after the gap
            "event seq 4 is missing (next is seq 5): deleted or reordered",
        ),
        (
            "DELETE FROM audit_events WHERE seq = 7",
            7,
            "the chain ends at seq 6 but its anchor says seq 7: newest events deleted or anchor altered",
        ),
        (
            "UPDATE audit_head SET seq = 8",
            8,
            "the chain ends at seq 7 but its anchor says seq 8: newest events deleted or anchor altered",
        ),
    ],
)
def test_verify_chain_reports_the_first_inconsistency(
    engine: Engine, chain: list[audit.AuditRecord], sql: str, bad_seq: int, problem: str
) -> None:
    _tamper(engine, sql)
    report = audit.verify_chain(engine)
    assert (report.ok, report.first_bad_seq, report.problem) == (False, bad_seq, problem)


def test_verify_chain_checks_expected_heads(engine: Engine, chain: list[audit.AuditRecord]) -> None:
    by_seq = {r.seq: r.hash for r in chain}
    good = [audit.ExpectedHead(3, by_seq[3]), audit.ExpectedHead(7, by_seq[7])]
    report = audit.verify_chain(engine, expect=good)
    assert (report.ok, report.heads_checked) == (True, 2)
    wrong = audit.verify_chain(engine, expect=[audit.ExpectedHead(5, "0" * 64)])
    assert not wrong.ok and wrong.first_bad_seq == 5 and "is not in the chain" in wrong.problem
    beyond = audit.verify_chain(engine, expect=[audit.ExpectedHead(9, by_seq[7])])
    assert not beyond.ok and beyond.problem.startswith("expected head seq 9 is not in the chain")


def test_event_hash_covers_every_field() -> None:
    args = {
        "seq": 5,
        "at": T0,
        "actor": "alice",
        "action": "revoke_tokens",
        "target_user_id": 1,
        "target_session": "s",
        "reason": "r",
        "details": {"a": 1},
        "prev_hash": "f" * 64,
    }
    base = audit.event_hash(**args)  # type: ignore[arg-type]
    assert base == audit.event_hash(**args, client=None, db_role=None)  # type: ignore[arg-type]
    changed = {
        "seq": 6,
        "at": T0 + timedelta(microseconds=1),
        "actor": "bob",
        "action": "x",
        "target_user_id": 2,
        "target_session": None,
        "reason": "",
        "details": {"a": 2},
        "prev_hash": "e" * 64,
    }
    for name, value in changed.items():
        assert audit.event_hash(**{**args, name: value}) != base, name  # type: ignore[arg-type]
    assert audit.event_hash(**args, client="ssh 1.2.3.4") != base  # type: ignore[arg-type]
    assert audit.event_hash(**args, db_role="authcore_app") != base  # type: ignore[arg-type]
    assert len(base) == 64 and int(base, 16) >= 0


def test_parse_head() -> None:
    h = "AB" * 32
    assert audit.parse_head(f" 12:{h} \n") == audit.ExpectedHead(12, h.lower())
    assert str(audit.parse_head(f"12:{h}")) == f"12:{h.lower()}"
    for bad in ("0:" + h, "12:" + h[:-1], "12-" + h, "x:" + h, "", "12:" + "g" * 64):
        with pytest.raises(ValidationError, match="not an audit head"):
            audit.parse_head(bad)


def test_read_heads_file(tmp_path: Path) -> None:
    h = "c" * 64
    f = tmp_path / "heads"
    f.write_text(f"# shipped by the log host\n\n3:{h}  # Tuesday\n7:{h}\n", encoding="utf-8")
    assert audit.read_heads_file(f) == [audit.ExpectedHead(3, h), audit.ExpectedHead(7, h)]
    f.write_text(f"3:{h}\nnope\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="heads file line 2: not an audit head"):
        audit.read_heads_file(f)
    f.write_text("# nothing\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="holds no SEQ:HASH line"):
        audit.read_heads_file(f)
    f.write_bytes(b"\xff\xfe3:" + h.encode())
    with pytest.raises(ValidationError, match="not UTF-8"):
        audit.read_heads_file(f)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # never read (it would block): refused as not a regular file
    with pytest.raises(ValidationError, match="not a regular file"):
        audit.read_heads_file(fifo)
    with pytest.raises(ValidationError, match="cannot read heads file"):
        audit.read_heads_file(tmp_path / "missing")
