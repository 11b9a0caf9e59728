"""authcore.relay and the bus verifier (authcore/verifier/bus.py), against a real PostgreSQL and a
real NATS: the shared server (a stream and subject of each test's own, deleted after) and, for
the kill tests, a nats-server of the test's own on a free port.

What each test proves is in its docstring. PostgreSQL only: the relay reads NOTIFY."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Self

import pytest
from sqlalchemy import event, select

from authcore import notices
from authcore.config import Config, TokenSettings
from authcore.core import AuthCore
from authcore.db import make_engine
from authcore.errors import TokenError, TokenRevoked, ValidationError
from authcore.models import revocations, users
from authcore.relay import Relay
from authcore.relay.bus import decode_ids, encode_ids
from authcore.relay.scan import Scanner
from authcore.revocation import Kind, Notice
from authcore.verifier import Verifier
from bench.faultkit import Proxy
from tests.support import ROOT, TEST_SECRET
from tests.support.nats import (
    delete_stream,
    own_nats,
    shared_url,
    stream_count,
    stream_messages,
    unique_names,
)
from tests.support.pg import reset_pg

pytestmark = pytest.mark.pg


@pytest.fixture
def pg(pg_url: str) -> Iterator[AuthCore]:
    """A core on an empty PostgreSQL database of the run's own."""
    reset_pg(pg_url)
    core = AuthCore(make_engine(pg_url), Config(tokens=TokenSettings(secret=TEST_SECRET)), actor="test")
    yield core
    core.engine.dispose()


@pytest.fixture
def names() -> Iterator[tuple[str, str]]:
    """A stream and subject of this test's own on the shared server, deleted afterwards."""
    url = shared_url()
    stream, subject = unique_names()
    yield stream, subject
    delete_stream(url, stream)


@pytest.fixture
def closing() -> Iterator[Callable[[Any], Any]]:
    """Close every relay/verifier a test made, even when it fails."""
    made: list[Any] = []
    yield lambda obj: made.append(obj) or obj
    for obj in reversed(made):
        obj.close()


def _wait(cond: Callable[[], bool], bound: float, what: str) -> None:
    deadline = time.monotonic() + bound
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def _refused(v: Verifier, token: str) -> bool:
    try:
        v.verify_access(token)
    except TokenError:
        return True
    return False


