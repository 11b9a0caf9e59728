"""The session list's filter (``SessionService.recent(text=...)``, migration 0011) on both
engines: an IP prefix (``filter_kind``) matches ``last_ip`` or ``first_ip`` from their start and
nothing else, any other text keeps its meaning (IP prefix, user-agent text, session id), keyset
paging holds, LIKE's wildcards are literal; and the plan each engine runs: a narrow prefix reads
the IP indexes, a broad one walks ``ix_sessions_created`` (on SQLite ``_broad_on_sqlite`` decides,
SQLite having no statistics of a range), and a prefix through a busy /16 reads that /16's group
index newest first (migration 0014, ``IpShape.GROUP``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, insert, text, update

from authcore.core import AuthCore
from authcore.models import sessions
from authcore.sessions import NARROW, Filter, IpShape, _filter, _ip_shape, filter_kind
from authcore.timeutil import utcnow


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("", Filter.NONE),
        ("10.", Filter.IP),
        ("81.23.4.5", Filter.IP),
        ("2001:db8:", Filter.IP),
        ("::ffff:10.0.", Filter.IP),
        ("fe80::1", Filter.IP),
        ("10", Filter.TEXT),  # bare digits: a version as much as an address
        ("fe80", Filter.TEXT),
        (".5", Filter.TEXT),
        ("10.%", Filter.TEXT),
        ("10._", Filter.TEXT),
        ("Firefox/115.0", Filter.TEXT),
        ("ses_abc", Filter.TEXT),
    ],
)
def test_filter_kind(text: str, kind: Filter) -> None:
    assert filter_kind(text) is kind


def test_an_ip_prefix_matches_first_or_last_ip_only(core: AuthCore) -> None:
    u = core.users.create("ipf@example.com", "ipf")
    a, _ = core.sessions.create(u.id, ip="10.1.2.3", user_agent="curl/8")
    b, _ = core.sessions.create(u.id, ip="192.0.2.1", user_agent="Agent 10.1.2.3")  # UA only
    c, _ = core.sessions.create(u.id, ip="172.16.0.1", user_agent="curl/8")
    core.sessions.touch(c.public_id, ip="10.1.9.9")  # last_ip only
    d, _ = core.sessions.create(u.id, ip="10.1.7.7", user_agent="curl/8")
    core.sessions.touch(d.public_id, ip="203.0.113.5")  # first_ip only
    e, _ = core.sessions.create(u.id, ip="2001:db8::1", user_agent="curl/8")
    f, _ = core.sessions.create(u.id, ip="10.9.9.9", user_agent="10.%x 10._y")

    def ids(q: str) -> set[str]:
        return {s.public_id for s in core.sessions.recent(text=q)}

    assert ids("10.1.") == {a.public_id, c.public_id, d.public_id}  # not b's user agent
    assert ids("10.1.2.3") == {a.public_id}
    assert ids("2001:db8:") == {e.public_id}
    assert ids("10.%") == {f.public_id}  # TEXT: '%' literal, found in f's user agent only
    assert ids("10._") == {f.public_id}
    assert ids("Agent 10.1") == {b.public_id}  # text: the user agent, as before
    assert ids("10") == {a.public_id, b.public_id, d.public_id, f.public_id, c.public_id}
    assert ids(b.public_id) == {b.public_id}


def test_keyset_paging_of_an_ip_prefix(core: AuthCore) -> None:
    u = core.users.create("ipk@example.com", "ipk")
    made = [core.sessions.create(u.id, ip=f"10.2.0.{i}", user_agent="x")[0].public_id for i in range(7)]
    core.sessions.create(u.id, ip="11.2.0.1", user_agent="x")
    # equal created_at for two: the public id breaks the tie
    with core.engine.begin() as conn:
        same = utcnow() - timedelta(minutes=1)
        conn.execute(update(sessions).where(sessions.c.public_id.in_(made[2:4])).values(created_at=same))
    every = [s.public_id for s in core.sessions.recent(text="10.2.")]
    assert sorted(every) == sorted(made)
    got: list[str] = []
    before = None
    while True:
        page = core.sessions.recent(text="10.2.", limit=2, before=before)
        if not page:
            break
        got += [s.public_id for s in page]
        before = (page[-1].created_at, page[-1].public_id)
    assert got == every


@pytest.fixture
def spread(core: AuthCore) -> AuthCore:
    """3,000 sessions: 40 % from 10.x, 3 from 81.23.x (one by last_ip only), the rest elsewhere;
    analyzed on PostgreSQL."""
    u = core.users.create("plan@example.com", "plan")
    now = utcnow()
    rows = []
    for i in range(3000):
        ip = f"10.{i % 250}.{i % 7}.{i % 11}" if i % 5 < 2 else f"{100 + i % 90}.{i % 200}.3.{i % 13}"
        first = "81.23.0.1" if i in (5, 1500) else ip
        last = "81.23.9.9" if i == 2999 else first
        created, expires = now - timedelta(seconds=3000 - i), now + timedelta(days=1)
        rows.append(
            _row(f"ses_plan{i:05d}", i, u.id, created, expires, first, last, "Mozilla/5.0 Firefox/120.0")
        )
    _load(core, rows)
    return core


def _row(
    public_id: str, i: int, uid: int, created: Any, expires: Any, first: Any, last: Any, ua: str
) -> dict[str, Any]:
    """A sessions row as the fixtures insert it (the token hash made unique by ``i``)."""
    return {
        "public_id": public_id,
        "token_hash": f"{i:064d}",
        "user_id": uid,
        "created_at": created,
        "last_seen_at": created,
        "expires_at": expires,
        "first_ip": first,
        "last_ip": last,
        "user_agent": ua,
        "refresh_counter": 0,
    }


def _load(core: AuthCore, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows``; on PostgreSQL vacuum and analyze, as after a bulk load."""
    with core.engine.begin() as conn:
        conn.execute(insert(sessions), rows)
    if core.engine.dialect.name == "postgresql":
        with core.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM (ANALYZE) sessions, users"))


