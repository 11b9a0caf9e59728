"""JWT access/refresh tokens signed with PyJWT.

Keys are loaded once (``KeyRing``). The allowed algorithm comes from the key, never the header.
Refresh verification checks signature, claims, the user's ``token_version``, the disabled flag and
the session row in ONE database round trip.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jwt
from sqlalchemy import Engine, bindparam, select, update

from authcore import activity, jwtdecode, notices, userevents
from authcore.config import TokenSettings
from authcore.db import read_conn, write_tx
from authcore.errors import (
    ConfigError,
    NotFound,
    RefreshReuse,
    TokenError,
    TokenExpired,
    UserDisabled,
)
from authcore.fastpath import HotQuery
from authcore.keys import Key, KeyRing
from authcore.models import sessions, users
from authcore.revocation import Kind, judge_row
from authcore.timeutil import utcnow

_REQUIRED = ["exp", "iat", "sub", "typ", "token_version", "jti"]

# Hot path, built once: version, disabled flag and the session row in one round trip.
_CHECK = (
    select(
        users.c.token_version,
        users.c.disabled,
        sessions.c.public_id.label("sid"),
        sessions.c.expires_at,
        sessions.c.refresh_counter,
        sessions.c.refresh_rotated_at,
    )
    .select_from(
        users.outerjoin(
            sessions, (sessions.c.public_id == bindparam("sid")) & (sessions.c.user_id == users.c.id)
        )
    )
    .where(users.c.id == bindparam("uid"))
)
# refresh() reads the same row under lock, plus the replays already used in this rotation.
_REFRESH = _CHECK.add_columns(sessions.c.refresh_replays)
_LOCK_USER = select(users.c.id).where(users.c.id == bindparam("uid")).with_for_update()
GRACE_REPLAYS = 1  # replays of the previous refresh token allowed per rotation (parallel tabs)
# A rotation; on PostgreSQL with activity on, the same UPDATE and its activity NOTIFY.
_ROTATE = (
    update(sessions)
    .where(sessions.c.public_id == bindparam("r_sid"))
    .values(
        refresh_counter=bindparam("r_counter"),
        refresh_rotated_at=bindparam("r_now", type_=sessions.c.refresh_rotated_at.type),
        refresh_replays=0,
        last_seen_at=bindparam("r_now", type_=sessions.c.last_seen_at.type),
    )
)
_ROTATE_NOTIFY = activity.with_notify(_ROTATE)


def rotation_write(
    sid: str, user_id: int, counter: int, now: datetime, *, notify: bool
) -> tuple[Any, dict[str, Any]]:
    """The UPDATE a refresh rotation sends (session ``sid`` to ``counter``, rotated ``now``) and
    its values; with ``notify`` (PostgreSQL, activity on) the UPDATE and its activity NOTIFY, one
    statement. ``refresh`` sends it; ``bench.activity_load`` replays it in batches."""
    values: dict[str, Any] = {"r_sid": sid, "r_counter": counter, "r_now": now}
    if not notify:
        return _ROTATE, values
    values["activity_payload"] = activity.payload(activity.Kind.REFRESH, now, user_id, sid, counter)
    return _ROTATE_NOTIFY, values


_VERSION = select(users.c.token_version, users.c.disabled).where(users.c.id == bindparam("uid"))


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    access_expires_at: datetime
    refresh_expires_at: datetime
    token_version: int
    sid: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "access_expires_at": self.access_expires_at.isoformat(),
            "refresh_expires_at": self.refresh_expires_at.isoformat(),
            "token_version": self.token_version,
            "sid": self.sid,
        }


@dataclass(frozen=True)
class Claims:
    """The verified claims of a token."""

    user_id: int
    typ: str
    token_version: int
    sid: str | None
    jti: str
    iat: int
    exp: int
    rc: int | None
    raw: dict[str, Any]


class TokenService:
    def __init__(
        self, engine: Engine | None, settings: TokenSettings, keyring: KeyRing, *, activity: bool = True
    ) -> None:
        self.engine = engine
        # a rotation announces itself on PostgreSQL (authcore.activity); SQLite needs nothing
        self.notify_activity = activity and engine is not None and engine.dialect.name == "postgresql"
        self.settings = settings
        self.keyring = keyring
        self._single: Key | None = keyring.keys[0] if len(keyring.keys) == 1 else None
        self._leeway = settings.leeway.total_seconds()
        self._decoders: dict[int, tuple[Key, jwtdecode.KeyDecoder]] = {}
        self._grace = settings.refresh_grace
        self._strict_check: Callable[[Claims], object] | None = None

    # -- issuing -------------------------------------------------------------------------------
    def signing_key(self) -> Key:
        """The key new tokens are signed with; ``ConfigError`` when there is none or it may not
        sign (checked by ``AuthCore.login`` before it writes anything, and at start with
        ``sign=True``)."""
        key = self.keyring.signing
        if self.keyring.signing_refusal:
            raise ConfigError(self.keyring.signing_refusal)
        if key is None or key.sign_key is None:
            raise ConfigError("no signing key configured (set AUTHCORE_SECRET or tokens.secret)")
        return key

    def _sign(self, claims: dict[str, Any]) -> str:
        key = self.signing_key()
        headers = {"kid": key.kid} if key.kid else None
        return jwt.encode(claims, key.sign_key, algorithm=key.alg, headers=headers)

    def _current_version(self, user_id: int) -> int:
        assert self.engine is not None
        with read_conn(self.engine) as conn:
            row = conn.execute(_VERSION, {"uid": user_id}).first()
        if row is None:
            raise NotFound(f"no user with id {user_id}")
        if row.disabled:
            raise UserDisabled("user is disabled")
        return int(row.token_version)

    def issue_pair(
        self,
        user_id: int,
        *,
        sid: str | None = None,
        token_version: int | None = None,
        refresh_counter: int = 0,
        now: datetime | None = None,
    ) -> TokenPair:
        """Sign an access/refresh pair carrying the user's current ``token_version``."""
        if token_version is None:
            token_version = self._current_version(user_id)
        now = now or utcnow()
        iat = int(now.timestamp())
        s = self.settings
        base = {
            "sub": str(user_id),
            "token_version": token_version,
            "iat": iat,
            "iss": s.issuer,
            "aud": s.audience,
        }
        if sid:
            base["sid"] = sid
        a_exp = iat + int(s.access_ttl.total_seconds())
        r_exp = iat + int(s.refresh_ttl.total_seconds())
        access = self._sign({**base, "typ": "access", "exp": a_exp, "jti": secrets.token_hex(12)})
        refresh_claims = {**base, "typ": "refresh", "exp": r_exp, "jti": secrets.token_hex(12)}
        if sid:
            refresh_claims["rc"] = refresh_counter
        refresh = self._sign(refresh_claims)
        return TokenPair(
            access,
            refresh,
            datetime.fromtimestamp(a_exp, now.tzinfo),
            datetime.fromtimestamp(r_exp, now.tzinfo),
            token_version,
            sid,
        )

    # -- verifying -----------------------------------------------------------------------------
    def _decoder(self, key: Key) -> jwtdecode.KeyDecoder:
        """The key's PyJWT algorithm object and claim rules, prepared once."""
        hit = self._decoders.get(id(key))
        if hit is not None and hit[0] is key:
            return hit[1]
        s = self.settings
        dec = jwtdecode.KeyDecoder(
            key.alg,
            key.verify_key,
            audience=s.audience,
            issuer=s.issuer,
            leeway=self._leeway,
            require=_REQUIRED,
        )
        self._decoders[id(key)] = (key, dec)
        return dec

    def decode(self, token: str, typ: str) -> Claims:
        """Signature and claims only (no database).

        PyJWT's checks and crypto with the key prepared once (``authcore.jwtdecode``): the
        algorithm comes from the key, ``exp``/``iat`` and the token's own claims are required,
        ``iss``/``aud`` must match the settings.
        """
        if not isinstance(token, str) or len(token) > 16384:
            raise TokenError("token missing or too large")
        try:
            parsed = jwtdecode.parse(token)
            keys = [self._single] if self._single else self.keyring.candidates(parsed.kid)
            if not keys:
                raise TokenError("no key matches the token's kid")
            last: Exception | None = None
            for key in keys:
                dec = self._decoder(key)
                try:
                    dec.verify(parsed)
                    break
                except jwt.InvalidSignatureError as exc:
                    last = exc
            else:
                raise TokenError(f"invalid token: {last}")
            payload = dec.claims(parsed)
        except jwt.ExpiredSignatureError:
            raise TokenExpired("token expired") from None
        except jwt.InvalidTokenError as exc:
            raise TokenError(f"invalid token: {exc}") from None
        if payload.get("typ") != typ:
            raise TokenError(f"not an {typ} token", code="wrong_type")
        tv = payload["token_version"]
        if not isinstance(tv, int) or isinstance(tv, bool):
            raise TokenError("token_version claim is not an integer")
        try:
            uid = int(payload["sub"])
        except (TypeError, ValueError):
            raise TokenError("sub claim is not a user id") from None
        rc = payload.get("rc")
        return Claims(
            uid,
            typ,
            tv,
            payload.get("sid"),
            payload["jti"],
            payload["iat"],
            payload["exp"],
            rc if isinstance(rc, int) else None,
            payload,
        )

    def _check_live(self, claims: Claims) -> Any:
        assert self.engine is not None
        hot = self._hot_check
        if hot is None:  # the DB half of refresh verification: see authcore.fastpath
            hot = self._hot_check = HotQuery(self.engine, _CHECK)
        row = hot.first(uid=claims.user_id, sid=claims.sid)
        self._judge(claims, row)
        return row

    _hot_check: HotQuery | None = None

    @staticmethod
    def _judge(claims: Claims, row: Any) -> None:
        """Raise what ``revocation.refusal`` says against ``claims`` given ``_CHECK``'s row."""
        judge_row(claims, row)

    def set_strict_check(self, check: Callable[[Claims], object] | None) -> Callable[[Claims], object] | None:
        """Route ``verify_access(strict=True)``'s live check through ``check`` (e.g. a
        ``Verifier``'s cache, see ``authcore.verifier``); ``None`` restores the per-call database
        check. ``check`` raises ``TokenRevoked``/``UserDisabled``/``SessionInvalid`` to refuse.
        Returns the previous check."""
        previous, self._strict_check = self._strict_check, check
        return previous

    def verify_access(self, token: str, *, strict: bool = False) -> Claims:
        """Signature and claims; ``strict`` also checks version, disabled flag and session."""
        claims = self.decode(token, "access")
        if strict:
            (self._strict_check or self._check_live)(claims)
        return claims

    def verify_refresh(self, token: str) -> Claims:
        """Signature, claims, version, disabled flag and session: one database round trip."""
        claims = self.decode(token, "refresh")
        self._check_live(claims)
        return claims

    def refresh(self, token: str) -> TokenPair:
        """Rotate: verify the refresh token and issue a new pair.

        With a session, the session's refresh counter must match the token's ``rc``: the
        current token rotates (counter + 1). The previous token -- the one the last rotation
        replaced -- is accepted ONCE more within ``refresh_grace`` of that rotation (two tabs
        refreshing together): it gets a pair for the current counter, and a ``refresh_replay``
        user event is recorded. Any other token -- older, a second replay, a replay after the
        grace -- is a reuse: the session is deleted, a ``refresh_reuse_detected`` user event
        is recorded, verifiers are told, and ``RefreshReuse`` is raised. User events go to
        ``authcore.userevents`` (no audit-chain lock). A token without a session (``sid``)
        has no counter and rotates freely until its version is bumped.
        """
        claims = self.decode(token, "refresh")
        assert self.engine is not None
        now = utcnow()
        reuse = False
        with write_tx(self.engine) as conn:
            if conn.dialect.name == "postgresql":
                # Lock the user row first, THEN read: a statement started after the lock is
                # granted sees what a concurrent refresh committed (a FOR UPDATE on the join
                # would re-check only the users row and keep a stale session counter, so two
                # parallel refreshes could both rotate or both replay).
                conn.execute(_LOCK_USER, {"uid": claims.user_id})
            row = conn.execute(_REFRESH, {"uid": claims.user_id, "sid": claims.sid}).first()
            self._judge(claims, row)
            assert row is not None  # _judge refused a missing user
            counter = 0
            if claims.sid is not None:
                rc = claims.rc if claims.rc is not None else -1
                here = sessions.update().where(sessions.c.public_id == claims.sid)
                if rc == row.refresh_counter:
                    counter = rc + 1
                    conn.execute(
                        *rotation_write(claims.sid, claims.user_id, counter, now, notify=self.notify_activity)
                    )
                elif (
                    rc == row.refresh_counter - 1
                    and row.refresh_rotated_at is not None
                    and now - row.refresh_rotated_at <= self._grace
                    and row.refresh_replays < GRACE_REPLAYS
                ):
                    counter = row.refresh_counter
                    conn.execute(here.values(refresh_replays=row.refresh_replays + 1, last_seen_at=now))
                    userevents.record(
                        conn,
                        now,
                        userevents.REFRESH_REPLAY,
                        claims.user_id,
                        claims.sid,
                        {
                            "presented_counter": rc,
                            "session_counter": row.refresh_counter,
                            "replay": row.refresh_replays + 1,
                            "jti": claims.jti,
                        },
                    )
                else:
                    reuse = True
                    conn.execute(sessions.delete().where(sessions.c.public_id == claims.sid))
                    userevents.record(
                        conn,
                        now,
                        userevents.REFRESH_REUSE,
                        claims.user_id,
                        claims.sid,
                        {
                            "presented_counter": rc,
                            "session_counter": row.refresh_counter,
                            "replays": row.refresh_replays,
                            "jti": claims.jti,
                        },
                    )
                    notices.publish(conn, now, Kind.SESSION, [claims.user_id], session_ids=[claims.sid])
        if reuse:
            raise RefreshReuse("refresh token reuse detected: the session was ended")
        return self.issue_pair(
            claims.user_id, sid=claims.sid, token_version=row.token_version, refresh_counter=counter, now=now
        )
