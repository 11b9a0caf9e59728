"""The Verifier: cached strict checks, LISTEN/poll propagation, staleness, reconnects, reuse."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy import insert, select, text

from authcore import audit, userevents
from authcore.config import Config, TokenSettings
from authcore.core import AuthCore
from authcore.db import make_engine
from authcore.errors import (
    RefreshReuse,
    SessionInvalid,
    TokenError,
    TokenRevoked,
    UserDisabled,
)
from authcore.models import revocations, users
from authcore.timeutil import utcnow
from authcore.verifier import AppliedUpdate, Verifier, VerifierStale, libpq_url
from bench.propagation import LocalProbe, PropagationStats, measure_propagation
from tests.conftest import TEST_SECRET
from tests.support.statements import Statements

STALE = 0.5  # seconds: SQLite polls every 0.25 s, PostgreSQL heartbeats every 0.125 s


def _app_name() -> str:
    return f"authcore-verifier-test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def make_verifier(core: AuthCore) -> Iterator[Callable[..., Verifier]]:
    made: list[Verifier] = []

    def _make(c: AuthCore | None = None, **kw: Any) -> Verifier:
        kw.setdefault("staleness", STALE)
        kw.setdefault("application_name", _app_name())
        v = Verifier(c or core, **kw)
        made.append(v)
        assert kw.get("start") is False or v.wait_ready(10), v.stats()
        return v

    yield _make
    for v in made:
        v.close()


@pytest.fixture
def alice(core: AuthCore):  # type: ignore[no-untyped-def]
    return core.users.create("alice@example.com", "alice", "Alice")


Queries = Statements  # this thread's statements, fast path or not (tests/support/statements.py)


def refused_within(v: Verifier, token: str, exc: type[TokenError], bound: float) -> float:
    """Poll ``verify_access`` until it raises ``exc``; seconds it took (fails past ``bound``)."""
    start = time.monotonic()
    deadline = start + bound
    while True:
        try:
            v.verify_access(token)
        except exc:
            return time.monotonic() - start
        assert time.monotonic() < deadline, f"still accepted after {bound}s: {v.stats()}"
        time.sleep(0.002)


def _terminate_listener(core: AuthCore, app_name: str) -> int:
    with core.engine.connect() as c:
        killed = c.execute(
            text(
                "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = :a AND datname = current_database()) t"
            ),
            {"a": app_name},
        ).scalar_one()
    return int(killed)


def _wait(cond: Callable[[], bool], bound: float, what: str) -> None:
    deadline = time.monotonic() + bound
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


# -- caching -------------------------------------------------------------------------------------


def test_cache_hit_costs_no_query(core: AuthCore, alice, make_verifier) -> None:  # type: ignore[no-untyped-def]
    v = make_verifier()
    s, _ = core.sessions.create(alice.id)
    bound = core.tokens.issue_pair(alice.id, sid=s.public_id).access_token
    plain = core.tokens.issue_pair(alice.id).access_token
    with Queries(core.engine) as q:
        assert v.verify_access(bound).sid == s.public_id
        assert q.n == 1 and "JOIN" in q.seen[0].upper()  # one query loads user + session
        for _ in range(50):
            v.verify_access(bound)
            v.verify_access(plain)
        assert q.n == 1, q.seen
    st = v.stats()
    assert st.misses == 1 and st.hits == 100 and st.users_cached == 1


def test_new_session_of_cached_user_is_one_query(core: AuthCore, alice, make_verifier) -> None:  # type: ignore[no-untyped-def]
    v = make_verifier()
    v.verify_access(core.tokens.issue_pair(alice.id).access_token)
    s2, _ = core.sessions.create(alice.id)  # a new login after the user was cached
    tok = core.tokens.issue_pair(alice.id, sid=s2.public_id).access_token
    with Queries(core.engine) as q:
        v.verify_access(tok)
        v.verify_access(tok)
        assert q.n == 1


def test_cache_is_bounded_lru(core: AuthCore, make_verifier) -> None:
    v = make_verifier(max_users=2)
    toks = [
        core.tokens.issue_pair(core.users.create(f"u{i}@example.com", f"u{i}").id).access_token
        for i in range(3)
    ]
    for t in toks:
        v.verify_access(t)
    assert v.stats().users_cached == 2
    with Queries(core.engine) as q:
        v.verify_access(toks[2])  # most recent: cached
        v.verify_access(toks[1])
        assert q.n == 0
        v.verify_access(toks[0])  # evicted: reloaded
        assert q.n == 1
        v.invalidate(core.tokens.decode(toks[0], "access").user_id)
        v.verify_access(toks[0])
        assert q.n == 2
        v.invalidate()
        assert v.stats().users_cached == 0


# -- strict mode ---------------------------------------------------------------------------------


def test_revocations_refused_within_the_bound(core: AuthCore, alice, make_verifier) -> None:  # type: ignore[no-untyped-def]
    v = make_verifier()
    s1, raw1 = core.sessions.create(alice.id)
    s2, _ = core.sessions.create(alice.id)
    t1 = core.tokens.issue_pair(alice.id, sid=s1.public_id).access_token
    t2 = core.tokens.issue_pair(alice.id, sid=s2.public_id).access_token
    for t in (t1, t2):
        v.verify_access(t)

    core.sessions.logout(raw1)  # the app's logout is a session delete, announced
    refused_within(v, t1, SessionInvalid, STALE)
    v.verify_access(t2)

    core.admin.set_disabled(alice.id, True, "abuse")
    refused_within(v, t2, UserDisabled, STALE)
    core.admin.set_disabled(alice.id, False, "cleared")
    # disabling bumped token_version and ended the sessions (18.10): a new login is accepted,
    # the token from before the disable stays refused
    before_disable = t2
    s2b, _ = core.sessions.create(alice.id)
    t2 = core.tokens.issue_pair(alice.id, sid=s2b.public_id).access_token
    _wait(lambda: _accepts(v, t2), STALE, "enable to propagate")
    with pytest.raises(TokenRevoked):
        v.verify_access(before_disable)

    core.admin.revoke_tokens(alice.id, "laptop stolen")
    took = refused_within(v, t2, TokenRevoked, STALE)
    print(f"\n{v.mode}: version bump refused after {took * 1000:.1f} ms")
    with pytest.raises(TokenRevoked, match="token version 1, user is at 2"):
        v.verify_access(t2)
    s3, _ = core.sessions.create(alice.id)
    fresh = core.tokens.issue_pair(alice.id, sid=s3.public_id).access_token
    assert v.verify_access(fresh).token_version == 2
    core.admin.delete_sessions(alice.id, "log out everywhere")
    refused_within(v, fresh, SessionInvalid, STALE)
    with Queries(core.engine) as q:  # refusals come from the cache too
        for t, exc in ((t1, TokenRevoked), (t2, TokenRevoked), (fresh, SessionInvalid)):
            with pytest.raises(exc):
                v.verify_access(t)
        assert q.n == 0


def _accepts(v: Verifier, token: str) -> bool:
    try:
        v.verify_access(token)
    except TokenError:
        return False
    return True


def test_same_answers_as_tokens_strict(core: AuthCore, alice, make_verifier) -> None:  # type: ignore[no-untyped-def]
    from authcore.errors import TokenExpired

    v = make_verifier()
    bob = core.users.create("bob@example.com", "bob")
    carol = core.users.create("carol@example.com", "carol")
    s_live, _ = core.sessions.create(alice.id)
    s_short, _ = core.sessions.create(alice.id, ttl=timedelta(milliseconds=1))
    s_gone, _ = core.sessions.create(bob.id)
    toks = {
        "live": core.tokens.issue_pair(alice.id, sid=s_live.public_id).access_token,
        "expired_session": core.tokens.issue_pair(alice.id, sid=s_short.public_id).access_token,
        "deleted_session": core.tokens.issue_pair(bob.id, sid=s_gone.public_id).access_token,
        "other_users_session": core.tokens.issue_pair(bob.id, sid=s_live.public_id).access_token,
        "old_version": core.tokens.issue_pair(carol.id).access_token,
        "no_user": core.tokens.issue_pair(9999, token_version=0).access_token,
        "expired": core.tokens.issue_pair(alice.id, now=utcnow() - timedelta(hours=1)).access_token,
        "garbage": "not.a.token",
    }
    core.admin.delete_session(s_gone.public_id, "gone")
    core.admin.revoke_tokens(carol.id, "rotate")
    time.sleep(0.01)

    def outcome(fn: Callable[[str], Any], tok: str) -> str:
        try:
            fn(tok)
        except TokenError as exc:
            return f"{type(exc).__name__}:{exc.code}"
        return "ok"

    expected = {
        "live": "ok",
        "expired_session": "SessionInvalid:session",
        "deleted_session": "SessionInvalid:session",
        "other_users_session": "SessionInvalid:session",
        "old_version": "TokenRevoked:revoked",
        "no_user": "TokenRevoked:no_user",
        "expired": f"{TokenExpired.__name__}:expired",
        "garbage": "TokenError:invalid",
    }
    for _ in range(2):  # first pass loads, second answers from the cache
        for name, tok in toks.items():
            strict = outcome(lambda t: core.tokens.verify_access(t, strict=True), tok)
            assert outcome(v.verify_access, tok) == strict == expected[name], name


def test_attach_routes_tokens_strict_through_the_cache(core: AuthCore, alice, make_verifier) -> None:  # type: ignore[no-untyped-def]
    tok = core.tokens.issue_pair(alice.id).access_token
    v = make_verifier(attach=True)
    core.tokens.verify_access(tok, strict=True)
    with Queries(core.engine) as q:
        for _ in range(10):
            core.tokens.verify_access(tok, strict=True)
        assert q.n == 0
    core.admin.revoke_tokens(alice.id, "rotate")
    _wait(lambda: _refused(lambda: core.tokens.verify_access(tok, strict=True)), STALE, "bump")
    v.close()  # detaches: strict checks go back to TokenService's own database check
    before = v.stats()
    with pytest.raises(TokenRevoked):
        core.tokens.verify_access(tok, strict=True)
    after = v.stats()
    assert (after.hits, after.misses, after.db_fallbacks) == (before.hits, before.misses, before.db_fallbacks)
    assert core.tokens.set_strict_check(None) is None  # the hook was restored


def _refused(fn: Callable[[], Any]) -> bool:
    try:
        fn()
    except TokenError:
        return True
    return False


# -- propagation measurement ---------------------------------------------------------------------


def test_update_callback_and_measure_propagation(core: AuthCore, alice, make_verifier) -> None:  # type: ignore[no-untyped-def]
    got: list[AppliedUpdate] = []
    v = make_verifier(on_update=got.append)
    tok = core.tokens.issue_pair(alice.id).access_token
    v.verify_access(tok)
    before = time.time()
    core.admin.revoke_tokens(alice.id, "rotate")
    assert v.wait_refused(tok, 5) is not None
    upd = next(u for u in got if u.kind == "version")
    assert upd.user_ids == (alice.id,) and upd.versions == (1,)
    assert upd.source == ("notify" if v.mode == "listen" else "poll")
    assert before <= upd.received_at <= upd.applied_at
    if v.mode == "poll":
        assert upd.revoked_at is not None
    stats = measure_propagation(core, alice.id, [LocalProbe(v)], rounds=5, timeout=5, jitter=0.05)
    print(f"\n{v.mode} in-process: {stats.summary()}")
    assert stats.n == 5 and stats.timeouts == 0
    assert 0 <= stats.p50 <= stats.p95 <= stats.max < STALE * 1000
    assert core.users.get(alice.id).token_version == 6


def test_wait_refused_sees_the_refusal_on_the_thread_that_applied_it(
    core: AuthCore, alice, make_verifier
) -> None:  # type: ignore[no-untyped-def]
    """The watched token is re-checked against the cache right after it changes (on the
    listener/poller thread), not when the waiting thread next wakes; another user's update does
    not refuse it. The time returned is that update's ``applied_at`` (when the cache changed),
    not when the check confirming it ended."""
    bob = core.users.create("bob@example.com", "bob", "Bob")
    v = make_verifier()
    applied: list[Any] = []
    v.add_update_callback(applied.append)
    tok = core.tokens.issue_pair(alice.id).access_token
    v.verify_access(core.tokens.issue_pair(bob.id).access_token)  # bob cached: his bump applies
    refusals: list[str] = []
    real = v.cached_refusal

    def spy(claims: Any) -> Any:
        err = real(claims)
        if err is not None:
            refusals.append(threading.current_thread().name)
        return err

    v.cached_refusal = spy  # type: ignore[method-assign]
    armed = threading.Event()
    out: list[float | None] = []
    waiter = threading.Thread(
        target=lambda: out.append(v.wait_refused(tok, 20, armed=armed, poll=60)), name="waiter"
    )
    waiter.start()
    assert armed.wait(5)
    core.admin.revoke_tokens(bob.id, "someone else")
    assert not refusals
    core.admin.revoke_tokens(alice.id, "rotate")
    waiter.join(25)
    assert out and out[0] is not None
    assert refusals and refusals[0].startswith("authcore-verifier-")
    alice_upd = [u for u in applied if alice.id in u.user_ids]
    assert out[0] == alice_upd[0].applied_at
    assert v.wait_refused("not-a-token", 1) is not None  # an invalid token is refused at once


def test_cached_refusal_reads_only_the_cache(core: AuthCore, alice, make_verifier) -> None:  # type: ignore[no-untyped-def]
    v = make_verifier()
    claims = core.tokens.decode(core.tokens.issue_pair(alice.id).access_token, "access")
    with Queries(core.engine) as q:
        assert v.cached_refusal(claims) is None  # not cached yet: no verdict, no query
    assert q.n == 0
    v.check(claims)  # loads alice
    core.admin.revoke_tokens(alice.id, "rotate")
    deadline = time.monotonic() + 10
    while v.cached_refusal(claims) is None and time.monotonic() < deadline:
        time.sleep(0.01)
    err = v.cached_refusal(claims)
    assert isinstance(err, TokenRevoked) and "user is at 1" in str(err)


def test_propagation_stats_percentiles() -> None:
    s = PropagationStats(tuple(float(i) for i in range(1, 201)))
    assert (s.n, s.p50, s.p95, s.p99, s.max) == (200, 100.0, 190.0, 198.0, 200.0)
    assert s.to_dict()["p95_ms"] == 190.0 and "p50=100.0 ms" in s.summary()


# -- staleness -----------------------------------------------------------------------------------


def _break_sync(v: Verifier, core: AuthCore, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the background sync fail (PostgreSQL: kill the listener and refuse reconnects)."""

    def fail(*a: Any) -> Any:
        raise psycopg.OperationalError("test: database unreachable for the verifier")

    if v.mode == "listen":
        monkeypatch.setattr(v, "_open_listener", fail)
        assert _terminate_listener(core, v.application_name) == 1
    else:
        monkeypatch.setattr(v, "_poll_once", fail)
    _wait(lambda: not v.is_fresh(), v.staleness + 2, "the verifier to go stale")


