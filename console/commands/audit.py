"""``authconsole audit list`` (filters; table, JSON lines or CSV), ``audit tail`` (the log as a
stream, ``-f`` follows commits; authcore.auditstream), ``audit verify`` (walks the hash chain;
``--seals`` checks signed checkpoints; ``--file`` re-hashes a shipped copy without the database)
and ``audit seal`` / ``audit seal-key`` (authcore.seal)."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from console.args import LIMIT_MAX, int_arg, limit_arg
from console.exitcodes import Exit
from console.output import emit_csv, emit_json, emit_lines, err, line, table

if TYPE_CHECKING:
    from authcore.audit import AuditRecord, ExpectedHead
    from authcore.auditstream import Bound
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
    ls.add_argument("--action", default=None, type=_text_arg, help="e.g. revoke_tokens, delete_session")
    ls.add_argument("--actor", default=None, type=_text_arg, help="who did it (as recorded, e.g. alice)")
    ls.add_argument(
        "--since",
        default=None,
        type=_bound_arg,
        metavar="SEQ|TIME",
        help="from this event seq (inclusive) or time: 2026-12-03[T10:00], 15m / 2h / 7d ago (UTC)",
    )
    ls.add_argument(
        "--until",
        default=None,
        type=_bound_arg,
        metavar="SEQ|TIME",
        help="up to this event seq (inclusive) or before this time",
    )
    ls.add_argument(
        "--limit", type=limit_arg(), default=50, help=f"1..{LIMIT_MAX} (the newest that match; default 50)"
    )
    ls.add_argument(
        "--format",
        choices=("table", "jsonl", "csv"),
        default="table",
        help="table (newest first); jsonl / csv: one event per line in seq order (docs/audit-stream.md)",
    )
    ls.add_argument(
        "--user-events",
        action="store_true",
        help="list user events instead (logout, refresh replay and reuse: recorded without the hash chain)",
    )
    ls.set_defaults(func=list_events)
    tl = au.add_parser(
        "tail",
        parents=[common],
        allow_abbrev=False,  # --follow never by accident (a fuzzed "--fo" would block)
        help="events after a seq as JSON lines, in seq order; -f follows new commits",
    )
    tl.add_argument("-f", "--follow", action="store_true", help="keep following (ctrl+c or SIGTERM stops)")
    tl.add_argument(
        "--from-seq",
        type=_seq_arg,
        default=None,
        metavar="N",
        help="start after event N (default 0: the whole log); a --state file that exists wins",
    )
    tl.add_argument(
        "--state",
        metavar="FILE",
        help="resume from FILE (SEQ:HASH of the last event written) and keep it updated after each write",
    )
    tl.add_argument(
        "--out",
        metavar="FILE",
        help="append to FILE instead of stdout; FILE is its own state (resumes after its last "
        "line; a line torn by a crash is cut off): nothing lost or repeated even after kill -9",
    )
    tl.add_argument(
        "--poll",
        type=_poll_arg,
        default=0.5,
        metavar="SECS",
        help="SQLite: re-read every SECS (PostgreSQL wakes on NOTIFY); 0.05..60",
    )
    tl.set_defaults(func=tail)
    v = au.add_parser("verify", parents=[common], help="check the hash chain; non-zero if broken")
    v.add_argument(
        "--file",
        metavar="FILE",
        help="check a copy (JSON lines from audit tail / list --format jsonl; - for stdin) "
        "without the database: every hash recomputed, every link checked",
    )
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


def _bound_arg(text: str) -> Bound:
    from authcore.auditstream import parse_bound
    from authcore.errors import ValidationError

    try:
        return parse_bound(text)
    except ValidationError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _text_arg(text: str) -> str:
    """An action or actor name: stored text never holds control characters (authcore.text)."""
    from authcore.text import has_unsafe

    if not text.strip() or has_unsafe(text) or len(text) > 200:
        raise argparse.ArgumentTypeError("not a name (1..200 printable characters)")
    return text.strip()


def _seq_arg(text: str) -> int:
    return int_arg(text, 0, 10**18 - 1, "a seq")


def _poll_arg(text: str) -> float:
    try:
        s = float(text)
    except ValueError:
        s = -1.0
    if not 0.05 <= s <= 60:  # also refuses nan
        raise argparse.ArgumentTypeError("the poll interval must be 0.05..60 seconds")
    return s


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
    from console.cli import UsageError

    a = ctx.args
    if a.format != "table" and ctx.json:
        raise UsageError("audit list: --json and --format are two outputs: choose one")
    if a.user_events and (a.since or a.until or a.actor or a.format != "table"):
        raise UsageError("audit list: --user-events takes only --user, --action and --limit")
    if (
        a.since
        and a.until
        and a.since.seq is not None
        and a.until.seq is not None
        and a.since.seq > a.until.seq
    ):
        raise UsageError("audit list: --since is after --until")
    if a.since and a.until and a.since.at is not None and a.until.at is not None and a.since.at >= a.until.at:
        raise UsageError("audit list: --since is not before --until")
    core = ctx.core()
    uid = core.users.find(a.user).id if a.user else None
    if a.user_events:
        own = core.audit.user_events(user_id=uid, action=a.action, limit=a.limit)
        if ctx.json:
            emit_json({"user_events": [e.to_dict() for e in own]})
        else:
            print_user_events(own)
        return 0
    events = core.audit.list(
        user_id=uid, action=a.action, actor=a.actor, since=a.since, until=a.until, limit=a.limit
    )
    if ctx.json:
        from console.commands.users import _event_dict

        emit_json({"events": [_event_dict(e) for e in events]})
    elif a.format == "jsonl":
        from authcore.auditstream import encode

        for e in reversed(events):
            line(encode(e))
    elif a.format == "csv":
        print_csv(reversed(events))
    else:
        print_events(events)
    return 0


def print_csv(events: Iterable[AuditRecord]) -> None:
    """The stream's fields as CSV (``details`` as compact JSON), in the order given."""
    from authcore.auditstream import FIELDS, event_dict

    cols = [f for f in FIELDS if f != "v"]
    rows = []
    for e in events:
        d = event_dict(e)
        d["details"] = json.dumps(d["details"], ensure_ascii=True, sort_keys=True, separators=(",", ":"))
        rows.append([d[c] for c in cols])
    emit_csv(rows, cols)


