"""The ``authconsole`` command line: thin over authcore, every command takes ``--json``.

Heavy imports (SQLAlchemy, Textual) happen inside the commands that need them, so that
``authconsole tokens decode --no-db`` starts fast.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NoReturn, cast

from authcore.errors import AuthCoreError
from authcore.text import clean, has_surrogates
from console.exitcodes import NAMES, Exit
from console.output import err, err_json

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

    def core(self, *, interactive: bool = False, create: bool = False, operator: bool = True) -> AuthCore:
        """The command's core, built once: every command reaches the database through it (none
        builds an engine). ``interactive`` (the TUI): shorter database bounds, so an operator
        sees an outage within seconds (``authcore.db.INTERACTIVE_*``). ``create``: a missing
        SQLite file is created (``demo`` and ``db upgrade`` only). ``operator=False``: a call
        made for no operator (schema, roles, demo data, the inspector's live lookup): no token
        keys are loaded (a broken key file does not stop them) and no database role is asked."""
        if self._core is None:
            from authcore.core import AuthCore, operator_for

            keyring = None
            if not operator:
                from authcore.keys import KeyRing

                keyring = KeyRing(signing=None, keys=[])
            core = AuthCore.from_config(
                self.config,
                self.args.db,
                read_only=bool(self.args.read_only),
                operator=operator_for(self.config),
                keyring=keyring,
                read_db_url=self.args.read_db,
                create=create,
                interactive=interactive,
            )
            self._core = core
            if core.has_read_replica and not interactive:  # the TUI's header says it instead
                from console.notes import route_reads_notes

                route_reads_notes(self.json)
            # PostgreSQL: the database role wins over [operators]; a command says so (the
            # console shows core.role_note).
            if not operator:
                return core
            if core.use_database_role(self.config.role_prefix) and getattr(self.args, "func", None):
                if self.json:  # stderr stays JSON objects, one per line
                    err_json({"note": clean(core.role_note, max_len=400)})
                else:
                    err(f"note: {core.role_note}")
        return self._core

    def close(self) -> None:
        if self._core is not None:
            self._core.dispose()


Handler = Callable[[Ctx], int]


def _common() -> argparse.ArgumentParser:
    """Options every subcommand accepts (also accepted before the subcommand)."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output")
    p.add_argument(
        "--db",
        default=argparse.SUPPRESS,
        metavar="URL",
        help="database URL (sqlite:///path or postgresql+psycopg://...)",
    )
    p.add_argument(
        "--read-db",
        default=argparse.SUPPRESS,
        metavar="URL",
        help="a hot standby of the database for searches and listings (read_database_url)",
    )
    p.add_argument("--config", default=argparse.SUPPRESS, metavar="PATH", help="config file")
    p.add_argument("--read-only", action="store_true", default=argparse.SUPPRESS, help="refuse every change")
    return p


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2
        # ``prog`` is "authconsole revoke" in a subcommand; ``err`` adds "authconsole: " itself.
        where = self.prog.removeprefix("authconsole").strip()
        raise UsageError(f"{where}: {message}" if where else message)


