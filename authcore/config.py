"""Configuration: a TOML file plus environment variables.

Lookup order for the file: ``--config``, then ``AUTHCONSOLE_CONFIG``, then the platform's user config
dir. For the database URL: ``--db``, ``AUTHCONSOLE_DATABASE_URL``, ``DATABASE_URL``, the file, then
the embedded SQLite default. The HS256 secret comes from ``AUTHCORE_SECRET`` or the file.
"""

from __future__ import annotations

import os
import stat
import tomllib
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from authcore.errors import ConfigError
from authcore.timeutil import parse_duration

APP_NAME = "authconsole"
SECRET_ENV = "AUTHCORE_SECRET"
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
    secret: str | None = None
    secret_env: str | None = None
    file: Path | None = None  # PEM, JWK or JWKS


@dataclass
class TokenSettings:
    issuer: str = "authconsole"
    audience: str = "authconsole"
    algorithm: str = "HS256"
    access_ttl: timedelta = timedelta(minutes=15)
    refresh_ttl: timedelta = timedelta(days=30)
    leeway: timedelta = timedelta(seconds=10)
    refresh_grace: timedelta = timedelta(seconds=10)
    max_lifetime: timedelta | None = None  # inspector warning threshold; default refresh_ttl
    secret: str | None = None
    private_key_file: Path | None = None
    kid: str | None = None
    verify_keys: list[KeySpec] = field(default_factory=list)

    @property
    def lifetime_limit(self) -> timedelta:
        return self.max_lifetime or self.refresh_ttl


@dataclass
class Config:
    path: Path | None = None
    database_url: str | None = None
    read_only: bool = False
    tokens: TokenSettings = field(default_factory=TokenSettings)
    operators: dict[str, str] = field(default_factory=dict)
    staleness: timedelta = timedelta(seconds=2)
    file_exists: bool = False
    # idle fast-path connections kept per engine (authcore.fastpath): size it to the app's
    # concurrency (FastAPI/Starlette run sync endpoints on a 40-thread pool)
    pool_size: int = 40
    role_prefix: str = ""  # PostgreSQL role names' prefix (``authconsole db roles --prefix``)

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
    a ``ConfigError``."""
    for candidate in (
        cli_db,
        os.environ.get("AUTHCONSOLE_DATABASE_URL"),
        os.environ.get("DATABASE_URL"),
        config.database_url,
    ):
        if candidate:
            return candidate
    if not fallback:
        raise ConfigError("no database URL configured: set DATABASE_URL (or "
                          "AUTHCONSOLE_DATABASE_URL, or database_url in the config); an app "
                          "never creates an embedded database")
    return default_database_url()


def _duration(section: dict[str, Any], key: str, default: timedelta | None) -> timedelta | None:
    if key not in section:
        return default
    try:
        return parse_duration(section[key])
    except ValueError as exc:
        raise ConfigError(f"config: tokens.{key}: {exc}") from None


def _rel(base: Path, value: str) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else (base.parent / p)


def _check_private(path: Path) -> None:
    """Refuse a secret-bearing file that group or others can read, like ssh does for keys."""
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"config {path} holds a secret but is accessible by other users "
            f"(mode {stat.S_IMODE(mode):04o}); run: chmod 600 {path}"
        )


def _key_spec(base: Path, raw: dict[str, Any]) -> KeySpec:
    if not isinstance(raw, dict):
        raise ConfigError("config: each [[tokens.verify_keys]] entry must be a table")
    unknown = set(raw) - {"kid", "alg", "secret", "secret_env", "file"}
    if unknown:
        raise ConfigError(f"config: unknown key setting(s): {', '.join(sorted(unknown))}")
    return KeySpec(
        kid=raw.get("kid"),
        alg=raw.get("alg"),
        secret=raw.get("secret"),
        secret_env=raw.get("secret_env"),
        file=_rel(base, raw["file"]) if raw.get("file") else None,
    )


def load_config(cli_path: str | os.PathLike[str] | None = None) -> Config:
    """Load the config file (a missing file gives the defaults)."""
    path = resolve_config_path(cli_path)
    cfg = Config(path=path)
    if not path.exists():
        if cli_path:
            raise ConfigError(f"config file not found: {path}")
        return cfg
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config {path}: {exc.__class__.__name__}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config {path} is not valid TOML: {exc}") from None
    cfg.file_exists = True
    cfg.database_url = data.get("database_url")
    cfg.read_only = bool(data.get("read_only", False))
    if "pool_size" in data:
        ps = data["pool_size"]
        if not isinstance(ps, int) or isinstance(ps, bool) or ps < 1:
            raise ConfigError("config: pool_size must be a positive integer")
        cfg.pool_size = ps
    cfg.role_prefix = str(data.get("role_prefix", ""))
    if "staleness" in data:
        cfg.staleness = _duration(data, "staleness", cfg.staleness) or cfg.staleness
    ops = data.get("operators", {})
    if not isinstance(ops, dict):
        raise ConfigError("config: [operators] must map OS user names to 'viewer' or 'admin'")
    for user, role in ops.items():
        if role not in ROLES:
            raise ConfigError(f"config: operator {user!r} has unknown role {role!r}")
    cfg.operators = dict(ops)
    t = data.get("tokens", {})
    if not isinstance(t, dict):
        raise ConfigError("config: [tokens] must be a table")
    ts = TokenSettings()
    ts.issuer = str(t.get("issuer", ts.issuer))
    ts.audience = str(t.get("audience", ts.audience))
    ts.algorithm = str(t.get("algorithm", ts.algorithm))
    ts.access_ttl = _duration(t, "access_ttl", ts.access_ttl) or ts.access_ttl
    ts.refresh_ttl = _duration(t, "refresh_ttl", ts.refresh_ttl) or ts.refresh_ttl
    ts.leeway = _duration(t, "leeway", ts.leeway) if "leeway" in t and t["leeway"] else ts.leeway
    ts.refresh_grace = _duration(t, "refresh_grace", ts.refresh_grace) or ts.refresh_grace
    ts.max_lifetime = _duration(t, "max_lifetime", None)
    ts.secret = t.get("secret")
    ts.kid = t.get("kid")
    if t.get("private_key_file"):
        ts.private_key_file = _rel(path, t["private_key_file"])
    ts.verify_keys = [_key_spec(path, k) for k in t.get("verify_keys", [])]
    if ts.secret or any(k.secret for k in ts.verify_keys):
        _check_private(path)
    cfg.tokens = ts
    return cfg


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
