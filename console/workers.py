"""Worker conventions: every database call runs in a thread worker
``@work(thread=True, exclusive=True, group=..., exit_on_error=False)`` defined on a screen; its
failure reaches ONE handler (``ConsoleScreen.on_worker_state_changed`` -> ``app.worker_failed``)
that turns the exception into one operator-readable line with ``describe``.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.worker import get_current_worker

from authcore.errors import (
    AuthCoreError,
    DatabasePermissionDenied,
    DatabaseUnavailable,
    NotFound,
    PermissionDenied,
    ReadOnlyError,
    ValidationError,
)
from console.navigation import SCREENS

#: Groups whose success proves the database answers (ends an outage): each screen's, as
#: registered in ``console.navigation``.
READ_GROUPS: frozenset[str] = frozenset().union(*(s.read_groups for s in SCREENS.values()))
#: Groups that change data (the user screen's actions, the bulk screen's run).
WRITE_GROUPS = frozenset({"action", "bulk-run"})


@dataclass(frozen=True)
class Problem:
    """What went wrong, in one line, and whether it is a database outage."""

    message: str
    outage: bool = False


def describe(exc: BaseException | None, *, writing: bool = False) -> Problem:
    """One line for the operator; never a traceback. Database errors are ``AuthCoreError``s
    (authcore translates driver errors at its boundary): ``DatabaseUnavailable`` and its
    ``SchemaBehind`` are outages (the banner), everything else a message."""
    prefix = "not done: " if writing else ""
    if exc is None:
        return Problem(prefix + "the operation failed")
    if isinstance(exc, DatabaseUnavailable):
        return Problem(prefix + str(exc), outage=True)
    if isinstance(exc, DatabasePermissionDenied):  # its own words say who refused
        return Problem(prefix + str(exc))
    if isinstance(exc, ReadOnlyError | PermissionDenied):
        return Problem(f"refused: {exc}".replace("refused: refused: ", "refused: "))
    if isinstance(exc, NotFound | ValidationError | AuthCoreError):
        return Problem(prefix + str(exc))
    detail = (str(exc).strip().splitlines() or [""])[0]
    return Problem(f"{prefix}unexpected {type(exc).__name__}" + (f": {detail}" if detail else ""))


def cancelled() -> bool:
    """True inside a worker that a newer one of its group replaced (its answer is stale)."""
    try:
        return get_current_worker().is_cancelled
    except Exception:  # noqa: BLE001 - not in a worker (direct call in a test)
        return False
