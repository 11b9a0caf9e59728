"""Interactive confirmation for destructive CLI commands."""

from __future__ import annotations

import sys
from typing import Any

from authcore.errors import ValidationError
from authcore.text import clean


def confirm_or_refuse(ctx: Any, plan: str) -> None:
    """Ask on a terminal unless ``--yes``; refuse when stdin is not a terminal."""
    if getattr(ctx.args, "yes", False):
        return
    if ctx.core().read_only:
        return  # authcore refuses the change itself, with its own message
    if not sys.stdin.isatty():
        raise ValidationError("refusing to change anything without --yes: stdin is not a terminal")
    sys.stderr.write(f"{clean(plan, max_len=None)}\nProceed? [y/N] ")
    sys.stderr.flush()
    answer = sys.stdin.readline().strip().lower()
    if answer not in ("y", "yes"):
        raise ValidationError("cancelled; nothing was changed")