class AllQueries:
    """Statements sent through the engine by any thread (a verifier's resync runs on its own)."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.seen: list[str] = []

    def _count(self, conn: Any, cursor: Any, statement: str, *a: Any) -> None:
        self.seen.append(statement)

    def __enter__(self) -> Self:
        event.listen(self.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._count)


# -- pieces --------------------------------------------------------------------------------------


def test_id_ranges_round_trip() -> None:
    for ids in ([], [5], [1, 2, 3], [1, 3, 4, 5, 9, 10, 20]):
        assert decode_ids(encode_ids(ids)) == set(ids)
    assert encode_ids([3, 1, 2, 7]) == "1-3,7"
    for bad in ("x", "5-3", "1-99999999999"):
        with pytest.raises(ValueError, match=r"."):
            decode_ids(bad)


def test_bad_bus_arguments_are_refused(pg: AuthCore) -> None:
    for url in ("http://127.0.0.1:4222", "", "127.0.0.1:4222"):
        with pytest.raises(ValidationError, match="nats://"):
            Relay(pg, url, start=False)
        with pytest.raises(ValidationError, match="nats://"):
            Verifier(pg, bus=url, start=False)
    with pytest.raises(ValidationError, match="stream"):
        Relay(pg, "nats://127.0.0.1:4222", stream="a.b", start=False)


def test_the_scanner_waits_for_ids_that_commit_out_of_order(pg: AuthCore) -> None:
    """An id taken by a transaction still open is not skipped: the floor stays below it until it
    commits (then it is read) or ends without committing (then the gap is settled by the
    transaction horizon, not by a timeout)."""
    from datetime import UTC, datetime

    from authcore.relay.service import relay_listen_url
    from authcore.verifier.listen import open_listener

    eng = pg.engine
    now = datetime.now(UTC)
    conn = open_listener(relay_listen_url(pg, None), "authcore-test-scan", 2)
    try:
        sc = Scanner(0)

        def step() -> list[tuple[int, ...]]:
            s = sc.scan(conn, eng.dialect)
            for c in s.chunks:
                sc.published(c.ids)
            sc.settle(s)
            return [c.ids for c in s.chunks]

        slow = eng.connect()
        tx = slow.begin()
        notices.publish(slow, now, Kind.VERSION, [7], [2])  # takes id 1, stays open
        with eng.begin() as c:
            notices.publish(c, now, Kind.VERSION, [8], [3])  # id 2 commits first
        assert step() == [(2,)]
        assert (sc.floor, sc.gaps) == (0, {1: None})
        assert step() == [] and sc.floor == 0 and sc.gaps[1] is not None
        assert step() == [] and sc.floor == 0  # still open: still waited for
        tx.commit()
        slow.close()
        assert step() == [(1,)]
        assert (sc.floor, sc.gaps, sc.above) == (2, {}, set())

        gone = eng.connect()
        tx = gone.begin()
        notices.publish(gone, now, Kind.VERSION, [9], [4])  # id 3: will roll back
        with eng.begin() as c:
            notices.publish(c, now, Kind.DISABLED, [10], [5])  # id 4
        assert step() == [(4,)] and sc.floor == 2
        tx.rollback()
        gone.close()
        for _ in range(3):
            step()
        assert (sc.floor, sc.gaps) == (4, {})  # settled: id 3 never committed
    finally:
        conn.close()


# -- relay and bus verifier on the shared server ------------------------------------------------


def test_a_revocation_reaches_a_bus_verifier_without_a_listen_connection(
    pg: AuthCore, names: tuple[str, str], closing: Callable[[Any], Any]
) -> None:
    """The relay's message is the notice (one format, its row id as Nats-Msg-Id), the verifier
    applies it from the bus and refuses from its cache; only the relay LISTENs."""
    stream, subject = names
    url = shared_url()
    alice = pg.users.create("alice@example.com", "alice")
    relay = closing(Relay(pg, url, stream=stream, subject=subject, staleness=1, application_name="t-relay"))
    assert relay.wait_ready(10), relay.stats()
    v = closing(
        Verifier(
            pg, bus=url, bus_stream=stream, bus_subject=subject, staleness=1, application_name="t-verifier"
        )
    )
    assert v.wait_ready(10), v.stats()
    tok = pg.tokens.issue_pair(alice.id).access_token
    v.verify_access(tok)
    pg.admin.revoke_tokens(alice.id, "stolen")
    _wait(lambda: _refused(v, tok), 2, "the bus to refuse")
    st = v.stats()
    assert st.mode == "bus" and st.fresh and st.db_fallbacks == 0 and st.bus_seq == 1, st
    (msg,) = stream_messages(url, stream)
    with pg.engine.connect() as c:
        (row_id,) = c.execute(select(revocations.c.id)).scalars().all()
    assert msg.headers["Nats-Msg-Id"] == str(row_id)
    with pg.engine.connect() as c:
        version = c.execute(select(users.c.token_version).where(users.c.id == alice.id)).scalar_one()
    assert Notice.decode(msg.data.decode()) == Notice.of(Kind.VERSION, [alice.id], [version])
    with pg.engine.connect() as c:
        listening = c.exec_driver_sql(
            "SELECT application_name FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name LIKE 't-%%'"
        ).all()
    assert [r[0] for r in listening] == ["t-relay"]  # the verifier holds no connection of its own


def _relay_proc(db: str, bus: str, stream: str, subject: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": db, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(  # the CLI, as a service runs it
        [
            sys.executable,
            "-m",
            "console.cli",
            "relay",
            "--bus",
            bus,
            "--stream",
            stream,
            "--subject",
            subject,
            "--staleness",
            "1",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_relay_killed_mid_burst_loses_and_repeats_nothing(
    pg: AuthCore, pg_url: str, names: tuple[str, str], closing: Callable[[Any], Any]
) -> None:
    """100 revocations from 4 threads (ids commit out of order); the relay process is SIGKILLed
    part way and started again: every revocations row is in exactly one stream message, and a
    bus verifier refuses all 100 users."""
    stream, subject = names
    url = shared_url()
    users = [pg.users.create(f"u{i}@example.com", f"u{i}").id for i in range(100)]
    toks = {u: pg.tokens.issue_pair(u).access_token for u in users}
    first = _relay_proc(pg_url, url, stream, subject)
    try:
        _wait(lambda: first.stdout is not None and bool(first.stdout.readline()), 20, "the relay to start")
        v = closing(Verifier(pg, bus=url, bus_stream=stream, bus_subject=subject, staleness=30))
        assert v.wait_ready(20), v.stats()
        for t in toks.values():
            v.verify_access(t)
        done: list[int] = []
        lock = threading.Lock()

        def revoke(part: list[int]) -> None:
            for u in part:
                pg.admin.revoke_tokens(u, "burst")
                with lock:
                    done.append(u)

        threads = [threading.Thread(target=revoke, args=(users[i::4],)) for i in range(4)]
        for t in threads:
            t.start()
        # killed mid-burst: at least 30 revoked and the first relay has published some
        _wait(lambda: len(done) >= 30 and stream_count(url, stream) > 0, 60, "30 revocations")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        at_kill = len(stream_messages(url, stream))
        for t in threads:
            t.join(60)
        assert len(done) == 100
        second = _relay_proc(pg_url, url, stream, subject)
        try:
            _wait(lambda: len(stream_messages(url, stream)) >= 100, 30, "the restarted relay to catch up")
            time.sleep(1.5)  # a repeat would show up here
            msgs = stream_messages(url, stream)
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(15) == 0
            err = second.stderr.read().decode() if second.stderr else ""
            assert "Traceback" not in err
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(10)
    with pg.engine.connect() as c:
        rows = dict(c.execute(select(revocations.c.id, revocations.c.user_id)).all())
    ids = [i for m in msgs for i in sorted(decode_ids(m.headers["Nats-Msg-Id"]))]
    assert 0 < at_kill < 100, at_kill  # killed mid-burst: both relays published
    assert len(ids) == len(set(ids)) == len(rows) == 100  # nothing repeated
    assert set(ids) == set(rows)  # nothing lost
    for m in msgs:
        n = Notice.decode(m.data.decode())
        assert set(n.user_ids) == {rows[i] for i in decode_ids(m.headers["Nats-Msg-Id"])}
    _wait(lambda: all(_refused(v, t) for t in toks.values()), 10, "every user refused on the bus")
    assert v.stats().db_fallbacks == 0


def test_a_disconnected_verifier_replays_from_its_last_sequence(
    pg: AuthCore, names: tuple[str, str], closing: Callable[[Any], Any]
) -> None:
    """The verifier's connection (through a proxy) is cut and held down while revocations are
    published; on reconnect it replays the stream from the sequence after its last one: every
    revocation is in its cache and no cached user was re-read from the database."""
    stream, subject = names
    url = shared_url()
    port = int(url.rsplit(":", 1)[1])
    users = [pg.users.create(f"r{i}@example.com", f"r{i}").id for i in range(3)]
    relay = closing(Relay(pg, url, stream=stream, subject=subject, staleness=1))
    assert relay.wait_ready(10)
    proxy = closing(Proxy(port))
    # a long bound: the cache stays in use while away, so only the replay can bring the
    # revocations in (no per-request database fallback)
    v = closing(
        Verifier(
            pg, bus=f"nats://127.0.0.1:{proxy.port}", bus_stream=stream, bus_subject=subject, staleness=30
        )
    )
    assert v.wait_ready(10), v.stats()
    toks = {u: pg.tokens.issue_pair(u).access_token for u in users}
    for t in toks.values():
        v.verify_access(t)
    pg.admin.revoke_tokens(users[0], "before")
    _wait(lambda: _refused(v, toks[users[0]]), 5, "the first revocation")
    seq_before, resyncs_before = v.stats().bus_seq, v.stats().resyncs
    assert seq_before == 1

    with AllQueries(pg.engine) as q:
        proxy.silence()
        proxy.cut()
        _wait(lambda: not v.stats().connected, 5, "the verifier to notice")
        toks[users[0]] = pg.tokens.issue_pair(users[0]).access_token
        for u in users:
            pg.admin.revoke_tokens(u, "while away")
        pg.admin.set_disabled(users[2], True, "while away")
        _wait(lambda: relay.stats().last_seq == 5, 5, "the relay to publish")
        assert not any(_refused(v, toks[u]) for u in users[1:])  # not applied yet
        n_before = len(q.seen)
        proxy.resume()
        _wait(lambda: v.stats().bus_seq == 5, 15, "the replay")
        resync_reads = [s for s in q.seen[n_before:] if "FROM users" in s]
    st = v.stats()
    assert st.reconnects >= 1 and st.resyncs == resyncs_before, st
    assert resync_reads == []  # replayed: no cached user re-read
    with AllQueries(pg.engine) as q:
        assert all(_refused(v, toks[u]) for u in users)
        assert q.seen == []  # from the cache


def test_a_stream_that_lost_the_sequence_means_a_resync(
    pg: AuthCore, names: tuple[str, str], closing: Callable[[Any], Any]
) -> None:
    """When the stream no longer holds the sequence a verifier needs (here: purged while it was
    away), it re-reads its cached users from PostgreSQL, the source of truth."""
    import asyncio

    import nats

    stream, subject = names
    url = shared_url()
    port = int(url.rsplit(":", 1)[1])
    uid = pg.users.create("p@example.com", "p").id
    relay = closing(Relay(pg, url, stream=stream, subject=subject, staleness=1))
    assert relay.wait_ready(10)
    proxy = closing(Proxy(port))
    v = closing(
        Verifier(
            pg, bus=f"nats://127.0.0.1:{proxy.port}", bus_stream=stream, bus_subject=subject, staleness=30
        )
    )
    assert v.wait_ready(10)
    tok = pg.tokens.issue_pair(uid).access_token
    v.verify_access(tok)
    resyncs = v.stats().resyncs
    proxy.silence()
    proxy.cut()
    _wait(lambda: not v.stats().connected, 5, "the verifier to notice")
    pg.admin.revoke_tokens(uid, "while away")
    _wait(lambda: relay.stats().last_seq == 1, 5, "the relay to publish")

    async def purge() -> None:
        nc = await nats.connect(servers=[url], connect_timeout=2, allow_reconnect=False)
        try:
            await nc.jetstream(timeout=2).purge_stream(stream)
        finally:
            await nc.close()

    asyncio.run(purge())
    proxy.resume()
    _wait(lambda: v.stats().resyncs > resyncs, 15, "the resync")
    assert _refused(v, tok)


# -- a nats-server of the test's own: the bus goes down ------------------------------------------


def test_bus_down_past_the_staleness_bound_falls_back_to_the_database(
    pg: AuthCore, closing: Callable[[Any], Any]
) -> None:
    """The nats-server is SIGKILLed: past the staleness bound the verifier is stale and checks
    the database, so a revocation made while the bus is down is refused; both the relay and the
    verifier come back by themselves when the server does (same port and store)."""
    with own_nats() as server:
        stream, subject = unique_names()
        relay = closing(Relay(pg, server.url, stream=stream, subject=subject, staleness=0.5))
        assert relay.wait_ready(10)
        v = closing(Verifier(pg, bus=server.url, bus_stream=stream, bus_subject=subject, staleness=0.5))
        assert v.wait_ready(10)
        uid = pg.users.create("d@example.com", "d").id
        tok = pg.tokens.issue_pair(uid).access_token
        v.verify_access(tok)
        server.kill()
        t0 = time.monotonic()
        _wait(lambda: not v.is_fresh(), 2, "the verifier to go stale")
        assert time.monotonic() - t0 < 0.5 + 1.0  # within the bound (+ slack for a loaded host)
        assert not v.stats().connected
        pg.admin.revoke_tokens(uid, "bus down")
        fallbacks = v.stats().db_fallbacks
        with pytest.raises(TokenRevoked):
            v.verify_access(tok)  # answered by the database
        assert v.stats().db_fallbacks == fallbacks + 1
        server.start()
        _wait(lambda: v.is_fresh() and v.stats().connected, 15, "the verifier to come back")
        _wait(lambda: relay.stats().connected, 15, "the relay to come back")
        tok2 = pg.tokens.issue_pair(uid).access_token
        v.verify_access(tok2)
        pg.admin.revoke_tokens(uid, "bus back")
        _wait(lambda: _refused(v, tok2), 3, "the bus to refuse again")
        assert v.stats().db_fallbacks == fallbacks + 1  # refused from the cache: the bus again


def test_a_silent_bus_counts_as_down(pg: AuthCore, closing: Callable[[Any], Any]) -> None:
    """A server that stops answering (a proxy that forwards nothing) is down for the verifier
    within its flush bound, and it goes stale: no call waits on it unbounded."""
    with own_nats() as server:
        stream, subject = unique_names()
        relay = closing(Relay(pg, server.url, stream=stream, subject=subject, staleness=1))
        assert relay.wait_ready(10)
        proxy = closing(Proxy(server.port))
        v = closing(
            Verifier(
                pg,
                bus=f"nats://127.0.0.1:{proxy.port}",
                bus_stream=stream,
                bus_subject=subject,
                staleness=1,
            )
        )
        assert v.wait_ready(10)
        proxy.silence()
        t0 = time.monotonic()
        _wait(lambda: not v.is_fresh(), 3, "stale")
        _wait(lambda: not v.stats().connected, 3, "the flush to time out")
        assert time.monotonic() - t0 < 1 + 0.25 + 0.5 + 1.0  # bound + quiet beat + flush bound + slack
        proxy.resume()
        _wait(lambda: v.is_fresh(), 15, "back")


def test_cli_relay_refuses_bad_input_in_one_line(pg_url: str, tmp_path: Any) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for args, db in (
        (["--bus", "http://x"], pg_url),
        (["--bus", "nats://127.0.0.1:4222"], f"sqlite:///{tmp_path / 'none.db'}"),
        (["--bus", "nats://127.0.0.1:4222", "--staleness", "0"], pg_url),
    ):
        p = subprocess.run(
            [sys.executable, "-m", "console.cli", "--db", db, "relay", *args],
            env=env,
            capture_output=True,
            timeout=60,
        )
        err = p.stderr.decode()
        assert p.returncode in (1, 3, 5), (args, p.returncode, err)
        assert err.count("\n") == 1 and "Traceback" not in err, err


def test_a_forked_bus_verifier_starts_over_in_the_child(
    pg: AuthCore, names: tuple[str, str], closing: Callable[[Any], Any]
) -> None:
    """gunicorn --preload: a bus verifier built before os.fork gets its own thread, NATS
    connection and consumer in the child (started at the stream's end: its cache is empty),
    is refused there after a revocation, and the parent's keeps working."""
    stream, subject = names
    url = shared_url()
    uid = pg.users.create("f@example.com", "f").id
    relay = closing(Relay(pg, url, stream=stream, subject=subject, staleness=1))
    assert relay.wait_ready(10)
    v = closing(Verifier(pg, bus=url, bus_stream=stream, bus_subject=subject, staleness=1))
    assert v.wait_ready(10)
    tok = pg.tokens.issue_pair(uid).access_token
    v.verify_access(tok)
    ready_r, ready_w = os.pipe()
    done_r, done_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report one line, never return into pytest
        code = 1
        try:
            fresh = v.wait_ready(10)
            v.verify_access(tok)
            alive = v.thread_alive and v.stats().connected
            os.write(ready_w, b"r")
            refused = v.wait_refused(tok, 10) is not None
            os.write(done_w, json.dumps({"fresh": fresh, "alive": alive, "refused": refused}).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(ready_w)
    os.close(done_w)
    assert os.read(ready_r, 1) == b"r"
    pg.admin.revoke_tokens(uid, "fork")
    got = json.loads(os.read(done_r, 1000) or b"{}")
    _, status = os.waitpid(pid, 0)
    assert status == 0 and got == {"fresh": True, "alive": True, "refused": True}, (status, got)
    _wait(lambda: _refused(v, tok), 3, "the parent's verifier to refuse too")
    assert v.stats().connected and v.stats().db_fallbacks == 0