def _plan(core: AuthCore, q: str) -> tuple[str, int]:
    """The plan of the statement ``recent(text=q)`` ran last (with its parameters), and its rows."""
    seen: list[tuple[str, Any]] = []
    engine: Engine = core.engine

    def grab(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, _many: bool) -> None:
        seen.append((statement, params))

    event.listen(engine, "before_cursor_execute", grab)
    try:
        n = len(core.sessions.recent(text=q, limit=50))
    finally:
        event.remove(engine, "before_cursor_execute", grab)
    statement, params = seen[-1]
    head = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    with engine.connect() as conn:
        return "\n".join(str(r[-1]) for r in conn.exec_driver_sql(head + statement, params)), n


def test_a_narrow_ip_prefix_reads_the_ip_indexes(spread: AuthCore) -> None:
    """Its matches come from the IP indexes alone (migration 0013: they cover the range, the
    order and the expiry), not a row per match; only the page's rows are read after. (At 3,000
    sessions PostgreSQL may read those few by a hash join over the whole small table, a choice
    the size makes; the matches are what grows.)"""
    plan, n = _plan(spread, "81.23.")
    assert n == 3
    if spread.engine.dialect.name == "postgresql":
        for name in ("ix_sessions_last_ip", "ix_sessions_first_ip"):
            assert f"Index Only Scan using {name}" in plan, plan
        assert "Bitmap" not in plan, plan
    else:
        for name in ("ix_sessions_last_ip", "ix_sessions_first_ip"):
            assert f"USING COVERING INDEX {name}" in plan, plan
    assert "ix_sessions_created" not in plan, plan


def test_a_broad_ip_prefix_walks_the_newest_first(spread: AuthCore) -> None:
    plan, n = _plan(spread, "10.")
    assert n == 50
    assert "ix_sessions_created" in plan, plan
    assert "ix_sessions_last_ip" not in plan and "ix_sessions_first_ip" not in plan, plan
    if spread.engine.dialect.name == "postgresql":  # each arm walks, filtered by its column
        assert plan.count("Index Scan Backward using ix_sessions_created") == 2, plan
    walked = [s.public_id for s in spread.sessions.recent(text="10.", limit=50)]
    assert walked == [f"ses_plan{i:05d}" for i in range(2999, -1, -1) if i % 5 < 2][:50]


