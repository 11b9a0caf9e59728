"""Readable sessions at scale (``core.devices``, issue 16.3): what parsing user agents and locating
addresses adds to the page a session screen's worker loads, on the seeded databases (read only).

- warm: ``devices.describe`` of the sessions screen's page (``PAGE`` rows of
  ``sessions.recent``) against loading that page, interleaved: at most 5% of it. The caches are
  what the user screen's 5-second refresh and a filter keystroke that brings back seen rows meet.
- cold: the same with the parse, lookup and built-device caches emptied before each call (the
  rules stay loaded: that is once per process), against loading the page. Reported, not judged: it
  depends on how many distinct user agents a page holds (the seed has about ten), and the
  screens do it after the page is painted (``Devices.unparsed``, ``DevicesParsed``), so it
  delays the device column, never the page.
- rules: the first parse of a process (loading ua-parser's rules), in a child interpreter.

The GeoIP file is ``bench.attention.geoip_file`` (the seed's public networks). Parsing runs in the
screen's worker thread, never on the UI thread: the keystroke figures of the console section are
the users screen's; this section says how much the sessions screen's worker grows.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.context import Ctx
from bench.datasets import label
from bench.harness import Row, interleave

PAGE = 50  # the console's page_size


def devices(ctx: Ctx, engine: str, geoip: Any) -> None:
    from authcore import useragent
    from authcore.devices import Devices

    core = ctx.core(engine)
    dev = Devices(geoip)

    def page() -> object:
        return core.sessions.recent(limit=PAGE)

    recs = core.sessions.recent(limit=PAGE)

    def describe() -> object:
        return dev.describe(recs)

    def describe_cold() -> object:
        useragent.cache_clear()
        geoip._cached.cache_clear()  # noqa: SLF001 - the bench empties the caches on purpose
        dev.cache_clear()
        return dev.describe(recs)

    described = dev.describe(recs)
    agents = len({r.user_agent for r in recs})
    located = sum(1 for d in described.values() if d.location is not None)
    n = 10 if ctx.quick else 30
    where = f"{engine}, {label(ctx.big)} users, {PAGE}-row page"
    note = f"{agents} distinct user agents, {located}/{len(recs)} addresses located"
    s = interleave(describe, page, samples=n)
    ctx.add(
        Row(
            "devices",
            f"devices.describe of a sessions page, warm caches ({where})",
            s.stat("a"),
            "loading the page",
            s.stat("b"),
            0.05,
            note=note + "; what the page's worker adds to its query",
        )
    )
    s = interleave(describe_cold, page, samples=n)
    ctx.add(
        Row(
            "devices",
            f"devices.describe of a sessions page, empty caches ({where})",
            s.stat("a"),
            "loading the page",
            s.stat("b"),
            float("inf"),
            note=note + "; in the worker thread, once per distinct user agent",
            info=True,
        )
    )


RULES = """
import time
from authcore.useragent import parse
t0 = time.perf_counter(); parse("curl/8.4.0"); t1 = time.perf_counter()
parse("Wget/1.21"); t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


def rules(ctx: Ctx) -> None:
    out = subprocess.run(
        [sys.executable, "-c", RULES], capture_output=True, text=True, timeout=120, check=True
    )
    first, second = (float(x) for x in out.stdout.split())
    ctx.add(
        Row(
            "devices",
            "first user-agent parse of a process (loads the rules)",
            first,
            "the second parse",
            second,
            float("inf"),
            note="once per process, in the first session page's worker",
            info=True,
        )
    )


def run(ctx: Ctx) -> None:
    from authcore.geoip import GeoIP
    from bench.attention import geoip_file

    rules(ctx)
    with tempfile.TemporaryDirectory(prefix="bench-devices-") as tmp:
        geoip = GeoIP.open(geoip_file(Path(tmp)))
        try:
            for engine in ctx.engines:
                if ctx.has(engine):
                    devices(ctx, engine, geoip)
        finally:
            geoip.close()
