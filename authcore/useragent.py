"""A session's user agent read as browser, OS and device, with ua-parser (1.x: a ``Parser`` over
the uap-core rules of ua-parser-builtins, as ``ua_parser.parse`` builds it, minus its cache).

Sessions of one user, and of a fleet, repeat a handful of user agents, and a parse costs about
2 ms in pure Python (up to ~40 ms for a hostile 1 KiB string; compiling the rules 0.5 to 1.5 s,
once per process, in the first worker that parses), so parses are cached (``CACHE_SIZE``
strings) and made only for the rows a screen or a command shows. The string is the client's,
so untrusted: what the rules pull out of it (families, versions) is cut here and reaches a
terminal only through ``console.safe`` / ``console.output``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
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


_parser: Any = None
_parser_lock = threading.Lock()


def _rules() -> Any:
    """ua-parser's ``Parser`` without its own cache (``_parse``'s is the one), with the fastest
    resolver installed (ua-parser-rs or google-re2 when present, else pure Python), built as
    ``ua_parser.parse``'s default is; once per process, on the first parse, not on import."""
    global _parser
    if _parser is None:
        with _parser_lock:
            if _parser is None:
                import ua_parser

                fast = ua_parser.RegexResolver or ua_parser.Re2Resolver
                matchers = ua_parser.load_lazy_builtins() if fast else ua_parser.load_builtins()
                _parser = ua_parser.Parser(ua_parser.BestAvailableResolver(matchers))
    return _parser


def _parse(ua: str) -> Agent:
    r = _rules().parse(ua)
    browser = _named(r.user_agent.family, r.user_agent.major) if r.user_agent else None
    os_name = _named(r.os.family, r.os.major, r.os.minor) if r.os else None
    device = r.device.family[:FAMILY_MAX] if r.device and r.device.family not in ("", "Other") else None
    return Agent(browser, os_name, device)


class _Cache:
    """Parsed user agents, least recently used out first; thread-safe (screens parse in worker
    threads). ``peek`` answers without parsing: a screen paints its page from what is cached and
    parses the rest after (``authcore.devices``)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[str, Agent] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def peek(self, ua: str) -> Agent | None:
        with self._lock:
            agent = self._items.get(ua)
            if agent is not None:
                self._items.move_to_end(ua)
                self.hits += 1
            return agent

    def put(self, ua: str, agent: Agent) -> None:
        with self._lock:
            self.misses += 1
            self._items[ua] = agent
            if len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.hits = self.misses = 0


_CACHE = _Cache(CACHE_SIZE)


def parse(ua: str | None) -> Agent | None:
    """Browser, OS and device of ``ua``; None when there is no user agent. Cached."""
    if not ua:
        return None
    ua = ua[:UA_MAX]
    agent = _CACHE.peek(ua)
    if agent is None:
        agent = _parse(ua)  # outside the lock: two threads may parse one string, never wait
        _CACHE.put(ua, agent)
    return agent


def cached(ua: str | None) -> Agent | None:
    """``parse(ua)`` if that costs nothing (no user agent, or parsed before), else None."""
    return _CACHE.peek(ua[:UA_MAX]) if ua else None


def cache_info() -> tuple[int, int]:
    """The cache's (hits, misses), for tests and the bench."""
    return _CACHE.hits, _CACHE.misses


def cache_clear() -> None:
    _CACHE.clear()
