"""The 10M run (issue 17 item 5): ``python -m bench --size 10m``, ten million users and ~30M
sessions against one million, on SQLite and PostgreSQL. Not in CI: seeding takes hours here.

Rows, each against the same figure at the comparison size (``--size``/10) or the console's own
baseline, measured in the same run:

- search at 10M vs 1M (prefix, contains, common term): ``bench.search.scaling``, <= 1.5x;
- console keystroke p95 and peak RSS: ``bench.console.keystrokes`` and ``.memory`` as they are
  (p95 < 100 ms against the static-list console; RSS <= 1.2x the console's at 1k users);
- the session lists an operator opens: a user's sessions (the user screen's
  ``core.sessions.for_user``) and the global list's first page filtered by an IP prefix (the
  sessions screen's ``core.sessions.recent(text=...)``), < 10 ms.

Any size works (``--size 50k`` smoke-tests the rows in a minute); the figures are labelled with it.
"""

from __future__ import annotations

import itertools
from typing import Any

from bench import console, search
from bench.context import Ctx
from bench.datasets import label
from bench.harness import Row, calibrate, interleave

# IP prefixes an operator types into the sessions screen's filter: the private /8 (~30% of the
# seeded sessions match: a page within ~170 rows) and one public /16 (~0.05%, last or first IP:
# a page is ~100k rows back in time, whatever the table's size).
IP_PREFIXES = ("10.", "81.23.")
USERS_SAMPLED = 20  # users whose session lists are cycled through (spread over the id range)
# A plan that reads in proportion to the table is ~10x at a tenfold size; an index lookup's
# cost grows with the B-tree's depth (one more level at most) and with cache misses of a larger
# index. 2x tells the two apart with room for noise on sub-millisecond figures; the absolute
# 10 ms bound (the issue's) is the row's real test.
SESSIONS_RATIO = 2.0
SESSIONS_LIMIT_S = 0.010


def spread_users(core: Any, k: int) -> list[int]:
    """``k`` user ids with at least one session, evenly spread over the id range (the first
    user with sessions at or after each of ``k`` evenly spaced ids)."""
    from sqlalchemy import func, select

    from authcore.models import sessions, users

    with core.engine.connect() as conn:
        lo, hi = conn.execute(select(func.min(users.c.id), func.max(users.c.id))).one()
        out: list[int] = []
        for i in range(k):
            at = lo + (hi - lo) * i // k
            uid = conn.execute(
                select(sessions.c.user_id)
                .where(sessions.c.user_id >= at)
                .order_by(sessions.c.user_id)
                .limit(1)
            ).scalar()
            if uid is not None and uid not in out:
                out.append(int(uid))
    return out


def session_count(core: Any) -> int:
    from sqlalchemy import func, select

    from authcore.models import sessions

    with core.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(sessions)).scalar_one())


def session_lists(ctx: Ctx, engine: str) -> None:
    big, small = ctx.core(engine, ctx.big), ctx.core(engine, ctx.small)
    samples = 11 if ctx.quick else 31
    sec = f"sessions {engine}"
    n_big, n_small = session_count(big), session_count(small)
    at = f"{label(ctx.big)} users ({n_big:,} sessions) vs {label(ctx.small)}"
    note = f"{n_big:,} vs {n_small:,} sessions"

    ids_big, ids_small = spread_users(big, USERS_SAMPLED), spread_users(small, USERS_SAMPLED)
    cycle_big, cycle_small = itertools.cycle(ids_big), itertools.cycle(ids_small)

    def user_big() -> object:
        return big.sessions.for_user(next(cycle_big))

    def user_small() -> object:
        return small.sessions.for_user(next(cycle_small))

    inner = calibrate(user_small, 0.01, 50)
    s = interleave(user_big, user_small, samples=samples, inner=inner, warmup=2)
    ctx.add(
        Row(
            sec,
            f"a user's sessions (user screen), {at}",
            s.stat("a"),
            f"at {label(ctx.small)}",
            s.stat("b"),
            SESSIONS_RATIO,
            limit=SESSIONS_LIMIT_S,
            note=f"{note}; {len(ids_big)} users cycled, spread over the ids",
        )
    )
    for prefix in IP_PREFIXES:

        def recent_big(prefix: str = prefix) -> object:
            return big.sessions.recent(limit=search.PAGE, text=prefix)

        def recent_small(prefix: str = prefix) -> object:
            return small.sessions.recent(limit=search.PAGE, text=prefix)

        inner = calibrate(recent_small, 0.01, 50)
        s = interleave(recent_big, recent_small, samples=samples, inner=inner, warmup=2, budget_s=60)
        ctx.add(
            Row(
                sec,
                f"global list, first page, IP prefix '{prefix}', {at}",
                s.stat("a"),
                f"at {label(ctx.small)}",
                s.stat("b"),
                SESSIONS_RATIO,
                limit=SESSIONS_LIMIT_S,
                note=f"{note}; {len(recent_big())} rows on the page",
            )
        )


def run(ctx: Ctx) -> None:
    engines = [e for e in ctx.engines if ctx.has(e, ctx.big) and ctx.has(e, ctx.small)]
    samples = 11 if ctx.quick else 31
    for engine in engines:
        small = ctx.core(engine, ctx.small)
        for kind, q in search.QUERIES:

            def first_page(q: str = q, core: Any = small) -> object:
                return core.users.search(q, limit=search.PAGE)

            inner = calibrate(first_page, 0.01, 50)
            search.scaling(ctx, engine, kind, q, 1.5, samples=samples, inner=inner)
        session_lists(ctx, engine)
    why = console.available()
    if why:
        ctx.add(Row("console", "console rows", float("nan"), "", 0, 1.0, error=why))
        return
    for engine in engines:
        console.keystrokes(ctx, engine)
        console.memory(ctx, engine)
