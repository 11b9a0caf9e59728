"""authcore.useragent: browser, OS and device from ua-parser's rules, cached, with hostile
strings parsed without error and what comes out cut."""

from __future__ import annotations

import time

import pytest

from authcore import useragent
from authcore.useragent import FAMILY_MAX, UA_MAX, VERSION_MAX, Agent, parse
from tests.support.agents import IPHONE, MAC, PIXEL, WINDOWS


@pytest.mark.parametrize(
    ("ua", "agent", "summary"),
    [
        (IPHONE, Agent("Mobile Safari 17", "iOS 17.1", "iPhone"), "Mobile Safari 17 · iOS 17.1 · iPhone"),
        (WINDOWS, Agent("Chrome 120", "Windows 10", None), "Chrome 120 · Windows 10"),
        (
            PIXEL,
            Agent("Chrome Mobile 120", "Android 14", "Pixel 8"),
            "Chrome Mobile 120 · Android 14 · Pixel 8",
        ),
        (MAC, Agent("Safari 17", "Mac OS X 10.15", "Mac"), "Safari 17 · Mac OS X 10.15"),
        ("curl/8.4.0", Agent("curl 8", None, None), "curl 8"),
        (
            "Googlebot/2.1 (+http://www.google.com/bot.html)",
            Agent("Googlebot 2", None, "Spider"),
            "Googlebot 2 · Spider",
        ),
        ("something nobody knows", Agent(None, None, None), ""),
        (
            "ExampleApp/4.2.0 (Android 14; SM-S918B)",
            Agent("Android 14", "Android 14", "Samsung SM-S918B"),
            "Android 14 · Samsung SM-S918B",
        ),
    ],
)
def test_parses_browser_os_device(ua: str, agent: Agent, summary: str) -> None:
    got = parse(ua)
    assert got == agent
    assert got is not None and got.summary == summary
    assert got.to_dict() == {"browser": agent.browser, "os": agent.os, "device": agent.device}


@pytest.mark.parametrize("ua", [None, ""])
def test_no_user_agent_is_none(ua: str | None) -> None:
    assert parse(ua) is None


HOSTILE = [
    "[bold red]x[/][@click=app.quit]quit[/]" * 40,
    "\x1b]0;pwned\x07\x1b[2J Mozilla/5.0 \u202eevil\u200b",
    "Mozilla/5.0 (Linux; Android " + "1" * 2000 + ")",
    "Mozilla/5.0 (" + "(" * 5000,
    "Chrome/" + "9" * 3000 + " " + "A" * 100000,
    "\x00\x01\x02\ud800",
]


@pytest.mark.parametrize("ua", HOSTILE)
def test_hostile_strings_parse_without_error_and_come_out_cut(ua: str) -> None:
    t0 = time.monotonic()
    got = parse(ua)
    assert time.monotonic() - t0 < 5  # the first parse also loads the rules (~0.5 s)
    assert got is not None
    for part in (got.browser, got.os, got.device):
        assert part is None or len(part) <= FAMILY_MAX + 1 + 3 * VERSION_MAX + 2


def test_a_huge_android_version_is_cut() -> None:
    got = parse("Mozilla/5.0 (Linux; Android " + "1" * 2000 + ") Mobile")
    assert got is not None and got.os == "Android " + "1" * VERSION_MAX


def test_only_the_stored_length_is_parsed_and_cached() -> None:
    """Two strings equal in their first UA_MAX characters are one parse (as stored, one string)."""
    base = WINDOWS + " " * (UA_MAX - len(WINDOWS))
    useragent.cache_clear()
    parse(base + "tail one")
    parse(base + "tail two")
    assert useragent.cache_info() == (1, 1)


def test_repeats_are_cached() -> None:
    useragent.cache_clear()
    assert useragent.cached(IPHONE) is None
    for _ in range(10):
        parse(IPHONE)
    assert useragent.cache_info() == (9, 1)
    assert useragent.cached(IPHONE) == parse(IPHONE)


def test_the_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    small = useragent._Cache(3)
    monkeypatch.setattr(useragent, "_CACHE", small)
    for i in range(5):
        parse(f"curl/{i}.0")
    assert list(small._items) == ["curl/2.0", "curl/3.0", "curl/4.0"]
    parse("curl/2.0")  # used: kept over the older 3.0
    parse("curl/9.0")
    assert list(small._items) == ["curl/4.0", "curl/2.0", "curl/9.0"]
