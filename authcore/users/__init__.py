"""Users: create, look up, resolve operators' references, and search with keyset pages that stay
on an index.

Modules: ``refs`` (the reference grammar and the username rule), ``records`` (``UserRecord``
and how rows become records), ``service`` (``UserService``: create, get, find, search),
``search`` (the named search phases, their statements and the runner).
"""

from authcore.text import prefix_successor
from authcore.users.records import UserRecord
from authcore.users.refs import (
    MAX_QUERY,
    USERNAME_MAX,
    UserRef,
    check_username,
    normalize_query,
    parse_ref,
)
from authcore.users.search import (
    CONTAINS_MIN,
    PAGE_MAX,
    Cursor,
    Explain,
    Page,
    Phase,
    UserSearch,
    fts_phrase,
    like_contains,
)
from authcore.users.service import MAX_CANDIDATES, UserService

__all__ = [
    "CONTAINS_MIN",
    "MAX_CANDIDATES",
    "MAX_QUERY",
    "PAGE_MAX",
    "USERNAME_MAX",
    "Cursor",
    "Explain",
    "Page",
    "Phase",
    "UserRecord",
    "UserRef",
    "UserSearch",
    "UserService",
    "check_username",
    "fts_phrase",
    "like_contains",
    "normalize_query",
    "parse_ref",
    "prefix_successor",
]
