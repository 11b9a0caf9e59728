"""User search at scale: prefix and contains, raw-driver baseline, scaling, deep keyset pages.

The raw baseline replays, through sqlite3/psycopg directly, exactly the statements and driver
parameters ``UserService.search`` sent for the same call (captured with a cursor event), and
fetches every row. On PostgreSQL it uses ``prepare=False`` too: the point is authcore's own
overhead on top of the same database work.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event

from bench.context import Ctx, raw_connect
from bench.datasets import label
from bench.harness import Row, calibrate, interleave

# (kind, term): a prefix (email phase fills the page), a contains term of middling frequency
# (~0.7% of users, trigram index on both engines), and one that nearly every user matches
# (the "example" of every email domain: SQLite's FTS5 stops at the LIMIT, PostgreSQL walks
# the primary key instead of reading a million index entries).
QUERIES = (("prefix", "jam"), ("contains", "smith"), ("contains, common term", "example"))
PAGE = 50


def capture(engine: Any, fn: Any) -> list[tuple[str, Any]]:
    """The (SQL, driver parameters) pairs ``fn()`` executes on ``engine``, through SQLAlchemy
    or through ``authcore.fastpath``."""
    from authcore import fastpath

    seen: list[tuple[str, Any]] = []

    def grab(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        if not statement.startswith(("BEGIN", "SELECT 1")):
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", grab)
    try:
        with fastpath.tracing() as hot:
            fn()
    finally:
        event.remove(engine, "before_cursor_execute", grab)
    traced = {sql for sql, _ in hot}  # with fast paths off the listener sees them too: once only
    return [x for x in seen if x[0] not in traced] + hot


def replayer(raw: Any, stmts: list[tuple[str, Any]], pg: bool) -> Any:
    """A function that runs ``stmts`` on ``raw`` as authcore sent them and counts the rows.

    PostgreSQL: a ``BEGIN; SET LOCAL ...`` entry, the statements after it and its ``COMMIT``
    go as one pipeline, as ``fastpath.HotQuery`` sends a statement with ``local`` settings
    (one round trip on each side)."""
    if pg:
        from authcore.fastpath import split_statements

        groups: list[list[tuple[str, Any]]] = []
        for sql, params in stmts:
            if groups and groups[-1][0][0].startswith("BEGIN") and groups[-1][-1][0] != "COMMIT":
                groups[-1].append((sql, params))
            else:
                groups.append([(sql, params)])

        def replay() -> int:
            n = 0
            for group in groups:
                if len(group) == 1:
                    cur = raw.execute(group[0][0], group[0][1], prepare=False)
                    n += len(cur.fetchall()) if cur.description else 0
                    continue
                with raw.pipeline():
                    for setting in split_statements(group[0][0]):
                        raw.execute(setting, prepare=False)
                    curs = [raw.execute(sql, params, prepare=False) for sql, params in group[1:]]
                n += sum(len(cur.fetchall()) for cur in curs if cur.description)
            return n
    else:

        def replay() -> int:
            n = 0
            for sql, params in stmts:
                n += len(raw.execute(sql, params).fetchall())
            return n

    return replay


def deep_cursor(core: Any, q: str, page: int) -> tuple[Any, int]:
    """The cursor that starts page ``page`` (1-based), or of the last page there is."""
    after, reached = None, 1
    for p in range(1, page):
        nxt = core.users.search(q, limit=PAGE, after=after).next
        if nxt is None:
            break
        after, reached = nxt, p + 1
    return after, reached


def scaling(ctx: Ctx, engine: str, kind: str, q: str, target: float, *, samples: int, inner: int) -> Row:
    """The row "search at ``ctx.big`` vs at ``ctx.small`` users": the first page of ``q``
    through ``core.users.search`` on each, interleaved (the full run's 1M vs 10k row, and the
    10M run's 10M vs 1M row, ``bench.tenm``)."""
    big, small = ctx.core(engine, ctx.big), ctx.core(engine, ctx.small)

    def ours() -> object:
        return big.users.search(q, limit=PAGE)

    def ours_small() -> object:
        return small.users.search(q, limit=PAGE)

    s = interleave(ours, ours_small, samples=samples, inner=inner, warmup=2)
    return ctx.add(
        Row(
            f"search {engine}",
            f"{kind} '{q}': {label(ctx.big)} vs {label(ctx.small)} users",
            s.stat("a"),
            f"at {label(ctx.small)}",
            s.stat("b"),
            target,
        )
    )


def vacuum_users(url: str) -> None:
    """PostgreSQL: ``VACUUM users`` before the search rows, as autovacuum would have done.

    The contains phase reads its ids from an index only, in id order, which skips the heap only
    on pages the visibility map marks all-visible. The hotpaths section bumps the first 20,000
    ids of the 1M database (bulk revoke) and clears those pages' bits; the shared server runs
    with autovacuum off, so the next run's 'smith' walk took 6,133 heap fetches and 2,316
    buffers instead of 72, and the 1M vs 10k row read 1.26x in the first full run and 2.29x in
    the second (1.51x and 2.04x in session 4's two runs). Each run now starts from the same
    table, whatever ran before."""
    conn = raw_connect(url)  # autocommit: VACUUM cannot run in a transaction
    try:
        conn.execute("VACUUM users")
    finally:
        conn.close()


def run_engine(ctx: Ctx, engine: str) -> None:
    pg = engine == "postgresql"
    if pg:
        for n in (ctx.big, ctx.small):
            vacuum_users(ctx.url(engine, n))
    big = ctx.core(engine, ctx.big)
    raw = raw_connect(ctx.url(engine, ctx.big))
    samples = 31  # in --quick too: medians of 11 moved 1.02x-1.57x and 1.33x-1.94x run to run
    sec = f"search {engine}"
    for kind, q in QUERIES:

        def ours(q: str = q) -> object:
            return big.users.search(q, limit=PAGE)

        page = big.users.search(q, limit=PAGE)
        stmts = capture(big.engine, ours)
        replay = replayer(raw, stmts, pg)
        assert replay() >= len(page.items), (q, replay(), len(page.items))
        inner = calibrate(replay, 0.01, 50)
        s = interleave(ours, replay, samples=samples, inner=inner, warmup=2)
        ctx.add(
            Row(
                sec,
                f"{kind} '{q}' at {label(ctx.big)} ({len(stmts)} stmt)",
                s.stat("a"),
                "same SQL, raw driver",
                s.stat("b"),
                1.5,
            )
        )

        scaling(ctx, engine, kind, q, 2.0, samples=samples, inner=inner)

        after, reached = deep_cursor(big, q, 10 if ctx.quick else PAGE)
        if after is None:
            continue

        def deep(q: str = q, after: Any = after) -> object:
            return big.users.search(q, limit=PAGE, after=after)

        s = interleave(deep, ours, samples=samples, inner=inner, warmup=2)
        ctx.add(Row(sec, f"{kind} '{q}': page {reached} vs page 1", s.stat("a"), "page 1", s.stat("b"), 2.0))
    if pg:
        generic_plan_trap(ctx, big, raw)
    raw.close()


def generic_plan_trap(ctx: Ctx, core: Any, raw: Any) -> None:
    """Info: what search would cost if psycopg's auto-prepare let PostgreSQL go generic.

    A term no one matches (a typo): the custom plan asks the trigram index and is done; a
    generic plan, made without the value, cannot, and walks the ids looking for 50 matches."""
    q = "xyzzy"
    stmts = [
        s
        for s in capture(core.engine, lambda: core.users.search(q, limit=PAGE))
        if "search_text LIKE" in s[0]
    ]
    if not stmts:
        return
    sql, params = stmts[0]
    generic_conn = raw_connect(core.engine.url.render_as_string(hide_password=False))
    generic_conn.execute("SET plan_cache_mode = force_generic_plan")  # this connection only
    try:

        def generic() -> object:
            return generic_conn.execute(sql, params, prepare=True).fetchall()

        def custom() -> object:
            return raw.execute(sql, params, prepare=False).fetchall()

        s = interleave(generic, custom, samples=5 if ctx.quick else 9, inner=1, warmup=1)
        ctx.add(
            Row(
                f"search {core.engine.dialect.name}",
                f"contains '{q}' if planned generically (what prepare=False avoids)",
                s.stat("a"),
                "custom plan",
                s.stat("b"),
                1.0,
                info=True,
            )
        )
    finally:
        generic_conn.close()


def run(ctx: Ctx) -> None:
    for engine in ctx.engines:
        if ctx.has(engine, ctx.big) and ctx.has(engine, ctx.small):
            run_engine(ctx, engine)
