"""authcore.auditlog: ``core.audit``, the audit log through ``AuthCore`` on both engines: events
newest first with filters and keyset pages, the users' own events and a user's merged activity,
the chain walk (a tampered row found), seals (signed only over an intact, non-empty chain; a
sealed head pinned), and every failure an ``AuthCoreError``, never a driver's exception.

(The chain's hashing itself: tests/test_audit.py, tests/test_audit_heads.py; seal files and the
CLI: tests/test_seal.py.)
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import update

from authcore import seal as sealing
from authcore.config import Config
from authcore.core import AuthCore
from authcore.db import make_engine
from authcore.errors import AuthCoreError, ValidationError
from authcore.models import audit_events
from tests.support.audit import rewrite_event
from tests.support.pg import bypass_audit_trigger


@pytest.fixture
def history(core: AuthCore) -> tuple[AuthCore, int, int]:
    """alice: 3 rotations and a session delete; bob: one rotation by another operator."""
    alice = core.users.create("alice@example.com", "alice")
    bob = core.users.create("bob@example.com", "bob")
    for i in range(3):
        core.admin.revoke_tokens(alice.id, f"rotation {i}")
    s, _raw = core.sessions.create(alice.id)
    core.admin.delete_session(s.public_id, "lost laptop")
    other = AuthCore(core.engine, core.config, actor="night-shift")
    other.admin.revoke_tokens(bob.id, "rotation")
    return core, alice.id, bob.id


def test_list_is_newest_first_filtered_and_keyset_paged(history) -> None:  # type: ignore[no-untyped-def]
    core, alice, bob = history
    log = core.audit
    events = log.list()
    assert [e.seq for e in events] == [5, 4, 3, 2, 1]
    assert [e.reason for e in log.list(user_id=alice)] == [
        "lost laptop",
        "rotation 2",
        "rotation 1",
        "rotation 0",
    ]
    assert {e.action for e in log.list(action="delete_session")} == {"delete_session"}
    assert [e.target_user_id for e in log.list(actor="night-shift")] == [bob]
    page1 = log.list(limit=2)
    page2 = log.list(limit=2, before_seq=page1[-1].seq)
    page3 = log.list(limit=2, before_seq=page2[-1].seq)
    assert [e.seq for e in page1 + page2 + page3] == [5, 4, 3, 2, 1]
    assert len(log.list(limit=0)) == 1 and len(log.list(limit=10**6)) == 5  # bounded, not refused


def test_user_events_and_activity_merge_newest_first(history) -> None:  # type: ignore[no-untyped-def]
    core, alice, _bob = history
    _s, raw = core.sessions.create(alice)
    assert core.sessions.logout(raw)
    own = core.audit.user_events(user_id=alice)
    assert [e.action for e in own] == ["logout"]
    merged = core.audit.activity(alice)
    assert len(merged) == 5  # 4 audit events + 1 own event
    assert getattr(merged[0], "action", None) == "logout"  # the newest
    times = [e.at for e in merged]
    assert times == sorted(times, reverse=True)


def test_verify_finds_an_edited_row(history, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    core, _alice, _bob = history
    rep = core.audit.verify()
    assert rep.ok and rep.checked == 5 and rep.head_seq == 5
    with core.engine.begin() as conn:
        bypass_audit_trigger(conn)
        conn.execute(update(audit_events).where(audit_events.c.seq == 3).values(reason="nothing to see"))
    rep = core.audit.verify()
    assert not rep.ok and rep.first_bad_seq == 3 and rep.problem
    key = tmp_path / "seal.key"
    sealing.generate_key(key)
    with pytest.raises(ValidationError, match="broken"):  # a broken chain is never sealed
        core.audit.seal(sealing.load_private_key(key))


def test_seals_pin_the_head_a_consistent_rewrite_cannot_keep(history, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    core, _alice, _bob = history
    key = tmp_path / "seal.key"
    pub = sealing.load_public_key(sealing.generate_key(key))
    s = core.audit.seal(sealing.load_private_key(key))
    assert (s.seq, s.hash) == (5, core.audit.verify().head_hash)
    srep, rep = core.audit.verify_seals([s], pub)
    assert srep.ok and srep.newest == s and rep is not None and rep.ok
    rewrite_event(core, 2, "rewritten consistently")  # every later hash and the anchor recomputed
    assert core.audit.verify().ok  # the plain walk cannot tell
    srep, rep = core.audit.verify_seals([s], pub)
    assert not srep.ok and rep is not None and not rep.ok


def test_an_empty_chain_is_never_sealed(core: AuthCore, tmp_path: Path) -> None:
    key = tmp_path / "seal.key"
    sealing.generate_key(key)
    assert core.audit.verify().ok and core.audit.list() == []
    with pytest.raises(ValidationError, match="empty"):
        core.audit.seal(sealing.load_private_key(key))


def test_check_configured_without_seals_is_the_walk(history) -> None:  # type: ignore[no-untyped-def]
    core, _alice, _bob = history
    rep, srep = core.audit.check_configured()
    assert rep.ok and srep is None


def test_a_database_without_schema_is_an_authcore_error(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    core = AuthCore(engine, Config())
    try:
        for call in (core.audit.list, core.audit.verify, core.audit.user_events):
            with pytest.raises(AuthCoreError, match="db upgrade"):
                call()
    finally:
        engine.dispose()
