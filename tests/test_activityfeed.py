"""authcore.activityfeed: what an operator's live view receives, on both engines: each kind as it
happens (from NOTIFY on PostgreSQL, from the tables on SQLite and for the audit and user events),
with the user's email; nothing from a rolled-back transaction; a burst handed over newest first,
bounded, with its totals; the recent past first; on PostgreSQL a lost listener reconnects, re-reads
the gap's logins and says what it could not re-read."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import insert

from authcore.activity import ActivityEvent, Kind
from authcore.activityfeed import ActivityFeed, Batch
from authcore.core import AuthCore
from authcore.errors import RefreshReuse
from authcore.models import sessions
from authcore.timeutil import utcnow
from authcore.verifier import libpq_url


@pytest.fixture
def follow(core: AuthCore) -> Iterator[Callable[..., ActivityFeed]]:
    feeds: list[ActivityFeed] = []

    def start(**kw: Any) -> ActivityFeed:
        kw.setdefault("poll_s", 0.05)
        feed = core.activity.follow(**kw)
        feeds.append(feed)
        assert feed.primed.wait(10)
        return feed

    yield start
    for f in feeds:
        f.close()
    assert not any(f.running for f in feeds)


def collect(
    feed: ActivityFeed, until: Callable[[list[ActivityEvent]], bool], wait: float = 10
) -> list[ActivityEvent]:
    got: list[ActivityEvent] = []
    end = time.monotonic() + wait
    while time.monotonic() < end:
        got += feed.drain(10_000).events
        if until(got):
            return got
        time.sleep(0.05)
    raise AssertionError(f"not seen in {wait}s; got {[(e.kind, e.key) for e in got]}, state {feed.state!r}")


def test_each_kind_is_seen_as_it_happens(core: AuthCore, follow: Callable[..., ActivityFeed]) -> None:
    """Each step waits for its event before the next: a poll reads committed rows, so on SQLite
    a session opened and ended between two polls would not show as a login (documented)."""
    ann = core.users.create("ann@example.com", "ann")
    bob = core.users.create("bob@example.com", "bob")
    feed = follow()
    assert feed.drain().events == []  # nothing happened before: an empty backlog
    seen: list[ActivityEvent] = []

    def step(kind: Kind, uid: int, sid: str | None) -> ActivityEvent:
        got = collect(feed, lambda g: any((e.kind, e.user_id, e.session_id) == (kind, uid, sid) for e in g))
        seen.extend(got)
        return next(e for e in got if (e.kind, e.user_id, e.session_id) == (kind, uid, sid))

    login = core.login(ann.id, ip="10.0.0.1", user_agent="test")
    sid = login.session.public_id
    assert step(Kind.LOGIN, ann.id, sid).email == "ann@example.com"
    p1 = core.tokens.refresh(login.pair.refresh_token)
    assert step(Kind.REFRESH, ann.id, sid).key == f"r:{sid}:1"
    core.tokens.refresh(p1.refresh_token)
    assert step(Kind.REFRESH, ann.id, sid).key in (f"r:{sid}:1", f"r:{sid}:2")
    with pytest.raises(RefreshReuse):
        core.tokens.refresh(login.pair.refresh_token)  # rotated away twice: reuse, session ended
    assert step(Kind.REUSE, ann.id, sid).actor == "system"
    second = core.login(ann.id)
    step(Kind.LOGIN, ann.id, second.session.public_id)
    core.logout(second.session.public_id)
    assert step(Kind.ENDED, ann.id, second.session.public_id).actor == "user"
    core.admin.revoke_tokens(bob.id, "rotate keys")
    bumped = step(Kind.BUMPED, bob.id, None)
    third = core.login(bob.id)
    step(Kind.LOGIN, bob.id, third.session.public_id)
    core.admin.delete_session(third.session.public_id, "stolen laptop")
    ended = step(Kind.ENDED, bob.id, third.session.public_id)
    core.admin.set_disabled(bob.id, True, "left the company")
    disabled = step(Kind.DISABLED, bob.id, None)
    assert [(e.actor, e.detail, e.email) for e in (bumped, ended, disabled)] == [
        ("test-operator", "rotate keys", "bob@example.com"),
        ("test-operator", "stolen laptop", "bob@example.com"),
        ("test-operator", "left the company", "bob@example.com"),
    ]
    refreshes = sorted(e.key for e in seen if e.kind is Kind.REFRESH)
    assert refreshes == [f"r:{sid}:1", f"r:{sid}:2"]  # each rotation once, never repeated
    assert len({e.key for e in seen}) == len(seen)
    assert feed.state.startswith("live" if core.engine.dialect.name == "postgresql" else "polling")


def test_a_rolled_back_login_is_never_seen(core: AuthCore, follow: Callable[..., ActivityFeed]) -> None:
    ann = core.users.create("ann@example.com", "ann")
    feed = follow()
    now = utcnow()
    row = {
        "public_id": "ses_rolledback",
        "token_hash": "1" * 64,
        "user_id": ann.id,
        "created_at": now,
        "last_seen_at": now,
        "expires_at": now,
    }
    with core.engine.connect() as conn:
        tx = conn.begin()
        conn.execute(insert(sessions).values(row))
        time.sleep(0.3)  # the feed polls (SQLite, PostgreSQL's user events) meanwhile
        tx.rollback()
    time.sleep(0.3)
    later = core.login(ann.id)  # committed after: seen, so the feed was reading all along
    got = collect(feed, lambda g: any(e.session_id == later.session.public_id for e in g))
    assert "ses_rolledback" not in {e.session_id for e in got}


def test_a_burst_is_handed_over_bounded_newest_first(
    core: AuthCore, follow: Callable[..., ActivityFeed]
) -> None:
    ann = core.users.create("ann@example.com", "ann")
    feed = follow(poll_s=0.2)
    sids = [core.login(ann.id).session.public_id for _ in range(120)]
    total = 0
    kinds: dict[Kind, int] = {}
    last: Batch | None = None
    end = time.monotonic() + 10
    while total < 120 and time.monotonic() < end:
        time.sleep(0.3)
        b = feed.drain(limit=10)
        assert len(b.events) <= 10 and b.total >= len(b.events)
        total += b.total
        for k, n in b.by_kind.items():
            kinds[k] = kinds.get(k, 0) + n
        if b.events:
            last = b
    assert total == 120 and kinds == {Kind.LOGIN: 120}
    assert last is not None and last.events[-1].session_id == sids[-1]  # the newest kept
    assert [e.at for e in last.events] == sorted(e.at for e in last.events)


def test_the_buffer_drops_the_oldest_and_counts_them(
    core: AuthCore, follow: Callable[..., ActivityFeed]
) -> None:
    ann = core.users.create("ann@example.com", "ann")
    feed = follow(buffer=20, poll_s=0.3)
    sids = [core.login(ann.id).session.public_id for _ in range(60)]
    got: list[ActivityEvent] = []
    dropped = total = 0
    end = time.monotonic() + 10
    while total < 60 and time.monotonic() < end:
        time.sleep(0.2)
        b = feed.drain(limit=1000)
        got += b.events
        dropped += b.dropped
        total += b.total
    assert total == 60 and len(got) + dropped == 60 and got[-1].session_id == sids[-1]


def test_the_recent_past_comes_first(core: AuthCore, follow: Callable[..., ActivityFeed]) -> None:
    ann = core.users.create("ann@example.com", "ann")
    logins = [core.login(ann.id) for _ in range(5)]
    core.tokens.refresh(logins[0].pair.refresh_token)
    core.admin.revoke_tokens(ann.id, "rotate")
    feed = follow(backlog=4)
    events = feed.drain().events
    assert len(events) == 4 and [e.at for e in events] == sorted(e.at for e in events)
    assert events[-1].kind is Kind.BUMPED
    core.login(ann.id)  # and then only what is new
    got = collect(feed, lambda g: bool(g))
    assert [e.kind for e in got] == [Kind.LOGIN]


def test_a_lost_listener_reconnects_and_says_what_it_missed(
    core: AuthCore, follow: Callable[..., ActivityFeed]
) -> None:
    if core.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL: SQLite has no listener")
    ann = core.users.create("ann@example.com", "ann")
    feed = follow()
    url = libpq_url(core.engine.url.render_as_string(hide_password=False))
    with psycopg.connect(url, autocommit=True) as admin:
        n = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'authconsole-activity' AND datname = current_database()"
        ).rowcount
    assert n == 1
    during = core.login(ann.id)  # while it is away: NOTIFY lost, re-read from sessions
    got = collect(feed, lambda g: any(e.kind is Kind.GAP for e in g) and feed.state.startswith("live"))
    assert during.session.public_id in {e.session_id for e in got if e.kind is Kind.LOGIN}
    gap = next(e for e in got if e.kind is Kind.GAP)
    assert "refreshes of the gap not shown" in gap.detail and feed.errors >= 1
    after = core.login(ann.id)
    got = collect(feed, lambda g: any(e.session_id == after.session.public_id for e in g))


def test_a_paused_feed_counts_builds_nothing_and_resumes_with_the_newest(
    core: AuthCore, follow: Callable[..., ActivityFeed], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Paused (nobody looking), the feed counts every event and builds none; resumed, it hands
    over the newest ``hold`` (oldest first, emails filled in) with every count of the pause."""
    ann = core.users.create("ann@example.com", "ann")
    feed = follow(hold=5, poll_s=1.0)  # a read takes all: its sources in one (kept newest)
    feed.pause()
    built = [0]
    real_init = ActivityEvent.__init__

    def counting(self: ActivityEvent, *a: Any, **kw: Any) -> None:
        built[0] += 1
        real_init(self, *a, **kw)

    monkeypatch.setattr(ActivityEvent, "__init__", counting)
    logins = [core.login(ann.id) for _ in range(30)]
    core.tokens.refresh(logins[-1].pair.refresh_token)
    core.admin.revoke_tokens(ann.id, "rotate keys")
    end = time.monotonic() + 10
    while feed.away < 32 and time.monotonic() < end:
        time.sleep(0.05)
    time.sleep(0.3)  # a few more polls: nothing counted twice (the overlaps are re-read)
    assert feed.away == 32 and feed.paused
    assert built[0] == 0  # neither a payload decoded nor a row turned into an event
    assert feed.drain().total == 0  # nothing handed over while paused
    feed.resume()
    batches: list[Batch] = []
    end = time.monotonic() + 10
    while sum(b.total for b in batches) < 32 and time.monotonic() < end:
        time.sleep(0.05)
        batches.append(feed.drain(100))
    got = [b for b in batches if b.total]
    assert len(got) == 1, got
    b = got[0]
    assert (b.total, b.away, b.by_kind) == (32, 32, {Kind.LOGIN: 30, Kind.REFRESH: 1, Kind.BUMPED: 1})
    sid = logins[-1].session.public_id
    assert [(e.kind, e.session_id) for e in b.events[-3:]] == [
        (Kind.LOGIN, sid),
        (Kind.REFRESH, sid),
        (Kind.BUMPED, None),
    ], [(e.kind, e.session_id, e.at) for e in b.events]
    assert len(b.events) == 5 and all(e.email == "ann@example.com" for e in b.events)
    assert built[0] <= 2 * 32  # the kept ones (and their emails), not a build per event heard
    after = core.login(ann.id)  # live again: events as they come
    got_after = collect(feed, lambda g: any(e.session_id == after.session.public_id for e in g))
    assert [e.kind for e in got_after] == [Kind.LOGIN] and not feed.paused