@pytest.mark.parametrize("policy", ["db", "refuse"])
def test_stale_verifier_checks_db_or_refuses(
    core: AuthCore,
    alice,
    make_verifier,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
    policy: str,
) -> None:
    v = make_verifier(on_stale=policy, staleness=0.3)
    tok = core.tokens.issue_pair(alice.id).access_token
    v.verify_access(tok)
    _break_sync(v, core, monkeypatch)
    assert not v.stats().fresh and v.stats().errors >= 1
    if policy == "refuse":
        with pytest.raises(VerifierStale, match="stale"):
            v.verify_access(tok)
        assert v.stats().stale_refusals == 1
        return
    with Queries(core.engine) as q:
        v.verify_access(tok)  # still accepted, from the database
        assert q.n == 1
        core.admin.revoke_tokens(alice.id, "rotate")  # no notice reaches the verifier...
        q.clear()
        with pytest.raises(TokenRevoked):  # ...yet the very next check refuses
            v.verify_access(tok)
        assert q.n == 1
    assert v.stats().db_fallbacks == 2


def test_close_stops_the_thread_and_falls_back(core: AuthCore, alice) -> None:  # type: ignore[no-untyped-def]
    tok = core.tokens.issue_pair(alice.id).access_token
    with Verifier(core, staleness=STALE, application_name=_app_name()) as v:
        assert v.wait_ready(10) and v.thread_alive
        v.verify_access(tok)
    assert v.closed and not v.thread_alive and not v.stats().fresh
    core.admin.revoke_tokens(alice.id, "rotate")
    with pytest.raises(TokenRevoked):
        v.verify_access(tok)
    assert v.stats().db_fallbacks == 1
    v.close()  # idempotent


