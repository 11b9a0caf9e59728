"""``AuthCore``: one object that wires the engine, keys and services together.

Apps create one per process (``app=True``: never an embedded default database, schema and
signing key checked at start)::

    core = AuthCore.from_config(load_config(), app=True)
    session, session_token, pair = core.login(user.id, ip=ip, user_agent=ua)
    core.logout(claims.sid)          # idempotent: False when the session was already gone
"""

from __future__ import annotations

import os
import threading
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from authcore.actor import operator_identity, os_user, ssh_client
from authcore.config import Config, resolve_database_url
from authcore.errors import ConfigError, PermissionDenied, ReadOnlyError

if TYPE_CHECKING:  # pragma: no cover
    from datetime import datetime, timedelta

    from sqlalchemy import Engine

    from authcore.activityfeed import Activity
    from authcore.attention import AttentionReport
    from authcore.auditlog import AuditLog
    from authcore.bulk import BulkRevoker
    from authcore.devices import Devices
    from authcore.inspect import InspectionReport, LiveState
    from authcore.keys import KeyRing
    from authcore.maintenance import Maintenance
    from authcore.reads import ReplicaStatus
    from authcore.sessions import SessionRecord
    from authcore.tokens import TokenPair

# The services (and SQLAlchemy, PyJWT, cryptography under them) are imported when an AuthCore is
# built, not with this module: ``operator_for`` and ``Operator`` stay cheap to import, so a tool
# can show who is acting before it pays for the database stack (the console's first frame).


@dataclass(frozen=True)
class Operator:
    """Who is driving an operator tool, and with which role (``None`` = an app, unrestricted).

    ``actor``: the OS account of the real uid; ``client``: the SSH client address the
    environment claims (audited apart, never the identity); ``role`` only shapes the UI on
    PostgreSQL, where the database role decides (``authcore.pgroles``)."""

    actor: str
    role: str | None
    client: str | None = None


def operator_for(config: Config) -> Operator:
    """Role from ``[operators]`` by OS user; unlisted users are viewers once the table exists."""
    user = os_user()
    role = config.operators.get(user, "viewer") if config.operators else "admin"
    return Operator(operator_identity(), role, ssh_client())


class Login(NamedTuple):
    """What ``AuthCore.login`` returns: the session, its raw token (shown once) and the pair."""

    session: SessionRecord
    session_token: str
    pair: TokenPair


def is_read_only(read_only: bool, config: Config, role: str | None) -> bool:
    """Asked for (flag), configured (``read_only = true``) or implied by the ``viewer`` role."""
    return bool(read_only or config.read_only or role == "viewer")


