"""``authconsole audit list`` and ``audit verify`` (walks the hash chain)."""

from __future__ import annotations

import argparse

from console.output import emit_json, line, table


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("audit", parents=[common], help="the audit log")
    au = p.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    ls = au.add_parser("list", parents=[common], help="newest events first")
    ls.add_argument("--user", default=None, help="id, email or username")
    ls.add_argument("--action", default=None, help="e.g. revoke_tokens, delete_session")
    ls.add_argument("--limit", type=int, default=50)
    ls.set_defaults(func=list_events)
    v = au.add_parser("verify", parents=[common], help="check the hash chain; non-zero if broken")
    v.add_argument("--expect-head", action="append", default=[], metavar="SEQ:HASH",
                   type=_head_arg, help="a head recorded elsewhere that the chain must contain "
                   "(repeatable)")
    v.add_argument("--expect-head-file", metavar="FILE",
                   help="a file of SEQ:HASH lines ('#' comments) the chain must contain")
    v.set_defaults(func=verify)


def _head_arg(text: str):  # type: ignore[no-untyped-def]
    from authcore.audit import parse_head
    from authcore.errors import ValidationError

    try:
        return parse_head(text)
    except ValidationError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _expected_heads(a):  # type: ignore[no-untyped-def]
    """``--expect-head`` values plus ``--expect-head-file`` lines (a bad file: usage, exit 2)."""
    heads = list(a.expect_head)
    if a.expect_head_file is not None:
        from authcore.audit import read_heads_file
        from authcore.errors import ValidationError
        from console.cli import UsageError

        try:
            heads += read_heads_file(a.expect_head_file)
        except ValidationError as e:
            raise UsageError(f"--expect-head-file: {e}") from None
    return heads


def print_events(events) -> None:  # type: ignore[no-untyped-def]
    if not events:
        line("  (none)")
        return
    table([[e.seq, e.at.strftime("%Y-%m-%d %H:%M:%S"), e.actor, e.action,
            e.target_user_id or "", e.target_session or "", e.reason] for e in events],
          ["SEQ", "AT (UTC)", "ACTOR", "ACTION", "USER", "SESSION", "REASON"],
          [6, 19, 20, 22, 7, 20, 40])


def list_events(ctx) -> int:  # type: ignore[no-untyped-def]
    from authcore import audit

    a = ctx.args
    core = ctx.core()
    uid = core.users.find(a.user).id if a.user else None
    events = audit.list_events(core.engine, user_id=uid, action=a.action,
                               limit=max(1, min(a.limit, 1000)))
    if ctx.json:
        from console.commands.users import _event_dict

        emit_json({"events": [_event_dict(e) for e in events]})
    else:
        print_events(events)
    return 0


def verify(ctx) -> int:  # type: ignore[no-untyped-def]
    from authcore import audit

    heads = _expected_heads(ctx.args)
    rep = audit.verify_chain(ctx.core().engine, expect=heads)
    if ctx.json:
        emit_json({"ok": rep.ok, "checked": rep.checked, "head_seq": rep.head_seq,
                   "head_hash": rep.head_hash, "problem": rep.problem or None,
                   "first_bad_seq": rep.first_bad_seq, "first_bad_id": rep.first_bad_id,
                   "expected_heads": len(heads), "expected_heads_found": rep.heads_checked})
    elif rep.ok:
        found = f", {rep.heads_checked} expected head(s) found" if heads else ""
        line(f"audit chain intact: {rep.checked:,} events, head {rep.head_seq}:{rep.head_hash}"
             f"{found}")
    else:
        line(f"AUDIT CHAIN BROKEN after {rep.checked:,} good events: {rep.problem}")
    return 0 if rep.ok else 1
