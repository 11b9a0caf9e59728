"""The app path through PgBouncer in transaction mode (issue 17 item 3).

A real PgBouncer (Debian's package; ``tests/support/pgbouncer.py`` starts it per session and
stops it by PID) in front of the run's PostgreSQL database, with fewer server connections than
clients, so consecutive transactions of one client run on different server connections and
clients' transactions interleave on the same ones. The controls show what the ``pooled`` option
prevents: an engine without it leaks its session ``SET`` to other clients and collides on
psycopg's prepared statements.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from authcore.config import Config, TokenSettings
from authcore.core import AuthCore
from authcore.db import begin_sql, is_pooled, make_engine
from authcore.errors import SessionInvalid, TokenRevoked, ValidationError
from authcore.fastpath import Writer
from authcore.verifier import Verifier
from tests.conftest import TEST_SECRET, reset_pg
from tests.support.pgbouncer import Bouncer, run_pgbouncer

pytestmark = pytest.mark.pg

POOL_SIZE = 2  # server connections per database: fewer than the clients below
CLIENTS = 6


@pytest.fixture(scope="session")
def bouncer(pg_url: str) -> Iterator[Bouncer]:
    with run_pgbouncer(pg_url, [make_url(pg_url).database or ""], pool_size=POOL_SIZE) as b:
        yield b


@pytest.fixture
def dbname(pg_url: str) -> str:
    reset_pg(pg_url)
    return make_url(pg_url).database or ""


@pytest.fixture
def pooled_engine(bouncer: Bouncer, dbname: str) -> Iterator[Engine]:
    engine = make_engine(bouncer.url(dbname))
    yield engine
    engine.dispose()


def _core(engine: Engine) -> AuthCore:
    return AuthCore(engine, Config(tokens=TokenSettings(secret=TEST_SECRET)), actor="test-operator")


def _raw(bouncer: Bouncer, database: str) -> psycopg.Connection[Any]:
    """A plain client of the pooler (no authcore), on the single-server-connection pool."""
    return psycopg.connect(bouncer.libpq(database + "_one"), autocommit=True)


# -- the option ----------------------------------------------------------------------------------


def test_pooled_option_is_read_and_checked(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine("postgresql+psycopg://u@127.0.0.1:1/x?pooled=true")
    assert is_pooled(engine) and "pooled" not in engine.url.query  # libpq never sees it
    assert begin_sql(engine).startswith("BEGIN; SET LOCAL statement_timeout = 15000; ")
    plain = make_engine("postgresql+psycopg://u@127.0.0.1:1/x?pooled=false")
    assert not is_pooled(plain) and begin_sql(plain) == "BEGIN"
    assert is_pooled(make_engine("postgresql://u@127.0.0.1:1/x", pooled=True))
    with pytest.raises(ValidationError, match="true or false"):
        make_engine("postgresql+psycopg://u@127.0.0.1:1/x?pooled=maybe")
    with pytest.raises(ValidationError, match="cannot carry options"):
        make_engine("postgresql+psycopg://u@127.0.0.1:1/x?pooled=1&options=-c%20statement_timeout%3D1s")
    with pytest.raises(ValidationError, match="PostgreSQL"):
        make_engine(f"sqlite:///{tmp_path / 'a.db'}?pooled=true")


# -- no session state, no prepared statements ----------------------------------------------------


def test_bounds_hold_in_every_transaction_and_never_leak(bouncer: Bouncer, dbname: str) -> None:
    raw = _raw(bouncer, dbname)
    raw.execute("DISCARD ALL")  # the one server connection back to its defaults
    baseline = raw.execute("SHOW statement_timeout").fetchone()
    assert baseline is not None and baseline[0] != "15s"
    engine = make_engine(bouncer.url(dbname + "_one"))
    try:
        for _ in range(3):  # each transaction sets its own bounds (SQLAlchemy's and raw ones)
            with engine.connect() as c:
                shown = (
                    c.exec_driver_sql("SHOW statement_timeout").scalar(),
                    c.exec_driver_sql("SHOW lock_timeout").scalar(),
                )
                assert shown == ("15s", "5s")
            assert raw.execute("SHOW statement_timeout").fetchone() == baseline
            with Writer(engine).transaction() as tx:
                assert tx.exec_driver_sql("SHOW lock_timeout").fetchone()[0] == "5s"
            assert raw.execute("SHOW lock_timeout").fetchone() != ("5s",)
    finally:
        engine.dispose()
    # the control: without the option the connection's SET stays on the shared server connection
    unpooled = make_engine(bouncer.url(dbname + "_one", pooled=False))
    try:
        with unpooled.connect() as c:
            c.exec_driver_sql("SELECT 1")
        assert raw.execute("SHOW statement_timeout").fetchone() == ("15s",)
    finally:
        unpooled.dispose()
        raw.execute("DISCARD ALL")
        raw.close()


def test_no_prepared_statements_pooled_and_the_collision_without(bouncer: Bouncer, dbname: str) -> None:
    def run(pooled: bool) -> None:
        engines = [make_engine(bouncer.url(dbname + "_one", pooled=pooled)) for _ in range(2)]
        with contextlib.ExitStack() as stack:
            for e in engines:
                stack.callback(e.dispose)
            conns = [stack.enter_context(e.connect()) for e in engines]  # 2 clients, 1 server
            for i in range(8):  # psycopg prepares after 5 runs; both pick the name _pg3_0
                for n, c in enumerate(conns):
                    c.exec_driver_sql("SELECT %s::int + %s", (i, n)).scalar()
                    c.commit()

    run(pooled=True)
    with pytest.raises(Exception, match="prepared statement"):
        run(pooled=False)
    raw = _raw(bouncer, dbname)
    raw.execute("DEALLOCATE ALL")
    raw.execute("DISCARD ALL")
    raw.close()


def test_console_search_through_the_pooler(bouncer: Bouncer, dbname: str, pg_url: str) -> None:
    """A contains page (``BEGIN``, the bounds and planner settings as ``SET LOCAL``, the
    statement, ``COMMIT``) from two clients taking turns on one server connection, past
    psycopg's prepare threshold: the same pages as a direct connection, no error, and no
    setting left on the server connection for the next client. Sent as one pipeline, as on a
    direct connection, this failed within 50 rounds on PgBouncer 1.18: a client cut off
    mid-pipeline, or the server connection kept after ``COMMIT`` until the others timed out
    (``query_wait_timeout``); a pooled engine sends the three round trips instead."""
    direct = _core(make_engine(pg_url))
    for i in range(30):
        direct.users.create(f"smith{i}@example.com", f"member{i}", display_name=f"Pat Goldsmith {i}")
    want = [u.id for u in direct.users.search("oldsmit", limit=10).items]
    direct.dispose()
    assert len(want) == 10
    engines = [make_engine(bouncer.url(dbname + "_one")) for _ in range(2)]
    raw = _raw(bouncer, dbname)
    try:
        cores = [_core(e) for e in engines]
        for _ in range(80):
            for core in cores:
                page = core.users.search("oldsmit", limit=10)
                assert [u.id for u in page.items] == want
                assert [u.id for u in core.users.search("oldsmit", limit=10, after=page.next).items]
                shown = [raw.execute(f"SHOW {s}").fetchone() for s in ("random_page_cost", "lock_timeout")]
                assert shown == [("4",), ("0",)], shown
    finally:
        raw.close()
        for e in engines:
            e.dispose()


# -- the app path --------------------------------------------------------------------------------


def _server_connections(bouncer: Bouncer, dbname: str) -> tuple[int, int]:
    """(client connections, server connections) PgBouncer holds for ``dbname`` (admin console)."""
    admin = psycopg.connect(bouncer.libpq("pgbouncer"), autocommit=True)
    try:
        clients = [r for r in admin.execute("SHOW CLIENTS").fetchall() if dbname in r]
        servers = [r for r in admin.execute("SHOW SERVERS").fetchall() if dbname in r]
    finally:
        admin.close()
    return len(clients), len(servers)


def test_app_path_with_concurrent_clients(bouncer: Bouncer, dbname: str, pooled_engine: Engine) -> None:
    """Issue, refresh, resolve, revoke, logout from several threads at once, on fewer server
    connections than clients: every answer right, no error, bounds in every transaction."""
    core = _core(pooled_engine)
    errors: list[BaseException] = []
    backends: set[int] = set()
    start = threading.Barrier(CLIENTS)

    def client(n: int) -> None:
        try:
            u = core.users.create(f"pool{n}@example.com", f"pool{n}")
            start.wait(10)
            for round_ in range(4):
                session, raw, pair = core.login(u.id, ip="203.0.113.7", user_agent=f"UA/{n}")
                claims = core.tokens.verify_access(pair.access_token, strict=True)
                assert claims.user_id == u.id and claims.sid == session.public_id
                for _ in range(3):
                    pair = core.tokens.refresh(pair.refresh_token)
                    core.tokens.verify_access(pair.access_token, strict=True)
                resolved = core.sessions.resolve(raw)
                assert resolved is not None and resolved.session.public_id == session.public_id
                with core.engine.connect() as c:
                    backends.add(int(c.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()))
                    assert c.exec_driver_sql("SHOW statement_timeout").scalar() == "15s"
                if round_ % 2:
                    core.admin.revoke_tokens(u.id, f"round {round_}")
                    with pytest.raises(TokenRevoked):
                        core.tokens.verify_access(pair.access_token, strict=True)
                    with pytest.raises(TokenRevoked):
                        core.tokens.refresh(pair.refresh_token)
                else:
                    assert core.logout(claims.sid) is True
                    assert core.logout(claims.sid) is False
                    assert core.sessions.resolve(raw) is None
                    with pytest.raises(SessionInvalid):
                        core.tokens.verify_access(pair.access_token, strict=True)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)
            start.abort()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors[:3]
    clients, servers = _server_connections(bouncer, dbname)
    # shared for real: more client connections than server ones, every transaction on one of those
    assert clients > POOL_SIZE >= servers and len(backends) <= POOL_SIZE
    assert "prepared statement" not in bouncer.log()
    with pooled_engine.connect() as c:  # each revoke recorded once, each logout once
        kinds = dict(c.exec_driver_sql("SELECT kind, count(*) FROM revocations GROUP BY kind").all())
    assert kinds.get("version") == CLIENTS * 2 and kinds.get("session") == CLIENTS * 2


# -- the verifier --------------------------------------------------------------------------------


def _refused_within(verifier: Verifier, token: str, seconds: float) -> float:
    """Seconds until ``verifier`` refuses ``token`` (fails past ``seconds``)."""
    t0 = time.monotonic()
    while True:
        try:
            verifier.verify_access(token)
        except (TokenRevoked, SessionInvalid):
            return time.monotonic() - t0
        assert time.monotonic() - t0 < seconds, f"still accepted after {seconds}s"
        time.sleep(0.01)


def test_verifier_behind_the_pooler_warns_once_and_polls(
    pooled_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """No listen_url: one warning, then polls through the pooler (cached state re-read each
    round) while clients verify concurrently; revocations are refused within the bound; closed,
    every verification is the database check, through the pooler too."""
    core = _core(pooled_engine)
    users = [core.users.create(f"v{n}@example.com", f"v{n}") for n in range(CLIENTS)]
    logins = [core.login(u.id) for u in users]
    caplog.set_level(logging.WARNING, logger="authcore.verifier")
    staleness = 0.5
    with Verifier(core, staleness=staleness) as v:
        assert v.mode == "poll" and v.wait_ready(5)
        errors: list[BaseException] = []
        stop = threading.Event()

        def verify(token: str) -> None:  # clients verifying (cache hits) meanwhile
            try:
                while not stop.is_set():
                    with contextlib.suppress(TokenRevoked, SessionInvalid):
                        v.verify_access(token)
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=verify, args=(lg.pair.access_token,)) for lg in logins]
        for t in threads:
            t.start()
        took = []
        for n, (u, lg) in enumerate(zip(users, logins, strict=True)):
            if n % 2:
                core.admin.revoke_tokens(u.id, "pooler test")
            else:
                core.logout(lg.session.public_id)
            took.append(_refused_within(v, lg.pair.access_token, 2 * staleness + 1))
        stop.set()
        for t in threads:
            t.join(10)
        assert not errors, errors[:3]
        s = v.stats()
        assert s.mode == "poll" and s.fresh and s.resyncs >= 3 and s.hits > 0 and s.errors == 0
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "listen_url" in warnings[0].getMessage()  # once, not per round
    assert "pooler" in warnings[0].getMessage() and max(took) < 2 * staleness + 1
    # closed: the stale path, one database check per verification (through the pooler)
    fresh = core.login(users[0].id)  # the revoked user's new tokens (logout ended a session only)
    before = v.stats().db_fallbacks
    assert v.verify_access(fresh.pair.access_token).user_id == users[0].id
    with pytest.raises(SessionInvalid):
        v.verify_access(logins[0].pair.access_token)
    with pytest.raises(TokenRevoked):
        v.verify_access(logins[1].pair.access_token)
    assert v.stats().db_fallbacks == before + 3


def test_verifier_listens_on_the_direct_url(
    bouncer: Bouncer, dbname: str, pg_url: str, pooled_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="authcore.verifier")
    config = Config(tokens=TokenSettings(secret=TEST_SECRET), listen_url=pg_url)
    core = AuthCore(pooled_engine, config, actor="test-operator")
    u = core.users.create("direct@example.com", "direct")
    login = core.login(u.id)
    sources: list[str] = []
    with Verifier(core, staleness=2.0, on_update=lambda upd: sources.append(upd.source)) as v:
        assert v.mode == "listen" and v.wait_ready(5)
        v.verify_access(login.pair.access_token)
        core.admin.revoke_tokens(u.id, "direct listen")
        _refused_within(v, login.pair.access_token, 1.0)  # a notice, not a 2 s staleness wait
        assert "notify" in sources
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    with pytest.raises(ValidationError, match="direct connection"):
        Verifier(core, listen_url=bouncer.url(dbname), start=False)
