"""``authconsole sessions list [USER] [--active] [--filter TEXT]`` and ``sessions prune``.
Listed sessions show their device (parsed user agent) and, with a GeoIP file configured, where
their address is (``core.devices``); in ``--json`` as ``agent`` and ``location`` (absent without
a file). ``--filter`` is ``authcore.sessions``' one rule, for all users' or one user's list."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING

from console.args import BATCH_MAX, LIMIT_MAX, limit_arg, range_arg
from console.output import emit_json, line, table

if TYPE_CHECKING:
    from authcore.devices import Devices
    from authcore.sessions import SessionRecord
    from console.cli import Ctx


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser("sessions", parents=[common], help="browse and prune sessions")
    ss = p.add_subparsers(dest="sessions_command", metavar="ACTION", required=True)
    ls = ss.add_parser("list", parents=[common], help="a user's sessions, or the newest of all")
    ls.add_argument("user", nargs="?", help="id, email or username (default: all users)")
    ls.add_argument("--active", action="store_true", help="only sessions not expired")
    ls.add_argument(
        "--filter",
        default="",
        help="an IP prefix (10.1. or 2001:db8:), else also user-agent text or a session id; "
        "with USER, among that user's sessions",
    )
    ls.add_argument("--limit", type=limit_arg(), default=50, help=f"1..{LIMIT_MAX} (the newest; default 50)")
    ls.set_defaults(func=list_sessions)
    pr = ss.add_parser("prune", parents=[common], help="delete expired sessions in batches")
    pr.add_argument("--reason", required=True, help="why (recorded in every audit event)")
    pr.add_argument("--yes", action="store_true", help="do not ask")
    pr.add_argument("--dry-run", action="store_true", help="report how many would be deleted; change nothing")
    pr.add_argument(
        "--batch",
        type=range_arg(1, BATCH_MAX, "the batch"),
        default=5000,
        help=f"sessions deleted per transaction, 1..{BATCH_MAX} (default 5000)",
    )
    pr.set_defaults(func=prune)


def _device(devices: Devices, s: SessionRecord) -> list[str]:
    """The DEVICE cell (the parsed user agent; as sent when the rules know nothing of it) and,
    with a GeoIP file, the WHERE cell. Cleaned and cut by ``console.output.table``."""
    dev = devices.of(s)
    device = dev.agent.summary if dev.agent is not None else ""
    cells = [device or s.user_agent or ""]
    if devices.located:
        cells.insert(0, dev.location.long if dev.location is not None else "")
    return cells


def print_sessions(items: Sequence[SessionRecord], devices: Devices, with_email: bool = True) -> None:
    from authcore.timeutil import utcnow

    now = utcnow()
    rows = [
        [
            s.public_id,
            *([s.email or ""] if with_email else []),
            s.created_at.strftime("%Y-%m-%d %H:%M"),
            s.last_seen_at.strftime("%Y-%m-%d %H:%M"),
            s.expires_at.strftime("%Y-%m-%d %H:%M"),
            s.last_ip or "",
            "active" if s.expires_at > now else "expired",
            *_device(devices, s),
        ]
        for s in items
    ]
    heads = [
        "SESSION",
        *(["EMAIL"] if with_email else []),
        "CREATED",
        "LAST SEEN",
        "EXPIRES",
        "IP",
        "STATE",
        *(["WHERE"] if devices.located else []),
        "DEVICE",
    ]
    widths = [20, *([26] if with_email else []), 16, 16, 16, 15, 7, *([32] if devices.located else []), 40]
    if not rows:
        line("  (none)")
        return
    table(rows, heads, widths)


def list_sessions(ctx: Ctx) -> int:
    a = ctx.args
    core = ctx.core()
    devices = core.devices  # a bad geoip_db: its one line, before any query
    if a.user:
        u = core.users.find(a.user)
        items = core.sessions.for_user(u.id, active_only=a.active, limit=a.limit, text=a.filter.strip())
    else:
        items = core.sessions.recent(limit=a.limit, text=a.filter.strip(), active_only=a.active)
    if ctx.json:
        emit_json({"sessions": [devices.session_dict(s) for s in items]})
    else:
        print_sessions(items, devices, with_email=not a.user)
    return 0


def prune(ctx: Ctx) -> int:
    """Revoke's rules: a preview, a terminal or ``--yes``, ``--dry-run``, a reason."""
    from authcore.timeutil import fmt_utc, utcnow
    from console.prompt import confirm_or_refuse

    a = ctx.args
    core = ctx.core()
    cutoff = utcnow()
    n = core.sessions.prune(reason=a.reason, dry_run=True, cutoff=cutoff)
    plan = f"delete {n:,} sessions that expired before {fmt_utc(cutoff, seconds=True)}"
    if not a.dry_run:
        if n:
            confirm_or_refuse(ctx, plan)
        n = core.sessions.prune(
            batch=a.batch, actor=core.actor, client=core.client, reason=a.reason, cutoff=cutoff
        )
    if ctx.json:
        emit_json(
            {
                "pruned": 0 if a.dry_run else n,
                "would_prune": n if a.dry_run else None,
                "dry_run": bool(a.dry_run),
                "expired_before": cutoff.isoformat(),
                "reason": a.reason.strip(),
            }
        )
    elif a.dry_run:
        line("would: " + plan)
    else:
        line(f"done: pruned {n:,} expired sessions")
    return 0
