"""Database URLs as text, without importing SQLAlchemy (the console's first frame needs this)."""

from __future__ import annotations

import re

# ``password=VALUE`` as a URL query parameter (``?user=u&password=S3cret``) or a libpq conninfo
# pair in a driver message (``password=S3cret host=...``, quoted or not): up to the next ``&``,
# ``#`` or whitespace, or the closing quote.
_KEYVAL = re.compile(r"""(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'?|"[^"]*"?|[^&#\s]+)""", re.IGNORECASE)


def mask_password(url: str) -> str:
    """``scheme://user:***@host/db?password=***``: every password replaced, even one holding
    ``@`` or ``/``. The one mask for URLs, and for driver messages that quote a connection string.

    The password ends at the last ``@``; an ``@`` later in the path or query only makes the mask
    cover more, never less. A ``password=`` parameter is masked wherever it appears.
    """
    text = _KEYVAL.sub(r"\1***", url)
    head, sep, rest = text.partition("//")
    at = rest.rfind("@")
    if not sep or at < 0:
        return text
    user, colon, _password = rest[:at].partition(":")
    if not colon or "/" in user:  # no password (a ':' in a path is not one)
        return text
    return f"{head}//{user}:***@{rest[at + 1 :]}"
