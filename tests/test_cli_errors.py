"""Issue 11/12: every CLI error is one line with a defined exit code, never 70 for bad input.

The exit codes are one table (``console.exitcodes``), shown in README's Commands section.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.cli import main
from console.exitcodes import DESCRIPTIONS, Exit
from tests.conftest import ROOT

DEFINED = {int(e) for e in Exit} - {int(Exit.INTERNAL)}


def run(capsys, *argv: str) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_readme_lists_every_exit_code() -> None:
    """README's table and the code agree, code for code."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `(\d+)` \| ([^|]+) \|", text, re.MULTILINE))
    assert {int(k) for k in rows} == {int(e) for e in Exit}
    assert set(DESCRIPTIONS) == set(Exit)


def test_subcommand_usage_error_has_one_prefix(capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run(capsys, "revoke", "alice", "--all-tokens")
    assert code == 2 and out == ""
    assert err == "authconsole: revoke: the following arguments are required: --reason\n"
    code, out, err = run(capsys, "--bogus")
    assert code == 2 and err.startswith("authconsole: ") and err.count("authconsole") == 1


@pytest.mark.parametrize(
    ("argv", "exit_code", "name"),
    [
        (["revoke", "alice", "--all-tokens", "--json"], 2, "usage"),
        (["--db", "not a url", "users", "search", "a", "--json"], 1, "failed"),
        (["--json", "--config", "/nonexistent/c.toml", "users", "search", "a"], 3, "config"),
    ],
)
def test_json_errors_are_one_json_object_on_stderr(capsys, argv, exit_code, name) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run(capsys, *argv)
    assert code == exit_code and out == ""
    assert err.count("\n") == 1
    obj = json.loads(err)
    assert obj["code"] == name and obj["exit"] == exit_code and obj["error"]


def test_json_errors_keep_the_exit_codes(db_url, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["--db", db_url, "demo", "--users", "0"]) == 0
    capsys.readouterr()
    for argv, want in (
        (["users", "show", "nobody"], 1),
        (["--read-only", "users", "disable", "bob", "--reason", "x", "--yes"], 4),
    ):
        plain = main(["--db", db_url, *argv])
        capsys.readouterr()
        code, out, err = run(capsys, "--db", db_url, "--json", *argv)
        assert code == plain == want and out == ""
        assert json.loads(err)["exit"] == want


def test_an_empty_session_id_is_a_usage_error(db_url, capsys) -> None:  # type: ignore[no-untyped-def]
    """``revoke USER --session ''`` (found by the random-values test: exit 70, StopIteration)."""
    assert main(["--db", db_url, "demo", "--users", "0"]) == 0
    capsys.readouterr()
    for sid in ("", "   "):
        code, out, err = run(
            capsys, "--db", db_url, "revoke", "alice", "--session", sid, "--reason", "x", "--yes"
        )
        assert code == Exit.USAGE and out == ""
        assert err.count("\n") == 1 and "--session needs a session id" in err


def _cli(args: list[bytes], home: Path, **kw) -> subprocess.CompletedProcess[bytes]:  # type: ignore[no-untyped-def]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTHCONSOLE", "AUTHCORE"))}
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / "cfg"),
        XDG_DATA_HOME=str(home / "d"),
        AUTHCONSOLE_CONFIG=str(home / "config.toml"),
        PYTHONPATH=str(ROOT),
    )
    return subprocess.run(
        [sys.executable, "-m", "console", *args], cwd=ROOT, env=env, capture_output=True, timeout=120, **kw
    )


