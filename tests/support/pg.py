"""PostgreSQL for the tests: a database of the run's own next to ``AUTHCORE_TEST_PG_URL``, and the
superuser's way around the audit trigger that tamper-detection tests need."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from authcore import migrate
from authcore.db import make_engine
from authcore.models import GENESIS_HASH

PG_ENV = "AUTHCORE_TEST_PG_URL"
_TABLES = ("bulk_runs", "revocations", "audit_events", "user_events", "sessions", "users")


def admin_url() -> str | None:
    """``AUTHCORE_TEST_PG_URL`` routed to psycopg 3, or None when unset."""
    url = os.environ.get(PG_ENV)
    if url and url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


@contextlib.contextmanager
def temp_pg_database(prefix: str = "authcore_test", *, upgrade: bool = True) -> Iterator[str]:
    """A migrated (``upgrade=False``: empty) PostgreSQL database of this run's own next to
    ``AUTHCORE_TEST_PG_URL``, dropped afterwards. Skips, with that reason, when the variable is
    unset."""
    admin = admin_url()
    if not admin:
        pytest.skip(f"PostgreSQL half skipped: {PG_ENV} is not set")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin_engine = make_engine(admin, isolation_level="AUTOCOMMIT")
    with admin_engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin.rsplit("/", 1)[0] + "/" + name
    try:
        if upgrade:
            engine = make_engine(url)
            migrate.upgrade(engine)
            engine.dispose()
        yield url
    finally:
        with admin_engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin_engine.dispose()


def bypass_audit_trigger(conn) -> None:  # type: ignore[no-untyped-def]
    """Let this transaction UPDATE/DELETE ``audit_events`` behind authcore's back: what a
    superuser (a DBA) can do on PostgreSQL, where a trigger otherwise refuses it for every role
    (migration 0004). Tests of tamper detection use it; seals are what catch such rewrites."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")


def reset_pg(url: str) -> None:
    """Empty every table of a migrated test database and reset the audit anchor."""
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(_TABLES)} RESTART IDENTITY CASCADE"))
        conn.execute(
            text(
                "INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, :h) "
                "ON CONFLICT (id) DO UPDATE SET seq = 0, hash = :h"
            ),
            {"h": GENESIS_HASH},
        )  # a test may have deleted the row
    engine.dispose()