class AuthCore:
    """``sign=True``: this process will issue tokens, so a missing signing key is a
    ``ConfigError`` here rather than at the first login. ``pool_size``: idle fast-path
    connections kept (default ``config.pool_size``). ``fast_paths`` (default
    ``config.fast_paths``, on): hot reads and writes run their compiled SQL on driver
    connections; off, through SQLAlchemy connections, where engine event listeners (APM,
    tracing) see every statement. Only this setting decides (see ``authcore.fastpath``).
    ``activity`` (default on): logins and refreshes announce themselves to live followers on
    PostgreSQL (``authcore.activity``; off only to measure what that costs).
    ``read_engine``: a hot standby of ``engine`` for browsing reads (searches, listings, the
    inspector's lookups); ``self.reads`` holds the one rule that picks the engine per call and
    the fallback when the standby is down (``authcore.reads``)."""

    def __init__(
        self,
        engine: Engine,
        config: Config | None = None,
        *,
        read_only: bool = False,
        actor: str = "app",
        role: str | None = None,
        keyring: KeyRing | None = None,
        sign: bool = False,
        pool_size: int | None = None,
        client: str | None = None,
        fast_paths: bool | None = None,
        activity: bool = True,
        read_engine: Engine | None = None,
    ) -> None:
        from authcore import fastpath
        from authcore.keys import KeyRing
        from authcore.reads import Reads
        from authcore.revoke import AdminService
        from authcore.sessions import SessionService
        from authcore.tokens import TokenService
        from authcore.users import UserService

        self.engine = engine
        self.config = config or Config()
        self.role = role
        self._read_only_flag = read_only
        self.read_only = is_read_only(read_only, self.config, role)
        self.role_note = ""  # why the role differs from the config's (``use_database_role``)
        self.actor = actor
        self.client = client
        ts = self.config.tokens
        self.keyring = keyring or KeyRing.from_settings(ts, self.config.secret())
        size = pool_size if pool_size is not None else self.config.pool_size
        if size < 1:
            raise ConfigError("pool_size must be a positive integer")
        fast = self.config.fast_paths if fast_paths is None else fast_paths
        fastpath.configure(engine, pool_size=size, fast=bool(fast))
        if read_engine is not None:
            fastpath.configure(read_engine, pool_size=size, fast=bool(fast))
        self.reads = Reads(engine, read_engine, max_lag_s=self.config.replica_max_lag.total_seconds())
        self._pid = os.getpid()
        _CORES.add(self)
        self.users = UserService(engine, reads=self.reads)
        self.admin = AdminService(engine, ts.access_ttl, actor, self._guard, client)
        self.sessions = SessionService(
            engine,
            ts.refresh_ttl,
            on_delete=self._session_deleted,
            guard=self._guard,
            activity=activity,
            reads=self.reads,
        )
        self.tokens = TokenService(engine, ts, self.keyring, activity=activity)
        self._devices: Devices | None = None  # built on first use: see ``devices``
        self._devices_lock = threading.Lock()
        if sign:
            self.tokens.signing_key()  # ConfigError now, not at the first login

    @classmethod
    def from_config(
        cls,
        config: Config,
        db_url: str | None = None,
        *,
        read_only: bool = False,
        operator: Operator | None = None,
        app: bool = False,
        sign: bool | None = None,
        keyring: KeyRing | None = None,
        read_db_url: str | None = None,
        **engine_kw: Any,
    ) -> AuthCore:
        """``app=True`` (an app process, not an operator tool) fails at start, with one-line
        ``ConfigError``, instead of running on something it cannot use: no database URL (never
        the embedded default), a SQLite file that does not exist (never created), a schema not
        at the shipped head, or (``sign``, default True for apps) no signing key. A database it
        cannot reach raises ``DatabaseUnavailable``.

        A read replica (``read_db_url``, ``AUTHCONSOLE_READ_DATABASE_URL`` or the config's
        ``read_database_url``: ``config.resolve_read_database_url``) gets an engine with the
        same bounds as the primary's; an app (``app=True``) opens none: its requests must see
        their own writes (pass ``read_engine`` to the constructor to opt in)."""
        from authcore.config import resolve_read_database_url
        from authcore.db import make_engine

        url = resolve_database_url(db_url, config, fallback=not app)
        if app:
            _require_database_file(url)
        read_url = None if app else resolve_read_database_url(read_db_url, url, config)
        engine = make_engine(url, **engine_kw)
        read_engine = None
        if read_url is not None:
            try:
                read_engine = make_engine(read_url, **{k: v for k, v in engine_kw.items() if k != "create"})
            except BaseException:
                engine.dispose()
                raise
        kw: dict[str, Any] = {"read_only": read_only, "sign": app if sign is None else sign}
        if keyring is not None:  # a tool that checks no token: the configured keys stay unread
            kw["keyring"] = keyring
        if operator is not None:
            kw.update(actor=operator.actor, role=operator.role, client=operator.client)
        try:
            core = cls(engine, config, read_engine=read_engine, **kw)
            if app:
                core.require_schema()
        except BaseException:
            engine.dispose()
            if read_engine is not None:
                read_engine.dispose()
            raise
        return core

    def require_schema(self) -> None:
        """Raise ``ConfigError`` unless the database's schema is at the shipped head."""
        from authcore import migrate

        st = migrate.status(self.engine)
        if not st.up_to_date:
            at = st.current or "no authcore schema"
            raise ConfigError(
                f"database {self.url_masked} is not migrated ({at}, head "
                f"{st.head}); run: authconsole db upgrade"
            )

    def after_fork(self) -> None:
        """In a forked child: drop the engine's pooled connections and the fast-path ones
        without closing them (they are the parent's sockets; closing would end the parent's
        sessions); this process opens its own. Run by an ``os.register_at_fork`` hook."""
        if self._pid == os.getpid():
            return
        self._pid = os.getpid()
        self.engine.dispose(close=False)  # fastpath drops its idle list (engine_disposed)
        if self.reads.replica is not None:
            self.reads.replica.dispose(close=False)

    def use_database_role(self, prefix: str = "") -> str:
        """PostgreSQL: take the operator role from the database role this connection
        authenticated as (member of ``authconsole_admin``/``_viewer``, ``authcore.pgroles``)
        when it differs from the config's ``[operators]``: the database decides (its grants
        refuse the rest anyway). Returns (and keeps in ``role_note``) a line saying so, or ""."""
        if self.engine.dialect.name != "postgresql":
            return ""
        from authcore import pgroles

        user, kind = pgroles.database_role(self.engine, prefix)
        if kind not in ("admin", "viewer") or kind == (self.role or "admin"):
            return ""
        self.role_note = (
            f"database role {user} is {kind}, the config says {self.role or 'admin'}: the database decides"
        )
        self.role = kind
        self.read_only = is_read_only(self._read_only_flag, self.config, kind)
        return self.role_note

    @property
    def bulk(self) -> BulkRevoker:
        """Resumable bulk revocation by query (admin only)."""
        from authcore.bulk import BulkRevoker

        return BulkRevoker(self.engine, self.admin, self.role, self._guard)

    # -- the one door: what the console and apps reach through the core, never on ``engine`` --
    @property
    def audit(self) -> AuditLog:
        """The audit log: list, verify, seal (``authcore.auditlog``)."""
        from authcore.auditlog import AuditLog

        return AuditLog(self.engine, self.config, reads=self.reads)

    def attention(
        self, since: timedelta | None = None, *, now: datetime | None = None, limit: int | None = None
    ) -> AttentionReport:
        """Needs attention (``authcore.attention``): refresh reuse, sessions from a new place,
        bursts of new sessions within ``since`` (default 24 h), disabled users holding sessions."""
        from datetime import timedelta

        from authcore.attention import DEFAULT_LIMIT, Attention
        from authcore.errors import ConfigError
        from authcore.reads import Read

        try:
            geoip, note = self.devices.geoip, ""
        except ConfigError as exc:  # the other signals still run; this one says why not
            geoip, note = None, str(exc)

        window = timedelta(hours=24) if since is None else since
        return self.reads.run(  # a listing: on the read replica when there is one
            Read.BROWSE,
            lambda engine: Attention(engine, self.config.attention, geoip, note).report(
                window, now=now, limit=DEFAULT_LIMIT if limit is None else limit
            ),
        )

    @property
    def activity(self) -> Activity:
        """Live activity: logins, refreshes, reuse, ends, bumps, disables
        (``authcore.activityfeed``; what publishes each: ``authcore.activity``)."""
        from authcore.activityfeed import Activity

        return Activity(self.engine, self.config)

    @property
    def maintenance(self) -> Maintenance:
        """Schema, roles and demo data (``authconsole db``/``demo``): ``authcore.maintenance``."""
        from authcore.maintenance import Maintenance

        return Maintenance(self.engine)

    @property
    def devices(self) -> Devices:
        """Sessions made readable: parsed user agents and, with ``geoip_db``/``geoip_asn_db``
        configured, country and ASN (``authcore.devices``). Built on first use, once: an app
        that never lists sessions never opens the MMDB files; a bad file is a ``ConfigError``
        here (one line), on every use until the config is fixed."""
        devices = self._devices
        if devices is None:
            from authcore.devices import Devices

            with self._devices_lock:
                devices = self._devices
                if devices is None:
                    devices = self._devices = Devices.from_config(self.config)
        return devices

    @property
    def keys(self) -> KeyRing:
        """The verification keys (and the signing key) this core was built with."""
        return self.keyring

    def live_state(self, user_id: int, sid: str | None) -> LiveState:
        """The user and session as the database has them (the inspector's live check): a
        browsing read, on the read replica when there is one (``authcore.reads``)."""
        from authcore.inspect import live_lookup
        from authcore.reads import Read

        return self.reads.run(Read.BROWSE, lambda engine: live_lookup(engine)(user_id, sid))

    @property
    def has_read_replica(self) -> bool:
        """A read replica is configured (browsing reads may run on it)."""
        return self.reads.replica is not None

    def replica_status(self) -> ReplicaStatus | None:
        """The read replica's state and lag (``authcore.reads.Reads.status``); None without one."""
        return self.reads.status()

    def inspect(self, text: str | bytes, **kw: Any) -> InspectionReport:
        """``authcore.inspect.inspect_token`` with this core's keys, token settings and live
        state unless ``kw`` says otherwise (``keys=``, ``settings=``, ``live=``, ``now=``...).
        Never raises: a database problem shows as the report's live state."""
        from authcore.inspect import inspect_token

        kw.setdefault("keys", self.keyring)
        kw.setdefault("settings", self.config.tokens)
        kw.setdefault("live", self.live_state)
        return inspect_token(text, **kw)

    @property
    def url_masked(self) -> str:
        from authcore.db import mask_url

        return mask_url(self.engine.url.render_as_string(hide_password=False))

    def require_write(self, n_users: int = 1) -> None:
        """Raise unless this core may change data (read-only mode, roles; bulk needs admin)."""
        self._check(n_users)

    def _guard(self, n_users: int) -> None:
        """What services call right before they write: refuse (``_check``), or let the write
        through and have this core's browsing reads see it (the primary's, for
        ``authcore.reads.STICK_AFTER_WRITE_S``)."""
        self._check(n_users)
        self.reads.wrote()

    def _check(self, n_users: int) -> None:
        if self.read_only:
            why = "viewer role" if self.role == "viewer" else "read-only mode"
            raise ReadOnlyError(f"refused: this console is in {why}; nothing was changed")
        if n_users > 1 and self.role not in (None, "admin"):
            raise PermissionDenied("bulk operations need the admin role")

    def login(
        self, user_id: int, *, ip: str | None = None, user_agent: str | None = None, ttl: Any = None
    ) -> Login:
        """Log a user in (after the app checked the password): session + token pair bound to it.

        Checks first, writes after: ``ConfigError`` (no signing key), ``NotFound`` (no such
        user) and ``UserDisabled`` leave nothing behind. The session row and ``last_login_at``
        commit in one transaction, under the user's row lock, and the pair carries the
        ``token_version`` read under it. See docs/verifier.md for every exception's HTTP status.
        """
        self.tokens.signing_key()
        session, raw, version = self.sessions.open(user_id, ip=ip, user_agent=user_agent, ttl=ttl)
        try:
            pair = self.tokens.issue_pair(
                user_id, sid=session.public_id, token_version=version, now=session.created_at
            )
        except BaseException:  # never leave a session the caller got no tokens for
            self.sessions.end(session.public_id)
            raise
        return Login(session, raw, pair)

    def logout(self, sid: str | None) -> bool:
        """End the session ``sid`` (an access token's ``claims.sid``): idempotent. Returns whether
        this call deleted it; already gone (parallel logouts, an operator's delete) is False,
        never an error. ``SessionService.logout(raw)`` does the same for a session token."""
        return self.sessions.end(sid)

    def _session_deleted(self, conn: Any, user_id: int, sids: list[str]) -> None:
        from authcore import notices
        from authcore.revocation import Kind
        from authcore.timeutil import utcnow

        notices.publish(conn, utcnow(), Kind.SESSION, [user_id], session_ids=sids)

    def dispose(self) -> None:
        self.engine.dispose()
        if self._devices is not None:
            self._devices.close()
        self.reads.dispose()


def _require_database_file(url: str) -> None:
    """An app's SQLite database must exist already (opening it would create an empty one)."""
    from sqlalchemy.engine import make_url

    from authcore.db import normalize_url

    try:
        u = make_url(normalize_url(url))
    except Exception:  # noqa: BLE001 - make_engine reports a bad URL in its own words
        return
    if u.get_backend_name() != "sqlite":
        return
    db = u.database or ""
    if db.startswith("file:"):
        db = db[5:].split("?", 1)[0]
    if not db or db == ":memory:" or "mode=memory" in (u.database or ""):
        raise ConfigError("an app needs a database that outlives it: an in-memory SQLite database is refused")
    if not os.path.isfile(os.path.expanduser(db)):
        raise ConfigError(
            f"database file {db} does not exist; create it with: authconsole db upgrade --db {url}"
        )


_CORES: weakref.WeakSet[AuthCore] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for core in list(_CORES):
        try:
            core.after_fork()
        except Exception:  # noqa: BLE001 - a fork hook must not raise
            pass


os.register_at_fork(after_in_child=_after_fork_in_child)
