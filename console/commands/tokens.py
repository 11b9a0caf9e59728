"""``authconsole tokens decode [TOKEN | -]``: the token inspector on the command line.

Exit codes: 0 only for a ``valid`` token, 1 for any other verdict, 2 for bad usage. The raw token
is never printed: the report names it by its SHA-256 fingerprint. With ``--no-db`` neither the
database nor SQLAlchemy is touched (and Textual is never imported here).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from authcore.files import read_regular
from authcore.inspect import MAX_SIZE, InspectionReport, inspect_token
from authcore.text import clean
from console.output import emit_json, line

if TYPE_CHECKING:
    from authcore.inspect import LiveState
    from console.cli import Ctx


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser("tokens", parents=[common], help="inspect tokens")
    tsub = p.add_subparsers(dest="tokens_command", metavar="ACTION", required=True)
    d = tsub.add_parser(
        "decode",
        parents=[common],
        help="decode, verify and explain a token",
        description="Decode, verify and explain a JWT. Reads standard input with '-' or when no "
        "TOKEN is given and stdin is not a terminal (prefer stdin: arguments show up "
        "in process lists and shell history). Exit 0 only for a valid token.",
    )
    d.add_argument(
        "token",
        nargs="?",
        metavar="TOKEN | -",
        help="the token (Bearer/Authorization prefixes and quotes are stripped)",
    )
    d.add_argument(
        "--key",
        action="append",
        default=[],
        metavar="FILE",
        help="a PEM key or certificate, or a JWK file (repeatable)",
    )
    d.add_argument("--jwks", action="append", default=[], metavar="FILE", help="a JWK Set file (repeatable)")
    d.add_argument(
        "--secret-env",
        action="append",
        default=[],
        metavar="NAME",
        help="an HMAC secret read from this environment variable (repeatable)",
    )
    d.add_argument(
        "--alg",
        metavar="ALG",
        default=None,
        help="pin the algorithm for --key/--secret-env keys (e.g. PS256, HS512)",
    )
    d.add_argument(
        "--kid", metavar="KID", default=None, help="the kid for --key/--secret-env keys that have none"
    )
    d.add_argument(
        "--detached-payload",
        metavar="FILE",
        default=None,
        help="the payload of a token with a detached (empty) payload segment",
    )
    d.add_argument(
        "--no-db", action="store_true", help="do not look up live state (no database, no SQLAlchemy import)"
    )
    d.set_defaults(func=decode)


# -- input and keys ---------------------------------------------------------------------------
def _read_input(args: argparse.Namespace) -> str | bytes:
    from console.cli import UsageError

    token: str | None = args.token
    if token is not None and token != "-":  # noqa: S105 - "-" means stdin
        return token
    stdin = sys.stdin
    if token is None and (stdin is None or stdin.isatty()):
        raise UsageError("tokens decode: give a TOKEN, or - to read it from standard input")
    if stdin is None:
        raise UsageError("tokens decode: no standard input")
    buf = getattr(stdin, "buffer", None)
    # Read one byte past the cap: the inspector reports "too large" without reading it all.
    try:
        return buf.read(MAX_SIZE + 1) if buf is not None else stdin.read(MAX_SIZE + 1)
    except (OSError, ValueError) as exc:
        raise UsageError(f"tokens decode: cannot read standard input ({exc})") from None


def _explicit_keys(args: argparse.Namespace, problems: list[str]) -> list[Any]:
    """The keys named on the command line. One that cannot be loaded is a usage error (exit 2);
    the unusable members of a JWK Set are skipped and reported in ``problems``."""
    from authcore.errors import ConfigError
    from authcore.keys import key_from_secret, keys_from_file, keys_from_jwks
    from console.cli import UsageError

    keys: list[Any] = []
    try:
        for f in args.key:
            keys.extend(keys_from_file(Path(f), alg=args.alg, kid=args.kid, skipped=problems))
        for f in args.jwks:
            try:
                doc = json.loads(read_regular(f))
            except OSError as exc:
                raise UsageError(f"--jwks: cannot read {f}: {exc.strerror or exc}") from None
            except (ValueError, RecursionError):
                raise UsageError(f"--jwks: {f} is not valid JSON") from None
            keys.extend(keys_from_jwks(doc, source=Path(f).name, skipped=problems))
        for name in args.secret_env:
            value = os.environ.get(name)
            if not value:
                raise UsageError(f"--secret-env: environment variable {name} is not set")
            keys.append(key_from_secret(value, args.alg or "HS256", args.kid, source=f"secret ${name}"))
    except ConfigError as exc:
        raise UsageError(f"tokens decode: {exc}") from None
    return keys


def _configured(ctx: Ctx, problems: list[str]) -> tuple[Any, list[Any]]:
    """Settings and keys from the config; a broken config or key is reported, not fatal."""
    from authcore.errors import ConfigError
    from authcore.keys import KeyRing

    try:
        config = ctx.config
    except ConfigError as exc:
        problems.append(f"config not used: {exc}")
        return None, []
    try:
        ring = KeyRing.from_settings(config.tokens, config.secret(), skipped=problems)
    except ConfigError as exc:
        problems.append(f"configured keys not used: {exc}")
        return config.tokens, []
    return config.tokens, list(ring.keys) + list(ring.refused)


class _LazyLive:
    """The live lookup through the command's core, built on first use only (no SQLAlchemy
    import until then; ``--no-db`` never builds it). The core loads no token keys: the report's
    keys are the ones ``_configured`` and the options gave."""

    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx

    def __call__(self, user_id: int, sid: str | None) -> LiveState:
        core = self.ctx.core(operator=False)
        return core.live_state(user_id, sid)


# -- the command ------------------------------------------------------------------------------
def decode(ctx: Ctx) -> int:
    from console.cli import UsageError

    args = ctx.args
    problems: list[str] = []
    explicit = _explicit_keys(args, problems)
    detached = None
    if args.detached_payload:
        try:
            detached = read_regular(args.detached_payload, 64 << 20)
        except OSError as exc:
            raise UsageError(
                f"--detached-payload: cannot read {args.detached_payload}: {exc.strerror or exc}"
            ) from None
    text = _read_input(args)
    settings, configured = _configured(ctx, problems)
    live = None if args.no_db else _LazyLive(ctx)
    report = inspect_token(
        text, keys=configured + explicit, settings=settings, live=live, detached_payload=detached
    )
    report.warnings[:0] = problems
    if args.no_db:
        report.live = {"state": "off", "detail": "--no-db: live state not checked"}
    if ctx.json:
        emit_json(report.to_dict())
    else:
        print_report(report)
    return report.exit_code


# -- text output ------------------------------------------------------------------------------
def _value(v: Any, width: int = 200) -> str:
    if isinstance(v, str):
        return clean(v, max_len=width)
    try:
        text = json.dumps(v, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = str(v)
    return clean(text, max_len=width)


def _section(title: str) -> None:
    line("")
    line(title)


def print_report(r: InspectionReport) -> None:
    d = r.to_dict()
    kind = {"jws": "JWS (signed)", "jwe": "JWE (encrypted)", "not_jwt": "not a JWT"}[r.kind]
    line(f"status       {r.status.upper().replace('_', ' ')}: {clean(r.reason, max_len=None)}")
    line(f"token        {kind}, {r.size} characters, sha256 {r.fingerprint or '-'}")
    if r.segments:
        line("segments     " + ", ".join(f"{clean(s['name'])} {s['length']}" for s in r.segments))
    sig = r.signature
    if r.kind == "jws" and (sig.detail or sig.verified is not None):
        if sig.verified is True:
            line(f"signature    {clean(sig.detail, max_len=None)}")
        else:
            state = "NOT verified" if sig.verified is False else "not checked"
            line(f"signature    {state}: {clean(sig.detail, max_len=None)}")
        if sig.verified is not True or len(sig.tried) > 1:
            for tried in sig.tried:
                line(f"             tried {clean(tried, max_len=None)}")
    if d["header"]:
        _section("header")
        for k, v in d["header"].items():
            line(f"  {_value(k, 40)}: {_value(v)}")
    if d["payload"] is not None:
        _section("payload" + (" (detached)" if r.detached else ""))
        for k, v in d["payload"].items():
            line(f"  {_value(k, 40)}: {_value(v)}")
    elif r.payload_type:
        _section(
            f"payload ({r.payload_type}"
            + (f", {r.payload_size} bytes" if r.payload_size is not None else "")
            + ")"
        )
        if r.payload_text:
            line(f"  {_value(r.payload_text, 400)}")
    if r.times:
        _section("times")
        for name, t in r.times.items():
            parts = [t.iso or "-", t.relative or ""]
            if t.note:
                parts.append(f"[{t.note}]")
            line(f"  {name:<9} raw {_value(t.raw, 40)}  " + "  ".join(p for p in parts if p))
    if r.claims:
        _section("claims")
        for name, c in r.claims.items():
            line(f"  {name:<9} {'ok' if c['ok'] else 'FAIL'}  {clean(c['detail'], max_len=None)}")
    _section("live state")
    line(f"  {r.live.get('state', '')}: {clean(r.live.get('detail', ''), max_len=None)}")
    u = r.user
    if u:
        who = f"user {u['id']}" + (f" ({clean(u['email'])})" if u.get("email") else "")
        if not u["exists"]:
            line(f"  {who}: does not exist")
        else:
            line(
                f"  {who}: {'DISABLED' if u['disabled'] else 'active'}, token_version "
                f"{u['token_version']} (token carries {u['token_version_claim']})"
            )
        if u.get("sid"):
            state = {True: "exists", False: "GONE", None: "unknown"}[u.get("session_exists")]
            line(f"  session {clean(u['sid'], max_len=60)}: {state}")
        for p in u.get("problems", []):
            line(f"  ! {clean(p, max_len=None)}")
    if r.consequence:
        line(f"  consequence: {clean(r.consequence, max_len=None)}")
    if r.warnings:
        _section("warnings")
        for w in r.warnings:
            line(f"  - {clean(w, max_len=None)}")
    if r.notes:
        _section("notes")
        for n in r.notes:
            line(f"  - {clean(n, max_len=None)}")
