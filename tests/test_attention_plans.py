"""Every statement of ``authcore.attention`` runs on its index, by the database's own plan
(``EXPLAIN`` on PostgreSQL after ANALYZE, ``EXPLAIN QUERY PLAN`` on SQLite), over a seeded
database (``authcore.demo.seed``: 2 % of users disabled, sessions spread over 45 days): never a
scan of a whole table."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy import func, select, text

from authcore import demo, migrate
from authcore.attention import Attention
from authcore.config import AttentionSettings
from authcore.db import make_engine
from authcore.models import sessions
from tests.conftest import temp_pg_database
from tests.support.attention import user_events_spread

N_USERS = 5000
INDEXES = {
    "refresh_reuse": "ix_user_events_action_at",
    "session_burst": "ix_sessions_created",
    "session_burst times": "ix_sessions_user_created",
    "disabled_sessions": "ix_users_disabled_at",
    "new_place": "ix_sessions_created",
    "new_place history": "ix_sessions_user_created",
}


@pytest.fixture(scope="module")
def seeded_sqlite(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('attention') / 'seeded.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    demo.seed(engine, N_USERS, rng_seed=3)
    engine.dispose()
    user_events_spread(url, N_USERS)
    return url


@pytest.fixture(scope="module")
def seeded_pg() -> Iterator[str]:
    with temp_pg_database("authcore_attention") as url:
        engine = make_engine(url)
        demo.seed(engine, N_USERS, rng_seed=3)
        engine.dispose()
        user_events_spread(url, N_USERS)
        with make_engine(url, isolation_level="AUTOCOMMIT").connect() as conn:
            conn.execute(text("VACUUM (ANALYZE) users, sessions, user_events"))
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def seeded(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("seeded_sqlite" if request.param == "sqlite" else "seeded_pg"))


def test_every_statement_uses_its_index(seeded: str) -> None:
    engine = make_engine(seeded)
    try:
        with engine.connect() as conn:
            now: datetime = conn.execute(select(func.max(sessions.c.created_at))).scalar_one()
        attention = Attention(engine, AttentionSettings())
        plans = dict(attention.explain(now=now))
        report = attention.report(now=now)
    finally:
        engine.dispose()
    assert set(plans) == set(INDEXES)
    for name, index in INDEXES.items():
        plan = plans[name]
        assert index in plan, f"{name}: {plan}"
        assert "Seq Scan" not in plan, plan
        assert not any(line.strip() in ("SCAN users", "SCAN sessions") for line in plan.splitlines()), plan
    signals = {f.signal for f in report.findings}
    assert {"refresh_reuse", "disabled_sessions"} <= signals, "the plans ran on rows that answer"
