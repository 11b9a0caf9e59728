"""``authconsole revoke USER (--all-tokens | --sessions | --session SID) --reason TEXT``.

Bulk: ``authconsole revoke --query TEXT --all-tokens --reason TEXT`` bumps every user whose email
or username contains TEXT, in resumable batches, after a typed confirmation of the count.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from console.args import BATCH_MAX, range_arg
from console.output import emit_json, line
from console.prompt import confirm_or_refuse

if TYPE_CHECKING:
    from authcore.core import AuthCore
    from authcore.revoke import RevokeResult
    from console.cli import Ctx

#: ``revoke``'s flags -> the registry's kinds (``console.actions.ACTIONS``).
KIND_FOR_FLAG = {"all_tokens": "revoke_tokens", "sessions": "delete_sessions", "session": "delete_session"}


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser("revoke", parents=[common], help="revoke a user's tokens or sessions")
    p.add_argument("user", nargs="?", help="id, email or username")
    p.add_argument(
        "--query", metavar="TEXT", help="bulk: every user whose email or username contains TEXT (admin only)"
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument(
        "--all-tokens", action="store_true", help="bump token_version: every refresh token dies now"
    )
    what.add_argument("--sessions", action="store_true", help="delete all the user's sessions")
    what.add_argument("--session", metavar="SID", help="delete one session (public id)")
    p.add_argument("--reason", required=True, help="why (recorded in the audit log)")
    p.add_argument("--yes", action="store_true", help="do not ask (single user)")
    p.add_argument(
        "--confirm-count",
        type=range_arg(0, 10**10, "the confirmed count"),
        metavar="N",
        help="bulk: the number of matching users, confirming the preview",
    )
    p.add_argument(
        "--batch",
        type=range_arg(1, BATCH_MAX, "the batch"),
        default=1000,
        help=f"bulk: users per transaction, 1..{BATCH_MAX} (default 1000)",
    )
    p.add_argument("--dry-run", action="store_true", help="report what would change; change nothing")
    p.set_defaults(func=run)


def run(ctx: Ctx) -> int:
    from console.cli import UsageError

    a = ctx.args
    if a.query is not None:
        if a.user:
            raise UsageError("give either USER or --query, not both")
        if not a.all_tokens:
            raise UsageError("--query works with --all-tokens only")
        return _bulk(ctx)
    if not a.user:
        raise UsageError("USER is required (or --query for a bulk revoke)")
    if a.session is not None and not a.session.strip():
        raise UsageError("--session needs a session id (the public id `sessions list` shows)")
    return _single(ctx)


def _single(ctx: Ctx) -> int:
    from authcore.errors import NotFound

    a = ctx.args
    core = ctx.core()
    user = core.users.find(a.user)
    kind = next(k for flag, k in KIND_FOR_FLAG.items() if getattr(a, flag) not in (None, False))
    if kind == "delete_session":
        s = core.sessions.get(a.session)
        if s is None or s.user_id != user.id:
            raise NotFound(f"user {user.id} has no session {a.session[:60]!r}")
    return preview_then_commit(ctx, core, kind, user.id, session_id=a.session)


def preview_then_commit(
    ctx: Ctx, core: AuthCore, kind: str, user_id: int, session_id: str | None = None
) -> int:
    """One flow for every audited single-user change (``revoke``, ``users disable|enable``),
    run from the registry the TUI uses too (``console.actions.ACTIONS[kind]``): the preview
    (nothing changes); ``--dry-run`` prints it; otherwise the operator confirms it (``--yes``
    without a terminal) and the commit runs, timed."""
    from console.actions import ACTIONS

    spec = ACTIONS[kind]
    reason = ctx.args.reason
    result = spec.preview(core, user_id, reason, session_id=session_id)
    if ctx.args.dry_run:
        if ctx.json:
            emit_json(result.to_dict())
        else:
            line("would: " + spec.summary(result))
        return 0
    confirm_or_refuse(ctx, spec.summary(result))
    report_committed(
        ctx,
        core,
        result.action,
        user_id,
        lambda: spec.run(core, user_id, reason, dry_run=False, session_id=session_id),
    )
    return 0


def report_committed(
    ctx: Ctx, core: AuthCore, action: str, user_id: int, call: Callable[[], RevokeResult]
) -> None:
    """Commit ``call`` timed by a verifier of this process (``console.propagation``) and say
    what is true: strict verifiers refused within the measured ms, signature-only checks
    accept access tokens until they expire. Shared by ``revoke`` and ``users disable|enable``."""
    from console.propagation import commit_measured, result_text

    result, ms, timeout = commit_measured(core, action, user_id, call)
    if ctx.json:
        emit_json({**result.to_dict(), "propagation_ms": None if ms is None else round(ms, 1)})
    else:
        line("done: " + result_text(result, ms, timeout))


def _bulk(ctx: Ctx) -> int:
    from authcore.errors import ValidationError

    a = ctx.args
    core = ctx.core()
    plan = core.bulk.plan(a.query, a.reason)
    resume = f" (resuming run {plan.run_id}: {plan.already_done:,} already done)" if plan.run_id else ""
    preview = f"{plan.matching:,} users match {a.query!r}{resume}: token_version +1 each"
    if a.dry_run:
        if ctx.json:
            emit_json(
                {
                    "dry_run": True,
                    "query": a.query,
                    "matching": plan.matching,
                    "resume_run": plan.run_id,
                    "already_done": plan.already_done,
                }
            )
        else:
            line("would: " + preview)
        return 0
    if not ctx.json:
        line(preview)
    count = a.confirm_count
    if count is None:
        if not sys.stdin.isatty():
            raise ValidationError(
                f"bulk revoke needs --confirm-count {plan.matching} "
                "(the preview count) when stdin is not a terminal"
            )
        sys.stderr.write(f"Type the number of users to revoke ({plan.matching}) to confirm: ")
        sys.stderr.flush()
        try:
            count = int(sys.stdin.readline().strip().replace(",", ""))
        except ValueError:
            raise ValidationError("cancelled; nothing was changed") from None

    def progress(done: int, total: int) -> None:
        if sys.stderr.isatty():
            sys.stderr.write(f"\r  bumped {done:,}/{total:,}")
            sys.stderr.flush()

    rep = core.bulk.run(a.query, a.reason, confirm_count=count, batch=a.batch, on_batch=progress, plan=plan)
    if sys.stderr.isatty():
        sys.stderr.write("\n")
    if ctx.json:
        emit_json(
            {
                "run_id": rep.run_id,
                "query": rep.query,
                "bumped": rep.bumped,
                "total_done": rep.total_done,
                "resumed": rep.resumed,
            }
        )
    else:
        line(
            f"done: bumped {rep.bumped:,} users in run {rep.run_id}"
            + (f" (resumed; {rep.total_done:,} in the whole run)" if rep.resumed else "")
        )
    return 0
