"""authcore.verifier.poll: the polling side on SQLite, one ``_poll_once`` at a time: the
``revocations`` rows replayed in id order. (A PostgreSQL verifier polls only behind a pooler
without a direct URL, by re-reading its cached state: tests/test_pgbouncer.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, insert, select

from authcore import notices
from authcore.core import AuthCore
from authcore.models import revocations
from authcore.revocation import Kind
from authcore.verifier import AppliedUpdate, Verifier
from authcore.verifier.poll import PAGE

AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture
def idle(core: AuthCore) -> Iterator[tuple[Verifier, list[AppliedUpdate]]]:
    if core.engine.dialect.name != "sqlite":
        pytest.skip("rows are replayed by id on SQLite only")
    got: list[AppliedUpdate] = []
    v = Verifier(core, start=False, on_update=got.append)
    yield v, got
    v.close()


def _max_id(core: AuthCore) -> int:
    with core.engine.connect() as conn:
        return int(conn.execute(select(func.max(revocations.c.id))).scalar_one())


def test_first_poll_sets_the_watermark_then_applies_in_order(
    core: AuthCore, idle: tuple[Verifier, list[AppliedUpdate]]
) -> None:
    v, got = idle
    with core.engine.begin() as conn:
        notices.publish(conn, AT, Kind.VERSION, [1], [1])  # before the verifier: not replayed
    v._poll_once()
    assert v._last_id == _max_id(core) and [u.kind for u in got] == ["reset"]
    got.clear()
    with core.engine.begin() as conn:
        notices.publish(conn, AT, Kind.VERSION, [1, 2], [3, 4])
        notices.publish(conn, AT, Kind.SESSION, [2], session_ids=["a", "b"])
        conn.execute(insert(revocations).values(at=AT, kind="password_reset", user_id=2))  # a newer writer
        notices.publish(conn, AT, Kind.DISABLED, [2], [5])
    v._poll_once()
    assert [(u.kind, u.user_ids, u.versions, u.session_ids, u.source) for u in got] == [
        ("version", (1, 2), (3, 4), (), "poll"),
        ("session", (2,), (), ("a", "b"), "poll"),
        ("reset", (), (), (), "poll"),  # unknown kind: the user cache is dropped, nothing missed
        ("disabled", (2,), (5,), (), "poll"),
    ]
    assert all(u.revoked_at == AT for u in got if u.kind != "reset")
    assert v._last_id == _max_id(core)


def test_more_than_a_page(core: AuthCore, idle: tuple[Verifier, list[AppliedUpdate]]) -> None:
    v, got = idle
    v._poll_once()
    got.clear()
    users = list(range(1, PAGE + 7))
    with core.engine.begin() as conn:
        notices.publish(conn, AT, Kind.VERSION, users, [1] * len(users))
    v._poll_once()
    assert sum((u.user_ids for u in got), ()) == tuple(users)  # split at the page, none lost
    assert v._last_id == _max_id(core)
