"""Neutralising untrusted text before it reaches a terminal.

Emails, usernames, user agents and token claims come from users or attackers. ``clean`` removes
every character a terminal could act on: C0 and C1 controls (ESC included, so no ANSI or OSC
sequence survives), DEL, bidi embeddings/overrides/isolates and zero-width characters. It also
caps the length. Markup neutralisation (Rich/Textual) is the console's job, on top of this.
"""

from __future__ import annotations

import re

from authcore.errors import ValidationError

# C0 (except nothing: tab/newline also go, a cell is one line), DEL, C1, bidi controls,
# zero-width and other invisible formatting characters, line/paragraph separators.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb]")
DEFAULT_MAX = 512


def clean(value: object, max_len: int | None = DEFAULT_MAX) -> str:
    """Return ``value`` as a single line with terminal-active characters removed.

    ``None`` becomes the empty string. Strings longer than ``max_len`` are cut with an ellipsis
    (``max_len=None`` keeps everything).
    """
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    text = _UNSAFE.sub("", text)
    if max_len is not None and len(text) > max_len:
        text = text[: max(max_len - 1, 0)] + "…"
    return text


def has_unsafe(value: str) -> bool:
    """True when ``value`` holds a character that ``clean`` would remove."""
    return bool(_UNSAFE.search(value))


# Refused in stored identifiers (email, username), reasons and user agents: C0 controls (NUL,
# tab, newline, ESC...), DEL, C1 controls, and lone surrogates (bytes that were not UTF-8).
# One rule for both engines: PostgreSQL cannot store NUL at all (psycopg raises DataError) while
# SQLite would keep it, and a stored control character is a terminal escape waiting to happen.
# Both are compiled on first use (``re``'s cache), not at import: a class with code points past
# U+00FF costs about a millisecond to compile, and a command that never stores text (``tokens
# decode``) would pay it at every start.
_CONTROL = "[\x00-\x1f\x7f-\x9f\ud800-\udfff]"
_SURROGATE = "[\ud800-\udfff]"


def has_surrogates(value: str) -> bool:
    """True for text decoded from invalid UTF-8 (``surrogateescape``, as in ``sys.argv``): lone
    surrogates are the only code points UTF-8 cannot encode."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def replace_surrogates(value: str) -> str:
    """``value`` with each lone surrogate replaced by U+FFFD (fit for JSON and any terminal)."""
    return re.sub(_SURROGATE, "\ufffd", value) if has_surrogates(value) else value


def require_plain(value: str, what: str) -> str:
    """Return ``value``, or raise ``ValidationError`` if it holds a control character or
    invalid UTF-8. The message names the field and the position, never echoes the value."""
    m = re.search(_CONTROL, value)
    if m:
        kind = "invalid UTF-8" if has_surrogates(m.group()) else "a control character"
        raise ValidationError(
            f"{what} contains {kind} (at position {m.start() + 1}); control characters are not allowed"
        )
    return value


LIKE_ESCAPE = "\\"  # the escape character of every LIKE pattern authcore builds


def like_escape(term: str) -> str:
    """``term`` with LIKE's wildcards (``%``, ``_``) and the escape character escaped, so
    ``col.like(pattern, escape=LIKE_ESCAPE)`` matches them literally. The one place it is done
    (user search, session filter, bulk queries)."""
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def prefix_successor(prefix: str) -> str:
    """The smallest string greater than every string that starts with ``prefix`` (code point
    order, which is byte order in UTF-8): ``lo <= col < prefix_successor(lo)`` is a prefix match
    an index in that order serves (user search, the session filter)."""
    chars = list(prefix)
    while chars:
        last = ord(chars[-1])
        if last < 0x10FFFF:
            chars[-1] = chr(last + 1 if last + 1 not in range(0xD800, 0xE000) else 0xE000)
            return "".join(chars)
        chars.pop()
    return "\U0010ffff"
