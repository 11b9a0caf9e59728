"""Where a session's IP address is: country and ASN from MaxMind DB (MMDB) files.

The operator configures the files (``geoip_db``, and ``geoip_asn_db`` when country and ASN come
in two files, as with MaxMind's GeoLite2-City + GeoLite2-ASN or DB-IP's city + ASN lite files).
Each file is read for whatever of the fields it has, under the names the common formats use:

- country: ``country.iso_code`` (GeoLite2/GeoIP2 City and Country, DB-IP), falling back to
  ``registered_country.iso_code``; ``country_code`` or a plain ``country`` string (IPinfo);
- ASN: ``autonomous_system_number`` (GeoLite2-ASN, DB-IP ASN) or ``asn`` (``"AS13335"`` or a
  number, IPinfo); its organisation: ``autonomous_system_organization`` or ``as_name``.

So one file holding both (IPinfo lite, GeoIP2 Enterprise) is enough, and a second file fills
only what the first lacked. Values are the file's, i.e. untrusted: they are type-checked and cut
here, and reach a terminal only through ``console.safe``/``console.output``.

Opening is bounded: the path must be a regular file (a FIFO would block ``open``), at most
``MAX_DB_BYTES``, and is memory-mapped, not read; a missing, unreadable or corrupt file is one
``ConfigError`` line naming the setting. Lookups never raise (a malformed address, an IPv6
address in an IPv4-only file, a corrupt record: ``None``) and repeat addresses are cached.
"""

from __future__ import annotations

import errno
import functools
import ipaddress
import os
import stat
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from authcore.errors import ConfigError

MAX_DB_BYTES = 4 << 30  # GeoLite2-City is ~60 MB, DB-IP's city lite ~130 MB; bigger is a mistake
CACHE_SIZE = 8192  # addresses kept (sessions of a page share few; a 1M-user listing shows a page)
ORG_MAX = 200  # an ASN organisation longer than this is cut (the file is untrusted)
ASN_MAX = 0xFFFFFFFF  # 32-bit AS numbers


class Location(NamedTuple):
    """What the configured file(s) say about one address; a field the files lack is None."""

    country: str | None  # ISO 3166-1 alpha-2, upper case ("DE")
    asn: int | None
    asn_org: str | None

    @property
    def short(self) -> str:
        """For a table cell: ``DE AS64500``, what is known of it."""
        return " ".join(p for p in (self.country, f"AS{self.asn}" if self.asn is not None else None) if p)

    @property
    def long(self) -> str:
        """For a detail line: ``DE AS64500 Example Telecom AG``."""
        return " ".join(p for p in (self.short, self.asn_org) if p)

    def to_dict(self) -> dict[str, Any]:
        return {"country": self.country, "asn": self.asn, "asn_org": self.asn_org}


@dataclass(frozen=True)
class _Source:
    setting: str  # the config key, for error lines
    path: str
    reader: Any  # maxminddb.Reader (the C extension's when built)


