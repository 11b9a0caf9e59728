"""``AuthCore``: one object that wires the engine, keys and services together.

Apps create one per process::

    core = AuthCore.from_config(load_config())
    session, session_token, pair = core.login(user.id, ip=ip, user_agent=ua)
    core.logout(claims.sid)          # idempotent: False when the session was already gone
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from authcore.actor import operator_identity, os_user
from authcore.config import Config, resolve_database_url
from authcore.errors import PermissionDenied, ReadOnlyError

if TYPE_CHECKING:  # pragma: no cover
    from sqlalchemy import Engine

    from authcore.bulk import BulkRevoker
    from authcore.keys import KeyRing
    from authcore.sessions import SessionRecord
    from authcore.tokens import TokenPair

# The services (and SQLAlchemy, PyJWT, cryptography under them) are imported when an AuthCore is
# built, not with this module: ``operator_for`` and ``Operator`` stay cheap to import, so a tool
# can show who is acting before it pays for the database stack (the console's first frame).


@dataclass(frozen=True)
class Operator:
    """Who is driving an operator tool, and with which role (``None`` = an app, unrestricted)."""

    actor: str
    role: str | None


def operator_for(config: Config) -> Operator:
    """Role from ``[operators]`` by OS user; unlisted users are viewers once the table exists."""
    user = os_user()
    role = config.operators.get(user, "viewer") if config.operators else "admin"
    return Operator(operator_identity(), role)


class Login(NamedTuple):
    """What ``AuthCore.login`` returns: the session, its raw token (shown once) and the pair."""

    session: SessionRecord
    session_token: str
    pair: TokenPair


def is_read_only(read_only: bool, config: Config, role: str | None) -> bool:
    """Asked for (flag), configured (``read_only = true``) or implied by the ``viewer`` role."""
    return bool(read_only or config.read_only or role == "viewer")


class AuthCore:
    def __init__(self, engine: Engine, config: Config | None = None, *, read_only: bool = False,
                 actor: str = "app", role: str | None = None,
                 keyring: KeyRing | None = None) -> None:
        from authcore.keys import KeyRing
        from authcore.revoke import AdminService
        from authcore.sessions import SessionService
        from authcore.tokens import TokenService
        from authcore.users import UserService

        self.engine = engine
        self.config = config or Config()
        self.role = role
        self.read_only = is_read_only(read_only, self.config, role)
        self.actor = actor
        ts = self.config.tokens
        self.keyring = keyring or KeyRing.from_settings(ts, self.config.secret())
        self.users = UserService(engine)
        self.admin = AdminService(engine, ts.access_ttl, actor, self._guard)
        self.sessions = SessionService(engine, ts.refresh_ttl, on_delete=self._session_deleted)
        self.tokens = TokenService(engine, ts, self.keyring)

    @classmethod
    def from_config(cls, config: Config, db_url: str | None = None, *,
                    read_only: bool = False, operator: Operator | None = None,
                    **engine_kw: Any) -> AuthCore:
        from authcore.db import make_engine

        engine = make_engine(resolve_database_url(db_url, config), **engine_kw)
        if operator is None:
            return cls(engine, config, read_only=read_only)
        return cls(engine, config, read_only=read_only, actor=operator.actor, role=operator.role)

    @property
    def bulk(self) -> BulkRevoker:
        """Resumable bulk revocation by query (admin only)."""
        from authcore.bulk import BulkRevoker

        return BulkRevoker(self.engine, self.admin, self.role, self._guard)

    @property
    def url_masked(self) -> str:
        from authcore.db import mask_url

        return mask_url(self.engine.url.render_as_string(hide_password=False))

    def require_write(self, n_users: int = 1) -> None:
        """Raise unless this core may change data (read-only mode, roles; bulk needs admin)."""
        self._guard(n_users)

    def _guard(self, n_users: int) -> None:
        if self.read_only:
            why = "viewer role" if self.role == "viewer" else "read-only mode"
            raise ReadOnlyError(f"refused: this console is in {why}; nothing was changed")
        if n_users > 1 and self.role not in (None, "admin"):
            raise PermissionDenied("bulk operations need the admin role")

    def login(self, user_id: int, *, ip: str | None = None, user_agent: str | None = None,
              ttl: Any = None) -> Login:
        """Log a user in (after the app checked the password): session + token pair bound to it.

        Checks first, writes after: ``ConfigError`` (no signing key), ``NotFound`` (no such
        user) and ``UserDisabled`` leave nothing behind. The session row and ``last_login_at``
        commit in one transaction, under the user's row lock, and the pair carries the
        ``token_version`` read under it. See docs/verifier.md for every exception's HTTP status.
        """
        self.tokens.signing_key()
        session, raw, version = self.sessions.open(user_id, ip=ip, user_agent=user_agent,
                                                   ttl=ttl)
        try:
            pair = self.tokens.issue_pair(user_id, sid=session.public_id, token_version=version,
                                          now=session.created_at)
        except BaseException:  # never leave a session the caller got no tokens for
            self.sessions.end(session.public_id)
            raise
        return Login(session, raw, pair)

    def logout(self, sid: str | None) -> bool:
        """End the session ``sid`` (an access token's ``claims.sid``): idempotent. Returns whether
        this call deleted it; already gone (parallel logouts, an operator's delete) is False,
        never an error. ``SessionService.logout(raw)`` does the same for a session token."""
        return self.sessions.end(sid)

    def _session_deleted(self, conn: Any, user_id: int, sids: list[str]) -> None:
        from authcore import notices
        from authcore.timeutil import utcnow

        notices.publish(conn, utcnow(), "session", [user_id], session_ids=sids)

    def dispose(self) -> None:
        self.engine.dispose()

