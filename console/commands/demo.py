"""``authconsole demo [--users N]``: schema plus realistic demo data, and a key if none is set."""

from __future__ import annotations

import argparse
import secrets
import sys
from typing import TYPE_CHECKING, TextIO

from console.args import DEMO_USERS_MAX, range_arg
from console.output import emit_json, line

if TYPE_CHECKING:
    from console.cli import Ctx


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser("demo", parents=[common], help="create the schema and fill demo data")
    p.add_argument(
        "--users",
        type=range_arg(0, DEMO_USERS_MAX, "the user count"),
        default=1000,
        metavar="N",
        help=f"generated users besides alice, bob and carol, 0..{DEMO_USERS_MAX:,} (default 1000)",
    )
    seed = range_arg(0, 2**63 - 1, "the seed")
    p.add_argument("--seed", type=seed, default=42, help="random seed (default 42)")
    p.set_defaults(func=run)


class Progress:
    """A one-line progress bar on stderr (only on a terminal): users, sessions, rate, ETA."""

    WIDTH = 30

    def __init__(self, stream: TextIO | None = None) -> None:
        import time

        self.stream = stream or sys.stderr
        self.clock = time.monotonic
        self.start = self.clock()
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())

    def __call__(self, done: int, total: int, sessions: int) -> None:
        if not self.enabled:
            return
        elapsed = max(self.clock() - self.start, 1e-9)
        frac = done / total if total else 1.0
        filled = int(self.WIDTH * frac)
        rate = done / elapsed
        eta = (total - done) / rate if rate and done < total else 0.0
        tail = f"eta {eta:,.0f}s" if done < total else f"{elapsed:,.1f}s"
        self.stream.write(
            f"\r  [{'#' * filled}{'.' * (self.WIDTH - filled)}] {frac:4.0%} "
            f"{done:,}/{total:,} users, {sessions:,} sessions, "
            f"{rate:,.0f} users/s, {tail}\x1b[K"
        )
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


def next_command(ctx: Ctx, masked_url: str) -> str:
    """The command that opens the console on what demo just seeded: with the ``--db`` and
    ``--config`` given to demo (a bare ``authconsole`` would open the default database), the
    URL as ``AuthCore.url_masked`` (``authcore.urls.mask_password``: never a password)."""
    import shlex

    words = ["authconsole"]
    if ctx.args.config:
        words += ["--config", shlex.quote(str(ctx.args.config))]
    if ctx.args.db:
        words += ["--db", shlex.quote(masked_url)]
    return " ".join(words)


def run(ctx: Ctx) -> int:
    import os

    from authcore import demo
    from authcore.config import SECRET_ENV, write_secret
    from authcore.core import is_read_only, operator_for
    from authcore.errors import ReadOnlyError, ValidationError

    args = ctx.args
    if args.users < 0:
        raise ValidationError("--users must be 0 or more")
    cfg = ctx.config
    operator = operator_for(cfg)
    if is_read_only(args.read_only, cfg, operator.role):
        why = "the viewer role" if operator.role == "viewer" else "read-only mode"
        raise ReadOnlyError(f"refused: demo writes data and a key, and this is {why}; nothing was changed")
    if os.environ.get(SECRET_ENV):
        key_note = f"signing key: from {SECRET_ENV}"
    elif not cfg.has_signing_key():
        assert cfg.path is not None
        write_secret(cfg.path, secrets.token_urlsafe(48))
        key_note = f"signing key: generated an HS256 secret into {cfg.path} (mode 0600)"
    else:
        key_note = f"signing key: already configured in {cfg.path}"
    core = ctx.core(create=True, operator=False)  # demo and db upgrade are the two that may create
    st = core.maintenance.upgrade()
    named, total = core.maintenance.demo_present()
    if len(named) == len(demo.NAMED_EMAILS):
        summary = None  # a second run: say so plainly, add nothing
    else:
        summary = core.maintenance.seed_demo(
            args.users,
            rng_seed=args.seed,
            refresh_ttl=cfg.tokens.refresh_ttl,
            progress=None if ctx.json else Progress(),
        )
    masked = core.url_masked
    if ctx.json:
        emit_json(
            {
                "database": masked,
                "revision": st.current,
                "users_added": summary.users if summary else 0,
                "sessions_added": summary.sessions if summary else 0,
                "named_users": list(summary.named) if summary else [],
                "already_present": summary is None,
                "users_total": total,
                "config": str(cfg.path),
                "key": key_note,
            }
        )
    else:
        line(f"database: {masked} (schema {st.current})")
        if summary is None:
            line(f"the demo users already exist (alice, bob, carol; {total:,} users in all); nothing added")
        else:
            line(
                f"added {summary.users:,} users and {summary.sessions:,} sessions"
                + (f" (incl. {', '.join(summary.named)})" if summary.named else "")
            )
        line(key_note)
        line(f"next: {next_command(ctx, masked)}   (opens the console; try typing 'ali')")
    return 0
