"""Configuration: a TOML file plus environment variables.

Lookup order for the file: ``--config``, then ``AUTHCONSOLE_CONFIG``, then the platform's user config
dir. For the database URL: ``--db``, ``AUTHCONSOLE_DATABASE_URL``, ``DATABASE_URL``, the file, then
the embedded SQLite default. The HS256 secret comes from ``AUTHCORE_SECRET`` or the file.

A shared bastion has a system file, ``SYSTEM_CONFIG`` (``/etc/authconsole/config.toml``), read
first: root-owned, writable by root only. Its ``lock = ["database_url", "operators",
"read_only"]`` names keys no user file (``--config``, ``AUTHCONSOLE_CONFIG``), ``--db`` or
environment variable may override: each attempt is refused with one line. The path is a module
constant, never an environment variable or option, so an operator cannot point it elsewhere.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, overload

from authcore.errors import ConfigError
from authcore.timeutil import parse_duration

APP_NAME = "authconsole"
SECRET_ENV = "AUTHCORE_SECRET"  # noqa: S105 - the variable's name, not a secret
ROLES = ("viewer", "admin")


def user_config_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def user_data_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def default_config_path() -> Path:
    return user_config_dir() / "config.toml"


def default_database_url() -> str:
    return f"sqlite:///{user_data_dir() / 'authconsole.db'}"


@dataclass
class KeySpec:
    """One verification (or signing) key as written in the config."""

    kid: str | None = None
    alg: str | None = None
    secret: str | None = field(default=None, repr=False)  # never in a repr, a log or a traceback
    secret_env: str | None = None
    file: Path | None = None  # PEM, JWK or JWKS


@dataclass
class TokenSettings:
    """``[tokens]``: issuer, audience, lifetimes, leeway and the keys tokens are signed and
    verified with."""

    issuer: str = "authconsole"
    audience: str = "authconsole"
    algorithm: str = "HS256"
    access_ttl: timedelta = timedelta(minutes=15)
    refresh_ttl: timedelta = timedelta(days=30)
    leeway: timedelta = timedelta(seconds=10)
    refresh_grace: timedelta = timedelta(seconds=10)
    max_lifetime: timedelta | None = None  # inspector warning threshold; default refresh_ttl
    secret: str | None = field(default=None, repr=False)  # never in a repr, a log or a traceback
    private_key_file: Path | None = None
    kid: str | None = None
    verify_keys: list[KeySpec] = field(default_factory=list)

    @property
    def lifetime_limit(self) -> timedelta:
        return self.max_lifetime or self.refresh_ttl


@dataclass
class AttentionSettings:
    """``[attention]``: when ``authconsole attention`` flags a burst of new sessions."""

    burst_sessions: int = 5  # this many new sessions of one user ...
    burst_window: timedelta = timedelta(minutes=10)  # ... within this long


def _attention(data: dict[str, Any]) -> AttentionSettings:
    """The ``[attention]`` table, each value checked (one line naming the key, value not echoed)."""
    a = data.get("attention", {})
    if not isinstance(a, dict):
        raise ConfigError("config: [attention] must be a table")
    unknown = set(a) - {"burst_sessions", "burst_window"}
    if unknown:
        raise ConfigError(f"config: unknown [attention] setting(s): {', '.join(sorted(unknown))[:200]}")
    out = AttentionSettings()
    if "burst_sessions" in a:
        n = a["burst_sessions"]
        if not isinstance(n, int) or isinstance(n, bool) or not 2 <= n <= 10_000:
            raise ConfigError("config: attention.burst_sessions must be a whole number from 2 to 10000")
        out.burst_sessions = n
    out.burst_window = _duration(a, "burst_window", out.burst_window, where="attention.")
    if out.burst_window > timedelta(days=1):
        raise ConfigError("config: attention.burst_window must be at most 1 day (e.g. '10m', '1h')")
    return out


@dataclass
class Config:
    """The settings ``load_config`` read (the system file, the user file; defaults for the rest)."""

    path: Path | None = None
    # URLs may hold a password: left out of the repr (``authcore.urls.mask_password`` shows them)
    database_url: str | None = field(default=None, repr=False)
    # a direct (not pooled) URL for the verifier's LISTEN, when database_url goes through a
    # transaction pooler (docs/verifier.md, "Behind PgBouncer")
    listen_url: str | None = field(default=None, repr=False)
    # a hot standby of database_url for the console's searches, listings and inspector lookups
    # (authcore.reads: the routing rule, the fallback when it is down)
    read_database_url: str | None = field(default=None, repr=False)
    replica_max_lag: timedelta = timedelta(seconds=5)  # the console warns past this replay lag
    read_only: bool = False
    tokens: TokenSettings = field(default_factory=TokenSettings)
    operators: dict[str, str] = field(default_factory=dict)
    staleness: timedelta = timedelta(seconds=2)
    # idle fast-path connections kept per engine (authcore.fastpath): size it to the app's
    # concurrency (FastAPI/Starlette run sync endpoints on a 40-thread pool)
    pool_size: int = 40
    # hot paths on driver connections (authcore.fastpath); false: through SQLAlchemy
    # connections, so engine event listeners (APM, tracing) see every statement
    fast_paths: bool = True
    role_prefix: str = ""  # PostgreSQL role names' prefix (``authconsole db roles --prefix``)
    set_keys: frozenset[str] = frozenset()  # top-level keys the file set (lock checks)
    locked: frozenset[str] = frozenset()  # keys the system file locks
    system_path: Path | None = None  # the system file, when one was read
    seals_file: Path | None = None  # [audit] seals: signed checkpoints (authcore.seal)
    seals_pubkey: Path | None = None  # [audit] seals_pubkey: their Ed25519 public key
    # MMDB files for the country and ASN of a session's IP (authcore.geoip): GeoLite2-City or
    # -Country / DB-IP / IPinfo in geoip_db, an ASN file (GeoLite2-ASN) in geoip_asn_db
    geoip_db: Path | None = None
    geoip_asn_db: Path | None = None
    attention: AttentionSettings = field(default_factory=AttentionSettings)  # [attention]

    def secret(self) -> str | None:
        """The HS secret: ``AUTHCORE_SECRET`` wins over the file."""
        return os.environ.get(SECRET_ENV) or self.tokens.secret

    def has_signing_key(self) -> bool:
        return bool(self.secret() or self.tokens.private_key_file)


def resolve_config_path(cli_path: str | os.PathLike[str] | None = None) -> Path:
    if cli_path:
        return Path(cli_path).expanduser()
    env = os.environ.get("AUTHCONSOLE_CONFIG")
    if env:
        return Path(env).expanduser()
    return default_config_path()


def resolve_database_url(cli_db: str | None, config: Config, *, fallback: bool = True) -> str:
    """The first URL given; else the embedded SQLite default, or (``fallback=False``: apps)
    a ``ConfigError``. A ``database_url`` locked by the system file is the only one: ``--db``
    or an environment variable naming another is refused."""
    if "database_url" in config.locked:
        for name, given in (
            ("--db", cli_db),
            ("AUTHCONSOLE_DATABASE_URL", os.environ.get("AUTHCONSOLE_DATABASE_URL")),
            ("DATABASE_URL", os.environ.get("DATABASE_URL")),
        ):
            if given and given != config.database_url:
                raise ConfigError(
                    f"refused: {name} cannot override database_url, locked by {config.system_path}"
                )
    for candidate in (
        cli_db,
        os.environ.get("AUTHCONSOLE_DATABASE_URL"),
        os.environ.get("DATABASE_URL"),
        config.database_url,
    ):
        if candidate:
            return candidate
    if not fallback:
        raise ConfigError(
            "no database URL configured: set DATABASE_URL (or "
            "AUTHCONSOLE_DATABASE_URL, or database_url in the config); an app "
            "never creates an embedded database"
        )
    return default_database_url()


LISTEN_URL_ENV = "AUTHCONSOLE_LISTEN_URL"


def resolve_listen_url(config: Config) -> str | None:
    """The verifier's direct LISTEN URL: ``AUTHCONSOLE_LISTEN_URL``, then the file's
    ``listen_url``; None when neither is set. Locked by the system file, it is the only one."""
    env = os.environ.get(LISTEN_URL_ENV)
    if env and "listen_url" in config.locked and env != config.listen_url:
        raise ConfigError(
            f"refused: {LISTEN_URL_ENV} cannot override listen_url, locked by {config.system_path}"
        )
    return env or config.listen_url


READ_URL_ENV = "AUTHCONSOLE_READ_DATABASE_URL"


def resolve_read_database_url(cli_read: str | None, primary: str, config: Config) -> str | None:
    """The hot standby for browsing reads (``authcore.reads``): ``--read-db``, then
    ``AUTHCONSOLE_READ_DATABASE_URL``, then the file's ``read_database_url``; None when none is
    set. The file's URL pairs with the file's ``database_url``: when ``--db`` or an environment
    variable chose another primary, it is not used (a standby of another primary would serve
    another database's rows). Locked by the system file, it is the only one. Both URLs must be
    PostgreSQL (``ConfigError``)."""
    env = os.environ.get(READ_URL_ENV)
    if "read_database_url" in config.locked:
        for name, given in (("--read-db", cli_read), (READ_URL_ENV, env)):
            if given and given != config.read_database_url:
                raise ConfigError(
                    f"refused: {name} cannot override read_database_url, locked by {config.system_path}"
                )
    url = cli_read or env
    if not url and config.read_database_url and primary == config.database_url:
        url = config.read_database_url
    if not url:
        return None
    for what, u in (("read_database_url", url), ("database_url", primary)):
        if not u.startswith(("postgresql", "postgres://")):
            raise ConfigError(
                f"a read replica needs PostgreSQL: {what} is not a postgresql:// URL "
                "(read_database_url names a hot standby of a PostgreSQL primary)"
            )
    return url


@overload
def _duration(section: dict[str, Any], key: str, default: timedelta, where: str = ...) -> timedelta: ...
@overload
def _duration(
    section: dict[str, Any], key: str, default: timedelta | None, where: str = ...
) -> timedelta | None: ...
def _duration(
    section: dict[str, Any], key: str, default: timedelta | None, where: str = "tokens."
) -> timedelta | None:
    if key not in section:
        return default
    try:
        return parse_duration(section[key])
    except ValueError:  # its message quotes the value: config errors never echo values
        raise ConfigError(
            f"config: {where}{key} is not a positive duration (use e.g. 900, '15m', '30d')"
        ) from None


def _text(section: dict[str, Any], key: str, where: str = "") -> str | None:
    """A string setting, or None when absent; any other type is refused (value not echoed)."""
    value = section.get(key)
    if value is None or isinstance(value, str):
        return value
    raise ConfigError(f"config: {where}{key} must be a string, not {_kind(value)}")


def _kind(value: Any) -> str:
    return {bool: "a boolean", int: "a number", float: "a number", list: "a list", dict: "a table"}.get(
        type(value), "a date or time"
    )


def _rel(base: Path, value: str) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else (base.parent / p)


def _check_private(path: Path, what: str = "config", holds: str = "a secret") -> None:
    """Refuse a secret-bearing file that group or others can read, like ssh does for keys."""
    try:
        st = path.stat()
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror or type(exc).__name__}") from None
    mode = st.st_mode
    # A root-owned file read by an operator group (as secret_file allows) may keep group read.
    shared = st.st_uid == 0 and os.getuid() != 0
    if mode & (stat.S_IRWXO if shared else stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"{what} {path} holds {holds} but is accessible by other users "
            f"(mode {stat.S_IMODE(mode):04o}); run: chmod 600 {path}"
        )


MAX_CONFIG_BYTES = 1 << 20  # a config is a few lines; a bigger "file" is a mistake


def _read_config(path: Path) -> str:
    """The file's text: a regular file of at most ``MAX_CONFIG_BYTES`` (``authcore.files``), so a
    FIFO, a device (``/dev/zero``) or a huge file is refused at once instead of hanging."""
    from authcore.files import read_regular

    try:
        data = read_regular(path, MAX_CONFIG_BYTES)
    except OSError as exc:
        if exc.errno == errno.EFBIG:
            raise ConfigError(f"config {path} is too large (at most {MAX_CONFIG_BYTES:,} bytes)") from None
        if exc.errno == errno.EINVAL:
            raise ConfigError(f"config {path} is not a regular file") from None
        raise ConfigError(f"cannot read config {path}: {exc.strerror or type(exc).__name__}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"config {path} is not UTF-8 text") from None


def _has_password(url: str) -> bool:
    """True when a database URL carries a password (``user:pw@`` or ``password=``)."""
    from authcore.urls import mask_password

    return mask_password(url) != url


def _key_spec(base: Path, raw: dict[str, Any]) -> KeySpec:
    if not isinstance(raw, dict):
        raise ConfigError("config: each [[tokens.verify_keys]] entry must be a table")
    unknown = set(raw) - {"kid", "alg", "secret", "secret_env", "file"}
    if unknown:
        raise ConfigError(f"config: unknown key setting(s): {', '.join(sorted(unknown))}")
    w = "tokens.verify_keys."
    file = _text(raw, "file", w)
    return KeySpec(
        kid=_text(raw, "kid", w),
        alg=_text(raw, "alg", w),
        secret=_text(raw, "secret", w),
        secret_env=_text(raw, "secret_env", w),
        file=_rel(base, file) if file else None,
    )


def _load_file(cli_path: str | os.PathLike[str] | None = None) -> Config:
    """Load the config file (a missing file gives the defaults)."""
    path = resolve_config_path(cli_path)
    cfg = Config(path=path)
    if not path.exists():
        if cli_path:
            raise ConfigError(f"config file not found: {path}")
        return cfg
    import tomllib  # here: a start with no config file does not import the parser

    text = _read_config(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        where = str(exc).rpartition("(")[2].rstrip(")") if "(" in str(exc) else ""
        raise ConfigError(f"config {path} is not valid TOML ({where or 'syntax error'})") from None
    cfg.database_url = _text(data, "database_url")
    if cfg.database_url and _has_password(cfg.database_url):
        _check_private(path, holds="a database password")
    cfg.listen_url = _text(data, "listen_url")
    if cfg.listen_url and _has_password(cfg.listen_url):
        _check_private(path, holds="a database password")
    cfg.read_database_url = _text(data, "read_database_url")
    if cfg.read_database_url and _has_password(cfg.read_database_url):
        _check_private(path, holds="a database password")
    if "replica_max_lag" in data:
        cfg.replica_max_lag = _duration(data, "replica_max_lag", cfg.replica_max_lag, where="")
    read_only = data.get("read_only", False)
    if not isinstance(read_only, bool):
        raise ConfigError(f"config: read_only must be true or false, not {_kind(read_only)}")
    cfg.read_only = read_only
    if "pool_size" in data:
        ps = data["pool_size"]
        if not isinstance(ps, int) or isinstance(ps, bool) or ps < 1:
            raise ConfigError("config: pool_size must be a positive integer")
        cfg.pool_size = ps
    fast = data.get("fast_paths", True)
    if not isinstance(fast, bool):
        raise ConfigError(f"config: fast_paths must be true or false, not {_kind(fast)}")
    cfg.fast_paths = fast
    cfg.role_prefix = str(data.get("role_prefix", ""))
    if "staleness" in data:
        cfg.staleness = _duration(data, "staleness", cfg.staleness, where="") or cfg.staleness
    ops = data.get("operators", {})
    if not isinstance(ops, dict):
        raise ConfigError("config: [operators] must map OS user names to 'viewer' or 'admin'")
    for user, role in ops.items():
        if role not in ROLES:
            raise ConfigError(
                f"config: operator {str(user)[:64]!r} has an unknown role "
                f"(use {' or '.join(repr(r) for r in ROLES)})"
            )
    cfg.operators = dict(ops)
    t = data.get("tokens", {})
    if not isinstance(t, dict):
        raise ConfigError("config: [tokens] must be a table")
    ts = TokenSettings()
    ts.issuer = _text(t, "issuer", "tokens.") or ts.issuer
    ts.audience = _text(t, "audience", "tokens.") or ts.audience
    ts.algorithm = _text(t, "algorithm", "tokens.") or ts.algorithm
    ts.access_ttl = _duration(t, "access_ttl", ts.access_ttl) or ts.access_ttl
    ts.refresh_ttl = _duration(t, "refresh_ttl", ts.refresh_ttl) or ts.refresh_ttl
    ts.leeway = _duration(t, "leeway", ts.leeway) if t.get("leeway") else ts.leeway
    ts.refresh_grace = _duration(t, "refresh_grace", ts.refresh_grace) or ts.refresh_grace
    ts.max_lifetime = _duration(t, "max_lifetime", None)
    ts.secret = _text(t, "secret", "tokens.")
    ts.kid = _text(t, "kid", "tokens.")
    if _text(t, "private_key_file", "tokens."):
        ts.private_key_file = _rel(path, t["private_key_file"])
        _check_private(ts.private_key_file, what="private_key_file", holds="a private key")
    vk = t.get("verify_keys", [])
    if not isinstance(vk, list):
        raise ConfigError("config: tokens.verify_keys must be a list of tables ([[tokens.verify_keys]])")
    ts.verify_keys = [_key_spec(path, k) for k in vk]
    if ts.secret or any(k.secret for k in ts.verify_keys):
        _check_private(path)
    cfg.tokens = ts
    for key in ("geoip_db", "geoip_asn_db"):
        value = _text(data, key)
        if value is not None:
            if not value.strip():
                raise ConfigError(f"config: {key} must be a path to an .mmdb file")
            setattr(cfg, key, _rel(path, value))
    cfg.attention = _attention(data)
    _read_secret_file(cfg, path, data)
    return cfg


SYSTEM_CONFIG = Path("/etc/authconsole/config.toml")  # tests patch this constant in-process
LOCKABLE = frozenset(
    {
        "database_url",
        "listen_url",
        "read_database_url",
        "replica_max_lag",
        "operators",
        "read_only",
        "role_prefix",
        "staleness",
        "pool_size",
        "fast_paths",
        "tokens",
        "audit",
        "geoip_db",
        "geoip_asn_db",
        "attention",
    }
)


def _read_secret_file(cfg: Config, path: Path, data: dict[str, Any]) -> None:
    """Record which keys the file set; ``[tokens] secret_file`` gives the HS secret. Accepted
    when the secret file is root-owned and not readable by others (a group, e.g. ``authops``,
    may read it: as sshd treats host keys), or owned by this user with mode 0600. Read on the
    descriptor whose owner and mode were checked (not ``authcore.files.read_regular``, which
    does not return them)."""
    cfg.set_keys = frozenset(data)
    a = data.get("audit", {})
    if not isinstance(a, dict) or not all(isinstance(a.get(k, ""), str) for k in ("seals", "seals_pubkey")):
        raise ConfigError("config: [audit] seals and seals_pubkey must be paths")
    if a.get("seals"):
        cfg.seals_file = _rel(path, a["seals"])
    if a.get("seals_pubkey"):
        cfg.seals_pubkey = _rel(path, a["seals_pubkey"])
    t = data.get("tokens")
    name = t.get("secret_file") if isinstance(t, dict) else None
    if name is None:
        return
    if not isinstance(name, str) or not name:
        raise ConfigError("config: tokens.secret_file must be a path")
    if cfg.tokens.secret:
        raise ConfigError("config: give tokens.secret or tokens.secret_file, not both")
    f = _rel(path, name)
    try:
        fd = os.open(f, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError as exc:
        raise ConfigError(f"cannot read secret_file {f}: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        mode = stat.S_IMODE(st.st_mode)
        if not stat.S_ISREG(st.st_mode) or st.st_size > 4096:
            raise ConfigError(f"secret_file {f} is not a small regular file")
        if st.st_uid == 0:
            if mode & (stat.S_IRWXO | stat.S_IWGRP):
                raise ConfigError(
                    f"secret_file {f} is readable by others or writable by its "
                    f"group (mode {mode:04o}); run: chmod 640 {f}"
                )
        elif st.st_uid != os.getuid():
            raise ConfigError(f"secret_file {f} is owned by another user: it must be root's or yours")
        elif mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(
                f"secret_file {f} is accessible by other users (mode {mode:04o}); run: chmod 600 {f}"
            )
        secret = os.read(fd, 4097).decode("utf-8", "replace").strip()
    finally:
        os.close(fd)
    if not secret:
        raise ConfigError(f"secret_file {f} is empty")
    cfg.tokens.secret = secret


def _system_config() -> Config | None:
    """The system file, if there is one; it must be root's and writable by root only (else
    any operator could rewrite the locks)."""
    path = SYSTEM_CONFIG
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read system config {path}: {exc.strerror}") from None
    if st.st_uid != 0 or stat.S_IMODE(st.st_mode) & (stat.S_IWGRP | stat.S_IWOTH):
        raise ConfigError(
            f"system config {path} must be owned by root and writable by root "
            f"only (owner uid {st.st_uid}, mode {stat.S_IMODE(st.st_mode):04o})"
        )
    cfg = _load_file(path)
    import tomllib

    from authcore.files import read_regular

    raw = tomllib.loads(read_regular(path).decode("utf-8")).get("lock", [])
    if not isinstance(raw, list) or not all(isinstance(k, str) for k in raw):
        raise ConfigError(f"system config {path}: lock must be a list of key names")
    unknown = sorted(set(raw) - LOCKABLE)
    if unknown:
        raise ConfigError(
            f"system config {path}: cannot lock {', '.join(unknown[:3])} "
            f"(lockable: {', '.join(sorted(LOCKABLE))})"
        )
    cfg.locked = frozenset(raw)
    cfg.system_path = path
    return cfg


def load_config(cli_path: str | os.PathLike[str] | None = None) -> Config:
    """The system file (if any), then the user file (``--config``, ``AUTHCONSOLE_CONFIG`` or
    the user config dir) over it; a user file setting a key the system file locks is refused
    (one line, naming the key). The user file's ``path`` is kept (``demo`` writes to it)."""
    system = _system_config()
    user = _load_file(cli_path)
    if system is None:
        return user
    clash = sorted(user.set_keys & system.locked)
    if clash:
        raise ConfigError(f"refused: config {user.path} sets {', '.join(clash)}, locked by {system.path}")
    merged = Config(path=user.path, set_keys=user.set_keys, locked=system.locked, system_path=system.path)
    fields = {
        "database_url": "database_url",
        "listen_url": "listen_url",
        "read_database_url": "read_database_url",
        "replica_max_lag": "replica_max_lag",
        "read_only": "read_only",
        "operators": "operators",
        "role_prefix": "role_prefix",
        "staleness": "staleness",
        "pool_size": "pool_size",
        "fast_paths": "fast_paths",
        "tokens": "tokens",
        "geoip_db": "geoip_db",
        "geoip_asn_db": "geoip_asn_db",
        "attention": "attention",
    }
    for key, attr in fields.items():
        source = user if key in user.set_keys else system
        setattr(merged, attr, getattr(source, attr))
    audit_from = user if "audit" in user.set_keys else system
    merged.seals_file, merged.seals_pubkey = audit_from.seals_file, audit_from.seals_pubkey
    return merged


def write_secret(path: Path, secret: str) -> None:
    """Store an HS256 secret in the config file (created mode 0600, other content kept)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = f'secret = "{secret}"\n'
    if path.exists():
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines(keepends=True)
        for i, ln in enumerate(lines):
            if ln.strip() == "[tokens]":
                lines.insert(i + 1, line)
                break
        else:
            if text and not text.endswith("\n"):
                lines.append("\n")
            lines.append("\n[tokens]\n" + line)
        new = "".join(lines)
    else:
        new = "# authconsole configuration (written by `authconsole demo`)\n\n[tokens]\n" + line
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(new)
    os.chmod(path, 0o600)
