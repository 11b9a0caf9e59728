"""authcore.users.service: ``UserService`` creates users under one rule on both engines, reads
them with their active-session count, resolves references to exactly one user, and serves
search through ``authcore.users.search`` (both engines)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, update

from authcore.core import AuthCore
from authcore.errors import AmbiguousUser, NotFound, ValidationError
from authcore.models import users
from authcore.users.search import PREFIX_PHASES, Phase


def _count(core: AuthCore) -> int:
    with core.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(users)).scalar_one())


def test_create_trims_and_reads_back(core: AuthCore) -> None:
    u = core.users.create("  ann@example.com ", " ann ", "Ann Lee")
    assert (u.email, u.username, u.display_name) == ("ann@example.com", "ann", "Ann Lee")
    assert (u.disabled, u.token_version, u.active_sessions, u.last_login_at) == (False, 0, 0, None)
    core.sessions.create(u.id)
    assert core.users.get(u.id).active_sessions == 1
    assert core.users.find(u.id) == core.users.get(u.id)  # an int is an id


@pytest.mark.parametrize(
    ("email", "username", "name", "why"),
    [
        ("not-an-email", "u1", "", "not an email address"),
        ("a b@example.com", "u1", "", "not an email address"),
        ("x" * 310 + "@example.com", "u1", "", "not an email address"),
        ("ok@example.com", "a@b", "", "may not contain '@'"),
        ("ok@example.com", "u1", "evil\x1b[2J", "display name"),
    ],
)
def test_create_refuses_and_writes_nothing(
    core: AuthCore, email: str, username: str, name: str, why: str
) -> None:
    with pytest.raises(ValidationError, match=why):
        core.users.create(email, username, name)
    assert _count(core) == 0


def test_taken_email_or_username_is_one_clear_error(core: AuthCore) -> None:
    core.users.create("dup@example.com", "dup")
    with pytest.raises(ValidationError, match="already taken"):
        core.users.create("dup@example.com", "other")
    with pytest.raises(ValidationError, match="already taken"):
        core.users.create("other@example.com", "dup")
    assert _count(core) == 1


def test_get_and_find_missing(core: AuthCore) -> None:
    with pytest.raises(NotFound, match="no user with id 999"):
        core.users.get(999)
    with pytest.raises(NotFound, match="no user matches 'ghost'"):
        core.users.find("ghost")


def test_find_is_case_insensitive_and_refuses_ambiguity(core: AuthCore) -> None:
    core.users.create("Mixed@Example.com", "Mixed")
    assert core.users.find("mixed@example.COM").username == "Mixed"
    first = core.users.create("first@example.org", "first")
    # a username from before the all-digits rule, equal to the first user's id
    with core.engine.begin() as conn:
        conn.execute(update(users).where(users.c.username == "Mixed").values(username=str(first.id)))
    with pytest.raises(AmbiguousUser) as exc:
        core.users.find(str(first.id))
    ids = [u.id for u in exc.value.candidates]
    assert ids == sorted(ids) and first.id in ids and len(ids) == 2
    assert "name the user by id (id:N)" in str(exc.value)
    assert core.users.find(f"id:{first.id}").id == first.id


def test_search_and_explain_go_through_the_search_module(core: AuthCore) -> None:
    core.users.create("bea@example.com", "bea", "Bea")
    core.users.create("beatrix@example.com", "trix", "Beatrix")
    page = core.users.search("bea")
    assert [u.username for u in page.items] == ["bea", "trix"]  # exact username first
    assert page.next is None
    assert [p for p, _ in core.users.explain("bea")] == [Phase.EXACT, *PREFIX_PHASES, Phase.CONTAINS]
