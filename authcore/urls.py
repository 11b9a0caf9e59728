"""Database URLs as text, without importing SQLAlchemy (the console's first frame needs this)."""

from __future__ import annotations


def mask_password(url: str) -> str:
    """``scheme://user:***@host/db``: any password replaced, even one holding ``@`` or ``/``.

    The password ends at the last ``@``; an ``@`` later in the path or query only makes the mask
    cover more, never less."""
    head, sep, rest = url.partition("//")
    at = rest.rfind("@")
    if not sep or at < 0:
        return url
    user, colon, _password = rest[:at].partition(":")
    if not colon or "/" in user:  # no password (a ':' in a path is not one)
        return url
    return f"{head}//{user}:***@{rest[at + 1:]}"
