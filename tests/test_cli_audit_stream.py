"""``authconsole audit list`` filters and formats, ``audit tail`` (a real ``-f`` process stopped
and restarted while events are written), ``audit verify --file``, and bad input: one line, a
defined exit code, nothing changed."""

from __future__ import annotations

import csv
import io
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest
from sqlalchemy import func, select

from authcore import audit, auditstream
from authcore.audit import EventIn
from authcore.core import AuthCore
from authcore.db import write_tx
from authcore.models import audit_events, audit_head
from console.cli import main
from tests.conftest import ROOT

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def run(capsys, *argv: str) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _seed(core: AuthCore) -> list[int]:
    """Three users and events over six days, two actors, three actions."""
    ids = [core.users.create(f"{n}@example.com", n, n.title()).id for n in ("alice", "bob", "carol")]
    with write_tx(core.engine) as conn:
        for day in range(6):
            audit.append(
                conn,
                [
                    EventIn(
                        f"act{day % 3}", f"op{day % 2}", f"day {day} \u00e9", ids[day % 3], details={"d": day}
                    )
                    for _ in range(2)
                ],
                T0 + timedelta(days=day),
            )
    return ids


def _state(core: AuthCore) -> tuple[int, str]:
    with core.engine.connect() as c:
        n = c.execute(select(func.count()).select_from(audit_events)).scalar_one()
        return n, c.execute(select(audit_head.c.hash)).scalar_one()


def test_list_filters_and_formats(core: AuthCore, db_url: str, capsys) -> None:  # type: ignore[no-untyped-def]
    ids = _seed(core)
    every = core.audit.list(limit=1000)
    db = ("--db", db_url)

    def seqs_jsonl(*args: str) -> list[int]:
        code, out, err = run(capsys, *db, "audit", "list", "--format", "jsonl", "--limit", "1000", *args)
        assert code == 0, err
        lines = [json.loads(t) for t in out.splitlines()]
        for obj in lines:
            jsonschema.validate(obj, auditstream.schema())
        return [o["seq"] for o in lines]

    def want(pred) -> list[int]:  # type: ignore[no-untyped-def]
        return sorted(e.seq for e in every if pred(e))

    assert seqs_jsonl() == want(lambda e: True)  # seq order (a stream's), not newest first
    assert seqs_jsonl("--actor", "op1") == want(lambda e: e.actor == "op1")
    assert seqs_jsonl("--action", "act2") == want(lambda e: e.action == "act2")
    assert seqs_jsonl("--user", "bob") == want(lambda e: e.target_user_id == ids[1])
    assert seqs_jsonl("--since", "4", "--until", "7") == [4, 5, 6, 7] == want(lambda e: 4 <= e.seq <= 7)
    since, until = "2026-11-03", "2026-11-05T00:00Z"
    lo, hi = T0.replace(day=3, hour=0), T0.replace(day=5, hour=0)
    assert seqs_jsonl("--since", since, "--until", until) == want(lambda e: lo <= e.at < hi)
    assert seqs_jsonl("--since", since, "--actor", "op0", "--action", "act1") == want(
        lambda e: e.at >= lo and e.actor == "op0" and e.action == "act1"
    )
    assert seqs_jsonl("--since", "1h") == want(lambda e: e.at >= datetime.now(UTC) - timedelta(hours=1))
    assert seqs_jsonl("--limit", "3") == want(lambda e: True)[-3:]  # the newest three

    code, out, _ = run(capsys, *db, "audit", "list", "--format", "csv", "--actor", "op0")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [int(r["seq"]) for r in rows] == want(lambda e: e.actor == "op0")
    assert json.loads(rows[0]["details"]) == {"d": 0} and rows[0]["reason"] == "day 0 \u00e9"
    assert list(rows[0]) == [f for f in auditstream.FIELDS if f != "v"]

    code, out, _ = run(capsys, *db, "audit", "list", "--action", "act1", "--since", "3")
    assert code == 0
    table = out.splitlines()
    assert table[0].split()[:2] == ["SEQ", "AT"]
    assert [int(t.split()[0]) for t in table[1:]] == sorted(
        want(lambda e: e.action == "act1" and e.seq >= 3), reverse=True
    )

    code, out, _ = run(capsys, *db, "audit", "list", "--actor", "nobody", "--format", "jsonl")
    assert (code, out) == (0, "")
    code, out, _ = run(capsys, *db, "--json", "audit", "list", "--actor", "op1", "--since", "2026-11-02")
    assert code == 0 and [e["seq"] for e in json.loads(out)["events"]] == sorted(
        want(lambda e: e.actor == "op1" and e.at >= T0.replace(day=2, hour=0)), reverse=True
    )


