"""What a revocation does and what the operator is told (issue 18 items 7, 10; both engines)."""

from __future__ import annotations

import json
import re
import time
from dataclasses import fields
from datetime import UTC, datetime, timedelta

import pytest

from authcore import audit, revoke
from authcore.core import AuthCore
from authcore.errors import TokenRevoked, UserDisabled
from authcore.verifier import Verifier
from console.cli import main


def _wait(pred, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.02)
    return False


def test_a_bump_result_is_the_constructors() -> None:
    """``revoke._bumped`` (a bump's result built without the frozen ``__init__``) is the object
    the constructor gives: every field, equality, repr; a field added to ``RevokeResult`` and not
    to ``_bumped`` fails here."""
    now = datetime(2026, 12, 3, 8, 0, 1, 234567, tzinfo=UTC)
    later = now + timedelta(minutes=15)
    got = revoke._bumped(7, "a@example.com", 4, 2, now, later)
    want = revoke.RevokeResult("revoke_tokens", 7, "a@example.com", 3, 4, 0, 2, False, now, later)
    assert vars(got) == vars(want) and {f.name for f in fields(want)} == set(vars(got))
    assert got == want and repr(got) == repr(want)
    assert got.to_dict() == want.to_dict() and got.kinds == want.kinds
    assert got.extra == {} and got.extra is not revoke._bumped(7, "a", 4, 2, now, later).extra
    with pytest.raises(AttributeError):  # still frozen
        got.email = "b@example.com"  # type: ignore[misc]


def test_a_bump_returns_what_it_wrote(core: AuthCore) -> None:
    """The fast bump's result against the database it changed (both engines)."""
    uid = core.users.create("bumped@example.com", "bumped").id
    before = core.admin.revoke_tokens(uid, "first", dry_run=True)
    r = core.admin.revoke_tokens(uid, "second")
    assert r == revoke.RevokeResult(
        "revoke_tokens",
        uid,
        "bumped@example.com",
        before.old_version,
        before.old_version + 1,
        0,
        before.sessions_remaining,
        False,
        r.refresh_effective_at,
        r.refresh_effective_at + core.config.tokens.access_ttl,
    )
    (event,) = audit.list_events(core.engine, user_id=uid, action="revoke_tokens")
    assert event.details == {"old_version": r.old_version, "new_version": r.new_version}
    assert core.audit.verify().ok


def test_enable_never_revives_tokens_from_before_the_disable(core: AuthCore) -> None:
    u = core.users.create("e@example.com", "e")
    session, raw, pair = core.login(u.id)
    core.tokens.refresh(pair.refresh_token)  # a rotation, so both counters are in play
    res = core.admin.set_disabled(u.id, True, "compromised")
    assert (res.old_version, res.new_version, res.sessions_deleted) == (0, 1, 1)
    core.admin.set_disabled(u.id, False, "cleared")
    with pytest.raises(TokenRevoked):
        core.tokens.verify_access(pair.access_token, strict=True)
    with pytest.raises(TokenRevoked):
        core.tokens.refresh(pair.refresh_token)
    assert core.sessions.resolve(raw) is None and core.sessions.get(session.public_id) is None
    # one audit event carries the flag, the bump and the ended sessions
    ev = audit.list_events(core.engine, user_id=u.id)
    assert [e.action for e in ev] == ["enable_user", "disable_user"]
    assert ev[1].details == {"old_version": 0, "new_version": 1, "sessions_deleted": 1}
    assert audit.verify_chain(core.engine).ok
    # a fresh login works again, with the new version
    _s, _raw, fresh = core.login(u.id)
    assert fresh.token_version == 1
    assert core.tokens.verify_access(fresh.access_token, strict=True).token_version == 1


def test_enable_never_revives_tokens_in_a_verifier(core: AuthCore) -> None:
    u = core.users.create("v@example.com", "v")
    _s, _raw, old = core.login(u.id)
    with Verifier(core) as verifier:
        assert verifier.verify_access(old.access_token).user_id == u.id  # cached
        core.admin.set_disabled(u.id, True, "x")
        assert _wait(lambda: _refused(verifier, old.access_token) == "disabled")
        core.admin.set_disabled(u.id, False, "y")
        _s2, _raw2, new = core.login(u.id)
        assert _wait(lambda: _refused(verifier, new.access_token) is None), "enable applied"
        assert _refused(verifier, old.access_token) == "revoked"


def _refused(verifier: Verifier, token: str) -> str | None:
    try:
        verifier.verify_access(token)
    except (TokenRevoked, UserDisabled) as exc:
        return exc.code
    return None


def test_disable_dry_run_plans_the_bump_and_the_sessions(core: AuthCore) -> None:
    u = core.users.create("d@example.com", "d")
    core.login(u.id)
    core.login(u.id)
    plan = core.admin.set_disabled(u.id, True, "x", dry_run=True)
    assert (plan.old_version, plan.new_version, plan.sessions_deleted) == (0, 1, 2)
    assert "token_version 0 -> 1, 2 sessions ended" in plan.summary()
    assert core.users.get(u.id).token_version == 0 and len(core.sessions.for_user(u.id)) == 2
    enable = core.admin.set_disabled(u.id, False, "x", dry_run=True)
    assert enable.new_version == enable.old_version == 0


