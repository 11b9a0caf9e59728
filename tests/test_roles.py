"""PostgreSQL decides: roles, SECURITY DEFINER functions, the append-only audit, retention.

Each run creates its own database and its own roles (names are cluster-wide: a unique prefix),
and drops them afterwards. Login roles stand for operators and an app server; trust auth on the
test server means connecting as ``user=ROLE``.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy import exc, func, select, text
from sqlalchemy.engine import make_url

from authcore import audit, userevents
from authcore.audit import EventIn
from authcore.config import Config, TokenSettings
from authcore.core import AuthCore
from authcore.db import make_engine
from authcore.errors import DatabasePermissionDenied
from authcore.models import audit_events, bulk_runs, sessions, users
from tests.conftest import TEST_SECRET
from tests.support.roles import Cluster, run_cli, seed_target

pytestmark = pytest.mark.pg

DENIED = "permission denied"


def _core(cluster: Cluster, role: str, actor: str = "op") -> AuthCore:
    """A core connected as ``role`` with no client-side restriction (role None): whatever is
    refused below is refused by the database."""
    return AuthCore(
        make_engine(cluster.as_role(role)),
        Config(tokens=TokenSettings(secret=TEST_SECRET)),
        actor=actor,
        client="ssh 10.0.0.9",
    )


def _state(core: AuthCore) -> tuple:  # type: ignore[type-arg]
    with core.engine.connect() as c:
        return (
            tuple(
                c.execute(
                    select(users.c.id, users.c.token_version, users.c.disabled).order_by(users.c.id)
                ).all()
            ),
            c.execute(select(func.count()).select_from(sessions)).scalar_one(),
            c.execute(select(func.count()).select_from(audit_events)).scalar_one(),
            c.execute(select(func.count()).select_from(bulk_runs)).scalar_one(),
            c.execute(text("SELECT seq, hash FROM audit_head")).one(),
        )


# -- the hash in SQL is the hash in Python ---------------------------------------------------

_ALPHABET = (
    "abcXYZ 09\"\\/'\b\f\n\r\t\x01\x1f\x7f\u00e9\u00ff\u0100\u2028\u2029\u202e"
    "\u200b\ufeff\U0001f600<>&[]{}:,%$"
)


def _rand_text(rng: random.Random, n: int = 12) -> str:
    return "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, n)))


def _rand_value(rng: random.Random, depth: int = 0) -> object:
    kind = rng.randrange(7 if depth < 2 else 5)
    if kind == 0:
        return rng.randint(-(10**12), 10**12)
    if kind == 1:
        return _rand_text(rng)
    if kind == 2:
        return rng.choice([True, False])
    if kind == 3:
        return None
    if kind == 4:
        return rng.randint(0, 9)
    if kind == 5:
        return [_rand_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {_rand_text(rng, 6): _rand_value(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def test_sql_event_hash_is_pythons(cluster: Cluster) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    conn = cluster.raw(make_url(cluster.url).username or "postgres")
    try:
        for i in range(300):
            at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(
                seconds=rng.randint(0, 10**8), microseconds=rng.randint(0, 999_999)
            )
            details = {_rand_text(rng, 6): _rand_value(rng) for _ in range(rng.randint(0, 5))}
            args = (
                rng.randint(1, 10**9),
                at,
                _rand_text(rng),
                _rand_text(rng),
                rng.choice([None, rng.randint(1, 10**12)]),
                rng.choice([None, _rand_text(rng)]),
                _rand_text(rng, 40),
                details,
                rng.choice(["0" * 64, _rand_text(rng)]),
                rng.choice([None, _rand_text(rng)]),
                rng.choice([None, _rand_text(rng)]),
            )
            want = audit.event_hash(*args)
            got = conn.execute(
                "SELECT authcore_event_hash(%s, %s, %s, %s, %s, %s, %s, "
                "authcore_canon(%s::jsonb), %s, %s, %s)",
                (*args[:7], json.dumps(details), *args[8:]),
            ).fetchone()[0]
            assert got == want, f"seed {seed}, case {i}: {args!r}"
    finally:
        conn.close()


def test_a_callers_search_path_does_not_reach_the_hash_of_a_chained_event(
    cluster: Cluster, owner: AuthCore
) -> None:
    """Migration 0015 lets ``authcore_event_hash`` run with its caller's ``search_path`` (so it
    is inlined). A schema of look-alikes (``to_json``, ``sha256``) put first on a session's path
    does change what a direct call computes -- the check below can fail -- but not the events
    the SECURITY DEFINER functions chain for an admin in that session: they parse the inlined
    body under their own pinned path."""
    uid, _sid = seed_target(owner)
    evil = cluster.prefix + "evil"
    forged = "'\"forged\"'::json"
    admin_conn = cluster.raw(cluster.admin)
    su = cluster.raw(make_url(cluster.url).username or "postgres")
    try:
        su.execute(f"CREATE SCHEMA {evil}")
        su.execute(f"CREATE FUNCTION {evil}.to_json(text) RETURNS json LANGUAGE sql AS $$ SELECT {forged} $$")
        su.execute(
            f"CREATE FUNCTION {evil}.sha256(bytea) RETURNS bytea LANGUAGE sql AS $$ SELECT '\\x00'::bytea $$"
        )
        su.execute(f"GRANT USAGE ON SCHEMA {evil} TO PUBLIC")
        path = f"SET search_path = {evil}, pg_catalog, public"
        call = "SELECT authcore_event_hash(1, '2026-01-01Z', 'a', 'b', NULL, NULL, 'r', '{}', 'p', NULL, '')"
        honest = su.execute(call).fetchone()[0]  # type: ignore[index]
        assert su.execute(call).fetchone()[0] == honest  # type: ignore[index]
        su.execute(path)
        assert su.execute(call).fetchone()[0] != honest  # type: ignore[index]
        first_new = audit.verify_chain(owner.engine).head_seq + 1
        admin_conn.execute(path)
        for reason in ("shadowed path", "again, plan cached"):
            admin_conn.execute("SELECT * FROM authcore_revoke_tokens(%s, %s, 'mallory', NULL)", (uid, reason))
        admin_conn.execute("SELECT * FROM authcore_delete_sessions(%s, 'shadowed', 'mallory', NULL)", (uid,))
    finally:
        admin_conn.close()
        su.execute("RESET search_path")
        su.execute(f"DROP SCHEMA IF EXISTS {evil} CASCADE")
        su.close()
    chain = audit.verify_chain(owner.engine)
    assert chain.ok, chain.problem
    mine = [e for e in audit.list_events(owner.engine, limit=100) if e.seq >= first_new]
    assert sorted(e.action for e in mine) == ["delete_sessions", "revoke_tokens", "revoke_tokens"]
    assert all(e.actor == "mallory" and e.db_role == cluster.admin for e in mine)


# -- viewer ------------------------------------------------------------------------------------


def test_viewer_every_mutation_refused_by_the_database_through_authcore(
    cluster: Cluster, owner: AuthCore
) -> None:
    uid, sid = seed_target(owner)
    before = _state(owner)
    v = _core(cluster, cluster.viewer)
    try:
        calls = {
            "bump": lambda: v.admin.revoke_tokens(uid, "x"),
            "delete session": lambda: v.admin.delete_session(sid, "x"),
            "delete sessions": lambda: v.admin.delete_sessions(uid, "x"),
            "disable": lambda: v.admin.set_disabled(uid, True, "x"),
            "bulk": lambda: v.bulk.run("corp-old", "x", confirm_count=2),
            "bulk in one tx": lambda: v.admin.revoke_tokens_many([uid], "x"),
            "prune": lambda: v.sessions.prune(actor="viewer"),
        }
        for name, call in calls.items():
            with pytest.raises(DatabasePermissionDenied, match=DENIED):  # authcore's error
                call()
            assert _state(owner) == before, name
        # audit insert, through authcore
        with pytest.raises(exc.DBAPIError, match=DENIED), v.engine.begin() as c:
            audit.append(c, [EventIn("forged", "someone", "x")], datetime.now(UTC))
    finally:
        v.dispose()
    assert _state(owner) == before


_VIEWER_SQL = [
    "UPDATE users SET token_version = token_version + 1",
    "UPDATE users SET disabled = true",
    "DELETE FROM sessions",
    (
        "INSERT INTO audit_events (seq, at, actor, action, reason, details, prev_hash, hash) "
        "VALUES (999, now(), 'x', 'x', 'x', '{}', 'x', 'x')"
    ),
    "UPDATE audit_events SET reason = 'edited'",
    "DELETE FROM audit_events",
    "TRUNCATE audit_events",
    "UPDATE audit_head SET seq = 0",
    (
        "INSERT INTO bulk_runs (id, action, query, reason, actor, created_at, updated_at) "
        "VALUES ('b', 'x', 'x', 'x', 'x', now(), now())"
    ),
    "SELECT * FROM authcore_revoke_tokens({uid}, 'x', 'x', NULL)",
    "SELECT * FROM authcore_bump_many(ARRAY[{uid}]::bigint[], 'x', 'x', NULL, '{}')",
    "SELECT * FROM authcore_delete_sessions({uid}, 'x', 'x', NULL)",
    "SELECT * FROM authcore_set_disabled({uid}, true, 'x', 'x', NULL)",
    "SELECT authcore_prune_sessions(now(), 10, 'x', NULL, 'reason')",
    "SELECT authcore_audit_append('forged', 'x', 'x', NULL, NULL, '{}', NULL)",
    "SELECT authcore_audit_retain(1, 'x', 'x')",
]


def test_viewer_refused_by_the_database_through_raw_psycopg(cluster: Cluster, owner: AuthCore) -> None:
    uid, sid = seed_target(owner)
    before = _state(owner)
    conn = cluster.raw(cluster.viewer)
    try:
        for sql in [*_VIEWER_SQL, f"SELECT * FROM authcore_delete_session('{sid}', 'x', 'x', NULL)"]:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(sql.replace("{uid}", str(uid)))
        assert conn.execute("SELECT count(*) FROM users").fetchone()[0] == 2  # reading works
    finally:
        conn.close()
    assert _state(owner) == before


def test_viewer_refused_by_the_database_through_the_cli(cluster: Cluster, owner: AuthCore, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from authcore.actor import os_user

    uid, sid = seed_target(owner)
    before = _state(owner)
    db = cluster.as_role(cluster.viewer)
    # The config lies (this OS user is "admin", no role prefix so the console cannot tell the
    # database role): every mutation still reaches the database, which refuses it.
    lying = f'[operators]\n"{os_user()}" = "admin"\n'
    for argv in (
        ["revoke", str(uid), "--all-tokens"],
        ["revoke", str(uid), "--sessions"],
        ["revoke", str(uid), "--session", sid],
        ["users", "disable", str(uid)],
        ["revoke", "--query", "corp-old", "--all-tokens", "--confirm-count", "2"],
        ["sessions", "prune"],
    ):
        extra = ["--reason", "x"]
        yes = ["--yes"] if argv[0] == "revoke" and "--query" not in argv else []
        if argv[:2] in (["users", "disable"], ["sessions", "prune"]):
            yes = ["--yes"]
        r = run_cli(["--db", db, *argv, *extra, *yes], config=lying, tmp=str(tmp_path))
        assert r.returncode == 4, (argv, r.stdout, r.stderr)  # Exit.REFUSED
        assert DENIED in r.stderr and "Traceback" not in r.stderr, (argv, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert _state(owner) == before, argv
    # With the role prefix configured, the console reads the database role: it says so, and
    # shapes itself as a viewer.
    r = run_cli(
        ["--db", db, "revoke", str(uid), "--all-tokens", "--reason", "x", "--yes"],
        config=f'role_prefix = "{cluster.prefix}"\n' + lying,
        tmp=str(tmp_path),
    )
    assert r.returncode == 4  # Exit.REFUSED
    assert f"database role {cluster.viewer} is viewer, the config says admin" in r.stderr
    assert _state(owner) == before


# -- admin -------------------------------------------------------------------------------------


def test_admin_documented_actions_work_and_are_audited_under_the_database_role(
    cluster: Cluster, owner: AuthCore
) -> None:
    uid, sid = seed_target(owner)
    listener = cluster.raw(make_url(cluster.url).username or "postgres")
    listener.execute("LISTEN authcore_revocations")
    a = _core(cluster, cluster.admin, actor="alice")
    try:
        first_new = audit.verify_chain(owner.engine).head_seq + 1
        assert a.admin.revoke_tokens(uid, "phished").new_version == 2
        assert a.admin.delete_session(sid, "lost phone").session_id == sid
        owner.sessions.create(uid)  # and the expired one from _seed
        assert a.admin.delete_sessions(uid, "all devices").sessions_deleted == 2
        assert a.admin.set_disabled(uid, True, "leaver").disabled
        assert not a.admin.set_disabled(uid, False, "back").disabled
        rep = a.bulk.run("corp-old", "breach", confirm_count=2)
        assert rep.bumped == 2
        owner.sessions.create(uid, ttl=timedelta(microseconds=1))
        assert a.sessions.prune(actor="alice", client=a.client, reason="nightly 42") == 1
        with pytest.raises(Exception, match="reason is required"):
            a.admin.revoke_tokens(uid, "   ")
    finally:
        a.dispose()
    chain = audit.verify_chain(owner.engine)
    assert chain.ok, chain.problem
    events = [e for e in audit.list_events(owner.engine, limit=100) if e.seq >= first_new]
    assert {e.action for e in events} >= {
        "revoke_tokens",
        "delete_session",
        "delete_sessions",
        "disable_user",
        "enable_user",
        "bulk_revoke_tokens",
        "sessions_pruned",
    }
    assert all(
        e.db_role == cluster.admin and e.actor == "alice" and e.client == "ssh 10.0.0.9" for e in events
    )
    # the operator's reason reaches the function path's event too (migration 0006)
    assert [e.reason for e in events if e.action == "sessions_pruned"] == ["nightly 42"]
    got = set()
    for n in listener.notifies(timeout=1.0, stop_after=50):
        got.add(json.loads(n.payload)["k"])
    listener.close()
    assert {"version", "session", "disabled", "enabled"} <= got


def test_admin_revoke_is_one_round_trip(
    cluster: Cluster, owner: AuthCore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the bench's "revoke call (admin role, one round trip)" row names: the function call
    is the only statement the admin's revoke sends, on an autocommit connection (no BEGIN or
    COMMIT of its own, no read before it)."""
    uid, _sid = seed_target(owner)
    a = _core(cluster, cluster.admin)
    try:
        v = a.admin.revoke_tokens(uid, "warm up").new_version  # the role check, a first connection
        sent: list[tuple[str, bool]] = []
        execute = psycopg.Cursor.execute

        def counting(cur: psycopg.Cursor[Any], query: Any, *args: Any, **kw: Any) -> Any:
            if cur.connection.info.user == cluster.admin:
                sent.append((str(query), cur.connection.autocommit))
            return execute(cur, query, *args, **kw)

        monkeypatch.setattr(psycopg.Cursor, "execute", counting)
        assert a.admin.revoke_tokens(uid, "one round trip").new_version == v + 1
        monkeypatch.undo()
    finally:
        a.dispose()
    assert len(sent) == 1, sent
    sql, autocommit = sent[0]
    assert "authcore_revoke_tokens" in sql
    assert autocommit


