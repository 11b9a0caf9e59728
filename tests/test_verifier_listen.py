"""authcore.verifier.listen: the LISTEN side (URL, the LISTENing connection, notices applied).

The listener's life under failures (reconnects, resync, a frozen server) is in test_verifier.py
and test_faults.py; here are its pieces."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from authcore.core import AuthCore
from authcore.errors import ValidationError
from authcore.revocation import Kind, Notice
from authcore.verifier import AppliedUpdate, Verifier, libpq_url
from authcore.verifier.listen import open_listener


def test_libpq_url() -> None:
    assert libpq_url("postgresql+psycopg://u:p@h:5433/db") == "postgresql://u:p@h:5433/db"
    assert libpq_url("postgres://u@h/db") == "postgresql://u@h/db"
    with pytest.raises(ValidationError, match="PostgreSQL"):
        libpq_url("sqlite:///x.db")


@pytest.fixture
def idle(core: AuthCore) -> Iterator[tuple[Verifier, list[AppliedUpdate]]]:
    """A verifier whose thread never starts: notices are fed by hand."""
    got: list[AppliedUpdate] = []
    v = Verifier(core, start=False, on_update=got.append)
    yield v, got
    v.close()


def _cache_user(v: Verifier, uid: int) -> None:
    from types import SimpleNamespace

    from authcore.tokens import Claims

    c = Claims(uid, "access", 1, None, "j", 0, 0, None, {})
    g0 = v._cache.answer(c)
    assert g0 is not None
    v._cache.store(c, SimpleNamespace(token_version=1, disabled=False, sid=None, expires_at=None), g0)


def test_a_notice_is_decoded_and_applied(idle: tuple[Verifier, list[AppliedUpdate]]) -> None:
    v, got = idle
    _cache_user(v, 5)
    (payload,) = Notice.of(Kind.VERSION, [5], [2]).payloads()
    v._on_notify(payload)
    assert [(u.kind, u.user_ids, u.versions, u.source) for u in got] == [("version", (5,), (2,), "notify")]
    assert v._cache.users[5].version == 2


@pytest.mark.parametrize("payload", ["{", '{"k":"version"}', '{"k":"password_reset","u":[5],"v":[2]}'])
def test_an_unreadable_or_unknown_notice_drops_the_user_cache(
    idle: tuple[Verifier, list[AppliedUpdate]], payload: str
) -> None:
    v, got = idle
    _cache_user(v, 5)
    v._on_notify(payload)
    assert [(u.kind, u.source) for u in got] == [("reset", "notify")]
    assert not v._cache.users  # the next check of user 5 reloads it: nothing revoked is missed


def test_the_listener_connection_listens_with_bounded_waits(core: AuthCore) -> None:
    if core.engine.dialect.name != "postgresql":
        pytest.skip("LISTEN is PostgreSQL's")
    url = libpq_url(core.engine.url.render_as_string(hide_password=False))
    conn = open_listener(url, "authcore-test-listen", 0.5)
    try:
        channels = [r[0] for r in conn.execute("SELECT pg_listening_channels()").fetchall()]
        assert channels == ["authcore_revocations"]
        assert conn.autocommit
        assert conn.execute("SHOW application_name").fetchone() == ("authcore-test-listen",)
    finally:
        conn.close()


def test_the_listener_listens_on_the_channels_it_is_given(core: AuthCore) -> None:
    """Other NOTIFY followers (the audit tail) reuse ``open_listener`` with their channel; a
    name that is not a plain identifier is refused before any LISTEN (it takes no bind)."""
    if core.engine.dialect.name != "postgresql":
        pytest.skip("LISTEN is PostgreSQL's")
    url = libpq_url(core.engine.url.render_as_string(hide_password=False))
    with pytest.raises(ValidationError, match="not a channel name"):
        open_listener(url, "authcore-test-listen", 0.5, channels=("x; DROP TABLE users",))
    conn = open_listener(url, "authcore-test-listen", 0.5, channels=("authcore_test_a", "authcore_test_b"))
    try:
        channels = sorted(r[0] for r in conn.execute("SELECT pg_listening_channels()").fetchall())
        assert channels == ["authcore_test_a", "authcore_test_b"]
        with core.engine.begin() as other:
            other.exec_driver_sql("SELECT pg_notify('authcore_test_b', 'hi')")
        got = [(n.channel, n.payload) for n in conn.notifies(timeout=2, stop_after=1)]
        assert got == [("authcore_test_b", "hi")]
    finally:
        conn.close()
