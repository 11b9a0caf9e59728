"""authcore.demo: the demo data an operator explores (``authconsole demo``), written by the bulk
path (driver-form rows, COPY on PostgreSQL) on both engines. What it writes must read back
through the library exactly like rows authcore wrote itself: counts as reported, the three named
users as documented, aware UTC times, sessions inside their lifetimes, usernames and emails that
obey ``users.create``'s rules, and every user findable by search."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select

from authcore import demo
from authcore.core import AuthCore
from authcore.models import sessions, users
from authcore.text import has_unsafe
from authcore.timeutil import utcnow
from authcore.users import check_username

N = 150
TTL = timedelta(days=30)


@pytest.fixture
def seeded(core: AuthCore) -> tuple[AuthCore, demo.DemoSummary, datetime]:
    now = utcnow().replace(microsecond=0)
    summary = demo.seed(core.engine, N, rng_seed=7, now=now, refresh_ttl=TTL, batch=60)
    return core, summary, now


def _count(engine: Engine, table) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_present_on_an_empty_database(engine: Engine) -> None:
    assert demo.present(engine) == ((), 0)


def test_the_summary_counts_what_was_written(seeded) -> None:  # type: ignore[no-untyped-def]
    core, summary, _now = seeded
    assert summary.named == demo.NAMED_EMAILS
    assert summary.users == N + len(demo.NAMED_EMAILS) == _count(core.engine, users)
    assert summary.sessions == _count(core.engine, sessions) > N  # ~3 per user
    assert demo.present(core.engine) == (demo.NAMED_EMAILS, summary.users)


def test_the_named_users_are_as_documented(seeded) -> None:  # type: ignore[no-untyped-def]
    core, _summary, now = seeded
    alice, bob, carol = (core.users.find(name) for name in ("alice", "bob", "carol"))
    alice_sessions = core.sessions.for_user(alice.id)
    assert len(alice_sessions) == 4
    assert sum(s.active(now) for s in alice_sessions) == 3  # and one expired
    assert len({s.user_agent for s in alice_sessions}) == 4  # different devices
    assert not alice.disabled and alice.token_version == 0
    assert len(core.sessions.for_user(bob.id)) == 1 and bob.token_version == 2
    assert carol.disabled and carol.disabled_at is not None and carol.disabled_at < now
    assert core.sessions.for_user(carol.id) == []


def test_generated_rows_read_back_like_authcore_wrote_them(seeded) -> None:  # type: ignore[no-untyped-def]
    core, _summary, now = seeded
    with core.engine.connect() as conn:
        urows = conn.execute(select(users)).all()
        srows = conn.execute(select(sessions)).all()
    for u in urows:
        assert u.created_at.tzinfo is not None and u.created_at.utcoffset() == timedelta(0)
        assert u.created_at <= now
        assert u.last_login_at is None or u.created_at <= u.last_login_at <= now
        assert (u.disabled_at is not None) is u.disabled
        check_username(u.username)  # the rule users.create enforces
        assert u.email.count("@") == 1 and not has_unsafe(u.email) and not has_unsafe(u.display_name)
    assert len({u.email.lower() for u in urows}) == len(urows)
    assert len({u.username.lower() for u in urows}) == len(urows)
    user_ids = {u.id for u in urows}
    for s in srows:
        assert s.user_id in user_ids
        assert s.created_at <= s.last_seen_at <= s.expires_at
        assert s.last_seen_at <= now
        assert s.public_id.startswith("ses_") and len(s.public_id) == 20
        assert len(s.token_hash) == 64 and int(s.token_hash, 16) >= 0  # a SHA-256-sized digest
    named_ids = {core.users.find(n).id for n in ("alice", "bob")}
    generated = [s for s in srows if s.user_id not in named_ids]
    assert all(s.expires_at - s.created_at == TTL for s in generated)


def test_seeded_users_are_found_by_search(seeded) -> None:  # type: ignore[no-untyped-def]
    core, _summary, _now = seeded
    with core.engine.connect() as conn:
        last = conn.execute(select(users.c.id, users.c.username).order_by(users.c.id.desc())).first()
    assert last is not None
    page = core.users.search(last.username)
    assert last.id in [r.id for r in page.items]
    assert [r.email for r in core.users.search("alice@example.com").items] == ["alice@example.com"]


def test_seeding_again_adds_new_users_and_skips_the_named_ones(seeded) -> None:  # type: ignore[no-untyped-def]
    core, first, now = seeded
    second = demo.seed(core.engine, 20, rng_seed=7, now=now + timedelta(seconds=1), refresh_ttl=TTL)
    assert second.named == () and second.users == 20
    assert _count(core.engine, users) == first.users + 20
    assert _count(core.engine, sessions) == first.sessions + second.sessions


def test_a_fixed_seed_and_time_give_the_same_people(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from authcore import migrate
    from authcore.db import make_engine

    now = datetime(2026, 6, 1, 12, tzinfo=UTC)
    emails = []
    for name in ("a", "b"):
        engine = make_engine(f"sqlite:///{tmp_path / name}.db")
        migrate.upgrade(engine)
        demo.seed(engine, 40, rng_seed=3, now=now)
        with engine.connect() as conn:
            emails.append(conn.execute(select(users.c.email).order_by(users.c.id)).scalars().all())
        engine.dispose()
    assert emails[0] == emails[1] and len(emails[0]) == 43
