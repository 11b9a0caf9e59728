"""Small-size runs of the scale paths, as correctness checks (timings live in ``python -m bench``).

One database per engine, seeded once for the module with ``authcore.demo.seed`` (the bulk path):
search against a brute-force reference, EXPLAIN of every search statement (indexes, never a full
scan of users; on PostgreSQL never prepared, so never a generic plan, even after many runs),
the hot paths on ``authcore.fastpath`` agreeing with the SQLAlchemy path, and the console's
``tokens decode --no-db`` staying free of SQLAlchemy and Textual.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text, update

from authcore import demo, fastpath, migrate
from authcore.config import Config, TokenSettings
from authcore.core import AuthCore
from authcore.db import make_engine
from authcore.models import sessions, users
from authcore.users import CONTAINS_MIN, normalize_query, prefix_successor
from tests.conftest import TEST_SECRET, temp_pg_database

N_USERS = 6000
SEED = 7


def _core(url: str, **engine_kw: object) -> AuthCore:
    return AuthCore(
        make_engine(url, **engine_kw), Config(tokens=TokenSettings(secret=TEST_SECRET)), actor="scale-test"
    )


@pytest.fixture(scope="module")
def scale_sqlite(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('scale') / 'scale.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    demo.seed(engine, N_USERS, rng_seed=SEED)
    engine.dispose()
    return url


@pytest.fixture(scope="module")
def scale_pg() -> Iterator[str]:
    with temp_pg_database("authcore_scale") as url:
        engine = make_engine(url)
        demo.seed(engine, N_USERS, rng_seed=SEED)  # ends with ANALYZE
        engine.dispose()
        with make_engine(url, isolation_level="AUTOCOMMIT").connect() as conn:
            conn.execute(text("VACUUM (ANALYZE) users"))  # what autovacuum does after a bulk load
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def scale_url(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue("scale_sqlite" if request.param == "sqlite" else "scale_pg")


@pytest.fixture
def scale(scale_url: str) -> Iterator[AuthCore]:
    core = _core(scale_url)
    yield core
    core.dispose()


# -- the bulk seed ---------------------------------------------------------------------------


def test_seed_shape(scale: AuthCore) -> None:
    from sqlalchemy import func

    with scale.engine.connect() as conn:
        n_users = conn.execute(select(func.count()).select_from(users)).scalar_one()
        n_sessions = conn.execute(select(func.count()).select_from(sessions)).scalar_one()
        ids = conn.execute(select(func.count(func.distinct(users.c.email)))).scalar_one()
    assert n_users == N_USERS + 3 and ids == n_users
    assert 2.8 <= (n_sessions - 5) / N_USERS <= 3.2  # ~3 per generated user (+5 named)
    alice = scale.users.find("alice@example.com")
    assert alice.active_sessions == 3
    assert scale.users.find("carol").disabled
    if scale.engine.dialect.name == "sqlite":
        with scale.engine.connect() as conn:
            indexed = conn.exec_driver_sql("SELECT count(*) FROM users_trgm").scalar_one()
            trig = conn.exec_driver_sql(
                "SELECT count(*) FROM sqlite_schema WHERE type = 'trigger' AND name = 'users_trgm_ai'"
            ).scalar_one()
        assert indexed == n_users and trig == 1  # the bulk path re-created its trigger


def test_generated_rows_are_deterministic_and_typed() -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    a = demo.generate_batch(random.Random(1), [10, 11, 12], now, timedelta(days=30), postgres=False)
    b = demo.generate_batch(random.Random(1), [10, 11, 12], now, timedelta(days=30), postgres=False)
    assert a == b
    pg = demo.generate_batch(random.Random(1), [10, 11, 12], now, timedelta(days=30), postgres=True)
    for lite, typed in zip(a[0], pg[0], strict=True):  # same values, storage form per engine
        assert lite[4] == typed[4].replace(tzinfo=None).isoformat(" ", "microseconds")
        assert typed[4].tzinfo is not None and typed[4] < now
    for s in a[1]:
        assert len(s[1]) == 64 and s[0].startswith("ses_") and len(s[0]) == 20


def test_seed_progress_and_batches(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'p.db'}")
    migrate.upgrade(engine)
    calls: list[tuple[int, int, int]] = []
    summary = demo.seed(engine, 2500, batch=1000, progress=lambda *a: calls.append(a))
    engine.dispose()
    assert [c[0] for c in calls] == [1000, 2000, 2500] and all(c[1] == 2500 for c in calls)
    assert calls[-1][2] == summary.sessions and summary.users == 2503


# -- search against a brute-force reference --------------------------------------------------


def _everyone(core: AuthCore) -> list[tuple[int, str, str, str]]:
    with core.engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(  # type: ignore[misc]
                select(users.c.id, users.c.email, users.c.username, users.c.display_name)
            )
        ]


def _reference(people: list[tuple[int, str, str, str]], query: str) -> list[int]:
    q = normalize_query(query).lower()
    if not q:
        return sorted((p[0] for p in people), reverse=True)
    out: list[int] = []
    taken: set[int] = set()
    if q.isascii() and q.isdigit() and len(q) < 19:
        out += [p[0] for p in people if p[0] == int(q)]
    hi = prefix_successor(q)
    for field in (1, 2, 3):
        hits = sorted(
            (p[field].lower(), p[0]) for p in people if q <= p[field].lower() < hi and p[0] not in taken
        )
        taken |= {i for _, i in hits}
        out += [i for _, i in hits if i not in out]
    if len(q) >= CONTAINS_MIN:
        out += sorted(
            p[0]
            for p in people
            if p[0] not in taken and p[0] not in out and any(q in p[f].lower() for f in (1, 2, 3))
        )
    return out


def _all_pages(core: AuthCore, q: str, limit: int) -> list[int]:
    got, after = [], None
    for _ in range(10_000):
        page = core.users.search(q, limit=limit, after=after)
        got += [u.id for u in page.items]
        if page.next is None:
            return got
        after = page.next
    raise AssertionError("no end of pages")


QUERIES = [
    "jam",
    "smith",
    "example",
    "ali",
    "a",
    "zz",
    "12",
    "e.c",
    "ith.j",
    "SMITH9",
    "Mary Jo",
    "@corp-old",
    "kelly",
    "x",
    "%",
    "umbrella.example",
]


@pytest.mark.parametrize("q", QUERIES)
def test_search_pages_equal_reference(scale: AuthCore, q: str) -> None:
    people = _everyone(scale)
    want = _reference(people, q)
    got = _all_pages(scale, q, limit=97)
    assert got == want


def test_search_exact_id_and_empty(scale: AuthCore) -> None:
    people = _everyone(scale)
    uid = people[len(people) // 2][0]
    assert _all_pages(scale, str(uid), 50) == _reference(people, str(uid))
    first = scale.users.search("", limit=5).items
    assert [u.id for u in first] == sorted((p[0] for p in people), reverse=True)[:5]


def test_fast_records_equal_sqlalchemy_records(scale: AuthCore) -> None:
    page = scale.users.search("smith", limit=40).items + scale.users.search("carol").items
    assert page
    for rec in page:
        ref = scale.users.get(rec.id)  # the plain SQLAlchemy path (UTCDateTime et al.)
        assert rec == ref
        assert rec.created_at.tzinfo is UTC and rec.created_at.utcoffset() == timedelta(0)
        assert (rec.disabled_at is None) == (not rec.disabled) or rec.email.startswith("carol")


# -- plans -----------------------------------------------------------------------------------


def _plans(core: AuthCore, q: str, after=None) -> dict[int, str]:  # type: ignore[no-untyped-def]
    return dict(core.users.explain(q, after=after))


def _assert_indexed(core: AuthCore, plans: dict[int, str]) -> None:
    pg = core.engine.dialect.name == "postgresql"
    for phase, plan in plans.items():
        if pg:
            assert "Seq Scan on users" not in plan, (phase, plan)
        else:
            lines = [ln.strip() for ln in plan.splitlines()]
            assert not any(ln == "SCAN users" or ln.startswith("SCAN users ") for ln in lines), (phase, plan)
            assert "USE TEMP B-TREE" not in plan, (phase, plan)  # ordered by the index


def test_explain_prefix_phases_use_lower_indexes(scale: AuthCore) -> None:
    plans = _plans(scale, "jam")
    _assert_indexed(scale, plans)
    assert "email_lower" in plans[1]
    assert "username_lower" in plans[2]
    assert "display_lower" in plans[3]


@pytest.mark.parametrize("q", ["smith", "ith.j", "zhang1"])
def test_explain_contains_uses_trigram_index(scale: AuthCore, q: str) -> None:
    plans = _plans(scale, q)
    _assert_indexed(scale, plans)
    if scale.engine.dialect.name == "postgresql":
        assert "ix_users_search_trgm" in plans[4], plans[4]
    else:
        assert "VIRTUAL TABLE INDEX" in plans[4] and "users_trgm" in plans[4], plans[4]


def test_explain_common_term_and_deep_pages(scale: AuthCore) -> None:
    plans = _plans(scale, "example")  # nearly every user: must stop at the LIMIT
    _assert_indexed(scale, plans)
    if scale.engine.dialect.name == "postgresql":  # ids in order from the narrow index alone
        head = "\n".join(plans[4].splitlines()[:3])
        assert "Index Only Scan using ix_users_id_search" in head, plans[4]
        assert "Sort" not in head and "Bitmap" not in head, plans[4]
    after = None
    for _ in range(3):
        after = scale.users.search("example", limit=50, after=after).next
    assert after is not None and after.phase == 4
    _assert_indexed(scale, _plans(scale, "example", after=after))
    after = scale.users.search("j", limit=50).next
    assert after is not None and after.phase == 1
    _assert_indexed(scale, _plans(scale, "j", after=after))


def test_pg_search_never_prepared_even_after_many_runs(scale_pg: str) -> None:
    """psycopg prepares a statement on its 5th run; PostgreSQL may then plan it generically
    (``search_text LIKE $1`` -> a walk of the whole table). Search statements opt out."""
    core = _core(scale_pg, pool_size=1, max_overflow=0)
    try:
        for _ in range(8):
            core.users.search("smith", limit=20)
            core.users.search("jam", limit=20)
            plans = _plans(core, "smith")
            assert "ix_users_search_trgm" in plans[4]
        s, raw = core.sessions.create(core.users.find("alice").id)
        for _ in range(8):  # the hot path keeps psycopg's default: prepared after 5 runs
            assert core.sessions.resolve(raw) is not None
        conns = fastpath.connections(core.engine)
        hot = conns.get()
        try:
            prepared = [r[0] for r in hot.execute("SELECT statement FROM pg_prepared_statements")]
        finally:
            conns.put(hot)
        with core.engine.connect() as conn:
            prepared += [r[0] for r in conn.exec_driver_sql("SELECT statement FROM pg_prepared_statements")]
        assert not [p for p in prepared if "search_text" in p or "lower(users.email)" in p], prepared
        assert any("sessions.token_hash" in p for p in prepared), prepared
    finally:
        core.dispose()


def test_pg_contains_is_planned_with_its_settings(scale_pg: str) -> None:
    """The contains statement is planned inside the transaction that ``CONTAINS_LOCAL`` set up:
    ``random_page_cost`` 1.1 (the narrow index priced right) and no parallel workers (priced
    right, the walk for 'smith' at 1M looked worth a Gather Merge of 2: ~30 ms to start under
    load, for a page of 50). Replayed from the trace with ``EXPLAIN (SETTINGS)``, which lists
    the planner settings in effect."""
    core = _core(scale_pg)
    try:
        with fastpath.tracing() as seen:
            core.users.search("smith", limit=50)
        begin = next(i for i, (sql, _) in enumerate(seen) if sql.startswith("BEGIN"))
        (setup, _), (sql, params) = seen[begin], seen[begin + 1]
        assert "search_text" in sql and seen[begin + 2][0] == "COMMIT"
        hot = fastpath.connections(core.engine).get()
        try:
            hot.execute(setup)
            plan = "\n".join(r[0] for r in hot.execute("EXPLAIN (SETTINGS) " + sql, params, prepare=False))
            hot.execute("ROLLBACK")
        finally:
            fastpath.connections(core.engine).put(hot)
        assert "random_page_cost = '1.1'" in plan and "max_parallel_workers_per_gather = '0'" in plan, plan
        assert "Gather" not in plan, plan
    finally:
        core.dispose()


def _round_trips(trace: Path) -> list[str]:
    """What the client sent that waits for an answer, from a libpq trace: each ``Query``
    (simple protocol) and each ``Sync`` (the end of an extended-protocol batch)."""
    out = []
    for line in trace.read_text().splitlines():
        f = line.split("\t")
        if len(f) > 2 and f[0] == "F" and f[2] in ("Query", "Sync"):
            out.append(f[2])
    return out


def test_pg_contains_page_costs_one_round_trip_like_any_statement(scale_pg: str, tmp_path: Path) -> None:
    """A contains page runs in a transaction of its own (``BEGIN``, its ``SET LOCAL`` statements, the
    statement, ``COMMIT``), sent as one pipeline: as many round trips as a prefix page, one per
    statement (three for the contains statement before: two more per page, per keystroke, for an
    operator across a network). Counted in libpq's own trace of the stack connection."""
    from psycopg import pq

    core = AuthCore(
        make_engine(scale_pg, pool_size=1, max_overflow=0), Config(tokens=TokenSettings(secret=TEST_SECRET))
    )
    try:
        for term in ("example", "ali"):  # a contains page; a prefix page (the same stack connection)
            core.users.search(term, limit=20)  # warm: the stack holds one connection
            conns = fastpath.connections(core.engine)
            hot = conns.get()
            trace = tmp_path / f"{term}.trace"
            with open(trace, "w") as f:
                hot.pgconn.trace(f.fileno())
                hot.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
                conns.put(hot)
                with fastpath.tracing() as seen:
                    page = core.users.search(term, limit=20)
                hot.pgconn.untrace()
            statements = [s for s, _ in seen if not s.startswith(("BEGIN", "COMMIT"))]
            sent = _round_trips(trace)
            assert page.items and len(sent) == len(statements), (term, seen, sent)
            if term == "example":
                assert any(s.startswith("BEGIN") for s, _ in seen)  # the contains phase ran
        assert hot.info.transaction_status == 0  # committed: idle, not inside a transaction
    finally:
        core.dispose()


