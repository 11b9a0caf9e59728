"""Issue 6: races, atomicity, roles, bulk revoke with resume, hostile text, secrets."""

from __future__ import annotations

import json
import threading
import time

import pytest
from sqlalchemy import func, select, text

from authcore import audit
from authcore.core import AuthCore
from authcore.errors import PermissionDenied, ValidationError
from authcore.models import audit_events, sessions, users
from console.cli import main
from tests.support.hostile import HOSTILE, assert_inert, seed_hostile

BUMP_THREADS, BUMPS_EACH = 8, 250


def _count(core: AuthCore, table, *where) -> int:  # type: ignore[no-untyped-def]
    with core.engine.connect() as c:
        return c.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


def test_8_threads_x_250_bumps_exact(core: AuthCore) -> None:
    u = core.users.create("race@example.com", "race")
    errors: list[BaseException] = []
    barrier = threading.Barrier(BUMP_THREADS)

    def worker() -> None:
        barrier.wait()
        try:
            for _ in range(BUMPS_EACH):
                core.admin.revoke_tokens(u.id, "race")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    ts = [threading.Thread(target=worker) for _ in range(BUMP_THREADS)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    assert not errors, repr(errors[0])  # includes "database is locked" on SQLite
    total = BUMP_THREADS * BUMPS_EACH
    assert core.users.get(u.id).token_version == total
    assert _count(core, audit_events, audit_events.c.action == "revoke_tokens") == total
    rep = audit.verify_chain(core.engine)
    assert rep.ok and rep.checked == total


def test_delete_all_sessions_races_logins(core: AuthCore) -> None:
    """No deadlock, and no session that was created before a delete survives it."""
    u = core.users.create("login@example.com", "login")
    created: list[tuple[str, float]] = []
    delete_starts: list[float] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def login() -> None:
        try:
            while not stop.is_set():
                rec, _ = core.sessions.create(u.id, user_agent="race")
                created.append((rec.public_id, time.monotonic()))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    def deleter() -> None:
        try:
            for _ in range(30):
                delete_starts.append(time.monotonic())
                core.admin.delete_sessions(u.id, "race")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            stop.set()

    ts = [threading.Thread(target=login) for _ in range(3)] + [threading.Thread(target=deleter)]
    [t.start() for t in ts]
    [t.join(timeout=120) for t in ts]
    assert not any(t.is_alive() for t in ts), "deadlock: threads still running"
    assert not errors, repr(errors[0])
    surviving = {r.public_id for r in core.sessions.for_user(u.id, limit=100000)}
    last_delete = delete_starts[-1]
    stale = [sid for sid, done_at in created if sid in surviving and done_at < last_delete]
    assert not stale, f"{len(stale)} sessions created before the last delete survived it"
    assert len(created) > 0 and len(delete_starts) == 30


def test_roles_from_config(db_url, capsys, write_config, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from authcore.actor import os_user

    assert main(["--db", db_url, "demo", "--users", "0"]) == 0
    me = os_user()
    cfg_secret = 'secret = "' + "k" * 48 + '"'
    write_config(f'[tokens]\n{cfg_secret}\n[operators]\nsomeone_else = "admin"\n')
    capsys.readouterr()
    code = main(["--db", db_url, "revoke", "bob", "--all-tokens", "--reason", "x", "--yes"])
    err = capsys.readouterr().err
    assert code == 4 and "viewer role" in err  # Exit.REFUSED
    write_config(f'[tokens]\n{cfg_secret}\n[operators]\n"{me}" = "admin"\n')
    assert main(["--db", db_url, "revoke", "bob", "--all-tokens", "--reason", "x", "--yes"]) == 0


def _corp_users(core: AuthCore, n: int) -> list[int]:
    ids = [core.users.create(f"u{i}@corp-old.example", f"corp{i}").id for i in range(n)]
    core.users.create("keep@example.com", "keep")
    return ids


def test_bulk_revoke_preview_audit_and_summary(core: AuthCore) -> None:
    ids = _corp_users(core, 25)
    plan = core.bulk.plan("@corp-old.example", "breach")
    assert plan.matching == 25 and plan.run_id is None
    with pytest.raises(ValidationError, match="does not match"):
        core.bulk.run("@corp-old.example", "breach", confirm_count=24)
    assert _count(core, audit_events) == 0
    rep = core.bulk.run("@corp-old.example", "breach", confirm_count=25, batch=10)
    assert rep.bumped == 25
    assert all(core.users.get(i).token_version == 1 for i in ids)
    assert core.users.find("keep").token_version == 0
    assert _count(core, audit_events, audit_events.c.action == "revoke_tokens") == 25
    assert _count(core, audit_events, audit_events.c.action == "bulk_revoke_tokens") == 1
    assert audit.verify_chain(core.engine).ok


def test_bulk_revoke_resumes_after_crash_without_double_bump(core: AuthCore, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    ids = _corp_users(core, 35)
    real = core.admin.bump_many_in
    calls = {"n": 0}

    def crash_on_third(*a, **k):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("injected crash")
        return real(*a, **k)

    monkeypatch.setattr(core.admin, "bump_many_in", crash_on_third)
    with pytest.raises(RuntimeError, match="injected"):
        core.bulk.run("@corp-old.example", "breach", confirm_count=35, batch=10)
    monkeypatch.undo()
    assert sum(core.users.get(i).token_version for i in ids) == 20
    plan = core.bulk.plan("@corp-old.example", "breach")
    assert plan.run_id and plan.already_done == 20 and plan.matching == 15
    rep = core.bulk.run("@corp-old.example", "breach", confirm_count=15, batch=10)
    assert rep.resumed and rep.bumped == 15 and rep.total_done == 35
    assert [core.users.get(i).token_version for i in ids] == [1] * 35


def test_bulk_needs_admin(engine, config) -> None:  # type: ignore[no-untyped-def]
    admin = AuthCore(engine, config, actor="a")
    _corp_users(admin, 3)
    op = AuthCore(engine, config, actor="o", role="operator")
    with pytest.raises(PermissionDenied):
        op.bulk.run("@corp-old.example", "x", confirm_count=3)


def test_bulk_cli_preview_and_confirm(db_url, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["--db", db_url, "demo", "--users", "300"]) == 0
    capsys.readouterr()
    assert (
        main(
            [
                "--db",
                db_url,
                "revoke",
                "--query",
                "@corp-old.example",
                "--all-tokens",
                "--reason",
                "breach",
                "--dry-run",
                "--json",
            ]
        )
        == 0
    )
    n = json.loads(capsys.readouterr().out)["matching"]
    assert n > 0
    code = main(
        ["--db", db_url, "revoke", "--query", "@corp-old.example", "--all-tokens", "--reason", "breach"]
    )
    assert code == 1 and f"--confirm-count {n}" in capsys.readouterr().err
    assert (
        main(
            [
                "--db",
                db_url,
                "revoke",
                "--query",
                "@corp-old.example",
                "--all-tokens",
                "--reason",
                "breach",
                "--confirm-count",
                str(n),
                "--json",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["bumped"] == n


def test_cli_shows_injected_failure_and_changes_nothing(db_url, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    assert main(["--db", db_url, "demo", "--users", "0"]) == 0
    capsys.readouterr()
    monkeypatch.setattr(
        audit, "append", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("audit write failed"))
    )
    code = main(["--db", db_url, "revoke", "alice", "--all-tokens", "--reason", "x", "--yes"])
    err = capsys.readouterr().err
    assert code != 0 and "audit write failed" in err and "Traceback" not in err
    monkeypatch.undo()
    main(["--db", db_url, "users", "show", "alice", "--json"])
    assert json.loads(capsys.readouterr().out)["user"]["token_version"] == 0


def test_hostile_text_is_inert_in_cli_text_and_exact_in_json(core: AuthCore, db_url, capsys) -> None:  # type: ignore[no-untyped-def]
    ids = seed_hostile(core)
    for argv in (
        ["users", "search", "h"],
        ["sessions", "list"],
        ["users", "show", str(ids[4])],
        ["users", "show", str(ids[1])],
        ["audit", "list"],
    ):
        assert main(["--db", db_url, *argv]) == 0
        out = capsys.readouterr().out
        assert_inert(out)
        assert len(max(out.splitlines(), key=len)) < 2000
    assert main(["--db", db_url, "users", "search", "h", "--limit", "50", "--json"]) == 0
    raw = capsys.readouterr().out
    assert raw.isascii() and "\x1b" not in raw
    names = {u["display_name"] for u in json.loads(raw)["users"]}
    assert {s.replace("\x00", "")[:200] for s in HOSTILE} <= names


def test_no_secret_password_or_raw_token_leaks(pg_url, capsys, monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A full flow over a password-bearing URL: nothing prints the secret or the password, and
    the database holds no raw session token or JWT."""
    from tests.conftest import reset_pg

    reset_pg(pg_url)
    secret = "S3CRET-" + "q" * 40
    monkeypatch.setenv("AUTHCORE_SECRET", secret)
    url = pg_url.replace("postgres@", "postgres:hunter2pw@")
    outputs = []
    for argv in (
        ["demo", "--users", "5"],
        ["users", "show", "alice", "--json"],
        ["db", "status", "--json"],
        ["audit", "list", "--json"],
        ["revoke", "alice", "--all-tokens", "--reason", "x", "--yes", "--json"],
        ["--db", "postgresql+psycopg://postgres:hunter2pw@127.0.0.1:1/x", "db", "status"],
    ):
        full = argv if argv[0] == "--db" else ["--db", url, *argv]
        main(full)
        outputs.append("".join(capsys.readouterr()))
    blob = "\n".join(outputs)
    assert secret not in blob and "hunter2pw" not in blob
    from authcore.config import Config, TokenSettings
    from authcore.db import make_engine

    engine = make_engine(pg_url)
    core = AuthCore(engine, Config(tokens=TokenSettings(secret=secret)))
    uid = core.users.find("alice").id
    rec, raw = core.sessions.create(uid)
    pair = core.tokens.issue_pair(uid, sid=rec.public_id)
    core.tokens.refresh(pair.refresh_token)
    core.admin.delete_session(rec.public_id, "done")
    with engine.connect() as c:
        dump = []
        for t in ("users", "sessions", "audit_events", "revocations", "bulk_runs", "audit_head"):
            dump += [repr(tuple(r)) for r in c.execute(text(f"SELECT * FROM {t}"))]
    engine.dispose()
    blob = "\n".join(dump)
    for needle in (raw, pair.access_token, pair.refresh_token, secret, pair.refresh_token.split(".")[2]):
        assert needle not in blob


def test_search_input_never_errors(core: AuthCore) -> None:
    """Hostile terms are literal text: the results are exactly the users holding the term (as a
    prefix below ``CONTAINS_MIN`` characters), so a ``%`` or ``_`` matching everyone fails."""
    from authcore.users import CONTAINS_MIN, normalize_query

    plain = core.users.create("s@example.com", "s")
    odd = core.users.create("odd@example.com", "%_\\odd", "'quoted\" [b]")
    for q in [
        "%",
        "_",
        "\\",
        "'",
        '"',
        "\x00",
        "'; DROP TABLE users; --",
        "a" * 320,
        "\u202e",
        "[b]",
        "%_\\",
        "%ex",
        "e_a",
    ]:  # as wildcards both match both emails
        got = {u.id for u in core.users.search(q).items}
        term = normalize_query(q).casefold()
        if term:  # NUL and bidi characters are dropped: "" is the empty search
            fields = [
                (u.id, f.casefold()) for u in (plain, odd) for f in (u.email, u.username, u.display_name)
            ]
            want = {i for i, f in fields if (term in f if len(term) >= CONTAINS_MIN else f.startswith(term))}
            assert got == want, (q, got, want)
    with pytest.raises(ValidationError):
        core.users.search("a" * 321)
    assert _count(core, users) == 2 and _count(core, sessions) == 0
