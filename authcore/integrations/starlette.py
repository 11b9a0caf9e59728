"""FastAPI / Starlette: the bearer-token check as a dependency (extra ``fastapi``).

::

    from fastapi import Depends, FastAPI
    from authcore.integrations.starlette import BearerAuth

    auth = BearerAuth(verifier)              # or BearerAuth() to use app.state.verifier

    @app.get("/me")
    async def me(claims: Claims = Depends(auth)): ...

The dependency runs ``await verifier.averify_access(token)``: a cache hit answers on the event
loop without a thread hop; a miss or a stale cache runs its one query in a worker thread. It
returns the ``Claims`` or answers (RFC 6750):

* no ``Authorization: Bearer`` header: 401 with ``WWW-Authenticate: Bearer``;
* a refused token (``TokenError``: bad, expired, revoked, disabled user, ended session): 401 with
  ``WWW-Authenticate: Bearer error="invalid_token", error_description="<code>"``, the body's
  ``detail`` being the stable ``code`` (never the message);
* revocation state unknown (``DatabaseUnavailable``, incl. ``VerifierStale``): 503 with
  ``Retry-After`` — it fails closed, never accepting a token it could not check.
"""

# No ``from __future__ import annotations``: FastAPI reads ``__call__``'s annotations at runtime
# (a string "Request" on a callable instance would be taken for a query parameter).
from typing import TYPE_CHECKING

from starlette.exceptions import HTTPException
from starlette.requests import Request

from authcore.errors import DatabaseUnavailable, TokenError

if TYPE_CHECKING:  # pragma: no cover
    from authcore.tokens import Claims
    from authcore.verifier import Verifier

__all__ = ["BearerAuth", "bearer_token"]


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (scheme case-insensitive)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


class BearerAuth:
    """A dependency returning the verified ``Claims`` of the request's bearer token.

    :param verifier: the process's ``Verifier``; ``None``: ``request.app.state.<state_attr>``
        (a verifier created in a FastAPI lifespan).
    :param realm: optional ``realm`` for the ``WWW-Authenticate`` challenge.
    :param retry_after: seconds sent in ``Retry-After`` with a 503.
    """

    def __init__(
        self,
        verifier: "Verifier | None" = None,
        *,
        state_attr: str = "verifier",
        realm: str | None = None,
        retry_after: int = 1,
    ) -> None:
        self.verifier = verifier
        self.state_attr = state_attr
        self._realm = f'realm="{realm}", ' if realm else ""
        self._retry_after = str(retry_after)

    def _challenge(self, error: str | None = None, code: str | None = None) -> dict[str, str]:
        if error is None:
            value = f"Bearer {self._realm}".rstrip(", ").rstrip()
        else:
            value = f'Bearer {self._realm}error="{error}", error_description="{code}"'
        return {"WWW-Authenticate": value}

    async def __call__(self, request: Request) -> "Claims":
        token = bearer_token(request)
        if token is None:
            raise HTTPException(401, "not authenticated", headers=self._challenge())
        verifier = self.verifier or getattr(request.app.state, self.state_attr)
        try:
            return await verifier.averify_access(token)
        except TokenError as exc:
            raise HTTPException(401, exc.code, headers=self._challenge("invalid_token", exc.code)) from None
        except DatabaseUnavailable:
            raise HTTPException(
                503, "authorization temporarily unavailable", headers={"Retry-After": self._retry_after}
            ) from None
