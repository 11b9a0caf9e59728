"""``Verifier.averify_access``, and authcore importing without a web framework.

A cache hit answers on the event loop (no thread hop); a miss or a stale cache runs its query in a
worker thread, so the loop keeps running while the database is slow. (The FastAPI/Starlette
dependency on top, ``BearerAuth``: tests/test_integrations_starlette.py.)
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from authcore.core import AuthCore
from authcore.errors import TokenRevoked
from authcore.verifier import Verifier, VerifierStale, libpq_url
from tests.conftest import modules_loaded

STALE = 0.5


@pytest.fixture
def verifier(core: AuthCore) -> Iterator[Verifier]:
    v = Verifier(core, staleness=STALE, application_name=f"async-{uuid.uuid4().hex[:8]}")
    assert v.wait_ready(10)
    yield v
    v.close()


@pytest.fixture
def token(core: AuthCore) -> str:
    user = core.users.create("alice@example.com", "alice", "Alice")
    return core.login(user.id, ip="127.0.0.1", user_agent="test").pair.access_token


class Hops:
    """Counts ``asyncio.to_thread`` calls (the verifier's only way off the loop)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.n = 0
        real = asyncio.to_thread

        async def counted(fn: Any, *a: Any, **kw: Any) -> Any:
            self.n += 1
            return await real(fn, *a, **kw)

        monkeypatch.setattr(asyncio, "to_thread", counted)


async def test_hit_stays_on_the_loop_miss_hops_once(
    verifier: Verifier, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    hops = Hops(monkeypatch)
    claims = await verifier.averify_access(token)  # a new session: a miss, one query
    assert hops.n == 1
    assert claims == verifier.verify_access(token)
    for _ in range(5):
        await verifier.averify_access(token)
    assert hops.n == 1  # hits
    s = verifier.stats()
    assert s.misses == 1 and s.hits >= 6


async def test_refusals_match_the_sync_ones(core: AuthCore, verifier: Verifier, token: str) -> None:
    await verifier.averify_access(token)
    claims = core.tokens.verify_access(token)
    core.admin.revoke_tokens(claims.user_id, "async test")
    assert verifier.wait_refused(token, 10) is not None
    with pytest.raises(TokenRevoked):
        await verifier.averify_access(token)


async def test_stale_refuse_raises_without_a_hop(
    core: AuthCore, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    v = Verifier(core, on_stale="refuse", start=False)
    hops = Hops(monkeypatch)
    with pytest.raises(VerifierStale):
        await v.averify_access(token)
    assert hops.n == 0
    v2 = Verifier(core, on_stale="db", start=False)  # stale, checks the database per call
    assert (await v2.averify_access(token)).sid
    assert hops.n == 1 and v2.stats().db_fallbacks == 1


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_a_slow_miss_does_not_stall_the_loop(
    core: AuthCore, verifier: Verifier, token: str, db_url: str
) -> None:
    """The miss's SELECT waits on a table lock held elsewhere; the loop keeps ticking."""
    locker = psycopg.connect(libpq_url(db_url))
    locker.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
    ticks: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        while not stop.is_set():
            ticks.append(time.monotonic())
            await asyncio.sleep(0.01)

    release = threading.Timer(0.6, locker.rollback)
    t = asyncio.create_task(ticker())
    release.start()
    try:
        t0 = time.monotonic()
        claims = await verifier.averify_access(token)
        waited = time.monotonic() - t0
    finally:
        stop.set()
        await t
        release.join()
        locker.close()
    assert claims.sid
    assert waited >= 0.5, waited  # it did wait for the lock
    during = [x for x in ticks if t0 <= x <= t0 + waited]
    assert len(during) >= 10, len(during)  # ~60 if never delayed; a stalled loop gives 0-1


# -- the dependency --------------------------------------------------------------------------------


_BLOCK = """
import sys
class _NoFramework:  # as if the 'fastapi' extra were not installed
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("fastapi", "starlette"):
            raise ImportError(f"No module named {name!r}")
sys.meta_path.insert(0, _NoFramework())
"""


def test_authcore_imports_without_the_framework() -> None:
    from tests.support.processes import authcore_modules

    modules = [m for m in authcore_modules() if m != "authcore.integrations.starlette"]
    code = (
        _BLOCK + f"import importlib\nfor name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "try:\n    import authcore.integrations.starlette\nexcept ImportError:\n    pass\n"
        "else:\n    raise SystemExit('the integration imported without its framework')\n"
    )
    loaded = modules_loaded(code, ("fastapi", "starlette", "uvicorn", "gunicorn", "httpx"))
    assert loaded == []
