"""bench.search.vacuum_users: each search run starts from an all-visible ``users`` table.

The bench's own bumps (the hotpaths section's bulk revoke) clear visibility-map bits, and the
shared server runs with autovacuum off; an index-only walk then visits the heap for every row
of those pages. The helper must put the table back, or the PostgreSQL contains rows measure
the previous run's writes.
"""

from __future__ import annotations

import re

from sqlalchemy import text

from authcore.core import AuthCore
from authcore.db import make_engine
from bench.search import vacuum_users
from tests.support.pg import reset_pg


def _heap_fetches(url: str) -> int:
    """Heap fetches of an index-only walk of every user id (seq and bitmap scans off)."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("SET LOCAL enable_seqscan = off"))
            conn.execute(text("SET LOCAL enable_bitmapscan = off"))
            plan = "\n".join(
                r[0]
                for r in conn.execute(
                    text("EXPLAIN (ANALYZE, TIMING OFF) SELECT id FROM users WHERE id > 0 ORDER BY id")
                )
            )
    finally:
        engine.dispose()
    assert "Index Only Scan" in plan, plan
    m = re.search(r"Heap Fetches: (\d+)", plan)
    assert m, plan
    return int(m.group(1))


def test_vacuum_users_undoes_what_the_bumps_did(pg_url: str, config) -> None:  # type: ignore[no-untyped-def]
    reset_pg(pg_url)
    engine = make_engine(pg_url)
    try:
        core = AuthCore(engine, config, actor="test-operator")
        ids = [core.users.create(f"u{i}@example.com", f"u{i}", f"User {i}").id for i in range(300)]
        vacuum_users(pg_url)
        assert _heap_fetches(pg_url) == 0
        core.admin.revoke_tokens_many(ids, "clears the visibility map of these pages")
        assert _heap_fetches(pg_url) >= len(ids)  # every bumped row is looked up in the heap
        vacuum_users(pg_url)
        assert _heap_fetches(pg_url) == 0
    finally:
        engine.dispose()
