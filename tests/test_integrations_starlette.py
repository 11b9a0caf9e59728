"""authcore.integrations.starlette: ``BearerAuth``, the bearer-token check as a FastAPI dependency
(or awaited in a plain Starlette endpoint), on both engines through real ASGI requests: 200 with
the claims, 401 with an RFC 6750 challenge for a missing, malformed or refused token, 503 when
the revocation state is unknown (fails closed, no internal message in the body).

(``Verifier.averify_access`` under it, and authcore importing without the framework:
tests/test_async_verify.py.)
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI

from authcore.config import Config, TokenSettings
from authcore.core import AuthCore
from authcore.db import make_engine
from authcore.integrations.starlette import BearerAuth
from authcore.tokens import Claims
from authcore.verifier import Verifier
from tests.support import TEST_SECRET


@pytest.fixture
def verifier(core: AuthCore) -> Iterator[Verifier]:
    v = Verifier(core, staleness=0.5, application_name=f"bearer-{uuid.uuid4().hex[:8]}")
    assert v.wait_ready(10)
    yield v
    v.close()


@pytest.fixture
def token(core: AuthCore) -> str:
    user = core.users.create("alice@example.com", "alice", "Alice")
    return core.login(user.id, ip="127.0.0.1", user_agent="test").pair.access_token


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
