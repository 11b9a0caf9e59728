"""``console.cli.parse`` registers only the command a line names: it must read every line as the
parser with every command does (values, errors, help)."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from console import cli
from console.cli import build_parser, main, parse
from console.commands import MODULES, register

LINES = [
    ["tokens", "decode", "--no-db", "--secret-env", "S", "abc"],
    ["--json", "tokens", "decode", "--no-db", "-"],
    ["--db", "sqlite:///x.db", "users", "search", "alice"],
    ["--db=sqlite:///x.db", "--read-only", "sessions", "list", "--active", "7"],
    ["--config", "tokens", "users", "search", "bob"],  # an option's value named like a command
    ["--conf", "tokens", "audit", "list"],  # an abbreviated option takes its value too
    ["--read-db", "sqlite:///r.db", "attention", "--json"],
    ["db", "status"],
    ["revoke", "id:3", "--sessions", "--reason", "lost laptop", "--yes"],
]


def full(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> argparse.Namespace:
    """What the parser with every command registered makes of ``argv``."""
    with monkeypatch.context() as m:
        m.setattr(cli, "_command_named", lambda *_a: None)
        return parse(argv)


def test_each_module_adds_the_command_it_is_named_after() -> None:
    for name in MODULES:
        parser = argparse.ArgumentParser()
        sub = parser.add_subparsers()
        register(sub, argparse.ArgumentParser(add_help=False), only=name)
        assert list(sub.choices) == [name]


@pytest.mark.parametrize("argv", LINES, ids=lambda a: " ".join(a)[:40])
def test_a_named_command_parses_as_with_every_command(
    argv: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    expect = full(argv, monkeypatch)
    assert cli._command_named(argv, cli._common()) == expect.command  # the lazy path ran
    assert vars(parse(argv)) == vars(expect)


def usage_error(argv: list[str], monkeypatch: pytest.MonkeyPatch | None = None) -> str:
    """The one-line error for ``argv``: lazily parsed, or with ``monkeypatch`` by the full parser."""
    run = (lambda: parse(argv)) if monkeypatch is None else (lambda: full(argv, monkeypatch))
    with pytest.raises(cli.UsageError) as info:
        run()
    return str(info.value)


@pytest.mark.parametrize(
    "argv",
    [
        ["tokens", "decode", "--bogus"],
        ["tokens"],
        ["tokns", "decode"],
        ["--db"],
        ["--no-db", "tokens", "decode", "x"],
    ],
)
def test_errors_read_as_with_every_command(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert usage_error(argv) == usage_error(argv, monkeypatch)


def test_help_before_the_command_lists_every_command(capsys: Any) -> None:
    assert main(["-h", "tokens"]) == 0
    out = capsys.readouterr().out
    assert "COMMAND" in out and all(f"    {name} " in out for name in MODULES)
    assert main(["tokens", "decode", "--help"]) == 0
    assert "usage: authconsole tokens decode" in capsys.readouterr().out


def test_the_full_parser_still_has_every_command() -> None:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert list(sub.choices) == list(MODULES)
