"""The one revocation model: its kinds, its notice, and the rule that refuses a token.

* ``Kind``: what a revocation notice says happened. ``RULES`` gives each kind its rule: whether
  its notice names users (with their new ``token_version``) or one user's deleted sessions, what
  it does to the disabled flag, and what it makes refused (``Reason``).
* ``Notice``: one revocation in one format, written two ways from the same fields: the rows of
  the ``revocations`` table (SQLite verifiers poll it; on PostgreSQL it records what was sent)
  and the JSON payloads of ``NOTIFY authcore_revocations`` (``{"k": kind, "u": [ids], "v":
  [versions]}``, or ``{"k": "session", "u": id, "s": [sids]}``). This is the format migration
  0004's SQL functions write too, so notices stored or sent before keep decoding.
* ``refusal(claims, state)``: whether a token is refused given the live state of its user and
  session (``State``), and with which ``TokenError``. ``reasons`` lists every reason (the
  inspector shows them all). The verifier's cache, the per-request database check, refresh and
  the inspector's live verdict all judge with it.

Adding a kind takes this module and its writer, nothing else:

1. here: a ``Kind`` member (its value fits ``revocations.kind``, ``String(16)``) and its ``Rule``
   in ``RULES`` (a new way to be refused is a new ``Reason``, decided in ``_judge`` and given its
   error in ``_ERRORS``);
   ``tests/test_revocation.py`` fails until every kind has a rule, a round trip through both
   encodings and, applied to a verifier cache, the refusal its rule promises;
2. its writer: the authcore call that changes the rows and calls ``notices.publish`` with the
   kind in the same transaction (``revoke.AdminService`` for operator actions: the method, its
   ``RevokeResult.summary`` line and its entry in ``revoke.PUBLISHES``; plus a SECURITY DEFINER
   function, i.e. a migration, if PostgreSQL roles without write rights must perform it).

The verifier (cache, LISTEN, poll), ``tokens`` (strict checks, refresh), the inspector's live
verdict and the console's propagation text read the model and need no change. (Exposing a new
operator action in the TUI and CLI is the console's action registry, which is not about kinds.)
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from authcore.errors import SessionInvalid, TokenError, TokenRevoked, UserDisabled

SIDS_PER_NOTICE = 100  # NOTIFY payloads stay far below PostgreSQL's 8000-byte limit
USERS_PER_NOTICE = 500


class Kind(StrEnum):
    """What a revocation notice says happened (the ``revocations.kind`` column, ``"k"``)."""

    VERSION = "version"  # token_version bumped: every token issued before is refused
    DISABLED = "disabled"  # the user disabled (and bumped): every token refused while disabled
    ENABLED = "enabled"  # the user enabled again: the flag only, earlier tokens stay refused
    SESSION = "session"  # sessions deleted: tokens bound to them are refused


class Reason(StrEnum):
    """Why a token is refused, in the order the checks run (``refusal`` reports the first)."""

    NO_USER = "no_user"
    DISABLED = "disabled"
    VERSION = "version"
    SESSION_ENDED = "session_ended"  # deleted
    SESSION_EXPIRED = "session_expired"


@dataclass(frozen=True)
class Rule:
    """What a notice of one kind does to the live state, and what it makes refused."""

    sessions: bool  # the notice names one user's sessions (else users and their versions)
    disabled: bool | None  # the disabled flag afterwards (None: unchanged)
    refuses: Reason | None  # what tokens issued before it are refused for (None: nothing)


RULES: dict[Kind, Rule] = {
    Kind.VERSION: Rule(sessions=False, disabled=None, refuses=Reason.VERSION),
    Kind.DISABLED: Rule(sessions=False, disabled=True, refuses=Reason.DISABLED),
    Kind.ENABLED: Rule(sessions=False, disabled=False, refuses=None),
    Kind.SESSION: Rule(sessions=True, disabled=None, refuses=Reason.SESSION_ENDED),
}


# A kind by its text: a dict lookup, where ``Kind(value)`` is a Python-level call (~0.6 µs warm,
# tens of µs in a verifier process woken by a notice, whose caches are cold).
_KINDS: dict[str, Kind] = {k.value: k for k in Kind}


def _kind(value: Any) -> Kind:
    k = _KINDS.get(value) if type(value) is str else None
    if k is not None:
        return k
    try:
        return Kind(value)
    except ValueError:
        raise ValueError(f"unknown revocation kind {str(value)[:40]!r}") from None


def rule(kind: str) -> Rule | None:
    """The rule of ``kind``; None for a kind this authcore does not know (a newer writer's)."""
    try:
        return RULES[Kind(kind)]
    except ValueError:
        return None


# -- the notice ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Notice:
    """One revocation: ``kind`` and the users (with versions, ``None`` = unknown: reload) or one
    user's deleted sessions it concerns."""

    kind: Kind
    user_ids: tuple[int, ...]
    versions: tuple[int | None, ...] = ()
    session_ids: tuple[str, ...] = ()

    @classmethod
    def of(
        cls,
        kind: Kind | str,
        user_ids: Sequence[int],
        versions: Sequence[int | None] | None = None,
        session_ids: Iterable[str] = (),
    ) -> Notice:
        """A notice from a writer's values; a session notice concerns ``user_ids[0]``."""
        return cls(*_fields(kind, user_ids, versions, session_ids))

    @staticmethod
    def rows_of(
        at: Any,
        kind: Kind | str,
        user_ids: Sequence[int],
        versions: Sequence[int | None] | None = None,
        session_ids: Iterable[str] = (),
    ) -> list[tuple[Any, str, int, int | None, str | None]]:
        """``Notice.of(kind, user_ids, versions, session_ids).rows(at)`` without building the
        notice (a frozen dataclass: ~7k instructions), for a writer that sends rows only
        (SQLite: verifiers poll the table)."""
        return _rows(at, *_fields(kind, user_ids, versions, session_ids))

    @property
    def empty(self) -> bool:
        return not (self.session_ids if RULES[self.kind].sessions else self.user_ids)

    # table rows: (at, kind, user_id, token_version, session_id)
    def rows(self, at: Any) -> list[tuple[Any, str, int, int | None, str | None]]:
        """The ``revocations`` rows (columns ``at, kind, user_id, token_version, session_id``)."""
        return _rows(at, self.kind, self.user_ids, self.versions, self.session_ids)

    @classmethod
    def from_rows(cls, rows: Sequence[Any]) -> Notice:
        """The notice of one group of rows (see ``group_rows``); ``ValueError`` for an unknown kind."""
        r0 = rows[0]
        k = _kind(r0.kind)
        if RULES[k].sessions:
            return cls(k, (int(r0.user_id),), (), tuple(str(r.session_id) for r in rows))
        return cls(
            k,
            tuple(int(r.user_id) for r in rows),
            tuple(None if r.token_version is None else int(r.token_version) for r in rows),
        )

    # NOTIFY payloads
    def payloads(self) -> list[str]:
        """The NOTIFY payloads, at most ``SIDS_PER_NOTICE`` sessions or ``USERS_PER_NOTICE``
        users each."""
        k = self.kind.value
        if RULES[self.kind].sessions:
            uid, sids = self.user_ids[0], list(self.session_ids)
            parts: list[dict[str, Any]] = [
                {"k": k, "u": uid, "s": sids[i : i + SIDS_PER_NOTICE]}
                for i in range(0, len(sids), SIDS_PER_NOTICE)
            ]
        else:
            us, vs, step = list(self.user_ids), list(self.versions), USERS_PER_NOTICE
            parts = [{"k": k, "u": us[i : i + step], "v": vs[i : i + step]} for i in range(0, len(us), step)]
        return [json.dumps(p, separators=(",", ":")) for p in parts]

    @classmethod
    def decode(cls, payload: str) -> Notice:
        """One NOTIFY payload; ``ValueError`` when it is unreadable or of an unknown kind."""
        try:
            p = json.loads(payload)
            raw = p["k"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"unreadable revocation notice ({type(exc).__name__})") from None
        k = _kind(raw)
        try:
            if RULES[k].sessions:
                return cls(k, (int(p["u"]),), (), tuple(map(str, p["s"])))
            uids = tuple(map(int, p["u"]))
            versions = tuple([None if v is None else int(v) for v in p["v"]])
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"unreadable revocation notice ({type(exc).__name__})") from None
        if len(versions) != len(uids):
            raise ValueError("unreadable revocation notice (one version per user)")
        return cls(k, uids, versions)