@pytest.mark.parametrize("fast", [True, False])
def test_pg_contains_setting_stays_in_its_statement(scale_pg: str, fast: bool) -> None:
    """The contains phase is planned with ``CONTAINS_LOCAL`` (SET LOCAL in a transaction of its
    own): the same page as the primary-key walk, the setting gone from the connection after it,
    fast paths on or off, and the stack's connection is idle again (committed)."""
    core = AuthCore(
        make_engine(scale_pg, pool_size=1, max_overflow=0),
        Config(tokens=TokenSettings(secret=TEST_SECRET)),
        fast_paths=fast,
    )
    try:
        page = core.users.search("example", limit=60)
        with core.engine.connect() as conn:
            want = [
                r[0]
                for r in conn.exec_driver_sql(
                    "SELECT id FROM users WHERE search_text LIKE '%%example%%' AND NOT ("
                    "starts_with(lower(email), 'example') OR starts_with(lower(username), 'example') "
                    "OR starts_with(lower(display_name), 'example')) ORDER BY id LIMIT 60"
                )
            ]
            assert conn.exec_driver_sql("SHOW random_page_cost").scalar_one() == "4"
            assert conn.exec_driver_sql("SHOW max_parallel_workers_per_gather").scalar_one() == "2"
        assert [u.id for u in page.items] == want
        conns = fastpath.connections(core.engine)
        hot = conns.get()
        try:
            assert hot.execute("SHOW random_page_cost").fetchone()[0] == "4"
            assert hot.execute("SHOW max_parallel_workers_per_gather").fetchone()[0] == "2"
            assert hot.info.transaction_status == 0  # idle, not inside a transaction
        finally:
            conns.put(hot)
    finally:
        core.dispose()


