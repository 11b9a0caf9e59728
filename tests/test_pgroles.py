"""authcore.pgroles: the three PostgreSQL group roles and their grants, as SQL text (checked here
without a server) and against a migrated database: every table is readable by the viewer and the
admin, nobody but the owner writes the audit, the app's writes are the few it needs, and every
function granted exists with that exact signature.

(The grants enforced by a live server, role by role: tests/test_roles.py.)
"""

from __future__ import annotations

import re

import pytest

from authcore import pgroles
from authcore.errors import ValidationError
from authcore.models import Base

TABLES = {*Base.metadata.tables, "alembic_version"}
_GRANT = re.compile(r"^GRANT (?P<what>.+?) ON (?P<on>.+) TO (?P<to>[\w, ]+)$")


def _grants(prefix: str = "") -> list[tuple[str, str, set[str]]]:
    out = []
    for stmt in pgroles.roles_sql(prefix):
        m = _GRANT.match(stmt)
        if m:
            out.append((m["what"], m["on"], {r.strip() for r in m["to"].split(",")}))
    return out


def _tables(on: str) -> set[str]:
    """The objects a GRANT names, without the schema (a function keeps its signature)."""
    if on.startswith("FUNCTION "):
        return {on.split(".", 1)[1]}
    return {t.strip().split(".")[-1] for t in on.split(",")}


def test_role_names_and_prefixes() -> None:
    assert pgroles.RoleNames.with_prefix() == pgroles.RoleNames(pgroles.APP, pgroles.VIEWER, pgroles.ADMIN)
    r = pgroles.RoleNames.with_prefix("t1_")
    assert (r.app, r.viewer, r.admin) == ("t1_authcore_app", "t1_authconsole_viewer", "t1_authconsole_admin")
    assert pgroles.RoleNames.with_prefix("a" * 31).app.startswith("a" * 31)


@pytest.mark.parametrize("prefix", ["A", "1a", "a-b", "a b", "a" * 32, "x; DROP ROLE postgres; --", "é"])
def test_a_bad_prefix_is_refused_before_any_sql(prefix: str) -> None:
    for build in (pgroles.roles_sql, pgroles.drop_sql):
        with pytest.raises(ValidationError, match="role prefix"):
            build(prefix)


def test_the_roles_are_created_only_if_missing_and_grants_start_from_nothing() -> None:
    stmts = pgroles.roles_sql("p_")
    creates = [s for s in stmts if "CREATE ROLE" in s]
    assert len(creates) == 3 and all("IF NOT EXISTS" in s and "NOLOGIN" in s for s in creates)
    first_grant = next(i for i, s in enumerate(stmts) if s.startswith("GRANT SELECT"))
    revokes = [i for i, s in enumerate(stmts) if s.startswith("REVOKE ALL")]
    assert len(revokes) == 3 and max(revokes) < first_grant  # re-applying never widens


def test_viewer_and_admin_read_every_table() -> None:
    """A table added to the models but not to the grants would be invisible to operators."""
    r = pgroles.RoleNames.with_prefix()
    readable = set()
    for what, on, to in _grants():
        if what == "SELECT" and {r.viewer, r.admin} <= to:
            readable |= _tables(on)
    assert readable == TABLES


def test_the_viewer_only_reads() -> None:
    r = pgroles.RoleNames.with_prefix()
    for what, _on, to in _grants():
        if r.viewer in to:
            assert what in ("SELECT", "USAGE"), what


def test_nobody_but_the_owner_writes_the_audit_or_bumps_versions() -> None:
    r = pgroles.RoleNames.with_prefix()
    for what, on, to in _grants():
        if what in ("SELECT", "USAGE", "EXECUTE"):
            continue
        tables = _tables(on)
        assert not tables & {"audit_events", "audit_head", "alembic_version"}, (what, on)
        if "users" in tables:  # the app records logins; nothing else on users
            assert what == "UPDATE (last_login_at)" and to == {r.app}, (what, to)


def test_the_apps_writes_are_the_few_it_needs() -> None:
    r = pgroles.RoleNames.with_prefix()
    app_writes = {
        (what, table)
        for what, on, to in _grants()
        if r.app in to and what not in ("SELECT", "USAGE")
        for table in _tables(on)
    }
    assert app_writes == {
        ("UPDATE (last_login_at)", "users"),
        ("INSERT, UPDATE, DELETE", "sessions"),
        ("INSERT", "revocations"),
        ("INSERT", "user_events"),
        ("EXECUTE", "authcore_delete_session(text, text, text, text)"),
    }


def test_every_granted_function_exists_with_its_signature(pg_url: str) -> None:
    """The grants name functions by signature: one changed by a migration without the grant
    following would fail ``db roles --apply`` on a real install."""
    from authcore.db import make_engine

    functions = {on.split(".", 1)[1] for what, on, _to in _grants() if what == "EXECUTE"}
    assert len(functions) >= 7
    engine = make_engine(pg_url)
    try:
        with engine.connect() as conn:
            for fn in sorted(functions):
                oid = conn.exec_driver_sql("SELECT to_regprocedure(%s)", (fn,)).scalar()
                assert oid is not None, f"{fn} is granted but does not exist"
                definer = conn.exec_driver_sql(
                    "SELECT prosecdef FROM pg_proc WHERE oid = to_regprocedure(%s)", (fn,)
                ).scalar()
                assert definer, f"{fn} is not SECURITY DEFINER"
    finally:
        engine.dispose()


def test_the_owner_writes_directly(pg_url: str) -> None:
    """The test server's superuser owns the tables: the direct path, and ``owner`` as its kind.
    (SQLite has no roles; callers ask only on PostgreSQL.)"""
    from authcore.db import make_engine

    engine = make_engine(pg_url)
    try:
        assert pgroles.direct_writer(engine) is True
        user, kind = pgroles.database_role(engine)
        assert kind == "owner" and user
    finally:
        engine.dispose()
