"""Refresh grace (one replay per rotation, recorded) and user events off the audit chain
(issue 18 items 8, 9; both engines)."""

from __future__ import annotations

import json
import os
import random
import threading
from datetime import timedelta

import psycopg
import pytest
from sqlalchemy import func, select, text

from authcore import audit, userevents
from authcore.config import Config, TokenSettings
from authcore.core import AuthCore
from authcore.errors import RefreshReuse, SessionInvalid
from authcore.models import audit_events, user_events
from authcore.tokens import GRACE_REPLAYS
from console.cli import main
from tests.conftest import TEST_SECRET


def _rc(core: AuthCore, token: str) -> int:
    return core.tokens.decode(token, "refresh").rc  # type: ignore[return-value]


def _actions(core: AuthCore, uid: int) -> list[str]:
    return [e.action for e in userevents.list_events(core.engine, user_id=uid)]


def _audit_count(core: AuthCore) -> int:
    with core.engine.connect() as c:
        return int(c.execute(select(func.count()).select_from(audit_events)).scalar_one())


def test_previous_token_is_replayed_once_per_rotation_then_reuse(core: AuthCore) -> None:
    u = core.users.create("g@example.com", "g")
    s, _raw, p0 = core.login(u.id)
    p1 = core.tokens.refresh(p0.refresh_token)
    replay = core.tokens.refresh(p0.refresh_token)  # the parallel tab: once
    assert _rc(core, replay.refresh_token) == _rc(core, p1.refresh_token) == 1
    assert _actions(core, u.id) == ["refresh_replay"]
    ev = userevents.list_events(core.engine, user_id=u.id)[0]
    assert ev.target_session == s.public_id and ev.details["replay"] == 1
    with pytest.raises(RefreshReuse):  # a second replay of the same token is a reuse
        core.tokens.refresh(p0.refresh_token)
    assert core.sessions.get(s.public_id) is None
    assert _actions(core, u.id) == ["refresh_reuse_detected", "refresh_replay"]
    with pytest.raises(SessionInvalid):  # every token of the session is dead now
        core.tokens.refresh(replay.refresh_token)
    assert _audit_count(core) == 0, "user events never touch the operator's chain"


def test_each_rotation_allows_one_replay(core: AuthCore) -> None:
    u = core.users.create("r@example.com", "r")
    _s, _raw, p = core.login(u.id)
    for _ in range(3):
        nxt = core.tokens.refresh(p.refresh_token)
        core.tokens.refresh(p.refresh_token)  # one replay of the token just rotated
        p = nxt
    assert _actions(core, u.id) == ["refresh_replay"] * 3


def test_replay_after_the_grace_is_reuse(engine) -> None:  # type: ignore[no-untyped-def]
    core = AuthCore(engine, Config(tokens=TokenSettings(secret=TEST_SECRET, refresh_grace=timedelta(0))))
    u = core.users.create("z@example.com", "z")
    _s, _raw, p0 = core.login(u.id)
    core.tokens.refresh(p0.refresh_token)
    with pytest.raises(RefreshReuse):
        core.tokens.refresh(p0.refresh_token)
    assert _actions(core, u.id) == ["refresh_reuse_detected"]


