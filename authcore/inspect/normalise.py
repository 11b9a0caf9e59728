"""Input handling: the size cap (checked before any other work) and the clean-up of pasted text.

Operators paste tokens with quotes, ``Authorization:``/``Bearer`` prefixes and line breaks from
terminals and logs; ``normalise`` removes those and says what it removed, so the report can note
it instead of calling the input malformed.
"""

from __future__ import annotations

import re
from typing import Any

MAX_SIZE = 65536
_PREFIX = re.compile(r"^(?:authorization\s*:\s*|bearer(?:\s+|$))", re.IGNORECASE)
_WS = re.compile(r"\s+")
_QUOTES_WS = "\"'`\u201c\u201d\u2018\u2019"
TOKEN_CHARS = re.compile(r"[A-Za-z0-9_\-+/=.]*")


def normalise(text: str) -> tuple[str, list[str]]:
    """Strip whitespace, quotes and leading ``Authorization:`` / ``Bearer``; return the token
    text and what was removed (as notes)."""
    notes: list[str] = []
    t = text
    for _ in range(8):
        before = t
        t = t.strip()
        stripped = t.strip(_QUOTES_WS)
        if stripped != t:
            if "quotes" not in notes:
                notes.append("quotes")
            t = stripped.strip()
        m = _PREFIX.match(t)
        if m:
            word = "Authorization:" if m.group(0).lower().startswith("auth") else "Bearer"
            if word not in notes:
                notes.append(word)
            t = t[m.end() :]
        if t == before:
            break
    if any(ch.isspace() for ch in t):
        joined = _WS.sub("", t)
        if joined.count(".") >= 2 and TOKEN_CHARS.fullmatch(joined):
            notes.append("line breaks/spaces inside the token (rejoined)")
            t = joined
    return t, notes


def read_input(text: Any, max_size: int) -> tuple[str | None, int, str | None]:
    """(text, size in bytes, error). The size check comes before any other work."""
    if isinstance(text, bytes | bytearray | memoryview):
        raw = bytes(text)
        if len(raw) > max_size:
            return None, len(raw), "too_large"
        try:
            return raw.decode("utf-8"), len(raw), None
        except UnicodeDecodeError:
            return raw.decode("utf-8", "replace"), len(raw), None
    if not isinstance(text, str):
        return None, 0, f"not text ({type(text).__name__})"
    if len(text) > max_size:
        return None, len(text), "too_large"
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > max_size:
        return None, size, "too_large"
    return text, size, None