def test_constructor_arguments_are_checked(core: AuthCore) -> None:
    from authcore.errors import ValidationError

    for kw in ({"on_stale": "maybe"}, {"max_users": 0}, {"staleness": 0}):
        with pytest.raises(ValidationError):
            Verifier(core, start=False, **kw)  # type: ignore[arg-type]
    v = Verifier(core, start=False, staleness=timedelta(seconds=3))
    assert v.staleness == 3 and not v.is_fresh()
    assert Verifier(core, start=False).staleness == 2  # config.staleness default


# -- SQLite polling ------------------------------------------------------------------------------


def test_sqlite_polling_sees_other_processes(db_url: str, config: Config, make_verifier) -> None:  # type: ignore[no-untyped-def]
    if not db_url.startswith("sqlite"):
        pytest.skip("the SQLite polling path")
    app_engine = make_engine(db_url)
    app = AuthCore(app_engine, config)
    other_engine = make_engine(db_url)  # another process's connection pool
    other = AuthCore(other_engine, config, actor="ops")
    try:
        got: list[AppliedUpdate] = []
        v = make_verifier(app, on_update=got.append)
        assert v.mode == "poll" and v.stats().listener_pid is None
        ids = [other.users.create(f"p{i}@example.com", f"p{i}").id for i in range(3)]
        toks = [app.tokens.issue_pair(i).access_token for i in ids]
        for t in toks:
            v.verify_access(t)
        other.admin.revoke_tokens_many(ids, "bulk rotate")
        for t in toks:
            refused_within(v, t, TokenRevoked, STALE + 0.5)
        ups = [u for u in got if u.kind == "version"]
        assert len(ups) == 1 and ups[0].user_ids == tuple(ids) and ups[0].source == "poll"

        # more than one page of revocation rows in one poll
        with other_engine.begin() as c:
            now = utcnow()
            c.execute(
                insert(users),
                [
                    {
                        "email": f"b{i}@example.com",
                        "username": f"b{i}",
                        "display_name": "",
                        "created_at": now,
                        "disabled": False,
                        "token_version": 0,
                    }
                    for i in range(1200)
                ],
            )
            bulk = [
                r.id
                for r in c.execute(select(users.c.id).where(users.c.email.like("b%")).order_by(users.c.id))
            ]
        tok_last = app.tokens.issue_pair(bulk[-1]).access_token
        v.verify_access(tok_last)
        other.admin.revoke_tokens_many(bulk, "bulk")
        refused_within(v, tok_last, TokenRevoked, STALE + 1)
        with app_engine.connect() as c:
            last = c.execute(select(revocations.c.id).order_by(revocations.c.id.desc())).first()
        assert last is not None and v._last_id == last.id
        assert sum(len(u.user_ids) for u in got if u.kind == "version") == 1203
    finally:
        app_engine.dispose()
        other_engine.dispose()


