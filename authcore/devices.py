"""Sessions an operator can read: each session's user agent as browser/OS/device
(``authcore.useragent``) and, when the operator configured an MMDB file, where its address is
(``authcore.geoip``). ``core.devices`` (``AuthCore``) is the one instance of a process.

The sessions service returns records; this adds what they mean, for the rows a caller shows
(a screen's page, a command's list), never for a whole table: parses, lookups and the finished
device of each (user agent, address) pair are cached, since they repeat (a refresh, a filter
that brings back rows). Without a GeoIP file ``located`` is False and nothing here has a
location: callers leave the column (and the JSON key) out rather than show it empty.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from authcore import useragent
from authcore.geoip import GeoIP, Location
from authcore.useragent import Agent

if TYPE_CHECKING:  # pragma: no cover
    from authcore.config import Config
    from authcore.sessions import SessionRecord

CACHE_SIZE = 4096  # (user agent, address) pairs kept: 80 pages of 50 distinct pairs


def configured(config: Config) -> bool:
    """Whether the config names a GeoIP file: screens decide their columns with it before the
    file is opened (``Devices.located`` once it is)."""
    return config.geoip_db is not None or config.geoip_asn_db is not None


@dataclass(frozen=True, slots=True)
class SessionDevice:
    """A session's parsed user agent (None: it sent none) and the location of its address
    (None: no GeoIP file, no address, or one the file does not know)."""

    agent: Agent | None
    location: Location | None


class Devices:
    """User-agent parsing and, with a ``GeoIP``, address lookups for session records."""

    def __init__(self, geoip: GeoIP | None = None) -> None:
        self.geoip = geoip
        # (user agent, address) -> the finished device, for rows seen before: a warm page is
        # one dict hit a row. Oldest built out first (a hit does not reorder: that would cost
        # every row of every page); a pair out of it is rebuilt from the parse and lookup
        # caches below. Only complete devices go in: never one whose agent a ``cached_only``
        # call left unparsed.
        self._built: OrderedDict[tuple[str | None, str | None], SessionDevice] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: Config) -> Devices:
        """Opens the configured MMDB file(s) once: ``ConfigError`` (one line) when one is
        missing or not an MMDB file. Neither configured: user agents only."""
        db, asn = config.geoip_db, config.geoip_asn_db
        if not configured(config):
            return cls(None)
        if db is not None:
            return cls(GeoIP.open(db, asn))
        assert asn is not None
        return cls(GeoIP.open(asn, settings=("geoip_asn_db", "geoip_asn_db")))

    @property
    def located(self) -> bool:
        """Whether there is a GeoIP file: else location columns and keys are left out."""
        return self.geoip is not None

    def of(self, s: SessionRecord, *, cached_only: bool = False) -> SessionDevice:
        """The session's device, and the location of the address it was last seen from.
        ``cached_only``: a user agent not parsed before is left unparsed (agent None)."""
        return self.describe((s,), cached_only=cached_only)[s.public_id]

    def describe(
        self, records: Sequence[SessionRecord], *, cached_only: bool = False
    ) -> dict[str, SessionDevice]:
        """``of`` for each record, by ``public_id`` (what a screen's worker hands its rows).
        A screen paints its page with ``cached_only=True`` (lookups are microseconds, parses
        milliseconds) and then parses ``unparsed(records)``, so a page of new user agents never
        delays the page."""
        # The address is the one the session was last seen from. A row seen before is one dict
        # hit (what a refresh or a filter keystroke that brings back rows meets); the others
        # are built from the parse and lookup caches.
        get = self._built.get
        out = {s.public_id: get((s.user_agent, s.last_ip or s.first_ip)) for s in records}
        if not all(out.values()):  # a miss is None; a device is true (``in`` would call __eq__)
            self._build(records, out, cached_only)
        return out  # type: ignore[return-value] # every None was filled by _build

    def _build(
        self, records: Sequence[SessionRecord], out: dict[str, SessionDevice | None], cached_only: bool
    ) -> None:
        """The rows ``describe`` found no device for: each distinct user agent parsed (or, with
        ``cached_only``, taken from the parse cache) and each address located, once a call."""
        agent_of = useragent.cached if cached_only else useragent.parse
        lookup = self.geoip.lookup if self.geoip is not None else None
        agents: dict[str | None, Agent | None] = {}
        made: dict[tuple[str | None, str | None], SessionDevice] = {}
        for s in records:
            if out[s.public_id] is not None:
                continue
            ua, ip = s.user_agent, s.last_ip or s.first_ip
            device = made.get((ua, ip))
            if device is None:
                agent = agents[ua] if ua in agents else agents.setdefault(ua, agent_of(ua))
                device = SessionDevice(agent, lookup(ip) if lookup is not None else None)
                made[ua, ip] = device
            out[s.public_id] = device
        with self._lock:
            for key, device in made.items():
                if device.agent is not None or not key[0]:  # complete: no parse left to make
                    self._built[key] = device
            while len(self._built) > CACHE_SIZE:
                self._built.popitem(last=False)

    def cache_clear(self) -> None:
        """Forget the built devices (the bench's empty-caches row; ``close``)."""
        with self._lock:
            self._built.clear()

    @staticmethod
    def unparsed(records: Iterable[SessionRecord]) -> list[SessionRecord]:
        """The records whose user agent has not been parsed yet."""
        return [s for s in records if s.user_agent and useragent.cached(s.user_agent) is None]

    def session_dict(self, s: SessionRecord) -> dict[str, Any]:
        """``SessionRecord.to_dict`` plus ``agent`` (``{browser, os, device}``, null without a
        user agent) and, only when a GeoIP file is configured, ``location`` (``{country, asn,
        asn_org}``, null when the address is unknown): the JSON of ``sessions list``."""
        d = s.to_dict()
        dev = self.of(s)
        d["agent"] = dev.agent.to_dict() if dev.agent is not None else None
        if self.located:
            d["location"] = dev.location.to_dict() if dev.location is not None else None
        return d

    def close(self) -> None:
        self.cache_clear()  # their locations came from the file being closed
        if self.geoip is not None:
            self.geoip.close()