BAD = [
    (["audit", "list", "--since", "yesterday"], 2, "--since: not a time or seq"),
    (["audit", "list", "--until", "2026-13-45"], 2, "--until: not a time or seq"),
    (["audit", "list", "--since", "-5"], 2, "--since"),
    (["audit", "list", "--since", "9", "--until", "3"], 2, "--since is after --until"),
    (["audit", "list", "--since", "2026-11-05", "--until", "2026-11-01"], 2, "is not before --until"),
    (["audit", "list", "--format", "xml"], 2, "invalid choice"),
    (["audit", "list", "--limit", "0"], 2, "the limit must be an integer 1..1000"),
    (["audit", "list", "--limit", "abc"], 2, "the limit"),
    (["audit", "list", "--actor", "a\x1b[2Jb"], 2, "not a name"),
    (["audit", "list", "--action", ""], 2, "not a name"),
    (["--json", "audit", "list", "--format", "jsonl"], 2, "choose one"),
    (["audit", "list", "--user-events", "--since", "3"], 2, "--user-events takes only"),
    (["audit", "list", "--user", "nobody-at-all"], 1, "no user"),
    (["audit", "tail", "--from-seq", "-1"], 2, "a seq must be an integer"),
    (["audit", "tail", "--poll", "0"], 2, "poll interval"),
    (["audit", "tail", "--poll", "nan"], 2, "poll interval"),
    (["audit", "tail", "--fo"], 2, "unrecognized arguments"),
    (["audit", "tail", "--out", "o.jsonl", "--state", "s"], 2, "--out is its own state"),
    (
        ["audit", "tail", "--out", "/dev/null"],
        2,
        "--out: /dev/null is not a regular file",
    ),  # no abbreviation reaches --follow
    (["audit", "verify", "--file", "/nonexistent/events.jsonl"], 2, "cannot read"),
    (["audit", "verify", "--file", "/dev/null"], 2, "not a regular file"),
    (["audit", "verify", "--file", "x", "--seals", "s", "--pubkey", "p"], 2, "--file checks a copy"),
]


@pytest.mark.parametrize(("argv", "code", "says"), BAD, ids=[" ".join(b[0])[:50] for b in BAD])
def test_bad_input_is_one_line_and_changes_nothing(  # type: ignore[no-untyped-def]
    core: AuthCore, db_url: str, capsys, argv: list[str], code: int, says: str
) -> None:
    _seed(core)
    before = _state(core)
    got, out, err = run(capsys, "--db", db_url, *argv)
    assert got == code, err
    assert says in err and err.count("\n") == 1 and "Traceback" not in err
    assert _state(core) == before


