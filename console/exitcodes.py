"""The CLI's exit codes: one table, so every command maps the same condition to the same code.

A predictable condition (bad input, a refusal, a missing file, an unreachable database) always
gets its own code and a one-line reason. ``INTERNAL`` (70, ``EX_SOFTWARE``) is kept for bugs.
README's Commands section shows this table (``tests/test_cli_errors.py`` checks they agree);
``tests/test_errors.py`` checks the code ``console.cli.classify`` gives every ``AuthCoreError``.
"""

from __future__ import annotations

from enum import IntEnum


class Exit(IntEnum):
    OK = 0
    FAILED = 1  # the command ran and said no: not found, invalid value, not confirmed...
    USAGE = 2  # bad arguments (incl. invalid UTF-8), no terminal for the console
    CONFIG = 3  # the config file or environment is unusable, or not private enough
    REFUSED = 4  # read-only mode, the viewer role, a role the action needs, DB privileges
    DATABASE = 5  # database unreachable, missing, without schema, or refusing a statement
    FILE = 6  # the OS refused a file: permission denied, exists, not a directory, full
    INTERNAL = 70  # a bug: please report it
    INTERRUPTED = 130


# The symbolic name printed as ``code`` in ``--json`` errors.
NAMES = {e: e.name.lower() for e in Exit}

DESCRIPTIONS = {
    Exit.OK: "success",
    Exit.FAILED: "the command ran and refused: no such user or session, an invalid value, "
    "not confirmed, a token that is not valid, a broken audit chain, pending "
    "migrations (`db status`)",
    Exit.USAGE: "bad arguments: unknown or missing options, invalid UTF-8, no terminal for the console",
    Exit.CONFIG: "the config file is missing, unreadable, not a regular file, too large, not "
    "valid TOML, holds a bad value, or holds a secret/password but is readable by "
    "others",
    Exit.REFUSED: "not allowed: read-only mode, the viewer role, an action that needs admin, "
    "or the database role lacks the privilege",
    Exit.DATABASE: "the database is unreachable, does not exist (SQLite: only `demo` and "
    "`db upgrade` create one), has no authcore schema, or refused a statement",
    Exit.FILE: "the OS refused a file operation: permission denied, file exists, not a directory, disk full",
    Exit.INTERNAL: "internal error (a bug; never for the conditions above)",
    Exit.INTERRUPTED: "interrupted (ctrl+c)",
}