# -- hot paths on authcore.fastpath ----------------------------------------------------------


def test_hot_paths_see_writes_at_once(scale: AuthCore) -> None:
    user = scale.users.find("bob")
    session, raw = scale.sessions.create(user.id, ip="198.51.100.7", user_agent="test")
    got = scale.sessions.resolve(raw)
    assert got is not None and got.user_id == user.id and got.session.public_id == session.public_id
    assert got.session.created_at.tzinfo is UTC
    pair = scale.tokens.issue_pair(user.id, sid=session.public_id)
    assert scale.tokens.verify_refresh(pair.refresh_token).user_id == user.id
    scale.admin.revoke_tokens(user.id, "scale test")  # committed on another connection
    from authcore.errors import TokenRevoked

    with pytest.raises(TokenRevoked):
        scale.tokens.verify_refresh(pair.refresh_token)
    with scale.engine.begin() as conn:
        conn.execute(update(users).where(users.c.id == user.id).values(disabled=True))
    try:
        assert scale.sessions.resolve(raw) is None
    finally:
        with scale.engine.begin() as conn:
            conn.execute(update(users).where(users.c.id == user.id).values(disabled=False))
    assert scale.sessions.resolve(raw) is not None
    scale.sessions.logout(raw)
    assert scale.sessions.resolve(raw) is None


def test_hot_connections_survive_dispose_and_threads(scale: AuthCore) -> None:
    import threading

    user = scale.users.find("alice")
    _s, raw = scale.sessions.create(user.id)
    scale.engine.dispose()  # closes the idle hot connections too
    assert scale.sessions.resolve(raw) is not None
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(20):
                assert scale.sessions.resolve(raw) is not None
                assert scale.users.search("ali", limit=5).items
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    conns = fastpath.connections(scale.engine)
    assert len(conns.idle) <= conns.max_idle


def test_pg_hot_path_reconnects_after_backend_killed(scale_pg: str) -> None:
    core = _core(scale_pg)
    try:
        _s, raw = core.sessions.create(core.users.find("alice").id)
        assert core.sessions.resolve(raw) is not None
        conns = fastpath.connections(core.engine)
        pids = [c.info.backend_pid for c in conns.idle]
        with core.engine.connect() as conn:
            for pid in pids:
                conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        assert core.sessions.resolve(raw) is not None  # dropped, retried on a fresh connection
        assert core.users.search("alice").items
    finally:
        core.dispose()