def test_a_users_list_takes_the_same_filter(core: AuthCore) -> None:
    """``for_user(text=...)`` matches what ``recent(text=...)`` matches (one rule, ``_match``),
    among that user's sessions only; with ``active_only`` and ``limit`` as without a filter."""
    a = core.users.create("fa@example.com", "fa")
    b = core.users.create("fb@example.com", "fb")
    for uid in (a.id, b.id):
        core.sessions.create(uid, ip="10.1.2.3", user_agent="curl/8")
        core.sessions.create(uid, ip="192.0.2.1", user_agent="Agent 10.1.2.3 Firefox/115.0")
        c, _ = core.sessions.create(uid, ip="172.16.0.1", user_agent="curl/8")
        core.sessions.touch(c.public_id, ip="10.1.9.9")
        core.sessions.create(uid, ip="2001:db8::1", user_agent="Mozilla/5.0")
        core.sessions.create(uid, ip="10.9.9.9", user_agent="10.%x")
    old, _ = core.sessions.create(a.id, ip="10.1.5.5", user_agent="old", ttl=timedelta(seconds=-1))
    assert not old.active()
    queries = ["", "10.", "10.1.", "2001:db8:", "10", "10.%", "firefox", "CURL", old.public_id, "nomatch"]
    for q in queries:
        everyone = core.sessions.recent(text=q, limit=1000)
        for u in (a, b):
            mine = core.sessions.for_user(u.id, text=q)
            assert {s.public_id for s in mine} == {s.public_id for s in everyone if s.user_id == u.id}, q
            live = core.sessions.for_user(u.id, text=q, active_only=True)
            assert {s.public_id for s in live} == {s.public_id for s in mine if s.active()}, q
            assert core.sessions.for_user(u.id, text=q, limit=1) == mine[:1], q
    assert len(core.sessions.for_user(a.id, text="10.1.")) == 3  # a, c by last_ip, old
    assert core.sessions.for_user(b.id, text=old.public_id) == []


