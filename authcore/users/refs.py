"""How operators name users: references (``id:N``, email, username) and the rule for usernames.

The username rule and the reference grammar are two halves of one promise: a new username can
never read as another kind of reference, so a reference names at most the users it says.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, func

from authcore.errors import ValidationError
from authcore.models import users
from authcore.text import clean

MAX_QUERY = 320
USERNAME_MAX = 64
_ID_MAX = 2**63 - 1


def normalize_query(query: str) -> str:
    """Trim, drop control characters and NUL; refuse absurd lengths (references and search
    terms alike)."""
    q = clean(query, max_len=None).strip()
    if len(q) > MAX_QUERY:
        raise ValidationError(f"search term too long ({len(q)} characters, at most {MAX_QUERY})")
    return q


def check_username(username: str) -> None:
    """The rule for new usernames: 1 to 64 characters, never mistaken for another kind of
    reference -- no ``@`` (an email), not all digits (an id), no ``:`` (``id:N``/``email:``
    prefixes), no control or invisible characters (``authcore.text``)."""
    from authcore.text import has_unsafe

    if not username or len(username) > USERNAME_MAX:
        raise ValidationError(f"a username needs 1 to {USERNAME_MAX} characters")
    if "@" in username:
        raise ValidationError("a username may not contain '@' (it would read as an email)")
    if ":" in username:
        raise ValidationError("a username may not contain ':' (it would read as id:N)")
    if username.isdigit():
        raise ValidationError("a username may not be all digits (it would read as an id)")
    if has_unsafe(username):
        raise ValidationError("a username may not contain control or invisible characters")


@dataclass(frozen=True)
class UserRef:
    """A parsed user reference: which fields to compare with which text."""

    text: str
    user_id: int | None = None
    email: str | None = None
    username: str | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        conds: list[ColumnElement[bool]] = []
        if self.user_id is not None:
            conds.append(users.c.id == self.user_id)
        if self.email is not None:
            conds.append(func.lower(users.c.email) == self.email.lower())
        if self.username is not None:
            conds.append(func.lower(users.c.username) == self.username.lower())
        return conds


def parse_ref(ref: str) -> UserRef:
    """How an operator names a user (CLI arguments, console fields; docs/security.md).

    * ``id:N`` -- the id, nothing else; ``email:X`` / ``username:X`` -- that field alone;
    * digits alone -- the id, and also a username equal to them (usernames created before the
      rule in ``check_username``), so such a clash is reported, not resolved;
    * anything else -- email and username, case-insensitively.

    A reference matching more than one user is refused by ``UserService.find``; ``id:N``
    always names exactly one.
    """
    text = normalize_query(str(ref))
    if not text:
        raise ValidationError("empty user reference")
    field, sep, rest = text.partition(":")
    if sep and field.lower() in ("id", "email", "username"):
        rest = rest.strip()
        if not rest:
            raise ValidationError(f"empty {field.lower()} in user reference")
        if field.lower() == "id":
            if not (rest.isascii() and rest.isdigit() and int(rest) <= _ID_MAX):
                raise ValidationError(f"not a user id: {rest[:40]!r}")
            return UserRef(text, user_id=int(rest))
        if field.lower() == "email":
            return UserRef(text, email=rest)
        return UserRef(text, username=rest)
    if text.isascii() and text.isdigit():
        if int(text) > _ID_MAX:
            raise ValidationError(f"not a user id: {text[:40]!r}")
        return UserRef(text, user_id=int(text), username=text)
    return UserRef(text, email=text, username=text)
