"""authcore.auditstream: the line format and its schema, time/seq bounds, the follower that never
skips a seq, the waiters (NOTIFY on PostgreSQL via migration 0010's trigger), the filters' index
plans, and the chain check of a file."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest
from sqlalchemy import delete

from authcore import audit, auditstream
from authcore.audit import EventIn, ExpectedHead
from authcore.auditstream import Bound, ChainMismatch, NotifyWaiter, PollWaiter, Tail, parse_bound
from authcore.core import AuthCore
from authcore.db import write_tx
from authcore.errors import ValidationError
from authcore.models import audit_events
from authcore.users.search import Explain
from tests.support.pg import bypass_audit_trigger

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _append(core: AuthCore, n: int, *, at: datetime | None = None, **kw: object) -> int:
    """``n`` events in one transaction (one ``at``), as authcore writes them."""
    events = [
        EventIn(
            str(kw.get("action", "test_event")),
            str(kw.get("actor", "tester")),
            f"reason {i} \u00e9\u202e",  # non-ASCII and a bidi control: escaped in a line, kept as is
            kw.get("user"),  # type: ignore[arg-type]
            details={"i": i, "nested": {"b": [1, 2.5, None], "a": "x"}},
            client="ssh 192.0.2.7",
        )
        for i in range(n)
    ]
    with write_tx(core.engine) as conn:
        return audit.append(conn, events, at or datetime.now(UTC))


def _lines(core: AuthCore, after: int = 0) -> list[str]:
    t = core.audit.tail(after)
    out: list[str] = []
    while batch := t.read():
        out += [auditstream.encode(e) for e in batch]
    return out


# -- the line ------------------------------------------------------------------------------


def test_every_line_validates_against_the_shipped_schema_and_rehashes(core: AuthCore) -> None:
    _append(core, 3, user=7)
    _append(core, 2, action="other")
    schema = auditstream.schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    lines = _lines(core)
    assert len(lines) >= 5
    for text in lines:
        assert text.isascii() and "\n" not in text
        obj = json.loads(text)
        jsonschema.validate(obj, schema)
        assert list(obj) == list(auditstream.FIELDS) and obj["v"] == auditstream.SCHEMA_VERSION
    rec = core.audit.list(limit=1)[0]
    obj = json.loads(lines[-1])
    assert obj["reason"] == rec.reason and obj["details"] == rec.details  # exact after decoding
    assert obj["db_role"] == rec.db_role and (rec.db_role is not None) == (
        core.engine.dialect.name == "postgresql"
    )


def test_the_schema_refuses_what_is_not_a_v1_line() -> None:
    schema = auditstream.schema()
    good = {
        "v": 1,
        "seq": 1,
        "at": "2026-12-03T10:00:00.000000+00:00",
        "actor": "a",
        "action": "x",
        "target_user_id": None,
        "target_session": None,
        "reason": "",
        "details": {},
        "client": None,
        "db_role": None,
        "prev_hash": "0" * 64,
        "hash": "a" * 64,
    }
    jsonschema.validate(good, schema)
    for bad in ({"v": 2}, {"seq": 0}, {"hash": "A" * 64}, {"at": "2026-12-03 10:00"}, {"extra": 1}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({**good, **bad}, schema)


def test_the_trigger_channel_is_the_streams() -> None:
    import importlib

    mig = importlib.import_module("authcore.migrations.versions.0010_audit_stream")
    assert mig.CHANNEL == auditstream.CHANNEL


# -- bounds --------------------------------------------------------------------------------


def test_parse_bound() -> None:
    now = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
    assert parse_bound("42") == Bound(seq=42)
    assert parse_bound(" 0 ") == Bound(seq=0)
    assert parse_bound("2026-12-01") == Bound(at=datetime(2026, 12, 1, tzinfo=UTC))
    assert parse_bound("2026-12-01T10:30Z") == Bound(at=datetime(2026, 12, 1, 10, 30, tzinfo=UTC))
    assert parse_bound("2026-12-01 11:30:00+01:00") == Bound(at=datetime(2026, 12, 1, 10, 30, tzinfo=UTC))
    assert parse_bound("15m", now) == Bound(at=now - timedelta(minutes=15))
    assert parse_bound("7d", now) == Bound(at=now - timedelta(days=7))
    for bad in ("", "yesterday", "-1", "1.5", "0m", "2026-13-01", "9" * 19, "12 parsecs", "\x1b[31m"):
        with pytest.raises(ValidationError, match="not a time or seq"):
            parse_bound(bad, now)


def test_list_filters_are_exact(core: AuthCore) -> None:
    """Each filter alone and together, against a brute-force reading of every event."""
    for day in range(6):
        _append(core, 3, at=T0 + timedelta(days=day), actor=f"op{day % 2}", action=f"act{day % 3}", user=day)
    every = core.audit.list(limit=1000)

    def expect(pred: object) -> list[int]:
        return [e.seq for e in every if pred(e)]  # type: ignore[operator]

    since_t, until_t = T0 + timedelta(days=2), T0 + timedelta(days=4)
    mid = every[len(every) // 2].seq
    cases = [
        ({"actor": "op1"}, lambda e: e.actor == "op1"),
        ({"action": "act2"}, lambda e: e.action == "act2"),
        ({"user_id": 3}, lambda e: e.target_user_id == 3),
        ({"since": Bound(seq=mid)}, lambda e: e.seq >= mid),
        ({"until": Bound(seq=mid)}, lambda e: e.seq <= mid),
        ({"since": Bound(at=since_t)}, lambda e: e.at >= since_t),
        ({"until": Bound(at=until_t)}, lambda e: e.at < until_t),
        (
            {"since": Bound(at=since_t), "until": Bound(at=until_t), "actor": "op0"},
            lambda e: since_t <= e.at < until_t and e.actor == "op0",
        ),
    ]
    for kw, pred in cases:
        got = [e.seq for e in core.audit.list(limit=1000, **kw)]  # type: ignore[arg-type]
        assert got == expect(pred), kw
        assert got, kw  # the case selects something
    assert [e.seq for e in core.audit.list(limit=2, actor="op1")] == expect(lambda e: e.actor == "op1")[:2]


def test_every_filter_starts_from_its_index(core: AuthCore) -> None:
    """Plans of the database itself: a selective filter reads its own index, never the table."""
    with write_tx(core.engine) as conn:
        for day in range(30):
            evs = [EventIn("common", "bulk", "", 1000 + (i % 7), details={}) for i in range(100)]
            audit.append(conn, evs, T0 + timedelta(days=day))
        audit.append(conn, [EventIn("rare_action", "rare_actor", "", 424242)], T0 + timedelta(days=15))
    pg = core.engine.dialect.name == "postgresql"
    if pg:
        with core.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE audit_events")
    cases = {
        "ix_audit_actor_id": audit.list_statement(actor="rare_actor"),
        "ix_audit_action_id": audit.list_statement(action="rare_action"),
        "ix_audit_user_id": audit.list_statement(user_id=424242),
        "ix_audit_at": audit.list_statement(until_at=T0 + timedelta(hours=1)),
        "ix_audit_at ": audit.list_statement(
            since_at=T0 + timedelta(days=15), until_at=T0 + timedelta(days=15, hours=1)
        ),
    }
    with core.engine.connect() as conn:
        for index, stmt in cases.items():
            plan = "\n".join(str(r[-1]) for r in conn.execute(Explain(stmt)))
            assert index.strip() in plan, plan
            assert "Seq Scan" not in plan and "SCAN audit_events\n" not in plan + "\n", plan
            assert len(conn.execute(stmt).all()) >= 1


# -- following -----------------------------------------------------------------------------


def _rec(seq: int) -> audit.AuditRecord:
    return audit.AuditRecord(seq, seq, T0, "a", "x", None, None, "", {}, "p", f"h{seq}")


def test_contiguous_waits_out_a_hole_then_reports_it() -> None:
    """An in-flight seq (a hole right after the last one) holds the read back for ``gap_wait``;
    only then is it reported and stepped over. A hole further on cuts the run there."""
    now = [0.0]
    t = Tail(None, after=5, gap_wait=2.0, clock=lambda: now[0])  # type: ignore[arg-type]
    assert t.contiguous([_rec(6), _rec(7), _rec(9)]) == [_rec(6), _rec(7)]
    t.last = 7
    assert t.contiguous([_rec(9), _rec(10)]) == [] and t.holding
    now[0] = 1.9
    assert t.contiguous([_rec(9), _rec(10)]) == [] and t.holding
    assert t.contiguous([_rec(8), _rec(9)]) == [_rec(8), _rec(9)] and not t.holding  # it committed
    assert t.gaps == []
    t.last = 9
    assert t.contiguous([_rec(11)]) == []  # the hole at 10 opens at 1.9
    now[0] = 3.8
    assert t.contiguous([_rec(11)]) == []
    now[0] = 6.1
    assert t.contiguous([_rec(11), _rec(12)]) == [_rec(11), _rec(12)]
    assert t.gaps == [auditstream.Gap(10, 11)]
    start = Tail(None, after=0)  # type: ignore[arg-type]
    assert start.contiguous([_rec(40), _rec(41)]) == [_rec(40), _rec(41)]  # retention: the first kept


def test_tail_reads_in_order_and_resumes(core: AuthCore) -> None:
    base = core.audit.list(limit=1)
    start = base[0].seq if base else 0
    _append(core, 7)
    t = core.audit.tail(start, batch=3)
    got = []
    while batch := t.read():
        assert len(batch) <= 3
        got += batch
    assert [e.seq for e in got] == list(range(start + 1, start + 8))
    _append(core, 2)
    resumed = core.audit.tail(t.last, t.last_hash)
    assert [e.seq for e in resumed.read()] == [start + 8, start + 9]


def test_tail_refuses_a_chain_that_does_not_link_to_what_it_saw(core: AuthCore) -> None:
    last = _append(core, 2)
    t = core.audit.tail(last - 1, "f" * 64)  # the state's hash is not event last-1's
    with pytest.raises(ChainMismatch, match=f"event seq {last} does not link"):
        t.read()


def test_tail_steps_over_a_deleted_event_after_waiting(core: AuthCore) -> None:
    last = _append(core, 4)
    with core.engine.begin() as conn:
        bypass_audit_trigger(conn)
        conn.execute(delete(audit_events).where(audit_events.c.seq == last - 1))
    t = Tail(core.engine, last - 3, gap_wait=0.3)
    assert [e.seq for e in t.read()] == [last - 2]
    started = time.monotonic()
    while not (batch := t.read()):
        assert t.holding
        time.sleep(0.05)
    assert time.monotonic() - started >= 0.25
    assert [e.seq for e in batch] == [last] and t.gaps == [auditstream.Gap(last - 1, last)]


def test_waiters(core: AuthCore) -> None:
    w = core.audit.waiter(0.05)
    if core.engine.dialect.name != "postgresql":
        assert isinstance(w, PollWaiter) and w.interval == 0.05
        started = time.monotonic()
        assert w.wait() is False and time.monotonic() - started >= 0.04
        return
    assert isinstance(w, NotifyWaiter)
    w.interval = 10.0
    try:
        assert w.wait() is True  # a fresh LISTEN: read now
        timer = threading.Timer(0.3, lambda: _append(core, 50))  # a burst in one transaction
        timer.start()
        started = time.monotonic()
        assert w.wait() is True  # woken by migration 0010's trigger at commit
        assert time.monotonic() - started < 5
        timer.join()
        assert w.wait(0.3) is False  # the burst was one wake-up
    finally:
        w.close()


def _append_then_fail(core: AuthCore) -> None:
    with write_tx(core.engine) as conn:
        audit.append(conn, [EventIn("x", "y")], datetime.now(UTC))
        raise RuntimeError("roll back")


def test_a_rolled_back_append_notifies_nothing(core: AuthCore) -> None:
    if core.engine.dialect.name != "postgresql":
        pytest.skip("NOTIFY is PostgreSQL's")
    w = core.audit.waiter()
    try:
        assert w.wait() is True
        with pytest.raises(RuntimeError, match="roll back"):
            _append_then_fail(core)
        assert w.wait(0.5) is False
    finally:
        w.close()


def test_state_file_round_trip(tmp_path: Path) -> None:
    d = tmp_path / "follower"
    d.mkdir()
    p = d / "state"
    assert auditstream.read_state(str(p)) is None
    auditstream.write_state(str(p), 12, "ab" * 32)
    assert auditstream.read_state(str(p)) == ExpectedHead(12, "ab" * 32)
    assert [f.name for f in d.iterdir()] == ["state"]  # no temporary left behind
    p.write_text("garbage")
    with pytest.raises(ValidationError, match="SEQ:HASH"):
        auditstream.read_state(str(p))
    with pytest.raises(ValidationError, match="not a regular file"):
        auditstream.read_state(str(d))


# -- a shipped copy ------------------------------------------------------------------------


def _file(tmp_path: Path, lines: list[str], name: str = "events.jsonl") -> str:
    p = tmp_path / name
    p.write_text("".join(t + "\n" for t in lines))
    return str(p)


def test_verify_file_good_tampered_and_mid_chain(core: AuthCore, tmp_path: Path) -> None:
    _append(core, 6, user=3)
    lines = _lines(core)
    n = len(lines)
    rep = auditstream.verify_file(_file(tmp_path, lines))
    assert rep.ok and rep.checked == n and rep.first_seq == 1 and rep.anchored
    head = core.audit.verify()
    assert (rep.last_seq, rep.last_hash) == (head.head_seq, head.head_hash)

    # each way of breaking it names the first broken seq
    def broken(mutated: list[str]) -> auditstream.FileReport:
        r = auditstream.verify_file(_file(tmp_path, mutated, "bad.jsonl"))
        assert not r.ok
        return r

    edited = json.loads(lines[3])
    edited["reason"] += "!"
    r = broken([*lines[:3], json.dumps(edited), *lines[4:]])
    assert r.first_bad_seq == 4 and "altered" in r.problem and r.checked == 3 and r.line == 4
    r = broken(lines[:2] + lines[3:])
    assert r.first_bad_seq == 3 and "missing" in r.problem
    r = broken([*lines[:2], lines[3], lines[2], *lines[4:]])
    assert r.first_bad_seq == 3
    relinked = json.loads(lines[4])
    relinked["prev_hash"] = "0" * 64
    r = broken([*lines[:4], json.dumps(relinked), *lines[5:]])
    assert r.first_bad_seq == 5 and "link" in r.problem
    r = broken([*lines[:2], "not json", *lines[3:]])
    assert r.first_bad_seq == 3 and "line 3" in r.problem
    v2 = json.loads(lines[1])
    v2["v"] = 2
    assert "schema version" in broken([lines[0], json.dumps(v2)]).problem

    # a copy that starts mid-chain: links checked within; anchored by the head before it
    mid = lines[2:]
    r = auditstream.verify_file(_file(tmp_path, mid, "mid.jsonl"))
    assert r.ok and r.first_seq == 3 and not r.anchored
    before = json.loads(lines[1])
    anchor = ExpectedHead(before["seq"], before["hash"])
    r = auditstream.verify_file(_file(tmp_path, mid, "mid.jsonl"), [anchor])
    assert r.ok and r.anchored and r.heads_checked == 1
    r = auditstream.verify_file(_file(tmp_path, mid, "mid.jsonl"), [ExpectedHead(2, "e" * 64)])
    assert not r.ok and r.first_bad_seq == 3
    last = json.loads(lines[-1])
    assert auditstream.verify_file(
        _file(tmp_path, mid, "mid.jsonl"), [ExpectedHead(last["seq"], last["hash"])]
    ).ok
    r = auditstream.verify_file(_file(tmp_path, mid, "mid.jsonl"), [ExpectedHead(last["seq"] + 5, "e" * 64)])
    assert not r.ok and "not in the file" in r.problem


def test_verify_file_agrees_with_the_database_walk_after_a_full_rewrite(
    core: AuthCore, tmp_path: Path
) -> None:
    """A copy shipped before someone rewrote the chain keeps the old hashes: the file checks
    alone, and its last head is what catches the rewrite in the database."""
    from tests.support.audit import rewrite_event

    _append(core, 5)
    shipped = _lines(core)
    rewrite_event(core, 2, "rewritten")
    assert core.audit.verify().ok  # consistent rewrite: the walk alone passes
    rep = auditstream.verify_file(_file(tmp_path, shipped))
    assert rep.ok
    assert rep.last_seq is not None and rep.last_hash is not None
    assert not core.audit.verify(expect=[ExpectedHead(rep.last_seq, rep.last_hash)]).ok


def test_verify_file_refuses_what_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="cannot read"):
        auditstream.verify_file(str(tmp_path / "nope"))
    with pytest.raises(ValidationError, match="not a regular file"):
        auditstream.verify_file(str(tmp_path))
    empty = tmp_path / "empty"
    empty.write_text("\n\n")
    rep = auditstream.verify_file(str(empty))
    assert not rep.ok and "no event" in rep.problem


def test_line_file_resumes_after_its_last_complete_line(core: AuthCore, tmp_path: Path) -> None:
    """``audit tail --out``: the file is its own state; a line torn by a crash is cut off."""
    _append(core, 3)
    lines = _lines(core)
    p = tmp_path / "out.jsonl"
    f = auditstream.LineFile(str(p))
    assert f.last is None
    f.append(lines[:2])
    f.close()
    with p.open("ab") as raw:
        raw.write(lines[2][:40].encode())  # killed mid-write
    f = auditstream.LineFile(str(p))
    second = json.loads(lines[1])
    assert f.last == ExpectedHead(second["seq"], second["hash"])
    assert p.read_text() == lines[0] + "\n" + lines[1] + "\n"  # the torn line is gone
    f.append(lines[2:])
    f.close()
    assert auditstream.verify_file(str(p)).ok
    torn_first = tmp_path / "torn.jsonl"
    torn_first.write_text(lines[0][:10])
    assert auditstream.LineFile(str(torn_first)).last is None and torn_first.read_text() == ""
    other = tmp_path / "notes.txt"
    other.write_text("my notes\n")
    with pytest.raises(ValidationError, match="not an audit event"):
        auditstream.LineFile(str(other))
    assert other.read_text() == "my notes\n"
    with pytest.raises(ValidationError, match="Is a directory"):
        auditstream.LineFile(str(tmp_path))
