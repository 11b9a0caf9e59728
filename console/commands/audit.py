"""``authconsole audit list``, ``audit verify`` (walks the hash chain; ``--seals`` checks
signed checkpoints) and ``audit seal`` / ``audit seal-key`` (authcore.seal)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from console.output import emit_json, line, table

if TYPE_CHECKING:
    from authcore.audit import AuditRecord, ExpectedHead
    from authcore.seal import Seal
    from authcore.userevents import UserEvent
    from console.cli import Ctx


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser("audit", parents=[common], help="the audit log")
    au = p.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    ls = au.add_parser("list", parents=[common], help="newest events first")
    ls.add_argument("--user", default=None, help="id, email or username")
    ls.add_argument("--action", default=None, help="e.g. revoke_tokens, delete_session")
    ls.add_argument("--limit", type=int, default=50)
    ls.add_argument(
        "--user-events",
        action="store_true",
        help="list user events instead (logout, refresh replay and reuse: recorded without the hash chain)",
    )
    ls.set_defaults(func=list_events)
    v = au.add_parser("verify", parents=[common], help="check the hash chain; non-zero if broken")
    v.add_argument(
        "--expect-head",
        action="append",
        default=[],
        metavar="SEQ:HASH",
        type=_head_arg,
        help="a head recorded elsewhere that the chain must contain (repeatable)",
    )
    v.add_argument(
        "--expect-head-file",
        metavar="FILE",
        help="a file of SEQ:HASH lines ('#' comments) the chain must contain",
    )
    v.add_argument(
        "--seals",
        metavar="FILE",
        help="signed checkpoints (audit seal): each "
        "signature must verify and the chain must still hold each sealed head",
    )
    v.add_argument("--pubkey", metavar="FILE", help="the Ed25519 public key of --seals")
    v.set_defaults(func=verify)
    se = au.add_parser(
        "seal",
        parents=[common],
        help="sign the chain's head (seq, hash, time) with an Ed25519 key kept outside the database",
    )
    se.add_argument(
        "--key",
        required=True,
        metavar="FILE",
        help="Ed25519 private key (PEM, mode 0600; make one with audit seal-key)",
    )
    se.add_argument("--out", metavar="FILE", help="append the seal to FILE (default: print it)")
    se.set_defaults(func=seal)
    sk = au.add_parser(
        "seal-key", parents=[common], help="create an Ed25519 seal key (FILE, mode 0600) and FILE.pub"
    )
    sk.add_argument("--out", required=True, metavar="FILE")
    sk.set_defaults(func=seal_key)


def _head_arg(text: str) -> ExpectedHead:
    from authcore.audit import parse_head
    from authcore.errors import ValidationError

    try:
        return parse_head(text)
    except ValidationError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _expected_heads(a: argparse.Namespace) -> list[ExpectedHead]:
    """``--expect-head`` values plus ``--expect-head-file`` lines (a bad file: usage, exit 2)."""
    heads: list[ExpectedHead] = list(a.expect_head)
    if a.expect_head_file is not None:
        from authcore.audit import read_heads_file
        from authcore.errors import ValidationError
        from console.cli import UsageError

        try:
            heads += read_heads_file(a.expect_head_file)
        except ValidationError as e:
            raise UsageError(f"--expect-head-file: {e}") from None
    return heads


def print_events(events: Sequence[AuditRecord]) -> None:
    if not events:
        line("  (none)")
        return
    table(
        [
            [
                e.seq,
                e.at.strftime("%Y-%m-%d %H:%M:%S"),
                e.actor,
                e.action,
                e.target_user_id or "",
                e.target_session or "",
                e.reason,
            ]
            for e in events
        ],
        ["SEQ", "AT (UTC)", "ACTOR", "ACTION", "USER", "SESSION", "REASON"],
        [6, 19, 20, 22, 7, 20, 40],
    )


def print_user_events(events: Sequence[UserEvent]) -> None:
    """User events (``authcore.userevents``), as ``audit list --user-events`` and ``users show``
    print them."""
    if not events:
        line("  (none)")
        return
    table(
        [
            [
                e.id,
                e.at.strftime("%Y-%m-%d %H:%M:%S"),
                e.actor,
                e.action,
                e.target_user_id,
                e.target_session or "",
                e.reason,
            ]
            for e in events
        ],
        ["ID", "AT (UTC)", "ACTOR", "ACTION", "USER", "SESSION", "WHAT"],
        [6, 19, 6, 22, 7, 20, 40],
    )


def list_events(ctx: Ctx) -> int:
    a = ctx.args
    core = ctx.core()
    uid = core.users.find(a.user).id if a.user else None
    if a.user_events:
        own = core.audit.user_events(user_id=uid, action=a.action, limit=max(1, min(a.limit, 1000)))
        if ctx.json:
            emit_json({"user_events": [e.to_dict() for e in own]})
        else:
            print_user_events(own)
        return 0
    events = core.audit.list(user_id=uid, action=a.action, limit=max(1, min(a.limit, 1000)))
    if ctx.json:
        from console.commands.users import _event_dict

        emit_json({"events": [_event_dict(e) for e in events]})
    else:
        print_events(events)
    return 0


def verify(ctx: Ctx) -> int:
    heads = _expected_heads(ctx.args)
    if ctx.args.seals is not None or ctx.args.pubkey is not None:
        return _verify_seals(ctx, heads)
    rep = ctx.core().audit.verify(expect=heads)
    if ctx.json:
        emit_json(
            {
                "ok": rep.ok,
                "checked": rep.checked,
                "head_seq": rep.head_seq,
                "head_hash": rep.head_hash,
                "problem": rep.problem or None,
                "first_bad_seq": rep.first_bad_seq,
                "first_bad_id": rep.first_bad_id,
                "expected_heads": len(heads),
                "expected_heads_found": rep.heads_checked,
            }
        )
    elif rep.ok:
        found = f", {rep.heads_checked} expected head(s) found" if heads else ""
        line(f"audit chain intact: {rep.checked:,} events, head {rep.head_seq}:{rep.head_hash}{found}")
    else:
        line(f"AUDIT CHAIN BROKEN after {rep.checked:,} good events: {rep.problem}")
    return 0 if rep.ok else 1


def _seal_inputs(a: argparse.Namespace) -> tuple[list[Seal], Any]:
    """The seals and the public key (bad files: usage, exit 2, nothing read from the DB)."""
    from authcore import seal as sealing
    from authcore.errors import ValidationError
    from console.cli import UsageError

    if a.seals is None or a.pubkey is None:
        raise UsageError("--seals and --pubkey go together")
    try:
        return sealing.read_seals(a.seals), sealing.load_public_key(a.pubkey)
    except ValidationError as e:
        raise UsageError(str(e)) from None


def _verify_seals(ctx: Ctx, heads: list[ExpectedHead]) -> int:
    seals, pub = _seal_inputs(ctx.args)
    srep, rep = ctx.core().audit.verify_seals(seals, pub, also_expect=heads)
    newest = srep.newest
    if ctx.json:
        emit_json(
            {
                "ok": srep.ok,
                "seals": srep.seals,
                "problem": srep.problem or None,
                "checked": rep.checked if rep else 0,
                "head_seq": rep.head_seq if rep else None,
                "head_hash": rep.head_hash if rep else None,
                "expected_heads_found": rep.heads_checked if rep else 0,
                "newest_seal": {"seq": newest.seq, "hash": newest.hash, "time": newest.time}
                if newest
                else None,
            }
        )
    elif srep.ok and newest is not None and rep is not None:  # ok: the walk ran (seal.verify_seals)
        line(
            f"audit chain intact and sealed: {rep.checked:,} events, head "
            f"{rep.head_seq}:{rep.head_hash}; {srep.seals} seal(s) verified, newest seq "
            f"{newest.seq} at {newest.time}"
        )
    else:
        line(f"AUDIT SEAL CHECK FAILED: {srep.problem}")
    return 0 if srep.ok else 1


def seal(ctx: Ctx) -> int:
    from authcore import seal as sealing
    from authcore.errors import ValidationError
    from console.cli import UsageError

    a = ctx.args
    try:
        key = sealing.load_private_key(a.key)
    except ValidationError as e:
        raise UsageError(str(e)) from None
    s = ctx.core().audit.seal(key)
    if a.out:
        sealing.append_seal(a.out, s)
    if ctx.json:
        emit_json({"seq": s.seq, "hash": s.hash, "time": s.time, "key": s.key, "sig": s.sig, "out": a.out})
    elif a.out:
        line(f"sealed head {s.seq}:{s.hash} at {s.time} (key {s.key}); appended to {a.out}")
    else:
        line(s.to_line())
    return 0


def seal_key(ctx: Ctx) -> int:
    from authcore import seal as sealing

    pub = sealing.generate_key(ctx.args.out)
    if ctx.json:
        emit_json({"key": ctx.args.out, "public_key": str(pub)})
    else:
        line(
            f"seal key written to {ctx.args.out} (mode 0600; keep it off the database host); "
            f"public key: {pub}"
        )
    return 0