# -- refresh reuse detection ---------------------------------------------------------------------


def test_refresh_previous_token_within_grace_is_allowed(core: AuthCore, alice, make_verifier) -> None:  # type: ignore[no-untyped-def]
    import jwt

    v = make_verifier()
    s, raw = core.sessions.create(alice.id)
    p0 = core.tokens.issue_pair(alice.id, sid=s.public_id)
    p1 = core.tokens.refresh(p0.refresh_token)
    again = core.tokens.refresh(p0.refresh_token)  # a parallel tab with the previous token
    assert jwt.decode(again.refresh_token, options={"verify_signature": False})["rc"] == 1
    assert core.sessions.resolve(raw) is not None
    assert core.sessions.get(s.public_id).refresh_counter == 1
    for t in (p0.access_token, p1.access_token, again.access_token):
        v.verify_access(t)
    core.tokens.refresh(again.refresh_token)  # either rc=1 token rotates on
    assert core.sessions.get(s.public_id).refresh_counter == 2


@pytest.mark.parametrize("grace", [timedelta(seconds=10), timedelta(0)])
def test_refresh_reuse_ends_the_session_everywhere(engine, make_verifier, grace) -> None:  # type: ignore[no-untyped-def]
    cfg = Config(tokens=TokenSettings(secret=TEST_SECRET, refresh_grace=grace))
    core = AuthCore(engine, cfg, actor="test-operator")
    u = core.users.create("reuse@example.com", "reuse")
    s, raw = core.sessions.create(u.id)
    other, _ = core.sessions.create(u.id)
    other_tok = core.tokens.issue_pair(u.id, sid=other.public_id).access_token
    got: list[AppliedUpdate] = []
    v = make_verifier(core, on_update=got.append)
    listen = _pg_listen(core) if v.mode == "listen" else None
    try:
        p0 = core.tokens.issue_pair(u.id, sid=s.public_id)
        p1 = core.tokens.refresh(p0.refresh_token)
        p2 = core.tokens.refresh(p1.refresh_token)
        for t in (p0.access_token, p2.access_token, other_tok):
            v.verify_access(t)
        # grace 10 s: rc=0 is two generations old -> reuse; grace 0: even rc=1 (previous) is
        stale_token = p0.refresh_token if grace else p1.refresh_token
        with pytest.raises(RefreshReuse):
            core.tokens.refresh(stale_token)
        assert core.sessions.resolve(raw) is None and core.sessions.get(s.public_id) is None
        ev = userevents.list_events(core.engine, user_id=u.id)  # off the audit chain (18.9)
        assert ev[0].action == "refresh_reuse_detected" and ev[0].actor == "system"
        assert ev[0].target_session == s.public_id
        assert audit.verify_chain(core.engine).ok
        with core.engine.connect() as c:
            rev = c.execute(select(revocations).order_by(revocations.c.id.desc())).first()
        assert (rev.kind, rev.user_id, rev.session_id) == ("session", u.id, s.public_id)
        # every token of the session dies, in the verifier too (via the notice, not a reload)
        refused_within(v, p2.access_token, SessionInvalid, STALE)
        upd = next(x for x in got if x.kind == "session")
        assert upd.session_ids == (s.public_id,) and upd.source in ("notify", "poll")
        with Queries(core.engine) as q:
            with pytest.raises(SessionInvalid):
                v.verify_access(p0.access_token)
            assert q.n == 0
        v.verify_access(other_tok)  # the user's other session is untouched
        with pytest.raises(SessionInvalid):
            core.tokens.refresh(p2.refresh_token)  # the newest refresh token too
        if listen is not None:
            payloads = [json.loads(n.payload) for n in listen.notifies(timeout=1, stop_after=1)]
            assert {"k": "session", "u": u.id, "s": [s.public_id]} in payloads
    finally:
        if listen is not None:
            listen.close()