def build_parser(
    command: str | None = None, common: argparse.ArgumentParser | None = None
) -> argparse.ArgumentParser:
    """The command line's parser. With ``command``, only that command is registered (and only its
    module imported): ``parse`` uses it when the line names one, so that ``tokens decode`` does
    not import the other eight commands' modules nor build their parsers."""
    from console import commands

    common = common or _common()
    parser = _Parser(
        prog="authconsole",
        parents=[common],
        description="Admin console for authcore: users, sessions, tokens, audit. "
        "Without a command it opens the terminal UI.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    # the commands only add parsers and read them as ArgumentParsers (the generic is invariant)
    commands.register(
        cast("argparse._SubParsersAction[argparse.ArgumentParser]", sub),  # noqa: SLF001 - a type
        common,
        only=command,
    )
    return parser


def _command_named(argv: Sequence[str], common: argparse.ArgumentParser) -> str | None:
    """The command ``argv`` names, read with the same common options the parser has (values,
    ``--db=URL``, abbreviations); None when there is none, it is not ours, or a help option
    comes before it (the top-level help lists every command)."""
    from console.commands import MODULES

    pre = _Parser(prog="authconsole", parents=[common], add_help=False)
    pre.add_argument("-h", "--help", action="store_true")
    pre.add_argument("command", nargs="?")
    pre.add_argument("rest", nargs=argparse.REMAINDER)
    try:
        ns, _ = pre.parse_known_args(argv)
    except UsageError:
        return None
    return ns.command if ns.command in MODULES and not ns.help else None


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    argv = list(sys.argv[1:] if argv is None else argv)
    common = _common()
    command = _command_named(argv, common)
    try:
        args = build_parser(command, common).parse_args(argv)
    except UsageError:
        if command is None:
            raise
        # the full parser's own verdict and message (e.g. an abbreviated option read differently)
        args = build_parser(common=common).parse_args(argv)
    for name, default in (
        ("json", False),
        ("db", None),
        ("read_db", None),
        ("config", None),
        ("read_only", False),
    ):
        if not hasattr(args, name):
            setattr(args, name, default)
    return args


def _bad_utf8(argv: Sequence[str]) -> int | None:
    """Index of the first argument that was not valid UTF-8 (Python keeps such bytes as lone
    surrogates, which no output, driver or database accepts)."""
    for i, a in enumerate(argv):
        if has_surrogates(a):
            return i
    return None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in argv
    bad = _bad_utf8(argv)
    if bad is not None:
        return fail(Exit.USAGE, f"argument {bad + 1} is not valid UTF-8", as_json)
    try:
        args = parse(argv)
    except UsageError as exc:
        return fail(Exit.USAGE, str(exc), as_json)
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    ctx = Ctx(args)
    as_json = ctx.json
    handler: Handler | None = getattr(args, "func", None)
    try:
        if handler is None:
            if importlib.util.find_spec("textual") is None:  # an app-only install (no extra)
                err("the console needs: pip install 'authconsole[tui]'")
                return 2
            if not (sys.stdin.isatty() and sys.stdout.isatty()):
                return fail(
                    Exit.USAGE,
                    "the console needs a terminal; for scripts use a command (authconsole --help)",
                    as_json,
                )
            from console.app import run_tui

            return run_tui(ctx)
        return handler(ctx)
    except KeyboardInterrupt:
        return fail(Exit.INTERRUPTED, "interrupted", as_json)
    except BrokenPipeError:
        return Exit.FAILED
    except Exception as exc:  # noqa: BLE001 - a traceback never reaches the operator
        code, message = classify(exc)
        return fail(code, message, as_json)
    finally:
        try:
            ctx.close()
        except Exception:  # noqa: BLE001 - closing must not turn an answer into a traceback
            pass


def fail(code: Exit, message: str, as_json: bool) -> int:
    """Print the one-line error (a JSON object with ``--json``) and return the exit code."""
    if as_json:
        text = clean(message.removeprefix("error: "), max_len=400)
        err_json({"error": text, "code": NAMES[code], "exit": int(code)})
    else:
        err(message)
    return int(code)


def classify(exc: BaseException) -> tuple[Exit, str]:
    """The exit code and one-line message for an exception: the table in console.exitcodes.
    Database errors arrive as ``AuthCoreError``s (``authcore.db.database_error``): nothing here
    looks at driver exceptions."""
    from authcore.errors import (
        ConfigError,
        DatabaseRefused,
        DatabaseUnavailable,
        PermissionDenied,
        ReadOnlyError,
    )

    if isinstance(exc, UsageError):
        return Exit.USAGE, str(exc)
    if isinstance(exc, AuthCoreError):
        code = (
            Exit.CONFIG
            if isinstance(exc, ConfigError)
            else Exit.REFUSED
            if isinstance(exc, ReadOnlyError | PermissionDenied)
            else Exit.DATABASE
            if isinstance(exc, DatabaseUnavailable | DatabaseRefused)
            else Exit.FAILED
        )
        return code, f"error: {exc}"
    if isinstance(exc, OSError) and exc.errno is not None:
        where = f": {exc.filename}" if exc.filename else ""
        return Exit.FILE, f"error: {exc.strerror or type(exc).__name__}{where}"
    return Exit.INTERNAL, f"internal error: {type(exc).__name__}: {_first_line(exc)}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
