"""``authconsole users search|show|disable|enable``."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from console.args import limit_arg
from console.output import emit_json, line, table

if TYPE_CHECKING:
    from authcore.audit import AuditRecord
    from authcore.users import UserRecord
    from console.cli import Ctx

#: ``users search --limit``'s top: authcore.users.PAGE_MAX, written here so that the parser needs
#: no SQLAlchemy (tests/test_cli_limits.py checks they agree).
SEARCH_MAX = 500


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser("users", parents=[common], help="find and manage users")
    us = p.add_subparsers(dest="users_command", metavar="ACTION", required=True)
    s = us.add_parser("search", parents=[common], help="search by id, email, username or name prefix")
    s.add_argument("query", help="id, email, username, or a prefix of email/username/name")
    s.add_argument("--limit", type=limit_arg(SEARCH_MAX), default=20, help=f"1..{SEARCH_MAX} (default 20)")
    s.add_argument("--after", default=None, metavar="CURSOR", help="next page (from --json)")
    s.set_defaults(func=search)
    sh = us.add_parser("show", parents=[common], help="one user with sessions and audit")
    sh.add_argument("user", help="id, email or username")
    sh.set_defaults(func=show)
    for name in ("disable", "enable"):
        d = us.add_parser(name, parents=[common], help=f"{name} a user")
        d.add_argument("user", help="id, email or username")
        d.add_argument("--reason", required=True, help="why (recorded in the audit log)")
        d.add_argument("--yes", action="store_true", help="do not ask")
        d.add_argument("--dry-run", action="store_true", help="report only, change nothing")
        d.set_defaults(func=set_disabled, disable=name == "disable")


def _row(u: UserRecord) -> list[object]:
    return [
        u.id,
        u.email,
        u.username,
        u.display_name,
        u.token_version,
        u.active_sessions,
        "yes" if u.disabled else "",
    ]


HEADERS = ["ID", "EMAIL", "USERNAME", "NAME", "TV", "SESS", "DISABLED"]


def search(ctx: Ctx) -> int:
    from authcore.users import Cursor

    a = ctx.args
    after = Cursor.decode(a.after) if a.after else None
    page = ctx.core().users.search(a.query, limit=a.limit, after=after)
    if ctx.json:
        emit_json(
            {"users": [u.to_dict() for u in page.items], "next": page.next.encode() if page.next else None}
        )
    elif not page.items:
        line("no users match")
    else:
        table([_row(u) for u in page.items], HEADERS, [7, 30, 14, 16, 3, 4, 8])
        if page.next:
            line(f"more: --after '{page.next.encode()}'")
    return 0


def show(ctx: Ctx) -> int:
    from authcore.timeutil import fmt_utc

    core = ctx.core()
    devices = core.devices  # a bad geoip_db: its one line, before any query
    u = core.users.find(ctx.args.user)
    sess = core.sessions.for_user(u.id)
    events = core.audit.list(user_id=u.id, limit=10)
    own = core.audit.user_events(user_id=u.id, limit=10)
    if ctx.json:
        emit_json(
            {
                "user": u.to_dict(),
                "sessions": [devices.session_dict(s) for s in sess],
                "audit": [_event_dict(e) for e in events],
                "user_events": [e.to_dict() for e in own],
            }
        )
        return 0
    for label, value in (
        ("id", u.id),
        ("email", u.email),
        ("username", u.username),
        ("name", u.display_name),
        ("token_version", u.token_version),
        ("disabled", fmt_utc(u.disabled_at) if u.disabled else "no"),
        ("created", fmt_utc(u.created_at)),
        ("last login", fmt_utc(u.last_login_at)),
    ):
        line(f"{label:>14}: {value}")
    line(f"sessions ({u.active_sessions} active):")
    from console.commands.sessions import print_sessions

    print_sessions(sess, devices, with_email=False)
    line("recent audit:")
    from console.commands.audit import print_events

    print_events(events)
    line("recent user events (logout, refresh replay and reuse; not hash-chained):")
    from console.commands.audit import print_user_events

    print_user_events(own)
    return 0


def _event_dict(e: AuditRecord) -> dict[str, object]:
    return {
        "seq": e.seq,
        "at": e.at.isoformat(),
        "actor": e.actor,
        "action": e.action,
        "user_id": e.target_user_id,
        "session": e.target_session,
        "reason": e.reason,
        "details": e.details,
        "prev_hash": e.prev_hash,
        "hash": e.hash,
        "client": e.client,
        "db_role": e.db_role,
    }


#: ``users disable|enable`` -> the registry's kinds (``console.actions.ACTIONS``).
KIND_FOR_DISABLE = {True: "disable_user", False: "enable_user"}


def set_disabled(ctx: Ctx) -> int:
    a = ctx.args
    core = ctx.core()
    u = core.users.find(a.user)
    from console.commands.revoke import preview_then_commit

    return preview_then_commit(ctx, core, KIND_FOR_DISABLE[a.disable], u.id)
