"""Sessions an operator can read: each session's user agent as browser/OS/device
(``authcore.useragent``) and, when the operator configured an MMDB file, where its address is
(``authcore.geoip``). ``core.devices`` (``AuthCore``) is the one instance of a process.

The sessions service returns records; this adds what they mean, for the rows a caller shows
(a screen's page, a command's list), never for a whole table: parses and lookups are cached,
since user agents and addresses repeat. Without a GeoIP file ``located`` is False and nothing
here has a location: callers leave the column (and the JSON key) out rather than show it empty.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from authcore import useragent
from authcore.geoip import GeoIP, Location
from authcore.useragent import Agent

if TYPE_CHECKING:  # pragma: no cover
    from authcore.config import Config
    from authcore.sessions import SessionRecord


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
        self, records: Iterable[SessionRecord], *, cached_only: bool = False
    ) -> dict[str, SessionDevice]:
        """``of`` for each record, by ``public_id`` (what a screen's worker hands its rows).
        A screen paints its page with ``cached_only=True`` (lookups are microseconds, parses
        milliseconds) and then parses ``unparsed(records)``, so a page of new user agents never
        delays the page."""
        # A page repeats a few user agents and places (a page of 50 rows had 8 user agents):
        # each distinct user agent is parsed once and each (user agent, place) pair built once;
        # the rest are dict hits. The address is the one the session was last seen from.
        agent_of = useragent.cached if cached_only else useragent.parse
        lookup = self.geoip.lookup if self.geoip is not None else None
        agents: dict[str | None, Agent | None] = {}
        built: dict[tuple[str | None, Location | None], SessionDevice] = {}
        out: dict[str, SessionDevice] = {}
        for s in records:
            ua = s.user_agent
            agent = agents[ua] if ua in agents else agents.setdefault(ua, agent_of(ua))
            key = (ua, lookup(s.last_ip or s.first_ip) if lookup is not None else None)
            device = built.get(key)
            if device is None:
                device = built[key] = SessionDevice(agent, key[1])
            out[s.public_id] = device
        return out

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
        if self.geoip is not None:
            self.geoip.close()