class _Stopped(BaseException):
    """SIGTERM or SIGINT reached ``audit tail`` outside a write. Not an ``Exception``: it
    passes every ``except Exception`` (the database layer's error translation) on its way out."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def tail(ctx: Ctx) -> int:
    """Print events after a seq as JSON lines; with ``-f`` follow commits until stopped.

    Nothing lost or repeated across restarts with ``--state``: a batch is written and flushed,
    then the state replaced, with SIGTERM/SIGINT held off in between, and during each read
    (they stop the loop anywhere else). Only SIGKILL inside that window can repeat a batch (at
    most one), which the next line's ``seq`` shows. With ``--out FILE`` even SIGKILL repeats
    nothing: the file is its own state (``auditstream.LineFile``). A database that stops
    answering: without ``-f`` one line and exit 5; with ``-f`` one line, retries with backoff
    (0.5 s doubling to 30 s), one line when back."""
    import signal

    from authcore.auditstream import LineFile, encode, read_state, write_state
    from authcore.errors import DatabaseUnavailable, ValidationError
    from console.cli import UsageError

    a = ctx.args
    if a.out and a.state:
        raise UsageError("audit tail: --out is its own state: --state goes without it")
    start = sink = None
    try:
        if a.state:
            start = read_state(a.state)
        if a.out:
            sink = LineFile(a.out)
            start = sink.last
    except ValidationError as e:
        raise UsageError(f"audit tail: {'--out' if a.out else '--state'}: {e}") from None
    after, after_hash = (start.seq, start.hash) if start else (a.from_seq or 0, None)
    core = ctx.core()
    reader = core.audit.tail(after, after_hash)
    waiter = core.audit.waiter(a.poll) if a.follow else None
    watched = (signal.SIGTERM, signal.SIGINT)

    def stop(signum: int, _frame: Any) -> None:
        raise _Stopped(signum)

    old = {s: signal.signal(s, stop) for s in watched}
    delay, down, reported = 0.5, False, 0
    try:
        while True:
            try:
                resume = reader.last
                # held off during the read too (one bounded query): raised inside the driver,
                # the stop left the pooled connection mid-query, its reset on return failed
                # ("can't change 'autocommit' now") and a clean SIGTERM became exit 5
                signal.pthread_sigmask(signal.SIG_BLOCK, watched)
                try:
                    events = reader.read()
                finally:
                    signal.pthread_sigmask(signal.SIG_UNBLOCK, watched)
                if down:
                    err(f"audit tail: the database answers again; following after seq {resume}")
                    down, delay = False, 0.5
            except DatabaseUnavailable as e:
                if waiter is None:
                    raise
                if not down:
                    err(f"audit tail: {e}; retrying with backoff (up to 30 s)")
                down = True
                waiter.close()
                time.sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            for g in reader.gaps[reported:]:
                err(
                    f"audit tail: warning: seq {g.missing}..{g.resumed - 1} never appeared "
                    f"(deleted? run audit verify); going on at seq {g.resumed}"
                )
            reported = len(reader.gaps)
            if events:
                signal.pthread_sigmask(signal.SIG_BLOCK, watched)
                try:
                    if sink is not None:
                        sink.append(encode(e) for e in events)
                    else:
                        emit_lines(encode(e) for e in events)
                    if a.state:
                        write_state(a.state, reader.last, reader.last_hash or "")
                finally:
                    signal.pthread_sigmask(signal.SIG_UNBLOCK, watched)
                continue
            if reader.holding:
                time.sleep(0.1)
                continue
            if waiter is None:
                return 0
            try:
                waiter.wait()
            except DatabaseUnavailable as e:
                if not down:
                    err(f"audit tail: {e}; retrying with backoff (up to 30 s)")
                down = True
                time.sleep(delay)
                delay = min(delay * 2, 30.0)
    except _Stopped as s:
        return 0 if s.signum == signal.SIGTERM else int(Exit.INTERRUPTED)
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        if waiter is not None:
            waiter.close()
        if sink is not None:
            sink.close()


def verify(ctx: Ctx) -> int:
    heads = _expected_heads(ctx.args)
    if ctx.args.file is not None:
        return _verify_file(ctx, heads)
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


def _verify_file(ctx: Ctx, heads: list[ExpectedHead]) -> int:
    """A shipped copy, checked from the file alone (no database is opened)."""
    from authcore.auditstream import verify_file
    from authcore.errors import ValidationError
    from console.cli import UsageError

    a = ctx.args
    if a.seals is not None or a.pubkey is not None:
        raise UsageError("audit verify: --file checks a copy; --seals/--pubkey check the database")
    try:
        rep = verify_file(a.file, heads)
    except ValidationError as e:
        raise UsageError(f"audit verify: --file: {e}") from None
    if ctx.json:
        emit_json(
            {
                "ok": rep.ok,
                "checked": rep.checked,
                "first_seq": rep.first_seq,
                "last_seq": rep.last_seq,
                "last_hash": rep.last_hash,
                "anchored": rep.anchored,
                "problem": rep.problem or None,
                "first_bad_seq": rep.first_bad_seq,
                "line": rep.line,
                "expected_heads": len(heads),
                "expected_heads_found": rep.heads_checked,
            }
        )
    elif rep.ok:
        anchor = (
            "from the genesis hash"
            if rep.first_seq == 1
            else "from the expected head"
            if rep.anchored
            else "its first link unchecked (it starts mid-chain; "
            f"--expect-head {(rep.first_seq or 1) - 1}:HASH anchors it)"
        )
        line(
            f"file chain intact: {rep.checked:,} events, seq {rep.first_seq}..{rep.last_seq}, "
            f"last {rep.last_seq}:{rep.last_hash}; {anchor}"
        )
    else:
        line(f"AUDIT FILE CHAIN BROKEN after {rep.checked:,} good events: {rep.problem}")
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