@pytest.mark.parametrize(
    "argv",
    [
        [b"users", b"search", b"\xff"],
        [b"users", b"show", b"al\xffice"],
        [b"users", b"disable", b"bob", b"--reason", b"\xfe", b"--yes"],
        [b"sessions", b"list", b"--filter", b"\xff"],
        [b"revoke", b"alice", b"--all-tokens", b"--reason", b"x\xff", b"--yes"],
        [b"audit", b"list", b"--user", b"\xff"],
        [b"tokens", b"decode", b"\xff.\xff.\xff", b"--no-db"],
        [b"--db", b"sqlite:////tmp/\xff.db", b"db", b"status"],
        [b"--config", b"/tmp/\xff.toml", b"users", b"search", b"a"],
        [b"demo", b"--users", b"\xff"],
    ],
)
def test_invalid_utf8_argv_is_one_line_exit_2(argv, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Real bytes on a real command line (as a shell passes $'\\xff'), in many commands."""
    r = _cli(argv, tmp_path)
    err = r.stderr.decode("utf-8", "replace")
    assert r.returncode == 2, err
    assert err.count("\n") == 1 and "not valid UTF-8" in err and "Traceback" not in err
    assert not list(tmp_path.glob("**/*.db")) and not (tmp_path / "config.toml").exists()


# -- random command lines ---------------------------------------------------------------------

WORDS = [
    "users",
    "search",
    "show",
    "disable",
    "enable",
    "sessions",
    "list",
    "prune",
    "revoke",
    "audit",
    "verify",
    "db",
    "status",
    "upgrade",
    "demo",
    "tokens",
    "decode",
    "--json",
    "--limit",
    "--after",
    "--reason",
    "--yes",
    "--dry-run",
    "--all-tokens",
    "--sessions",
    "--session",
    "--query",
    "--confirm-count",
    "--active",
    "--filter",
    "--user",
    "--action",
    "--users",
    "--no-db",
    "--batch",
    "--read-only",
    "--config",
    "--db",
    "-",
    "alice",
    "bob",
    "1",
    "0",
    "-1",
    "99999999999999999999",
    "ses_x",
    "@example.com",
    "/dev/zero",
    "/tmp",
    "sqlite:////nonexistent/x.db",
    "postgresql+psycopg://u:pw@127.0.0.1:99999/x",
    "7",
]
ARG = st.one_of(
    st.sampled_from(WORDS), st.text(max_size=30), st.binary(max_size=12).map(os.fsdecode)
)  # bytes as Python decodes argv
COMMANDS = [
    [],
    ["users", "search"],
    ["users", "show"],
    ["users", "disable"],
    ["users", "enable"],
    ["sessions", "list"],
    ["sessions", "prune"],
    ["revoke"],
    ["audit", "list"],
    ["audit", "verify"],
    ["db", "status"],
    ["tokens", "decode"],
]


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(command=st.sampled_from(COMMANDS), argv=st.lists(ARG, max_size=6))
def test_random_argv_gives_a_defined_exit_and_one_line(
    command: list[str], argv: list[str], tmp_path: Path, capsys, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """Any command line: a defined exit code (never 70), no traceback, at most one stderr line,
    and no database file appears (nothing here may create one but demo/db upgrade, and those
    only in an existing directory). ``--help`` output is exempt from the one-line rule."""
    db = tmp_path / "random.db"
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    argv = [
        "--db",
        f"sqlite:///{db}",
        *command,
        *[a.replace("\x00", "") for a in argv if a not in ("demo", "upgrade", "--db")],
    ]
    try:
        code = main(argv)
    except SystemExit as exc:  # pragma: no cover - main never exits itself
        pytest.fail(f"SystemExit({exc.code}) from {argv!r}")
    out, err = capsys.readouterr()
    assert code in DEFINED, (argv, err)
    assert "Traceback" not in err and "internal error" not in err, (argv, err)
    assert err.count("\n") <= 1, (argv, err)
    assert not db.exists(), argv


VALUE = st.one_of(
    st.sampled_from(["alice", "bob", "alice@example.com", "1", "2", "id:1", "ses_x", "10.0.0", "UA", "x"]),
    st.text(max_size=12),
    st.binary(max_size=8).map(os.fsdecode),
)
SHAPES = [  # valid command shapes; the values are random
    lambda v: ["users", "search", v[0], "--limit", "5"],
    lambda v: ["users", "show", v[0]],
    lambda v: ["users", "disable", v[0], "--reason", v[1], "--yes"],
    lambda v: ["users", "enable", v[0], "--reason", v[1], "--yes"],
    lambda v: ["revoke", v[0], "--all-tokens", "--reason", v[1], "--yes"],
    lambda v: ["revoke", v[0], "--sessions", "--reason", v[1], "--dry-run"],
    lambda v: ["revoke", v[0], "--session", v[2], "--reason", v[1], "--yes"],
    lambda v: ["revoke", "--query", v[0], "--all-tokens", "--reason", v[1], "--dry-run"],
    lambda v: ["sessions", "list", v[0], "--active"],
    lambda v: ["sessions", "list", "--filter", v[0]],
    lambda v: ["sessions", "prune", "--reason", v[1], "--yes"],
    lambda v: ["audit", "list", "--user", v[0], "--action", v[2]],
    lambda v: ["tokens", "decode", v[0]],
]


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(shape=st.sampled_from(SHAPES), values=st.lists(VALUE, min_size=3, max_size=3), json_flag=st.booleans())
def test_random_values_on_a_real_database(
    shape, values: list[str], json_flag: bool, core, db_url: str, capsys, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """Valid command shapes with random values (text, undecodable bytes) on a database of each
    engine holding alice and bob, writes allowed: a defined exit code, never 70, one line."""
    if not getattr(core, "_seeded", False):
        from datetime import timedelta

        for name in ("alice", "bob"):
            u = core.users.create(f"{name}@example.com", name)
            core.sessions.create(u.id, ip="10.0.0.1", user_agent="UA")
            core.sessions.create(u.id, ttl=timedelta(microseconds=1))
        core._seeded = True
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    argv = [
        "--db",
        db_url,
        *(["--json"] if json_flag else []),
        *shape([v.replace("\x00", "") for v in values]),
    ]
    code = main(argv)
    out, err = capsys.readouterr()
    assert code in DEFINED, (argv, err)
    assert "Traceback" not in err and "internal error" not in err, (argv, err)
    assert err.count("\n") <= 1, (argv, err)
