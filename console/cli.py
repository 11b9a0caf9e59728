"""The ``authconsole`` command line: thin over authcore, every command takes ``--json``.

Heavy imports (SQLAlchemy, Textual) happen inside the commands that need them, so that
``authconsole tokens decode --no-db`` starts fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from authcore.errors import AuthCoreError
from console.output import err

if TYPE_CHECKING:  # pragma: no cover
    from authcore.config import Config
    from authcore.core import AuthCore


class UsageError(Exception):
    """Bad command-line usage: exit code 2."""


class Ctx:
    """What a command needs: parsed args, the config, and a lazily built ``AuthCore``."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self._config: Config | None = None
        self._core: AuthCore | None = None

    @property
    def json(self) -> bool:
        return bool(getattr(self.args, "json", False))

    @property
    def config(self) -> Config:
        if self._config is None:
            from authcore.config import load_config

            self._config = load_config(self.args.config)
        return self._config

    def database_url(self) -> str:
        from authcore.config import resolve_database_url

        return resolve_database_url(self.args.db, self.config)

    def core(self) -> AuthCore:
        if self._core is None:
            from authcore.core import AuthCore, operator_for

            core = AuthCore.from_config(self.config, self.args.db,
                                        read_only=bool(self.args.read_only),
                                        operator=operator_for(self.config))
            self._core = core
            # PostgreSQL: the database role wins over [operators]; a command says so (the
            # console shows core.role_note).
            if core.use_database_role(self.config.role_prefix) and getattr(self.args, "func",
                                                                            None):
                err(f"note: {core.role_note}")
        return self._core

    def close(self) -> None:
        if self._core is not None:
            self._core.dispose()


Handler = Callable[[Ctx], int]


def _common() -> argparse.ArgumentParser:
    """Options every subcommand accepts (also accepted before the subcommand)."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                   help="machine-readable output")
    p.add_argument("--db", default=argparse.SUPPRESS, metavar="URL",
                   help="database URL (sqlite:///path or postgresql+psycopg://...)")
    p.add_argument("--config", default=argparse.SUPPRESS, metavar="PATH", help="config file")
    p.add_argument("--read-only", action="store_true", default=argparse.SUPPRESS,
                   help="refuse every change")
    return p


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    from console import commands

    common = _common()
    parser = _Parser(prog="authconsole", parents=[common],
                     description="Admin console for authcore: users, sessions, tokens, audit. "
                                 "Without a command it opens the terminal UI.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.register(sub, common)
    return parser


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    args = build_parser().parse_args(argv)
    for name, default in (("json", False), ("db", None), ("config", None), ("read_only", False)):
        if not hasattr(args, name):
            setattr(args, name, default)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = parse(argv)
    except UsageError as exc:
        err(str(exc).removeprefix("authconsole: "))
        return 2
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    ctx = Ctx(args)
    handler: Handler | None = getattr(args, "func", None)
    try:
        if handler is None:
            if not (sys.stdin.isatty() and sys.stdout.isatty()):
                err("the console needs a terminal; for scripts use a command (authconsole --help)")
                return 2
            from console.app import run_tui

            return run_tui(ctx)
        return handler(ctx)
    except UsageError as exc:
        err(str(exc))
        return 2
    except AuthCoreError as exc:
        err(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        err("interrupted")
        return 130
    except BrokenPipeError:
        return 1
    except Exception as exc:  # noqa: BLE001 - a traceback never reaches the operator
        return _unexpected(exc)
    finally:
        ctx.close()


def _unexpected(exc: Exception) -> int:
    try:
        from sqlalchemy.exc import DBAPIError, SQLAlchemyError

        if isinstance(exc, DBAPIError):
            detail = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
            if "no such table" in detail or ("relation" in detail and "does not exist" in detail):
                err("error: the database has no authcore schema; run: authconsole db upgrade")
            else:
                err(f"error: database refused: {detail}")
            return 1
        if isinstance(exc, SQLAlchemyError):
            err(f"error: database: {type(exc).__name__}: {str(exc).splitlines()[0]}")
            return 1
    except ImportError:  # pragma: no cover
        pass
    err(f"internal error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
    return 70


def run_module(args: Any) -> int:  # pragma: no cover - convenience for python -m
    return main(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