def _fields(
    kind: Kind | str,
    user_ids: Sequence[int],
    versions: Sequence[int | None] | None,
    session_ids: Iterable[str],
) -> tuple[Kind, tuple[int, ...], tuple[int | None, ...], tuple[str, ...]]:
    """``Notice.of``'s fields, checked: ``(kind, user_ids, versions, session_ids)``."""
    k = kind if type(kind) is Kind else Kind(kind)  # Kind(member) is a Python-level call
    if RULES[k].sessions:
        return k, (user_ids[0],), (), tuple(session_ids)
    vs = tuple(versions) if versions is not None else (None,) * len(user_ids)
    if len(vs) != len(user_ids):
        raise ValueError("one version per user")
    return k, tuple(user_ids), vs, ()


def _rows(
    at: Any,
    kind: Kind,
    user_ids: tuple[int, ...],
    versions: tuple[int | None, ...],
    session_ids: tuple[str, ...],
) -> list[tuple[Any, str, int, int | None, str | None]]:
    """A notice's ``revocations`` rows (``Notice.rows``)."""
    k = kind._value_  # .value is a Python-level descriptor
    if RULES[kind].sessions:
        uid = user_ids[0]
        return [(at, k, uid, None, s) for s in session_ids]
    if len(user_ids) == 1 and len(versions) == 1:  # one user (a single bump): no comprehension
        return [(at, k, user_ids[0], versions[0], None)]
    return [(at, k, u, v, None) for u, v in zip(user_ids, versions, strict=True)]


