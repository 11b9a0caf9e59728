"""A session's user agent read as browser, OS and device, with ua-parser (1.x, ``ua_parser.parse``
and the uap-core rules of ua-parser-builtins).

Sessions of one user, and of a fleet, repeat a handful of user agents, and a parse costs about
2 ms in pure Python (up to ~40 ms for a hostile 1 KiB string; loading the rules ~0.5 s, once per
process), so parses are cached (``CACHE_SIZE`` strings) and made only for the rows a screen or a
command shows. The string is the client's, so untrusted: what the rules pull out of it
(families, versions) is cut here and reaches a terminal only through ``console.safe`` /
``console.output``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

UA_MAX = 1024  # a user agent is stored (authcore.sessions) and parsed up to this length
CACHE_SIZE = 4096
FAMILY_MAX = 40
VERSION_MAX = 12


@dataclass(frozen=True, slots=True)
class Agent:
    """What the rules recognised; a part they did not is None (``curl/8`` has no OS)."""

    browser: str | None  # "Chrome 120", "Mobile Safari 17", "curl 8"
    os: str | None  # "Windows 10", "iOS 17.1", "Android 14"
    device: str | None  # "iPhone", "Pixel 8", "Mac", "Spider" (a crawler)

    @property
    def summary(self) -> str:
        """One short line for a table cell: the recognised parts, or "" for none."""
        parts = [p for p in (self.browser, self.os) if p]
        if self.device and self.device not in (self.os or ""):
            parts.append(self.device)
        # an app's own agent ("ExampleApp/4.2 (Android 14; ...)") reads as browser "Android 14"
        return " · ".join(dict.fromkeys(parts))

    def to_dict(self) -> dict[str, Any]:
        return {"browser": self.browser, "os": self.os, "device": self.device}


def _named(family: str | None, *versions: str | None) -> str | None:
    if not family or family == "Other":
        return None
    name = family[:FAMILY_MAX]
    version = ".".join(v[:VERSION_MAX] for v in _leading(versions))
    return f"{name} {version}" if version else name


def _leading(versions: tuple[str | None, ...]) -> list[str]:
    """The version parts up to the first missing one ("10", "15"; never "10..7")."""
    out = []
    for v in versions:
        if not v:
            break
        out.append(v)
    return out


@functools.lru_cache(maxsize=CACHE_SIZE)
def _parse(ua: str) -> Agent:
    import ua_parser  # its rules load on the first parse (~0.5 s), not on import of authcore

    r = ua_parser.parse(ua)
    browser = _named(r.user_agent.family, r.user_agent.major) if r.user_agent else None
    os_name = _named(r.os.family, r.os.major, r.os.minor) if r.os else None
    device = r.device.family[:FAMILY_MAX] if r.device and r.device.family not in ("", "Other") else None
    return Agent(browser, os_name, device)


def parse(ua: str | None) -> Agent | None:
    """Browser, OS and device of ``ua``; None when there is no user agent. Cached."""
    if not ua:
        return None
    return _parse(ua[:UA_MAX])


def cache_info() -> Any:
    """The cache's hits and misses (``functools._CacheInfo``), for tests and the bench."""
    return _parse.cache_info()