def test_concurrent_replays_mint_at_most_one_pair(core: AuthCore) -> None:
    """Four tabs replay the rotated token at once: one gets a pair, the rest end the session."""
    u = core.users.create("c@example.com", "c")
    _s, _raw, p0 = core.login(u.id)
    core.tokens.refresh(p0.refresh_token)
    barrier = threading.Barrier(4)
    got: list[str] = []
    lock = threading.Lock()

    def tab() -> None:
        barrier.wait()
        try:
            core.tokens.refresh(p0.refresh_token)
            out = "pair"
        except (RefreshReuse, SessionInvalid) as exc:
            out = exc.code
        except Exception as exc:  # noqa: BLE001 - asserted absent below
            out = repr(exc)
        with lock:
            got.append(out)

    threads = [threading.Thread(target=tab) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(got).count("pair") <= GRACE_REPLAYS and "reuse" in got, got
    assert set(got) <= {"pair", "reuse", "session"}, got
    acts = _actions(core, u.id)
    assert acts.count("refresh_reuse_detected") == 1
    assert acts.count("refresh_replay") == got.count("pair")


def test_random_walk_matches_the_model(core: AuthCore) -> None:
    """Random refreshes with tokens from the session's history, against a model of the rules:
    current rotates, previous replays once per rotation, anything else ends the session."""
    seed = int(os.environ.get("AUTHCORE_TEST_SEED", random.randrange(1 << 30)))
    rnd = random.Random(seed)
    u = core.users.create("w@example.com", "w")
    for _walk in range(4):
        _s, _raw, p = core.login(u.id)
        held = {0: [p.refresh_token]}  # rc -> tokens minted for it
        counter, replays, alive = 0, 0, True
        minted = replays_seen = 0
        for step in range(25):
            rc = rnd.choice(sorted(held))
            token = rnd.choice(held[rc])
            try:
                pair = core.tokens.refresh(token)
                outcome = "pair"
            except RefreshReuse:
                outcome = "reuse"
            except SessionInvalid:
                outcome = "ended"
            if not alive:
                expect = "ended"
            elif rc == counter or (rc == counter - 1 and replays < GRACE_REPLAYS):
                expect = "pair"
            else:
                expect = "reuse"
            assert outcome == expect, f"seed {seed} step {step}: rc {rc}, model {counter}/{replays}"
            if outcome == "pair":
                minted += 1
                if rc == counter:
                    counter, replays = counter + 1, 0
                else:
                    replays += 1
                    replays_seen += 1
                held.setdefault(counter, []).append(pair.refresh_token)
            elif outcome == "reuse":
                alive = False
        assert replays_seen <= minted, f"seed {seed}"
    events = userevents.list_events(core.engine, user_id=u.id, limit=1000)
    assert all(e.action in ("refresh_replay", "refresh_reuse_detected") for e in events)
    assert _audit_count(core) == 0, f"seed {seed}"


def test_logout_is_a_user_event_not_an_audit_event(core: AuthCore) -> None:
    u = core.users.create("l@example.com", "l")
    s, raw, _pair = core.login(u.id)
    head_before = audit.verify_chain(core.engine).head_seq
    assert core.logout(s.public_id) and not core.logout(s.public_id)
    s2, raw2, _ = core.login(u.id)
    assert core.sessions.logout(raw2)
    ev = userevents.list_events(core.engine, user_id=u.id)
    assert [(e.action, e.target_session, e.actor) for e in ev] == [
        ("logout", s2.public_id, "user"),
        ("logout", s.public_id, "user"),
    ]
    rep = audit.verify_chain(core.engine)
    assert rep.ok and rep.head_seq == head_before == 0
    with core.engine.connect() as c:  # only digests and ids are stored, never a token
        blob = repr(c.execute(select(user_events)).all())
    assert raw not in blob and raw2 not in blob
    # the operator's views still show them, merged with the audit events
    core.admin.revoke_tokens(u.id, "rotate")
    merged = userevents.activity(core.engine, u.id)
    assert [e.action for e in merged] == ["revoke_tokens", "logout", "logout"]
    assert len({userevents.row_key(e) for e in merged}) == 3


def test_users_show_lists_user_events(core: AuthCore, db_url: str, capsys) -> None:  # type: ignore[no-untyped-def]
    u = core.users.create("v@example.com", "v")
    s, _raw, _pair = core.login(u.id)
    core.logout(s.public_id)
    assert main(["--db", db_url, "users", "show", "v@example.com", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [(e["action"], e["session"]) for e in data["user_events"]] == [("logout", s.public_id)]
    assert main(["--db", db_url, "users", "show", "v@example.com"]) == 0
    out = capsys.readouterr().out
    assert "recent user events" in out and "the user logged out" in out
    assert main(["--db", db_url, "audit", "list", "--user-events", "--user", "v@example.com", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [e["action"] for e in data["user_events"]] == ["logout"]
    assert main(["--db", db_url, "audit", "list", "--user-events", "--action", "logout"]) == 0
    assert s.public_id in capsys.readouterr().out


def test_user_events_never_wait_for_the_audit_chain_lock(core: AuthCore, db_url: str) -> None:
    """PostgreSQL: an operator transaction holds audit_head's row lock; logouts, a replay and
    a reuse still commit. (SQLite has one writer at a time by design: nothing to show there.)"""
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite serialises all writers (BEGIN IMMEDIATE); the chain lock is PG's")
    u = core.users.create("h@example.com", "h")
    logins = [core.login(u.id) for _ in range(3)]
    p0 = logins[2].pair
    core.tokens.refresh(p0.refresh_token)
    holder = psycopg.connect(db_url.replace("postgresql+psycopg://", "postgresql://"))
    try:
        holder.execute("SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE")  # tx left open
        done: list[object] = []

        def user_requests() -> None:
            try:
                done.append(core.logout(logins[0].session.public_id))
                done.append(core.sessions.logout(logins[1].session_token))
                core.tokens.refresh(p0.refresh_token)  # the replay
                done.append("replay")
                try:
                    core.tokens.refresh(p0.refresh_token)
                except RefreshReuse:
                    done.append("reuse")
            except Exception as exc:  # noqa: BLE001 - asserted below
                done.append(exc)

        t = threading.Thread(target=user_requests)
        t.start()
        t.join(10)
        assert not t.is_alive(), "a user request waited for the operator's chain lock"
        assert done == [True, True, "replay", "reuse"], done
    finally:
        holder.rollback()
        holder.close()
    assert audit.verify_chain(core.engine).ok
    with core.engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM user_events")).scalar_one() == 4
