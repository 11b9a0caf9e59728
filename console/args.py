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


def limit_arg(high: int = LIMIT_MAX) -> Callable[[str], int]:
    """The ``--limit`` type of a list command: 1..``high`` (say the range in its help)."""

    def limit(text: str) -> int:
        return int_arg(text, 1, high, "the limit")

    return limit