def test_tail_state_file_errors(core: AuthCore, db_url: str, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "state"
    bad.write_text("not a state\n")
    code, out, err = run(capsys, "--db", db_url, "audit", "tail", "--state", str(bad))
    assert code == 2 and "--state: the state file does not hold SEQ:HASH" in err and out == ""
    assert bad.read_text() == "not a state\n"
    code, _, err = run(capsys, "--db", db_url, "audit", "tail", "--state", str(tmp_path))
    assert code == 2 and "not a regular file" in err


def test_tail_exports_and_resumes_then_verify_file(
    core: AuthCore, db_url: str, tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    _seed(core)
    state = tmp_path / "state"
    code, first, err = run(capsys, "--db", db_url, "audit", "tail", "--state", str(state))
    assert code == 0, err
    n = len(first.splitlines())
    last = json.loads(first.splitlines()[-1])
    assert state.read_text() == f"{last['seq']}:{last['hash']}\n"
    code, again, _ = run(capsys, "--db", db_url, "audit", "tail", "--state", str(state))
    assert (code, again) == (0, "")  # nothing new, nothing repeated
    core.admin.revoke_tokens(1, "after the export")
    code, more, _ = run(capsys, "--db", db_url, "audit", "tail", "--state", str(state))
    assert [json.loads(t)["seq"] for t in more.splitlines()] == [n + 1]
    code, mid, _ = run(capsys, "--db", db_url, "audit", "tail", "--from-seq", "5")
    assert [json.loads(t)["seq"] for t in mid.splitlines()] == list(range(6, n + 2))

    copy = tmp_path / "events.jsonl"
    copy.write_text(first + more)
    code, out, err = run(capsys, "audit", "verify", "--file", str(copy))  # no database at all
    assert code == 0 and out.startswith(f"file chain intact: {n + 1} events, seq 1..{n + 1}"), err
    lines = (first + more).splitlines()
    obj = json.loads(lines[4])
    obj["actor"] = "mallory"
    lines[4] = json.dumps(obj)
    copy.write_text("\n".join(lines) + "\n")
    code, out, _ = run(capsys, "audit", "verify", "--file", str(copy))
    assert code == 1 and "event seq 5 (line 5) was altered" in out
    code, out, _ = run(capsys, "--json", "audit", "verify", "--file", str(copy))
    rep = json.loads(out)
    assert code == 1 and rep["ok"] is False and rep["first_bad_seq"] == 5 and rep["line"] == 5

    tail_part = tmp_path / "tail.jsonl"
    tail_part.write_text(mid)
    code, out, _ = run(capsys, "audit", "verify", "--file", str(tail_part))
    assert code == 0 and "first link unchecked" in out
    five = json.loads(first.splitlines()[4])
    code, out, _ = run(
        capsys, "audit", "verify", "--file", str(tail_part), "--expect-head", f"5:{five['hash']}"
    )
    assert code == 0 and "from the expected head" in out
    code, out, _ = run(capsys, "audit", "verify", "--file", str(tail_part), "--expect-head", f"5:{'0' * 64}")
    assert code == 1 and "event seq 6 (line 1) does not link to the expected head" in out


def test_tail_without_follow_on_a_dead_database_is_one_line(capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run(capsys, "--db", "postgresql+psycopg://nobody@127.0.0.1:1/none", "audit", "tail")
    assert code == 5 and out == "" and err.count("\n") == 1 and "database unavailable" in err


# -- a real follower, stopped and restarted while events are written -------------------------


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTHCONSOLE", "AUTHCORE"))}
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / "cfg"),
        XDG_DATA_HOME=str(home / "d"),
        AUTHCONSOLE_CONFIG=str(home / "config.toml"),
        PYTHONPATH=str(ROOT),
    )
    return env


TAIL = [sys.executable, "-m", "console", "audit", "tail", "-f", "--poll", "0.1"]


def _follower(db_url: str, state: Path, out: Path, home: Path) -> subprocess.Popen[bytes]:
    with out.open("wb") as f:
        return subprocess.Popen(
            [*TAIL, "--db", db_url, "--state", str(state)],
            stdout=f,
            stderr=subprocess.PIPE,
            cwd=ROOT,
            env=_env(home),
        )


def _seqs(path: Path) -> list[int]:
    return [json.loads(t)["seq"] for t in path.read_text().splitlines() if t.endswith("}")]


def _until(cond, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.05)


def test_tail_follow_survives_stop_and_restart_with_concurrent_writes(  # type: ignore[no-untyped-def]
    core: AuthCore, db_url: str, tmp_path: Path, hermetic_env: Path
) -> None:
    """Four runs of a real ``audit tail -f --state``, stopped by SIGTERM, SIGINT and SIGKILL
    and restarted each time, while a writer appends events (three per transaction) the whole
    time. SIGTERM/SIGINT: nothing lost, nothing repeated. SIGKILL: nothing lost; a repeat can
    only be what was written after the last saved state (the next run starts after it)."""
    state = tmp_path / "state"
    with write_tx(core.engine) as conn:
        audit.append(conn, [EventIn("w", "writer", "first")], datetime.now(UTC))
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        i = 0
        try:
            while not stop.is_set():
                with write_tx(core.engine) as conn:
                    audit.append(
                        conn, [EventIn("w", "writer", f"{i}.{k}") for k in range(3)], datetime.now(UTC)
                    )
                i += 1
                time.sleep(0.02)
        except BaseException as e:  # noqa: BLE001 - reported by the test
            errors.append(e)

    outs = [tmp_path / f"run{i}.jsonl" for i in range(4)]
    w = threading.Thread(target=writer)
    p = _follower(db_url, state, outs[0], hermetic_env)
    try:
        _until(lambda: outs[0].exists() and len(_seqs(outs[0])) >= 1)
        w.start()
        codes = []
        saved_at_kill = 0
        for i, sig in enumerate((signal.SIGTERM, signal.SIGINT, signal.SIGKILL)):
            _until(lambda i=i: len(_seqs(outs[i])) >= 20)  # mid-stream
            p.send_signal(sig)
            p.wait(timeout=30)
            codes.append(p.returncode)
            if sig == signal.SIGKILL:
                saved_at_kill = int(state.read_text().split(":")[0])
            p = _follower(db_url, state, outs[i + 1], hermetic_env)
        _until(lambda: len(_seqs(outs[3])) >= 20)
        stop.set()
        w.join(timeout=60)
        assert not errors
        total = core.audit.verify().head_seq
        _until(lambda: (_seqs(outs[3]) or [0])[-1] == total)
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)
        codes.append(p.returncode)
        stderr = (p.stderr.read() if p.stderr else b"").decode()
    finally:
        stop.set()
        if p.poll() is None:
            p.kill()
            p.wait()
    assert codes == [0, 130, -signal.SIGKILL, 0], stderr
    runs = [_seqs(o) for o in outs]
    for r in runs:
        assert r == list(range(r[0], r[0] + len(r)))  # in order, no hole, within a run
    # SIGTERM and SIGINT stops: the next run starts exactly after the last line written
    assert runs[1][0] == runs[0][-1] + 1 and runs[2][0] == runs[1][-1] + 1
    # SIGKILL: the next run starts after the saved state, never beyond what was written
    assert runs[3][0] == saved_at_kill + 1 <= runs[2][-1] + 1
    merged = sorted(set().union(*runs))
    assert merged == list(range(1, total + 1))  # nothing lost
    # the follower's lines, deduplicated by seq, are a chain the file check accepts
    seen: dict[int, str] = {}
    for o in outs:
        for t in o.read_text().splitlines():
            seen.setdefault(json.loads(t)["seq"], t)
    copy = tmp_path / "shipped.jsonl"
    copy.write_text("".join(seen[s] + "\n" for s in merged))
    assert auditstream.verify_file(str(copy)).ok


