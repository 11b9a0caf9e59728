"""The operator actions: ONE registry for the TUI and the CLI.

Each ``ActionSpec`` holds an action's kind (``RevokeResult.action``, the Textual action name),
how it is shown (key, titles, help), the CLI form that runs it, the least role authcore lets run
it, and the one call that runs it (``run``: a dry-run preview or the commit) through
``core.admin``, so authcore guards (read-only, roles) and audits every one. The user screen's
keys, palette, dialog and worker and the ``revoke``/``users disable|enable`` commands all read
this table; ``summary`` is the result's own (``RevokeResult.summary``).

Adding an action: one ``ActionSpec`` here (plus its ``AdminService`` method); the TUI gets its key
and the CLI command maps its flag to the kind. Plain Python: the CLI imports this without Textual.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from authcore.core import AuthCore
    from authcore.revoke import RevokeResult

PREVIEW_REASON = "(preview)"  # dry runs validate a reason too; this one is never stored

#: ``call(core, user_id, session_id, reason, dry_run)``
Call = Callable[["AuthCore", int, "str | None", str, bool], "RevokeResult"]


@dataclass(frozen=True)
class ActionSpec:
    name: str  # the kind: RevokeResult.action, the Textual action name on the user screen
    key: str
    title: str  # palette and dialog title
    short: str  # footer label (80 columns hold all of them)
    help: str
    cli: str  # the command line that runs it
    call: Call
    needs_session: bool = False  # acts on one session (the highlighted one, --session SID)
    #: The role that may run it (``authcore.config.ROLES``): authcore's guard enforces it
    #: (``AuthCore.require_write``: read-only mode and the viewer role refuse every action,
    #: bulk ones need admin; on PostgreSQL the database's grants too); the console uses it
    #: only to shape what it offers.
    role: str = "admin"

    def run(
        self, core: AuthCore, user_id: int, reason: str, *, dry_run: bool, session_id: str | None = None
    ) -> RevokeResult:
        """Plan (``dry_run``: nothing changes) or commit. Blocking: from a worker in the TUI."""
        if self.needs_session and not session_id:
            raise ValueError("no session selected")
        return self.call(core, user_id, session_id, reason, dry_run)

    def preview(
        self, core: AuthCore, user_id: int, reason: str = PREVIEW_REASON, session_id: str | None = None
    ) -> RevokeResult:
        """What it would change (the dialog's and ``--dry-run``'s text: ``summary``)."""
        return self.run(core, user_id, reason, dry_run=True, session_id=session_id)

    @staticmethod
    def summary(result: RevokeResult) -> str:
        return result.summary()


def _set_disabled(disabled: bool) -> Call:
    return lambda core, uid, _sid, reason, dry: core.admin.set_disabled(uid, disabled, reason, dry_run=dry)


ACTIONS: dict[str, ActionSpec] = {
    a.name: a
    for a in (
        ActionSpec(
            "revoke_tokens",
            "R",
            "Revoke all tokens",
            "Revoke",
            "bump token_version: every refresh token of the user stops now",
            "revoke USER --all-tokens",
            lambda core, uid, _sid, reason, dry: core.admin.revoke_tokens(uid, reason, dry_run=dry),
        ),
        ActionSpec(
            "delete_session",
            "d",
            "Delete session",
            "Del session",
            "delete the highlighted session (logs that device out)",
            "revoke USER --session SID",
            lambda core, _uid, sid, reason, dry: core.admin.delete_session(sid or "", reason, dry_run=dry),
            needs_session=True,
        ),
        ActionSpec(
            "delete_sessions",
            "D",
            "Delete all sessions",
            "Del all",
            "delete every session of the user (logs every device out)",
            "revoke USER --sessions",
            lambda core, uid, _sid, reason, dry: core.admin.delete_sessions(uid, reason, dry_run=dry),
        ),
        ActionSpec(
            "disable_user",
            "x",
            "Disable user",
            "Disable",
            "refuse the user's sessions and refresh tokens from now on",
            "users disable USER",
            _set_disabled(True),
        ),
        ActionSpec(
            "enable_user",
            "x",
            "Enable user",
            "Enable",
            "let the user log in again",
            "users enable USER",
            _set_disabled(False),
        ),
    )
}
#: Every Textual action that changes data: the registry's, and the bulk screen's run and resume
#: (``console/screens/bulk.py``: not an ``ActionSpec``, which acts on one user; its call is
#: ``core.bulk.run``, the command line's ``revoke --query``). Read-only mode hides them all.
MUTATING = frozenset(ACTIONS) | {"bulk_revoke", "bulk_resume"}


def perform(
    core: AuthCore, action: str, user_id: int, reason: str, *, dry_run: bool, session_id: str | None = None
) -> RevokeResult:
    """Run (or with ``dry_run`` plan) ``action`` for a user: ``ACTIONS[action].run``."""
    try:
        spec = ACTIONS[action]
    except KeyError:
        raise ValueError(f"unknown action {action}") from None
    return spec.run(core, user_id, reason, dry_run=dry_run, session_id=session_id)
