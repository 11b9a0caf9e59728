"""authcore.core: ``AuthCore`` wires one engine, one key ring and the services, and holds the
process's write authority: read-only (flag, config or the viewer role) refuses every change in
authcore itself, before the database is touched, on both engines. Also the operator's role from
``[operators]`` and the package root's lazy names.

(The app's start-up checks are tests/test_app_config.py; login and logout tests/test_login_logout.py;
fork safety tests/test_fork.py.)
"""

from __future__ import annotations

import os
import pwd

import pytest
from sqlalchemy import Engine, func, select

import authcore
from authcore.config import Config, TokenSettings
from authcore.core import AuthCore, Operator, is_read_only, operator_for
from authcore.errors import ConfigError, PermissionDenied, ReadOnlyError
from authcore.models import audit_events, revocations, sessions, users
from tests.conftest import TEST_SECRET


def _me() -> str:
    return pwd.getpwuid(os.getuid()).pw_name


def _counts(engine: Engine) -> tuple[int, ...]:
    with engine.connect() as conn:
        counts = [
            int(conn.execute(select(func.count()).select_from(t)).scalar_one())
            for t in (users, sessions, audit_events, revocations)
        ]
        versions = int(conn.execute(select(func.sum(users.c.token_version))).scalar_one() or 0)
    return (*counts, versions)


@pytest.mark.parametrize(
    ("flag", "configured", "role", "expected"),
    [
        (False, False, None, False),
        (False, False, "admin", False),
        (True, False, None, True),
        (False, True, "admin", True),
        (False, False, "viewer", True),
        (True, True, "viewer", True),
    ],
)
def test_read_only_is_asked_configured_or_implied_by_viewer(
    flag: bool, configured: bool, role: str | None, expected: bool
) -> None:
    cfg = Config(read_only=configured)
    assert is_read_only(flag, cfg, role) is expected