def _append_until(core: AuthCore, stop: threading.Event, pause_s: float) -> None:
    """A writer's loop: three audit events a transaction, every ``pause_s``, until ``stop``."""
    i = 0
    while not stop.is_set():
        with write_tx(core.engine) as conn:
            audit.append(conn, [EventIn("w", "writer", f"{i}.{k}") for k in range(3)], datetime.now(UTC))
        i += 1
        time.sleep(pause_s)


def test_tail_out_file_is_exact_across_kill_9(  # type: ignore[no-untyped-def]
    core: AuthCore, db_url: str, tmp_path: Path, hermetic_env: Path
) -> None:
    """``audit tail -f --out FILE`` SIGKILLed three times while a writer commits events, and
    restarted each time: the file holds every event exactly once, in order, and its chain checks."""
    out = tmp_path / "shipped.jsonl"
    with write_tx(core.engine) as conn:
        audit.append(conn, [EventIn("w", "writer", "first")], datetime.now(UTC))
    stop = threading.Event()

    def writer() -> None:
        _append_until(core, stop, 0.01)

    def follower() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [*TAIL, "--db", db_url, "--out", str(out)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=ROOT,
            env=_env(hermetic_env),
        )

    def count() -> int:
        return out.read_bytes().count(b"\n") if out.exists() else 0

    w = threading.Thread(target=writer)
    p = follower()
    try:
        _until(lambda: count() >= 1)
        w.start()
        for _ in range(3):
            n = count()
            _until(lambda n=n: count() >= n + 15)
            p.kill()
            p.wait(timeout=30)
            p = follower()
        stop.set()
        w.join(timeout=60)
        # one event only this follower can ship: once it is in the file, the follower is past its
        # start-up (signal handlers set), so the SIGTERM below is a stop, not a kill mid-import
        # (the earlier follower may already have shipped everything else: CI saw exit -15)
        with write_tx(core.engine) as conn:
            audit.append(conn, [EventIn("w", "writer", "last")], datetime.now(UTC))
        total = core.audit.verify().head_seq
        _until(lambda: count() == total)
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)
        stderr = (p.stderr.read() if p.stderr else b"").decode()
    finally:
        stop.set()
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, stderr
    assert _seqs(out) == list(range(1, total + 1))
    assert auditstream.verify_file(str(out)).ok