def group_rows(rows: Sequence[Any]) -> Iterator[list[Any]]:
    """Consecutive ``revocations`` rows of one revocation: same kind and time (and, for a kind
    that names sessions, the same user). Rows come in id order."""
    group: list[Any] = []
    for r in rows:
        if group:
            g0 = group[0]
            r_rule = rule(r.kind)
            if (
                r.kind != g0.kind
                or r.at != g0.at
                or (r_rule is not None and r_rule.sessions and r.user_id != g0.user_id)
            ):
                yield group
                group = []
        group.append(r)
    if group:
        yield group


# -- the refusal rule ---------------------------------------------------------------------------
class TokenFacts(Protocol):
    """What the rule reads from a token (``tokens.Claims`` has it)."""

    @property
    def token_version(self) -> int | None: ...

    @property
    def sid(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Facts:
    """``TokenFacts`` for a token that is not a verified ``Claims`` (the inspector's)."""

    token_version: int | None
    sid: str | None


@dataclass(slots=True)  # not frozen: built per verification, and a frozen __init__ costs ~4x
class State:
    """The live revocation state a token is judged against: its user and its session.

    ``version``: the user's ``token_version`` (None: unknown, not judged). ``session_ended``:
    the token's session is known to be deleted. ``session_expires``: its expiry (epoch seconds)
    when it is known to be live.
    """

    exists: bool = True
    disabled: bool = False
    version: int | None = None
    session_ended: bool = False
    session_expires: float | None = None

    @classmethod
    def from_row(cls, row: Any, sid: str | None) -> State:
        """From ``tokens._CHECK``'s row (None: no such user) for a token bound to ``sid``."""
        if row is None:
            return cls(exists=False)
        live = sid is not None and row.sid is not None
        return cls(
            True,
            bool(row.disabled),
            int(row.token_version),
            sid is not None and row.sid is None,
            row.expires_at.timestamp() if live else None,
        )


_NOT_REFUSED: list[Reason] = []  # shared, never mutated: the common answer allocates nothing


def _judge(claims: TokenFacts, state: State, now: float | None, first: bool) -> list[Reason]:
    """The rule: the reasons in check order (only the first with ``first``). A plain function,
    no generator: it runs on every verification."""
    if not state.exists:
        return [Reason.NO_USER]
    out = _NOT_REFUSED
    if state.disabled:
        out = [Reason.DISABLED]
        if first:
            return out
    tv = claims.token_version
    if tv is not None and state.version is not None and tv < state.version:
        if first:
            return [Reason.VERSION]
        out = [*out, Reason.VERSION]
    if claims.sid is not None:
        if state.session_ended:
            return [*out, Reason.SESSION_ENDED]
        exp = state.session_expires
        if exp is not None and exp <= (time.time() if now is None else now):
            return [*out, Reason.SESSION_EXPIRED]
    return out


def reasons(claims: TokenFacts, state: State, now: float | None = None) -> list[Reason]:
    """Every reason ``claims`` is refused for, in check order (empty: not refused).
    ``now``: epoch seconds (default: the current time)."""
    return list(_judge(claims, state, now, False))


def _no_user(_c: TokenFacts, _s: State) -> TokenError:
    return TokenRevoked("user no longer exists", code="no_user")


def _disabled(_c: TokenFacts, _s: State) -> TokenError:
    return UserDisabled("user is disabled")


def _version(c: TokenFacts, s: State) -> TokenError:
    return TokenRevoked(f"revoked: token version {c.token_version}, user is at {s.version}")


def _session(_c: TokenFacts, _s: State) -> TokenError:
    return SessionInvalid("session ended")


_ERRORS = {
    Reason.NO_USER: _no_user,
    Reason.DISABLED: _disabled,
    Reason.VERSION: _version,
    Reason.SESSION_ENDED: _session,
    Reason.SESSION_EXPIRED: _session,
}


def error(reason: Reason, claims: TokenFacts, state: State) -> TokenError:
    """The ``TokenError`` a refusal for ``reason`` raises."""
    return _ERRORS[reason](claims, state)


def refusal(claims: TokenFacts, state: State, now: float | None = None) -> TokenError | None:
    """The error refusing ``claims`` given ``state`` (the first reason), or None: not refused."""
    found = _judge(claims, state, now, True)
    return _ERRORS[found[0]](claims, state) if found else None


def judge_row(claims: TokenFacts, row: Any) -> None:
    """Raise ``refusal``'s error for ``tokens._CHECK``'s row (None: no such user), if any."""
    err = refusal(claims, State.from_row(row, claims.sid))
    if err is not None:
        raise err
