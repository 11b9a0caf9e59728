"""Subcommands. Each module has ``register(sub, common)`` that adds its parsers and sets ``func``;
a module is named after the one command it adds (``console.cli`` imports only the module of the
command a line names)."""

from __future__ import annotations

import argparse
import importlib

MODULES = ("demo", "db", "users", "sessions", "revoke", "audit", "tokens", "attention", "relay")


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
    only: str | None = None,
) -> None:
    """Every command's parser, or with ``only`` that command's alone (one of ``MODULES``)."""
    for name in MODULES if only is None else (only,):
        importlib.import_module(f"console.commands.{name}").register(sub, common)
