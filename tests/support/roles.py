"""PostgreSQL roles for the tests: a database and login roles of the run's own (``cluster``),
the owner's core on it emptied per test (``owner``), a seeded target, and the CLI as a separate
process. Fixtures are imported by the test modules that use them (``test_roles``, ``test_actor``,
``test_roles_ssh``)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from authcore import pgroles
from authcore.config import Config, TokenSettings
from authcore.core import AuthCore
from authcore.db import make_engine
from authcore.models import sessions
from tests.support import ROOT, TEST_SECRET
from tests.support.pg import admin_url as _admin_url
from tests.support.pg import reset_pg, temp_pg_database


@dataclass
class Cluster:
    url: str  # the owner (the test server's superuser)
    prefix: str
    admin: str  # login role names
    viewer: str
    app: str

    def as_role(self, role: str) -> str:
        return make_url(self.url).set(username=role).render_as_string(hide_password=False)

    def raw(self, role: str) -> psycopg.Connection:
        u = make_url(self.as_role(role))
        return psycopg.connect(
            host=u.host,
            port=u.port or 5432,
            user=u.username,
            dbname=u.database,
            autocommit=True,
            connect_timeout=5,
        )


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    if not _admin_url():
        pytest.skip("PostgreSQL half skipped: AUTHCORE_TEST_PG_URL is not set")
    prefix = "t" + uuid.uuid4().hex[:8] + "_"
    names = pgroles.RoleNames.with_prefix(prefix)
    logins = {"admin": prefix + "ops_admin", "viewer": prefix + "ops_viewer", "app": prefix + "app_server"}
    server = make_engine(_admin_url(), isolation_level="AUTOCOMMIT")
    try:
        with temp_pg_database("authcore_roles") as url:
            engine = make_engine(url)
            pgroles.apply(engine, prefix)
            with engine.begin() as c:
                for kind, group in (("admin", names.admin), ("viewer", names.viewer), ("app", names.app)):
                    c.exec_driver_sql(f"CREATE ROLE {logins[kind]} LOGIN IN ROLE {group}")
            engine.dispose()
            yield Cluster(url, prefix, logins["admin"], logins["viewer"], logins["app"])
    finally:
        with server.connect() as c:
            for role in (*logins.values(), names.app, names.viewer, names.admin):
                c.execute(text(f"DROP ROLE IF EXISTS {role}"))
        server.dispose()


@pytest.fixture
def owner(cluster: Cluster) -> Iterator[AuthCore]:
    """The table owner's core (direct fast path), on a database emptied for each test."""
    reset_pg(cluster.url)
    core = AuthCore(make_engine(cluster.url), Config(tokens=TokenSettings(secret=TEST_SECRET)), actor="owner")
    yield core
    core.dispose()


def seed_target(owner: AuthCore) -> tuple[int, str]:
    u = owner.users.create("target@corp-old.example", "target")
    owner.users.create("other@corp-old.example", "other")
    s, _raw = owner.sessions.create(u.id)
    with owner.engine.begin() as c:  # one expired session, for prune
        c.execute(
            sessions.update()
            .where(sessions.c.public_id == s.public_id)
            .values(expires_at=datetime.now(UTC) - timedelta(days=1))
        )
    s2, _raw = owner.sessions.create(u.id)
    owner.admin.revoke_tokens(u.id, "seed")
    return u.id, s2.public_id


def run_cli(
    args: list[str], env_extra: dict[str, str] | None = None, config: str | None = None, tmp: str = ""
) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("AUTHCONSOLE_DATABASE_URL", "DATABASE_URL", "AUTHCORE_SECRET")
    }
    env.update(env_extra or {})
    if config is not None:
        path = os.path.join(tmp, "config.toml")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(config)
        os.chmod(path, 0o600)
        env["AUTHCONSOLE_CONFIG"] = path
    return subprocess.run(
        [sys.executable, "-m", "console", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
