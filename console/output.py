"""CLI output: JSON that escapes everything, and text lines with untrusted values cleaned."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import Any

from authcore.text import clean


def emit_json(data: Any) -> None:
    """``ensure_ascii`` turns every control, bidi or non-ASCII character into a \\u escape."""
    sys.stdout.write(json.dumps(data, ensure_ascii=True, indent=2, default=str) + "\n")


def line(*parts: Any) -> None:
    sys.stdout.write(" ".join(clean(p, max_len=None) for p in parts) + "\n")


def table(rows: list[list[Any]], headers: list[str], widths: list[int] | None = None) -> None:
    """A plain aligned table; cells are cleaned and cut to their width."""
    widths = widths or [max([len(h)] + [len(clean(r[i])) for r in rows]) for i, h in enumerate(headers)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    sys.stdout.write(fmt.format(*headers).rstrip() + "\n")
    for r in rows:
        cells = [clean(c, max_len=w) for c, w in zip(r, widths, strict=True)]
        sys.stdout.write(fmt.format(*cells).rstrip() + "\n")


def emit_lines(texts: Iterable[str]) -> None:
    """Lines written at once and flushed (a stream's batch: JSON lines, ASCII already), each
    cleaned all the same."""
    sys.stdout.write("".join(clean(t, max_len=None) + "\n" for t in texts))
    sys.stdout.flush()


def emit_csv(rows: list[list[Any]], headers: list[str]) -> None:
    """CSV with a header row; every cell cleaned (no terminal escapes), None as empty."""
    import csv  # here: only ``audit --csv`` writes CSV

    w = csv.writer(sys.stdout, lineterminator="\n")
    w.writerow(headers)
    for r in rows:
        w.writerow([clean(c, max_len=None) for c in r])


def err(message: str) -> None:
    sys.stderr.write(f"authconsole: {clean(message, max_len=400)}\n")


def err_json(obj: dict[str, Any]) -> None:
    """An error as one JSON object on one stderr line (``--json``)."""
    sys.stderr.write(json.dumps(obj, ensure_ascii=True, default=str) + "\n")