def _check_file(setting: str, path: str) -> None:
    """A regular file of at most ``MAX_DB_BYTES``, or one ``ConfigError`` line."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError as exc:
        raise ConfigError(f"config: {setting} {path}: {exc.strerror or type(exc).__name__}") from None
    try:
        st = os.fstat(fd)
    finally:
        os.close(fd)
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(f"config: {setting} {path} is not a regular file")
    if st.st_size > MAX_DB_BYTES:
        raise ConfigError(f"config: {setting} {path} is too large (at most {MAX_DB_BYTES:,} bytes)")


def _open_reader(setting: str, path: str) -> _Source:
    import maxminddb

    _check_file(setting, path)
    try:
        reader = maxminddb.open_database(path, maxminddb.MODE_AUTO)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.EACCES, errno.EISDIR):
            raise ConfigError(f"config: {setting} {path}: {exc.strerror}") from None
        raise ConfigError(f"config: {setting} {path} is not a MaxMind DB (mmdb) file") from None
    except (ValueError, RuntimeError):  # maxminddb.InvalidDatabaseError is a RuntimeError
        raise ConfigError(f"config: {setting} {path} is not a MaxMind DB (mmdb) file") from None
    return _Source(setting, path, reader)


def _country(rec: Mapping[str, Any]) -> str | None:
    for key in ("country", "registered_country"):
        v = rec.get(key)
        if isinstance(v, Mapping):
            v = v.get("iso_code")
        if isinstance(v, str) and len(v) == 2 and v.isascii() and v.isalpha():
            return v.upper()
    v = rec.get("country_code")
    if isinstance(v, str) and len(v) == 2 and v.isascii() and v.isalpha():
        return v.upper()
    return None


def _asn(rec: Mapping[str, Any]) -> int | None:
    v = rec.get("autonomous_system_number", rec.get("asn"))
    if isinstance(v, str):
        digits = v[2:] if v[:2].upper() == "AS" else v
        v = int(digits) if digits.isascii() and digits.isdigit() and len(digits) <= 10 else None
    if isinstance(v, bool) or not isinstance(v, int) or not 0 < v <= ASN_MAX:
        return None
    return v


def _org(rec: Mapping[str, Any]) -> str | None:
    v = rec.get("autonomous_system_organization", rec.get("as_name"))
    if not isinstance(v, str) or not v.strip():
        return None
    return v.strip()[:ORG_MAX]


def _fields(rec: Any) -> Location:
    if not isinstance(rec, Mapping):
        return Location(None, None, None)
    return Location(_country(rec), _asn(rec), _org(rec))


class GeoIP:
    """One or two open MMDB files. Build with ``GeoIP.open``; thread-safe (the readers are
    memory maps read without state, the cache is ``functools.lru_cache``)."""

    def __init__(self, sources: list[_Source]) -> None:
        self._sources = sources
        self._lock = threading.Lock()
        self._cached = functools.lru_cache(maxsize=CACHE_SIZE)(self._lookup)

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        asn_path: str | os.PathLike[str] | None = None,
        *,
        settings: tuple[str, str] = ("geoip_db", "geoip_asn_db"),
    ) -> GeoIP:
        """Open ``path`` (and ``asn_path``), once. ``ConfigError`` (one line naming the setting
        from ``settings``) when one is missing, unreadable, not a regular file, too large or not
        an MMDB file."""
        sources = [_open_reader(settings[0], os.fspath(path))]
        if asn_path is not None:
            try:
                sources.append(_open_reader(settings[1], os.fspath(asn_path)))
            except BaseException:
                sources[0].reader.close()
                raise
        return cls(sources)

    @property
    def paths(self) -> list[str]:
        return [s.path for s in self._sources]

    def lookup(self, ip: str | None) -> Location | None:
        """Country and ASN of ``ip``; None for no address, a malformed one, or one no file
        knows. A field no file has is None; the first file that has it wins."""
        return self._cached(ip)

    def _lookup(self, ip: str | None) -> Location | None:
        if not ip or len(ip) > 64:
            return None
        try:
            addr: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(ip.strip())
        except ValueError:
            return None
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped  # "::ffff:203.0.113.9" from a dual-stack socket is its IPv4
        found: list[Location] = []
        for src in self._sources:
            try:
                rec = src.reader.get(addr)
            except (ValueError, RuntimeError):  # IPv6 in an IPv4 file, a closed file; a corrupt
                rec = None  # record (InvalidDatabaseError is a RuntimeError): not known here
            if rec is not None:
                found.append(_fields(rec))
        if not found:
            return None
        return Location(
            next((f.country for f in found if f.country), None),
            next((f.asn for f in found if f.asn is not None), None),
            next((f.asn_org for f in found if f.asn_org), None),
        )

    def close(self) -> None:
        with self._lock:
            for src in self._sources:
                try:
                    src.reader.close()
                except Exception:  # noqa: BLE001 - closing twice, or a reader that failed: nothing to keep
                    pass
            self._cached.cache_clear()
