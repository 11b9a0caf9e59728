"""The exceptions authcore raises. Every one carries a one-line, operator-readable message."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # errors is imported by everything; the record type only for annotations
    from authcore.users.records import UserRecord


class AuthCoreError(Exception):
    """Base class: ``str(err)`` is a single line fit for an operator."""


class ConfigError(AuthCoreError):
    """The configuration file or environment is unusable."""


class DatabaseUnavailable(AuthCoreError):
    """The database could not be reached or refused the connection."""


class SchemaBehind(DatabaseUnavailable):
    """The database has no authcore schema, or an older one (a missing table, column or
    function): the fix is ``authconsole db upgrade``. An outage for the operator (nothing works
    until the upgrade), on SQLite and PostgreSQL alike."""


class DatabaseRefused(AuthCoreError):
    """The database is up and refused one statement (a constraint, a value, a trigger's own
    refusal). ``sqlstate``: PostgreSQL's code when there is one, for callers that branch on it.
    Driver errors leave authcore only as this or another ``AuthCoreError`` (``authcore.db``)."""

    def __init__(self, message: str, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


class ConstraintViolation(DatabaseRefused):
    """A unique, foreign-key or check constraint refused the row (``IntegrityError``)."""


class NotFound(AuthCoreError):
    """A user or session does not exist."""


class ValidationError(AuthCoreError):
    """An argument is malformed (missing reason, bad query...)."""


class AmbiguousUser(ValidationError):
    """A user reference matches more than one user; nothing was done.

    ``candidates`` holds the matching ``UserRecord``s (id order) so a caller can list them; the
    message names them by id and asks for ``id:N``.
    """

    def __init__(self, message: str, candidates: tuple[UserRecord, ...] = ()) -> None:
        super().__init__(message)
        self.candidates = candidates


class ReadOnlyError(AuthCoreError):
    """A mutating call was made on a read-only AuthCore."""


class PermissionDenied(AuthCoreError):
    """The operator's role does not allow this action."""


class DatabasePermissionDenied(PermissionDenied):
    """The database refused for lack of a privilege (PostgreSQL 42501: its grants decide; a
    SQLite file the process may not write)."""


class TokenError(AuthCoreError):
    """A token was refused. ``code`` is a stable machine-readable reason."""

    code = "invalid"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class TokenExpired(TokenError):
    code = "expired"


class TokenRevoked(TokenError):
    code = "revoked"


class UserDisabled(TokenError):
    code = "disabled"


class SessionInvalid(TokenError):
    code = "session"


class RefreshReuse(TokenError):
    code = "reuse"
