"""Argument types shared by the commands: a bad value is argparse's one line and exit 2
(``console.cli._Parser.error``), before any database work, so a command never clamps or
silently reads it as something else."""

from __future__ import annotations

import argparse
from collections.abc import Callable

#: The largest page a list command asks for (``sessions list``, ``audit list``, ``attention``).
LIMIT_MAX = 1000


def int_arg(text: str, low: int, high: int, what: str) -> int:
    """``text`` as a base-10 integer within ``low..high``, else ``ArgumentTypeError``."""
    try:
        n = int(text.strip(), 10)
    except ValueError:
        n = low - 1
    if not low <= n <= high:
        raise argparse.ArgumentTypeError(f"{what} must be an integer {low}..{high}")
    return n


def range_arg(low: int, high: int, what: str) -> Callable[[str], int]:
    """An argparse ``type``: an integer ``low..high`` (``int_arg``); say the range in the help."""

    def parse(text: str) -> int:
        return int_arg(text, low, high, what)

    parse.__name__ = what  # argparse names the type in its own messages
    return parse


def limit_arg(high: int = LIMIT_MAX) -> Callable[[str], int]:
    """The ``--limit`` type of a list command: 1..``high`` (say the range in its help)."""
    return range_arg(1, high, "the limit")


#: Rows or users per transaction (``sessions prune --batch``, ``revoke --batch``).
BATCH_MAX = 100_000
#: Generated demo users (``demo --users``): 100M is past what the bench seeds (10M).
DEMO_USERS_MAX = 100_000_000