# -- the database goes away under a follower, and comes back --------------------------------


@pytest.fixture
def own_pg_db():  # type: ignore[no-untyped-def]
    """A PostgreSQL of the test's own (never the shared one) with an authcore database."""
    from bench.faultkit import OwnPostgres, create_database, unavailable_reason

    reason = unavailable_reason()
    if reason:
        pytest.skip(f"needs its own PostgreSQL: {reason}")
    server = OwnPostgres()
    try:
        yield server, create_database(server, "auditstream_follow")
    finally:
        server.close()


@pytest.mark.faults
def test_tail_follow_reconnects_with_backoff_when_the_server_dies(
    own_pg_db, tmp_path: Path, hermetic_env: Path
) -> None:  # type: ignore[no-untyped-def]
    """The server is killed (``pg_ctl -m immediate``) under ``audit tail -f``: one line says the
    database is away and that it retries; events committed after the restart arrive, with one
    line saying it answers again; nothing lost or repeated across the outage."""
    from authcore.config import Config
    from authcore.db import make_engine

    server, url = own_pg_db

    def write(n: int) -> None:
        core = AuthCore(make_engine(url), Config(), actor="writer")
        with write_tx(core.engine) as conn:
            audit.append(conn, [EventIn("w", "writer", str(i)) for i in range(n)], datetime.now(UTC))
        core.engine.dispose()

    write(3)
    out, err, state = tmp_path / "out.jsonl", tmp_path / "err.txt", tmp_path / "state"
    with out.open("wb") as o, err.open("wb") as e:
        p = subprocess.Popen(
            [*TAIL, "--db", url, "--state", str(state)], stdout=o, stderr=e, cwd=ROOT, env=_env(hermetic_env)
        )
    try:
        _until(lambda: len(_seqs(out)) == 3)
        server.kill("immediate")
        _until(lambda: "retrying with backoff" in err.read_text(), 60)
        assert p.poll() is None  # still following
        server.start()
        write(4)
        _until(lambda: len(_seqs(out)) == 7, 90)
        _until(lambda: "answers again" in err.read_text(), 30)
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0
    assert _seqs(out) == list(range(1, 8))
    lines = err.read_text().splitlines()
    assert len(lines) == 2 and "Traceback" not in err.read_text(), lines
    assert "database unavailable" in lines[0] and "following after seq 3" in lines[1]
    assert auditstream.verify_file(str(out)).ok


def test_tail_stopped_by_sigterm_at_any_moment_exits_0(  # type: ignore[no-untyped-def]
    core: AuthCore, db_url: str, tmp_path: Path, hermetic_env: Path
) -> None:
    """``audit tail -f --out FILE`` SIGTERMed 20 times at random moments while a writer commits
    (so many land during a read): every stop exits 0 and the file stays exact. A stop raised
    inside the driver's read once left the pooled connection mid-query; its reset failed ("can't
    change 'autocommit' now") and the stop exited 5 (seen in CI on PostgreSQL)."""
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    out = tmp_path / "shipped.jsonl"
    with write_tx(core.engine) as conn:
        audit.append(conn, [EventIn("w", "writer", "first")], datetime.now(UTC))
    stop = threading.Event()

    def writer() -> None:
        _append_until(core, stop, 0.005)

    def count() -> int:
        return out.read_bytes().count(b"\n") if out.exists() else 0

    w = threading.Thread(target=writer)
    codes: list[tuple[int | None, str]] = []
    w.start()
    try:
        for _ in range(20):
            p = subprocess.Popen(
                [*TAIL, "--db", db_url, "--out", str(out)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                cwd=ROOT,
                env=_env(hermetic_env),
            )
            n = count()
            _until(lambda n=n: count() > n)  # following, mid-stream
            time.sleep(rng.uniform(0, 0.05))
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=30)
            codes.append((p.returncode, (p.stderr.read() if p.stderr else b"").decode()))
    finally:
        stop.set()
        w.join(timeout=60)
    assert [c for c, _ in codes] == [0] * 20, f"seed {seed}: {[c for c in codes if c[0] != 0]}"
    seqs = _seqs(out)
    assert seqs == list(range(1, len(seqs) + 1)), f"seed {seed}"
    assert auditstream.verify_file(str(out)).ok
