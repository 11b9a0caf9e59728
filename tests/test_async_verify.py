"""``Verifier.averify_access`` and the FastAPI/Starlette dependency (``BearerAuth``).

A cache hit answers on the event loop (no thread hop); a miss or a stale cache runs its query in a
worker thread, so the loop keeps running while the database is slow. The dependency answers 401
with an RFC 6750 challenge for refused tokens and 503 when revocation state is unknown.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import Depends, FastAPI

from authcore.config import Config, TokenSettings
from authcore.core import AuthCore
from authcore.db import make_engine
from authcore.errors import TokenRevoked
from authcore.integrations.starlette import BearerAuth
from authcore.tokens import Claims
from authcore.verifier import Verifier, VerifierStale, libpq_url
from tests.conftest import TEST_SECRET, modules_loaded

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


def _app(auth: BearerAuth) -> FastAPI:
    app = FastAPI()

    @app.get("/me")
    async def me(claims: Claims = Depends(auth)) -> dict[str, Any]:  # noqa: B008
        return {"user_id": claims.user_id, "sid": claims.sid}

    return app


def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_dependency_answers(core: AuthCore, verifier: Verifier, token: str) -> None:
    async with _client(_app(BearerAuth(verifier))) as c:
        r = await c.get("/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text
        assert r.json()["user_id"] == core.tokens.verify_access(token).user_id
        r = await c.get("/me", headers={"Authorization": f"bearer {token}"})
        assert r.status_code == 200
        r = await c.get("/me")
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        r = await c.get("/me", headers={"Authorization": f"Basic {token}"})
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        r = await c.get("/me", headers={"Authorization": "Bearer not.a.token"})
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == ('Bearer error="invalid_token", error_description="invalid"')
        assert r.json() == {"detail": "invalid"}
        claims = core.tokens.verify_access(token)
        core.logout(claims.sid)
        assert verifier.wait_refused(token, 10) is not None
        r = await c.get("/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401
        assert 'error="invalid_token"' in r.headers["www-authenticate"]
        assert r.json() == {"detail": "session"}


async def test_dependency_uses_app_state_and_realm(verifier: Verifier, token: str) -> None:
    app = _app(BearerAuth(realm="api"))
    app.state.verifier = verifier
    async with _client(app) as c:
        assert (await c.get("/me", headers={"Authorization": f"Bearer {token}"})).status_code == 200
        r = await c.get("/me")
        assert r.headers["www-authenticate"] == 'Bearer realm="api"'


async def test_plain_starlette(verifier: Verifier, token: str) -> None:
    """Without FastAPI: await the dependency in the endpoint; Starlette answers its 401."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    auth = BearerAuth(verifier)

    async def me(request: Request) -> JSONResponse:
        claims = await auth(request)
        return JSONResponse({"user_id": claims.user_id})

    app = Starlette(routes=[Route("/me", me)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        assert (await c.get("/me", headers={"Authorization": f"Bearer {token}"})).status_code == 200
        r = await c.get("/me", headers={"Authorization": "Bearer x.y.z"})
        assert r.status_code == 401
        assert r.headers["www-authenticate"].startswith('Bearer error="invalid_token"')


async def test_dependency_fails_closed_with_503(core: AuthCore, token: str) -> None:
    stale = Verifier(core, on_stale="refuse", start=False)
    async with _client(_app(BearerAuth(stale))) as c:
        r = await c.get("/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
        assert "stale" not in r.text  # no internal message in the body
    # the database itself unreachable (nothing listens on the port): stale path, 503 too
    down = AuthCore(
        make_engine("postgresql+psycopg://postgres@127.0.0.1:1/none"),
        Config(tokens=TokenSettings(secret=TEST_SECRET)),
    )
    v = Verifier(down, on_stale="db", start=False)
    async with _client(_app(BearerAuth(v))) as c:
        r = await c.get("/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 503, r.text
    down.dispose()


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
