"""authcore.errors: the one exception family that leaves authcore, and what each member means to
an operator: the CLI's exit code (``console.cli.classify``, the table in ``console.exitcodes``)
and whether the TUI treats it as a database outage (``console.workers.describe``).

Every ``AuthCoreError`` subclass defined anywhere in authcore is found by importing the whole
package, so a new one without a deliberate place in the table fails here.
"""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import authcore
from authcore import errors
from authcore.errors import (
    AmbiguousUser,
    AuthCoreError,
    ConfigError,
    DatabaseRefused,
    DatabaseUnavailable,
    NotFound,
    PermissionDenied,
    ReadOnlyError,
    RefreshReuse,
    SessionInvalid,
    TokenError,
    TokenExpired,
    TokenRevoked,
    UserDisabled,
    ValidationError,
)
from console.exitcodes import Exit

# The base classes the exit-code table is written for; every other subclass takes its nearest
# listed ancestor's code.
EXIT_FOR = {
    ConfigError: Exit.CONFIG,
    ReadOnlyError: Exit.REFUSED,
    PermissionDenied: Exit.REFUSED,
    DatabaseUnavailable: Exit.DATABASE,
    DatabaseRefused: Exit.DATABASE,  # up, but refused a statement: not an outage
    NotFound: Exit.FAILED,
    ValidationError: Exit.FAILED,
    TokenError: Exit.FAILED,
    AuthCoreError: Exit.FAILED,
}

TOKEN_CODES = {
    TokenError: "invalid",
    TokenExpired: "expired",
    TokenRevoked: "revoked",
    UserDisabled: "disabled",
    SessionInvalid: "session",
    RefreshReuse: "reuse",
}


def _import_all() -> None:
    """Import every authcore module (an optional integration whose framework is absent is
    skipped; the migration scripts run only under Alembic)."""
    for info in pkgutil.walk_packages(authcore.__path__, "authcore."):
        if info.name.startswith("authcore.migrations"):
            continue
        try:
            importlib.import_module(info.name)
        except ImportError:
            if not info.name.startswith("authcore.integrations."):
                raise


def _subclasses(cls: type) -> list[type]:
    out: list[type] = []
    for sub in cls.__subclasses__():
        out += [sub, *_subclasses(sub)]
    return out


_import_all()
ALL = sorted({AuthCoreError, *_subclasses(AuthCoreError)}, key=lambda c: f"{c.__module__}.{c.__qualname__}")
IDS = [f"{c.__module__}.{c.__qualname__}" for c in ALL]


def _make(cls: type) -> BaseException:
    if issubclass(cls, AmbiguousUser):
        return cls("2 users match 'al'; use id:N", candidates=())
    return cls("the thing went wrong; nothing was changed")


def _expected_exit(cls: type) -> Exit:
    return next(EXIT_FOR[base] for base in cls.__mro__ if base in EXIT_FOR)


def test_the_family_is_found_and_authcore_errors_are_all_in_it() -> None:
    """The discovery really walks the package (not just this module's imports)."""
    names = {c.__qualname__ for c in ALL}
    assert "DatabaseMissing" in names  # authcore.db's, found only by importing the package
    defined_here = {
        obj
        for obj in vars(errors).values()
        if isinstance(obj, type) and issubclass(obj, Exception) and obj.__module__ == errors.__name__
    }
    assert defined_here <= set(ALL)
    assert all(issubclass(c, AuthCoreError) for c in defined_here)


@pytest.mark.parametrize("cls", ALL, ids=IDS)
def test_every_error_has_its_exit_code_and_one_line(cls: type) -> None:
    from console.cli import classify

    exc = _make(cls)
    code, line = classify(exc)
    assert code == _expected_exit(cls), f"{cls.__qualname__} exits {code!r}"
    assert code != Exit.INTERNAL
    assert line == f"error: {exc}" and "\n" not in line


@pytest.mark.parametrize("cls", ALL, ids=IDS)
def test_only_database_unavailability_is_an_outage_in_the_console(cls: type) -> None:
    from console.workers import describe

    problem = describe(_make(cls))
    assert problem.outage is issubclass(cls, DatabaseUnavailable)
    assert "\n" not in problem.message and "unexpected" not in problem.message


def test_refusals_read_as_refusals_in_the_console() -> None:
    from console.workers import describe

    assert describe(ReadOnlyError("refused: read-only mode")).message == "refused: read-only mode"
    assert describe(PermissionDenied("bulk operations need the admin role")).message == (
        "refused: bulk operations need the admin role"
    )


def test_an_error_outside_the_family_is_a_bug_not_a_refusal() -> None:
    """The table does not swallow everything: a plain exception is still INTERNAL."""
    from console.cli import classify

    assert classify(RuntimeError("boom"))[0] == Exit.INTERNAL
    assert classify(KeyError("k"))[0] == Exit.INTERNAL


@pytest.mark.parametrize(("cls", "code"), TOKEN_CODES.items(), ids=[c.__name__ for c in TOKEN_CODES])
def test_token_errors_carry_stable_codes(cls: type[TokenError], code: str) -> None:
    assert cls("refused").code == code
    assert isinstance(cls("refused"), TokenError)


def test_token_codes_are_distinct_and_can_be_overridden_per_instance() -> None:
    assert len(set(TOKEN_CODES.values())) == len(TOKEN_CODES)
    err = TokenError("bad audience", code="audience")
    assert err.code == "audience"
    assert TokenError("x").code == "invalid"  # the override did not leak into the class


def test_ambiguous_user_is_a_validation_error_holding_its_candidates() -> None:
    err = AmbiguousUser("2 users match", candidates=("a", "b"))
    assert isinstance(err, ValidationError)
    assert err.candidates == ("a", "b")
    assert AmbiguousUser("x").candidates == ()
    assert str(err) == "2 users match"
