"""The operator actions (all mutate through ``core.admin``, so authcore audits and guards them).

One table drives the keys, the palette, the confirm dialog and the call itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from authcore.core import AuthCore
    from authcore.revoke import RevokeResult

PREVIEW_REASON = "(preview)"  # dry runs validate a reason too; this one is never stored


@dataclass(frozen=True)
class ActionSpec:
    name: str  # Textual action name on the user screen
    key: str
    title: str  # palette and dialog title
    short: str  # footer label (80 columns hold all of them)
    help: str


ACTIONS: dict[str, ActionSpec] = {
    a.name: a
    for a in (
        ActionSpec(
            "revoke_tokens",
            "R",
            "Revoke all tokens",
            "Revoke",
            "bump token_version: every refresh token of the user stops now",
        ),
        ActionSpec(
            "delete_session",
            "d",
            "Delete session",
            "Del session",
            "delete the highlighted session (logs that device out)",
        ),
        ActionSpec(
            "delete_sessions",
            "D",
            "Delete all sessions",
            "Del all",
            "delete every session of the user (logs every device out)",
        ),
        ActionSpec(
            "disable_user",
            "x",
            "Disable user",
            "Disable",
            "refuse the user's sessions and refresh tokens from now on",
        ),
        ActionSpec("enable_user", "x", "Enable user", "Enable", "let the user log in again"),
    )
}
MUTATING = frozenset(ACTIONS)


def perform(
    core: AuthCore, action: str, user_id: int, reason: str, *, dry_run: bool, session_id: str | None = None
) -> RevokeResult:
    """Run (or with ``dry_run`` plan) ``action`` for a user. Blocking: call it from a worker."""
    admin = core.admin
    if action == "revoke_tokens":
        return admin.revoke_tokens(user_id, reason, dry_run=dry_run)
    if action == "delete_session":
        if not session_id:
            raise ValueError("no session selected")
        return admin.delete_session(session_id, reason, dry_run=dry_run)
    if action == "delete_sessions":
        return admin.delete_sessions(user_id, reason, dry_run=dry_run)
    if action in ("disable_user", "enable_user"):
        return admin.set_disabled(user_id, action == "disable_user", reason, dry_run=dry_run)
    raise ValueError(f"unknown action {action}")