def test_summaries_never_promise_access_tokens_stay_valid(core: AuthCore) -> None:
    u = core.users.create("s@example.com", "s")
    s, _raw, _pair = core.login(u.id)
    for res in (
        core.admin.revoke_tokens(u.id, "x", dry_run=True),
        core.admin.delete_session(s.public_id, "x", dry_run=True),
        core.admin.delete_sessions(u.id, "x", dry_run=True),
        core.admin.set_disabled(u.id, True, "x", dry_run=True),
    ):
        text = res.summary()
        assert "stay valid" not in text, text
        assert (
            "access tokens within their staleness bound; signature-only checks accept them until"
        ) in text, text
        assert re.search(r"until \d\d:\d\d UTC \(expiry\)", text), text


def _cli(capsys, *argv: str) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    "argv",
    [
        ["revoke", "{u}", "--all-tokens"],
        ["revoke", "{u}", "--session", "{sid}"],
        ["revoke", "{u}", "--sessions"],
        ["users", "disable", "{u}"],
    ],
    ids=["all-tokens", "session", "sessions", "disable"],
)
def test_cli_reports_the_measured_refusal(core: AuthCore, db_url: str, capsys, argv) -> None:  # type: ignore[no-untyped-def]
    u = core.users.create("c@example.com", "c")
    s, _raw, _pair = core.login(u.id)
    args = [a.format(u="c@example.com", sid=s.public_id) for a in argv]
    code, out, err = _cli(capsys, "--db", db_url, *args, "--reason", "test", "--yes")
    assert code == 0, err
    assert out.startswith("done: Refused by strict verifiers within ~"), out  # figure first
    assert "c@example.com: " in out and "stay valid" not in out
    assert "signature-only checks accept them until" in out
    assert re.search(
        r"Refused by strict verifiers within ~\d+ ms \(measured by this "
        r"console's verifier\)",
        out,
    ), out


def test_cli_json_carries_the_measured_ms(core: AuthCore, db_url: str, capsys) -> None:  # type: ignore[no-untyped-def]
    u = core.users.create("j@example.com", "j")
    core.login(u.id)
    code, out, err = _cli(
        capsys, "--db", db_url, "users", "disable", "j@example.com", "--reason", "t", "--yes", "--json"
    )
    data = json.loads(out)
    assert code == 0 and data["disabled"] and data["token_version"] == 1
    assert isinstance(data["propagation_ms"], float) and data["sessions_deleted"] == 1
    code, out, err = _cli(
        capsys, "--db", db_url, "users", "enable", "j@example.com", "--reason", "t", "--yes", "--json"
    )
    data = json.loads(out)
    assert code == 0 and not data["disabled"] and data["propagation_ms"] is None


def test_logins_racing_a_disable_leave_no_session(core: AuthCore) -> None:
    """Logins in four threads while an operator disables the user: each login either commits
    before the disable (and the disable ends it) or is refused; never a session afterwards."""
    import threading

    u = core.users.create("race@example.com", "race")
    outcomes: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(5)

    def logins() -> None:
        start.wait()
        for _ in range(15):
            try:
                core.login(u.id)
                got = "ok"
            except UserDisabled:
                got = "disabled"
            except Exception as exc:  # noqa: BLE001 - asserted absent below
                got = repr(exc)
            with lock:
                outcomes.append(got)

    threads = [threading.Thread(target=logins) for _ in range(4)]
    for t in threads:
        t.start()
    start.wait()
    time.sleep(0.01)
    res = core.admin.set_disabled(u.id, True, "race")
    for t in threads:
        t.join(60)
    assert set(outcomes) <= {"ok", "disabled"}, outcomes
    assert core.sessions.for_user(u.id) == [], "a session outlived the disable"
    assert outcomes.count("ok") == res.sessions_deleted


def test_a_bulk_bump_sends_an_update_per_chunk_in_one_transaction(
    core: AuthCore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each UPDATE of a bulk bump carries at most ``BUMP_CHUNK`` ids, so each statement's bound
    covers a bounded amount of work; the transaction still holds them all (the chain, one event
    per user, the new versions all there)."""
    from authcore import revoke
    from tests.support.statements import Statements

    monkeypatch.setattr(revoke, "BUMP_CHUNK", 4)
    ids = [core.users.create(f"chunk{i}@example.com", f"chunk{i}").id for i in range(10)]
    first_new = audit.verify_chain(core.engine).head_seq + 1
    with Statements(core.engine) as q:
        res = core.admin.revoke_tokens_many(list(reversed(ids)), "rotate", summary={"query": "chunk"})
    updates = [s for s in q.seen if s.lstrip().upper().startswith("UPDATE USERS")]
    assert len(updates) == 3  # 4 + 4 + 2
    assert [(r.user_id, r.new_version) for r in res] == [(i, 1) for i in sorted(ids)]
    assert all(core.users.get(i).token_version == 1 for i in ids)
    chain = audit.verify_chain(core.engine)
    assert chain.ok, chain.problem
    events = [e for e in audit.list_events(core.engine, limit=50) if e.seq >= first_new]
    assert sorted(e.target_user_id for e in events if e.action == "revoke_tokens") == sorted(ids)
    assert [e.details["users"] for e in events if e.action == "bulk_revoke_tokens"] == [10]
