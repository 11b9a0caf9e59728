"""``authconsole demo [--users N]``: schema plus realistic demo data, and a key if none is set."""

from __future__ import annotations

import argparse
import secrets
import sys

from console.output import emit_json, line


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("demo", parents=[common], help="create the schema and fill demo data")
    p.add_argument("--users", type=int, default=1000, metavar="N",
                   help="generated users besides alice, bob and carol (default 1000)")
    p.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    p.set_defaults(func=run)


def _progress(done: int, total: int) -> None:
    if not sys.stderr.isatty():
        return
    width = 30
    filled = int(width * done / total) if total else width
    sys.stderr.write(f"\r  users [{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,}")
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def run(ctx) -> int:  # type: ignore[no-untyped-def]
    from authcore import demo, migrate
    from authcore.config import SECRET_ENV, write_secret
    from authcore.db import make_engine, mask_url
    from authcore.errors import ReadOnlyError, ValidationError

    args = ctx.args
    if args.read_only:
        raise ReadOnlyError("refused: read-only mode; nothing was changed")
    if args.users < 0:
        raise ValidationError("--users must be 0 or more")
    cfg = ctx.config
    key_note = None
    import os

    if os.environ.get(SECRET_ENV):
        key_note = f"signing key: from {SECRET_ENV}"
    elif not cfg.has_signing_key():
        assert cfg.path is not None
        write_secret(cfg.path, secrets.token_urlsafe(48))
        key_note = f"signing key: generated an HS256 secret into {cfg.path} (mode 0600)"
    else:
        key_note = f"signing key: already configured in {cfg.path}"
    url = ctx.database_url()
    engine = make_engine(url)
    try:
        st = migrate.upgrade(engine)
        summary = demo.seed(engine, args.users, rng_seed=args.seed,
                            refresh_ttl=cfg.tokens.refresh_ttl,
                            progress=None if ctx.json else _progress)
    finally:
        engine.dispose()
    masked = mask_url(url)
    if ctx.json:
        emit_json({"database": masked, "revision": st.current, "users_added": summary.users,
                   "sessions_added": summary.sessions, "named_users": list(summary.named),
                   "config": str(cfg.path), "key": key_note})
    else:
        line(f"database: {masked} (schema {st.current})")
        line(f"added {summary.users:,} users and {summary.sessions:,} sessions"
             + (f" (incl. {', '.join(summary.named)})" if summary.named else ""))
        line(key_note)
        line("next: authconsole   (opens the console; try typing 'ali')")
    return 0