def test_operator_role_comes_from_the_os_account(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USER", "root-by-env")  # the environment names nobody
    monkeypatch.setenv("LOGNAME", "root-by-env")
    assert operator_for(Config()) == Operator(_me(), "admin", None)  # no table: everyone admin
    assert operator_for(Config(operators={_me(): "viewer"})).role == "viewer"
    assert operator_for(Config(operators={_me(): "admin"})).role == "admin"
    assert operator_for(Config(operators={"someone-else": "admin"})).role == "viewer"  # unlisted
    monkeypatch.setenv("SSH_CONNECTION", "10.1.2.3 5555 10.0.0.1 22")
    op = operator_for(Config())
    assert op.actor == _me() and op.client == "ssh 10.1.2.3"


def test_the_services_share_the_core_engine_and_actor(core: AuthCore) -> None:
    assert core.users.engine is core.engine
    assert core.sessions.engine is core.engine
    assert core.bulk.engine is core.engine
    assert core.actor == "test-operator" and not core.read_only and core.role is None
    u = core.users.create("wire@example.com", "wire")
    core.admin.revoke_tokens(u.id, "wiring check")
    with core.engine.connect() as conn:
        actor = (
            conn.execute(select(audit_events.c.actor).order_by(audit_events.c.id.desc())).scalars().first()
        )
    assert actor == "test-operator"


@pytest.mark.parametrize(("read_only", "role"), [(True, None), (False, "viewer"), (True, "admin")])
def test_a_read_only_core_refuses_every_change_and_changes_nothing(
    engine: Engine, config: Config, read_only: bool, role: str | None
) -> None:
    writer = AuthCore(engine, config, actor="setup")
    u = writer.users.create("ro@example.com", "ro")
    s, _raw, _pair = writer.login(u.id)
    before = _counts(engine)

    ro = AuthCore(engine, config, read_only=read_only, role=role, actor="looker")
    assert ro.read_only
    attempts = [
        lambda: ro.require_write(),
        lambda: ro.admin.revoke_tokens(u.id, "no"),
        lambda: ro.admin.set_disabled(u.id, True, "no"),
        lambda: ro.admin.delete_session(s.public_id, "no"),
        lambda: ro.admin.delete_sessions(u.id, "no"),
        lambda: ro.bulk.run("ro@example", "no", confirm_count=1),
    ]
    for attempt in attempts:
        with pytest.raises(ReadOnlyError) as info:
            attempt()
        assert "nothing was changed" in str(info.value)
        assert ("viewer role" in str(info.value)) is (role == "viewer")
    assert _counts(engine) == before
    # Reading still works.
    assert ro.users.get(u.id).email == "ro@example.com"


def test_bulk_needs_admin_even_when_single_writes_are_allowed(engine: Engine, config: Config) -> None:
    other = AuthCore(engine, config, role="operator")
    other.require_write(1)
    with pytest.raises(PermissionDenied, match="admin role"):
        other.require_write(2)
    AuthCore(engine, config, role="admin").require_write(10)
    AuthCore(engine, config).require_write(10)  # an app (no role) is unrestricted


def test_pool_size_must_be_positive(engine: Engine, config: Config) -> None:
    with pytest.raises(ConfigError, match="pool_size"):
        AuthCore(engine, config, pool_size=0)
    with pytest.raises(ConfigError, match="pool_size"):
        AuthCore(engine, Config(tokens=TokenSettings(secret=TEST_SECRET), pool_size=-1))


def test_sign_checks_the_signing_key_at_construction(engine: Engine) -> None:
    AuthCore(engine, Config())  # an operator tool without a key is fine
    with pytest.raises(ConfigError):
        AuthCore(engine, Config(), sign=True)
    AuthCore(engine, Config(tokens=TokenSettings(secret=TEST_SECRET)), sign=True)


def test_the_url_is_shown_without_its_password(engine: Engine, config: Config) -> None:
    core = AuthCore(engine, config)
    shown = core.url_masked
    assert shown.startswith(engine.dialect.name)
    if engine.url.password:
        assert engine.url.password not in shown and "***" in shown


def test_the_database_role_only_speaks_on_postgresql(engine: Engine, config: Config) -> None:
    core = AuthCore(engine, config, role="admin")
    note = core.use_database_role()
    if engine.dialect.name == "sqlite":
        assert note == "" and core.role == "admin"
    else:  # the test server's superuser is in neither group: the config's role stands
        assert note == "" and core.role == "admin" and not core.read_only


def test_after_fork_in_the_same_process_keeps_the_pool(core: AuthCore) -> None:
    with core.engine.connect():
        pass
    pool = core.engine.pool
    core.after_fork()
    assert core.engine.pool is pool  # nothing disposed: this is not a child


def test_the_package_root_is_lazy_and_exact() -> None:
    assert authcore.AuthCore is AuthCore
    assert authcore.Config is Config
    with pytest.raises(AttributeError):
        authcore.NotAThing  # noqa: B018
    assert set(authcore.__all__) == {"AuthCore", "Config", "load_config", "__version__"}


@pytest.mark.parametrize("fast", [True, False])
def test_fast_paths_are_the_setting_and_nothing_else(db_url: str, config: Config, fast: bool) -> None:
    """``AuthCore(fast_paths=...)`` alone decides: off, the hot statements run through SQLAlchemy
    and an engine listener (APM, tracing) sees them; on, they run on driver connections even
    with a listener attached. The answers are the same either way."""
    from sqlalchemy import event

    from authcore import fastpath
    from authcore.db import make_engine

    engine = make_engine(db_url)
    seen: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda _c, _cur, sql, *_a: seen.append(sql))
    try:
        core = AuthCore(engine, config, fast_paths=fast)
        assert fastpath.is_fast(engine) is fast
        u = core.users.create("fp@example.com", "fp")
        _s, raw = core.sessions.create(u.id)
        seen.clear()
        got = core.sessions.resolve(raw)
        assert got is not None and got.user_id == u.id
        assert bool(seen) is not fast, seen
    finally:
        engine.dispose()