def _pg_listen(core: AuthCore) -> psycopg.Connection[Any]:
    from authcore import notices

    conn = psycopg.connect(libpq_url(core.engine.url.render_as_string(hide_password=False)), autocommit=True)
    conn.execute(f"LISTEN {notices.CHANNEL}")
    return conn


# -- PostgreSQL: LISTEN and reconnects -----------------------------------------------------------


def _pg_only(core: AuthCore) -> None:
    if core.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL LISTEN path")


def test_listener_reconnects_and_misses_nothing(
    core: AuthCore,
    alice,
    make_verifier,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _pg_only(core)
    bob = core.users.create("bob@example.com", "bob")
    carol = core.users.create("carol@example.com", "carol")
    s_bob, _ = core.sessions.create(bob.id)
    got: list[AppliedUpdate] = []
    # a long bound: the cache stays in use while the listener is down, so only the reconnect
    # resync can bring the missed revocations in (no per-request database fallback)
    v = make_verifier(staleness=30, on_update=got.append)
    toks = {
        "alice": core.tokens.issue_pair(alice.id).access_token,
        "bob": core.tokens.issue_pair(bob.id, sid=s_bob.public_id).access_token,
        "carol": core.tokens.issue_pair(carol.id).access_token,
    }
    for t in toks.values():
        v.verify_access(t)
    first_pid = v.stats().listener_pid

    gate = threading.Event()
    real_open = v._open_listener

    def gated_open() -> Any:
        gate.wait(20)
        return real_open()

    monkeypatch.setattr(v, "_open_listener", gated_open)
    assert _terminate_listener(core, v.application_name) == 1
    _wait(lambda: not v.stats().connected, 5, "the listener to notice")

    # revocations while the listener is down: their NOTIFYs reach nobody
    core.admin.revoke_tokens(alice.id, "while down")
    core.admin.delete_session(s_bob.public_id, "while down")
    core.admin.set_disabled(carol.id, True, "while down")
    with Queries(core.engine) as q:  # within the bound the (now stale) cache still answers
        for t in toks.values():
            v.verify_access(t)
        assert q.n == 0
    assert not any(u.source == "notify" and u.kind != "resync" for u in got[-3:])

    gate.set()
    _wait(lambda: v.stats().reconnects == 1 and v.stats().connected, 10, "the reconnect")
    assert v.stats().listener_pid != first_pid and v.stats().resyncs >= 2
    resync = [u for u in got if u.kind == "resync"][-1]
    assert set(resync.user_ids) == {alice.id, carol.id}
    assert resync.session_ids == (s_bob.public_id,)
    with Queries(core.engine) as q:  # every missed revocation is in the cache: no query
        with pytest.raises(TokenRevoked):
            v.verify_access(toks["alice"])
        with pytest.raises(SessionInvalid):
            v.verify_access(toks["bob"])
        with pytest.raises(UserDisabled):
            v.verify_access(toks["carol"])
        assert q.n == 0
    # and LISTEN is live again
    core.admin.set_disabled(carol.id, False, "back")
    fresh = core.tokens.issue_pair(alice.id).access_token
    v.verify_access(fresh)
    core.admin.revoke_tokens(alice.id, "after reconnect")
    refused_within(v, fresh, TokenRevoked, 2)
    assert got[-1].source == "notify"


def test_listener_application_name_and_garbage_notice(core: AuthCore, alice, make_verifier) -> None:  # type: ignore[no-untyped-def]
    _pg_only(core)
    v = make_verifier()
    with core.engine.connect() as c:
        row = c.execute(
            text("SELECT pid FROM pg_stat_activity WHERE application_name = :a"), {"a": v.application_name}
        ).first()
    assert row is not None and row.pid == v.stats().listener_pid
    v.verify_access(core.tokens.issue_pair(alice.id).access_token)
    assert v.stats().users_cached == 1
    with core.engine.begin() as c:
        c.execute(text("SELECT pg_notify('authcore_revocations', 'not json')"))
    _wait(lambda: v.stats().users_cached == 0, 2, "the cache to be dropped")
    assert v.stats().connected


def test_libpq_url() -> None:
    from authcore.errors import ValidationError

    assert libpq_url("postgresql+psycopg://u:p%40ss@h:5433/db?sslmode=require") == (
        "postgresql://u:p%40ss@h:5433/db?sslmode=require"
    )
    assert libpq_url("postgres://u@h/db") == "postgresql://u@h/db"
    with pytest.raises(ValidationError):
        libpq_url("sqlite:///x.db")
