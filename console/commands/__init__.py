"""Subcommands. Each module has ``register(sub, common)`` that adds its parsers and sets ``func``."""

from __future__ import annotations

import argparse
import importlib

MODULES = ("demo", "db", "users", "sessions", "revoke", "audit", "tokens", "attention", "relay")


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    for name in MODULES:
        importlib.import_module(f"console.commands.{name}").register(sub, common)