def test_admin_bulk_bump_calls_the_function_per_chunk_in_one_transaction(
    cluster: Cluster, owner: AuthCore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The function path of a bulk bump splits like the direct one (``revoke.BUMP_CHUNK`` ids
    per ``authcore_bump_many`` call), all in one transaction: a failure in a later chunk leaves
    the earlier ones undone."""
    from authcore import revoke

    monkeypatch.setattr(revoke, "BUMP_CHUNK", 2)
    ids = [owner.users.create(f"fc{i}@corp-old.example", f"fc{i}").id for i in range(5)]
    a = _core(cluster, cluster.admin, actor="alice")
    try:
        calls: list[str] = []
        fail_at: list[int] = []
        execute = psycopg.Cursor.execute

        def counting(cur: psycopg.Cursor[Any], query: Any, *args: Any, **kw: Any) -> Any:
            if "authcore_bump_many" in str(query):
                calls.append(str(query))
                if len(calls) in fail_at:
                    raise psycopg.OperationalError("injected: the third chunk fails")
            return execute(cur, query, *args, **kw)

        monkeypatch.setattr(psycopg.Cursor, "execute", counting)
        res = a.admin.revoke_tokens_many(ids, "rotate")
        assert len(calls) == 3 and [r.new_version for r in res] == [1] * 5
        calls.clear()
        fail_at.append(3)
        with pytest.raises(Exception, match="injected"):
            a.admin.revoke_tokens_many(ids, "rotate again")
        assert len(calls) == 3
        monkeypatch.undo()
    finally:
        a.dispose()
    assert [owner.users.get(i).token_version for i in ids] == [1] * 5  # the failed run left nothing
    chain = audit.verify_chain(owner.engine)
    assert chain.ok, chain.problem


def test_admin_direct_writes_refused_and_empty_reason_refused(cluster: Cluster, owner: AuthCore) -> None:
    uid, sid = seed_target(owner)
    before = _state(owner)
    conn = cluster.raw(cluster.admin)
    try:
        for sql in (
            "UPDATE audit_events SET reason = 'edited'",
            "DELETE FROM audit_events",
            "TRUNCATE audit_events",
            "UPDATE users SET token_version = 0",
            "UPDATE users SET disabled = true",
            "UPDATE audit_head SET seq = 0",
            "DELETE FROM sessions",
            (
                "INSERT INTO audit_events (seq, at, actor, action, reason, details, "
                "prev_hash, hash) VALUES (999, now(), 'x', 'x', 'x', '{}', 'x', 'x')"
            ),
            "SELECT authcore_audit_retain(1, 'cleanup', 'x')",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(sql)
        for sql in (
            f"SELECT * FROM authcore_revoke_tokens({uid}, '', 'x', NULL)",
            f"SELECT * FROM authcore_revoke_tokens({uid}, ' \n ', 'x', NULL)",
            f"SELECT * FROM authcore_set_disabled({uid}, true, NULL, 'x', NULL)",
            f"SELECT * FROM authcore_delete_session('{sid}', '', 'x', NULL)",
        ):
            with pytest.raises(psycopg.errors.InvalidParameterValue, match="reason"):
                conn.execute(sql)
    finally:
        conn.close()
    assert _state(owner) == before


def test_owner_cannot_update_or_delete_audit_events(owner: AuthCore) -> None:
    seed_target(owner)
    for sql in ("UPDATE audit_events SET reason = 'edited'", "DELETE FROM audit_events"):
        with pytest.raises(exc.DBAPIError, match="append-only"), owner.engine.begin() as c:
            c.exec_driver_sql(sql)
    assert audit.verify_chain(owner.engine).ok


def test_retention_removes_old_events_and_the_chain_verifies_from_the_first_kept(owner: AuthCore) -> None:
    from tests.conftest import bypass_audit_trigger

    u = owner.users.create("r@example.com", "r")
    for i in range(6):
        owner.admin.revoke_tokens(u.id, f"r{i}")
    with owner.engine.begin() as c:
        with pytest.raises(exc.DBAPIError, match="reason is required"), c.begin_nested():
            c.exec_driver_sql("SELECT authcore_audit_retain(4, '', 'dba')")
        assert (
            c.exec_driver_sql(
                "SELECT authcore_audit_retain(4, 'retention: older than 1 year', 'dba')"
            ).scalar_one()
            == 3
        )
    rep = audit.verify_chain(owner.engine)
    assert rep.ok and rep.checked == 4 and rep.head_seq == 7, rep
    last = audit.list_events(owner.engine, limit=1)[0]
    assert last.action == "audit_retention" and last.details["first_kept_seq"] == 4
    with owner.engine.begin() as c:  # dropping the first kept event is still found
        bypass_audit_trigger(c)
        c.exec_driver_sql("DELETE FROM audit_events WHERE seq = 4")
    rep = audit.verify_chain(owner.engine)
    assert not rep.ok and "missing" in rep.problem


# -- app -----------------------------------------------------------------------------------------


def test_app_role_does_what_the_readme_app_does_and_nothing_an_operator_does(
    cluster: Cluster, owner: AuthCore
) -> None:
    from authcore.errors import RefreshReuse

    u = owner.users.create("app-user@example.com", "appuser")
    other = owner.users.create("victim@example.com", "victim")
    vs, _ = owner.sessions.create(other.id)
    app = _core(cluster, cluster.app, actor="app")
    try:
        session, token = app.sessions.create(u.id, ip="10.0.0.1", user_agent="ua")
        pair = app.tokens.issue_pair(u.id, sid=session.public_id)
        claims = app.tokens.verify_access(pair.access_token, strict=True)
        new_pair = app.tokens.refresh(pair.refresh_token)
        assert app.sessions.resolve(token) is not None
        app.tokens.refresh(new_pair.refresh_token)
        with pytest.raises(RefreshReuse):  # a replayed refresh token: audited by the app
            app.tokens.refresh(pair.refresh_token)
        assert claims.sid == session.public_id
        s2, token2 = app.sessions.create(u.id)
        app.admin.delete_session(s2.public_id, "user logged out")  # an audited delete
        assert app.sessions.resolve(token2) is None
        s3, _t3, _p3 = app.login(u.id)  # README's login and logout (issue 18)
        assert app.logout(s3.public_id) is True and app.logout(s3.public_id) is False
        before = _state(owner)
        for call in (
            lambda: app.admin.revoke_tokens(other.id, "x"),
            lambda: app.admin.set_disabled(other.id, True, "x"),
            lambda: app.admin.delete_sessions(other.id, "x"),
            lambda: app.admin.revoke_tokens_many([other.id], "x"),
            lambda: app.bulk.run("victim", "x", confirm_count=1),
            lambda: app.sessions.prune(actor="app"),
        ):
            with pytest.raises(DatabasePermissionDenied, match=DENIED):
                call()
        assert _state(owner) == before
    finally:
        app.dispose()
    conn = cluster.raw(cluster.app)
    try:
        for sql in (
            "UPDATE users SET token_version = token_version + 1",
            "UPDATE users SET disabled = true",
            "UPDATE audit_events SET reason = 'x'",
            "DELETE FROM audit_events",
            (
                "INSERT INTO audit_events (seq, at, actor, action, reason, details, "
                "prev_hash, hash) VALUES (999, now(), 'x', 'x', 'x', '{}', 'x', 'x')"
            ),
            "UPDATE audit_head SET seq = 0",
            "SELECT * FROM audit_events",
            "SELECT authcore_audit_append('forged', 'x', 'x', NULL, NULL, '{}', NULL)",
            "SELECT * FROM authcore_revoke_tokens(1, 'x', 'x', NULL)",
            "DELETE FROM user_events",
            "UPDATE user_events SET action = 'x'",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(sql)
    finally:
        conn.close()
    chain = audit.verify_chain(owner.engine)
    assert chain.ok, chain.problem
    # user-initiated events are user events, off the operator's chain (issue 18.9)
    assert [e.action for e in userevents.list_events(owner.engine, user_id=u.id)] == [
        "logout",
        "refresh_reuse_detected",
    ]
    assert owner.sessions.get(vs.public_id) is not None


def test_db_roles_command_prints_and_applies(cluster: Cluster, tmp_path) -> None:  # type: ignore[no-untyped-def]
    r = run_cli(["db", "roles", "--prefix", cluster.prefix, "--db", cluster.url])
    assert r.returncode == 0, r.stderr
    assert f"CREATE ROLE {cluster.prefix}authconsole_viewer NOLOGIN" in r.stdout
    assert "GRANT EXECUTE ON FUNCTION" in r.stdout and "UPDATE users" not in r.stdout
    r = run_cli(["db", "roles", "--prefix", cluster.prefix, "--apply", "--db", cluster.url])
    assert r.returncode == 0, r.stderr
    # as a role that may not create roles: one line, exit 1, nothing half-done
    r = run_cli(
        ["db", "roles", "--prefix", cluster.prefix, "--apply", "--db", cluster.as_role(cluster.admin)]
    )
    assert r.returncode == 4 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    r = run_cli(["db", "roles", "--prefix", "Bad-Prefix"])
    assert r.returncode == 2 and "prefix" in r.stderr
    r = run_cli(["db", "roles", "--prefix", cluster.prefix, "--apply", "--read-only", "--db", cluster.url])
    assert r.returncode != 0 and "read-only" in r.stderr


async def test_console_takes_the_database_role_and_says_so(cluster: Cluster, owner: AuthCore) -> None:
    """The config says admin; the login role is a viewer: the console shows the viewer and a
    warning, as ``Ctx.core`` builds it (``AuthCore.use_database_role``)."""
    from console.connect import Connect
    from tests.support.tui import make_app, notifications, settle, text_of

    owner.users.create("tui@example.com", "tui")
    core = AuthCore(
        make_engine(cluster.as_role(cluster.viewer)),
        Config(tokens=TokenSettings(secret=TEST_SECRET)),
        actor="ops2",
        role="admin",
    )

    def build() -> AuthCore:
        core.use_database_role(cluster.prefix)
        return core

    app = make_app(
        Connect(
            build=build, url="postgresql+psycopg://ops2@db/auth", actor="ops2", role="admin", read_only=False
        )
    )
    try:
        async with app.run_test(size=(120, 24)) as pilot:
            await settle(pilot)
            header = text_of(app, "#console-header")
            notes = notifications(app)
    finally:
        core.dispose()
    assert "(viewer)" in header and "READ-ONLY" in header, header
    assert any(f"database role {cluster.viewer} is viewer, the config says admin" in n for n in notes), notes


def test_the_relay_runs_under_the_app_role(cluster: Cluster, owner: AuthCore) -> None:
    """docs/verifier.md says to run the relay as the app role: it reads ``revocations`` and, while
    a gap is open, ``pg_locks`` and ``pg_stat_activity`` -- all readable by that role. The gap is
    made real: a revocation left uncommitted while a later one commits is published once it
    commits, and a bus verifier (also the app role) refuses every revoked user."""
    from authcore import notices
    from authcore.relay import Relay
    from authcore.revocation import Kind
    from authcore.verifier import Verifier
    from tests.support.nats import delete_stream, shared_url, unique_names

    url = shared_url()
    stream, subject = unique_names()
    app = _core(cluster, cluster.app, actor="relay")
    ids = [owner.users.create(f"r{i}@corp-old.example", f"r{i}").id for i in range(3)]
    tokens = {uid: owner.tokens.issue_pair(uid).access_token for uid in ids}
    relay = Relay(app, url, stream=stream, subject=subject, staleness=1, application_name="t-relay-app")
    verifier = None
    try:
        assert relay.wait_ready(10), relay.stats()
        verifier = Verifier(app, bus=url, bus_stream=stream, bus_subject=subject, staleness=1)
        assert verifier.wait_ready(10), verifier.stats()
        for tok in tokens.values():
            verifier.verify_access(tok)
        held = owner.engine.connect()  # a notice row whose id is taken but not yet committed
        tx = held.begin()
        notices.publish(held, datetime.now(UTC), Kind.VERSION, [ids[0]], [1])
        owner.admin.revoke_tokens(ids[1], "committed first")
        owner.admin.revoke_tokens(ids[2], "committed too")
        tx.commit()
        held.close()

        def refused(tok: str) -> bool:
            try:
                verifier.verify_access(tok)  # type: ignore[union-attr]
            except Exception:  # noqa: BLE001 - any refusal (revoked) counts
                return True
            return False

        deadline = datetime.now(UTC) + timedelta(seconds=10)
        while not all(refused(t) for t in tokens.values()) and datetime.now(UTC) < deadline:
            import time

            time.sleep(0.05)
        assert all(refused(t) for t in tokens.values()), verifier.stats()
        assert verifier.stats().db_fallbacks == 0, verifier.stats()
    finally:
        if verifier is not None:
            verifier.close()
        relay.close()
        app.dispose()
        delete_stream(url, stream)