@pytest.fixture
def busy16(core: AuthCore) -> AuthCore:
    """2,400 sessions: 900 in 81.23.x.y by last_ip (of them 1 in 9 from 81.23.1.x), 60 more by
    first_ip only, a quarter expired, 40 from IPv6 and 40 without an address; the rest
    elsewhere (81.230.x.y among them: a text prefix "81.23" would take them, "81.23." not)."""
    u = core.users.create("busy@example.com", "busy")
    now = utcnow()
    rows = []
    for i in range(2400):
        ip: str | None = f"{100 + i % 50}.{i % 200}.{i % 9}.{i % 13}"
        if i % 8 == 1:
            ip = f"81.230.{i % 9}.{i % 7}"
        elif i % 60 == 7:
            ip = f"2001:db8::{i:x}"
        elif i % 60 == 8:
            ip = None
        elif i % 8 in (0, 3, 5):
            ip = f"81.23.{i % 9}.{i % 11}"
        first = f"81.23.{i % 9}.200" if i % 40 == 2 else ip
        created = now - timedelta(seconds=2400 - i // 2)  # pairs share a time
        expires = now + (timedelta(days=1) if i % 4 else -timedelta(hours=1))
        rows.append(_row(f"ses_busy{i:05d}", i, u.id, created, expires, first, ip, "Mozilla/5.0"))
    _load(core, rows)
    core.busy_rows = rows  # type: ignore[attr-defined]
    return core


def _shape(core: AuthCore, q: str, lim: int = 50) -> IpShape:
    kind, params = _filter(q)
    assert kind is Filter.IP
    with core.engine.connect() as conn:
        return _ip_shape(conn, {**params, "lim": lim})


def test_which_read_an_ip_prefix_takes(busy16: AuthCore) -> None:
    assert _shape(busy16, "81.23.") is IpShape.GROUP  # 900+ matches: the /16 newest first
    assert _shape(busy16, "81.23.1") is IpShape.RANGE  # ~100 matches < NARROW pages of 50
    assert _shape(busy16, "81.23.1", lim=10) is IpShape.GROUP  # ~100 >= NARROW pages of 10
    assert _shape(busy16, "81.23.1.1") is IpShape.RANGE  # a handful: read them all
    assert _shape(busy16, "81.23.", lim=1000) is IpShape.RANGE  # fewer than NARROW pages
    assert NARROW * 1000 > 1000
    assert _shape(busy16, "2001:db8:") is not IpShape.GROUP  # no /16 to name


@pytest.mark.parametrize(
    "q", ["81.23.", "81.23.1", "81.23.1.", "81.23.4.7", "81.23", "81.230.", "81.", "10", "2001:db8:", "8"]
)
@pytest.mark.parametrize("active_only", [False, True])
def test_every_read_of_an_ip_prefix_gives_the_same_pages(busy16: AuthCore, q: str, active_only: bool) -> None:
    """The pages (newest first, ties by public id, keyset-paged) are those of the definition:
    ``last_ip`` or ``first_ip`` starts with ``q``, whichever read ``_ip_shape`` picks."""
    now = utcnow()
    want = sorted(
        (
            r
            for r in busy16.busy_rows  # type: ignore[attr-defined]
            if any(ip is not None and ip.startswith(q) for ip in (r["last_ip"], r["first_ip"]))
            and (not active_only or r["expires_at"] > now)
        ),
        key=lambda r: (r["created_at"], r["public_id"]),
        reverse=True,
    )
    assert want or q == "10", q
    for lim in (50, 7):
        got: list[str] = []
        before = None
        for _ in range(400):
            page = busy16.sessions.recent(text=q, limit=lim, active_only=active_only, before=before)
            if not page:
                break
            assert len(page) <= lim
            got += [x.public_id for x in page]
            before = (page[-1].created_at, page[-1].public_id)
        assert got == [r["public_id"] for r in want], (q, lim)


def test_a_busy_16_reads_its_group_index(busy16: AuthCore) -> None:
    """``81.23.``: each column's group index, newest first, stopping at the page (from the index
    alone); neither the address range nor the table's newest-first walk."""
    plan, n = _plan(busy16, "81.23.")
    assert n == 50
    for name in ("ix_sessions_last_ip_group", "ix_sessions_first_ip_group"):
        if busy16.engine.dialect.name == "postgresql":
            assert f"Index Only Scan Backward using {name}" in plan, plan
        else:
            assert f"USING COVERING INDEX {name}" in plan, plan
    assert "ix_sessions_created" not in plan and "ix_sessions_last_ip " not in plan, plan
    if busy16.engine.dialect.name == "sqlite":
        assert "TEMP B-TREE FOR ORDER BY" not in plan.split("ix_sessions_first_ip_group")[0], plan


def test_a_common_prefix_without_a_16_is_found_among_the_newest(busy16: AuthCore) -> None:
    """SQLite: ``81.`` (half the sessions, no /16 named) fills its page from the newest
    ``NEWEST_PAGES`` pages in one statement, no range probe; ``2001:db8:`` (1 in 60) does not,
    and is read again (probe, then its range). PostgreSQL plans either in one statement."""
    from tests.support.statements import Statements

    for q, first_fills in (("81.", True), ("2001:db8:", False)):
        with Statements(busy16.engine) as seen:
            page = busy16.sessions.recent(text=q, limit=50)
        assert page
        if busy16.engine.dialect.name == "sqlite":
            assert (seen.n == 1) is first_fills, (q, seen.seen)
            assert ("LIMIT ? OFFSET ?" in seen.seen[0]) and ("ix_sessions" not in seen.seen[0]), seen.seen
        else:
            assert seen.n == 1, seen.seen
