"""Interactive confirmation for destructive CLI commands."""

from __future__ import annotations

import sys
from typing import Any

from authcore.errors import ValidationError
from authcore.text import clean


def confirm_or_refuse(ctx: Any, plan: str) -> None:
    """Ask on a terminal unless ``--yes``; refuse when stdin is not a terminal. First authcore
    says whether this core may change anything at all (``AuthCore.require_write``: read-only
    mode, the viewer role; ``ReadOnlyError``, exit 4): a refused operator is not asked to
    confirm a change that cannot happen. The console holds no such rule of its own; the
    services apply the same guard again when they write."""
    ctx.core().require_write()
    if getattr(ctx.args, "yes", False):
        return
    if not sys.stdin.isatty():
        raise ValidationError("refusing to change anything without --yes: stdin is not a terminal")
    sys.stderr.write(f"{clean(plan, max_len=None)}\nProceed? [y/N] ")
    sys.stderr.flush()
    answer = sys.stdin.readline().strip().lower()
    if answer not in ("y", "yes"):
        raise ValidationError("cancelled; nothing was changed")
