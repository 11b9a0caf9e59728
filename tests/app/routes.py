"""The app's endpoints, shared by both recipes (module level and lifespan); docs/verifier.md
shows them. Sync endpoints (they write) run on Starlette's threadpool; ``/me`` is async (the
dependency answers cache hits on the loop)."""

import os
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response
from pydantic import BaseModel

from authcore.core import AuthCore
from authcore.errors import DatabaseUnavailable, NotFound, TokenError, UserDisabled
from authcore.integrations.starlette import BearerAuth, bearer_token
from authcore.tokens import Claims

CHALLENGE = {"WWW-Authenticate": 'Bearer error="invalid_token"'}


class LoginIn(BaseModel):
    username: str  # a real app checks a password first


class RefreshIn(BaseModel):
    refresh_token: str


def build(app: FastAPI, auth: BearerAuth, get_core: Any) -> None:
    """Add the routes to ``app``; ``get_core(request)`` returns the process's ``AuthCore``."""
    router = APIRouter()

    @app.middleware("http")
    async def worker_pid(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers["X-Worker-Pid"] = str(os.getpid())  # which worker answered (tests)
        return response

    @router.post("/login")
    def login(body: LoginIn, request: Request) -> dict[str, Any]:
        core: AuthCore = get_core(request)
        try:
            user = core.users.find(body.username)
            session, _raw, pair = core.login(
                user.id,
                ip=request.client.host if request.client else None,
                user_agent=request.headers.get("user-agent"),
            )
        except NotFound:
            raise HTTPException(401, "invalid credentials") from None
        except UserDisabled:
            raise HTTPException(403, "disabled") from None
        except DatabaseUnavailable:
            raise HTTPException(503, "unavailable") from None
        return pair.to_dict()

    @router.get("/me")
    async def me(claims: Annotated[Claims, Depends(auth)]) -> dict[str, Any]:
        return {"user_id": claims.user_id, "sid": claims.sid, "pid": os.getpid()}

    # Baselines for the bench (bench/appserver.py): the same request, other checks.
    @router.get("/me/signature")
    async def me_signature(request: Request) -> dict[str, Any]:
        try:  # signature and claims only: a revoked token stays valid until it expires
            claims = get_core(request).tokens.verify_access(bearer_token(request) or "")
        except TokenError as exc:
            raise HTTPException(401, exc.code, headers=CHALLENGE) from None
        return {"user_id": claims.user_id, "sid": claims.sid, "pid": os.getpid()}

    @router.get("/me/strict")
    def me_strict(request: Request) -> dict[str, Any]:
        try:  # one query per request (threadpool), no verifier
            claims = get_core(request).tokens.verify_access(bearer_token(request) or "", strict=True)
        except TokenError as exc:
            raise HTTPException(401, exc.code, headers=CHALLENGE) from None
        except DatabaseUnavailable:
            raise HTTPException(503, "unavailable") from None
        return {"user_id": claims.user_id, "sid": claims.sid, "pid": os.getpid()}

    @router.post("/refresh")
    def refresh(body: RefreshIn, request: Request) -> dict[str, Any]:
        try:
            return get_core(request).tokens.refresh(body.refresh_token).to_dict()
        except TokenError as exc:  # expired, revoked, disabled, session ended, reuse
            raise HTTPException(401, exc.code, headers=CHALLENGE) from None
        except DatabaseUnavailable:
            raise HTTPException(503, "unavailable") from None

    @router.post("/logout", status_code=204)
    def logout(request: Request) -> Response:
        core: AuthCore = get_core(request)
        token = bearer_token(request)
        try:
            claims = core.tokens.verify_access(token or "")  # signature only: idempotent
            core.logout(claims.sid)
        except TokenError as exc:
            raise HTTPException(401, exc.code, headers=CHALLENGE) from None
        except DatabaseUnavailable:
            raise HTTPException(503, "unavailable") from None
        return Response(status_code=204)

    @router.get("/health")
    def health(request: Request) -> dict[str, Any]:
        verifier = request.app.state.verifier
        return {
            "pid": os.getpid(),
            "verifier": verifier.stats().to_dict(),
            "thread_alive": verifier.thread_alive,
        }

    app.include_router(router)
