"""``authconsole revoke USER (--all-tokens | --sessions | --session SID) --reason TEXT``."""

from __future__ import annotations

import argparse

from console.output import emit_json, line
from console.prompt import confirm_or_refuse


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("revoke", parents=[common], help="revoke a user's tokens or sessions")
    p.add_argument("user", help="id, email or username")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--all-tokens", action="store_true",
                      help="bump token_version: every refresh token dies now")
    what.add_argument("--sessions", action="store_true", help="delete all the user's sessions")
    what.add_argument("--session", metavar="SID", help="delete one session (public id)")
    p.add_argument("--reason", required=True, help="why (recorded in the audit log)")
    p.add_argument("--yes", action="store_true", help="do not ask")
    p.add_argument("--dry-run", action="store_true", help="report what would change; change nothing")
    p.set_defaults(func=run)


def run(ctx) -> int:  # type: ignore[no-untyped-def]
    from authcore.errors import NotFound

    a = ctx.args
    core = ctx.core()
    user = core.users.find(a.user)
    if a.all_tokens:
        def act(dry: bool):  # type: ignore[no-untyped-def]
            return core.admin.revoke_tokens(user.id, a.reason, dry_run=dry)
    elif a.sessions:
        def act(dry: bool):  # type: ignore[no-untyped-def]
            return core.admin.delete_sessions(user.id, a.reason, dry_run=dry)
    else:
        s = core.sessions.get(a.session)
        if s is None or s.user_id != user.id:
            raise NotFound(f"user {user.id} has no session {a.session[:60]!r}")

        def act(dry: bool):  # type: ignore[no-untyped-def]
            return core.admin.delete_session(a.session, a.reason, dry_run=dry)
    result = act(True)
    if not a.dry_run:
        confirm_or_refuse(ctx, result.summary())
        result = act(False)
    if ctx.json:
        emit_json(result.to_dict())
    else:
        line(("would: " if a.dry_run else "done: ") + result.summary())
    return 0
