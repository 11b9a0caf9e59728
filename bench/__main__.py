"""``python -m bench [--quick] [--only SECTION,...] [--engines sqlite,postgresql] [--size N]``.

Seeds (or reuses cached) databases, runs every measurement side by side with its baseline and
prints one table. Exit status 1 when any row misses its target (2 on a setup error).
Full run: 1,000,000 users (and 10,000 for the scaling rows), a few minutes once the databases are
cached (seeding 1M takes several minutes the first time). ``--quick``: 50,000 / 5,000 users,
fewer iterations where that holds steady, 4-5 minutes once cached. ``--size 10m``: the 10M run
(issue 17 item 5, ``bench.tenm``), ten million users against one million; any ``N[k|m]`` works,
against N/10. Not for CI: seeding 10M takes hours (docs/performance.md).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
import traceback

SECTIONS = (
    "seed",
    "search",
    "hotpaths",
    "logouts",
    "cli",
    "console",
    "verifier",
    "appserver",
    "activity",
    "attention",
    "devices",
)
# Sections that run only when asked for: ``--size`` runs these (unless --only names others).
SIZE_SECTIONS = ("tenm",)
SIZE_USAGE = "usage: python -m bench --size N[k|m]  (users, a multiple of 10 from 1k, e.g. 10m, 200k)"


def parse_size(text: str) -> int | None:
    """``--size``'s users: ``10m`` -> 10,000,000, ``200k``, ``50000``; None when not a size the
    run can take (at least 1,000 and a multiple of 10: the comparison size is a tenth of it)."""
    m = re.fullmatch(r"([0-9]{1,9})([km]?)", text.strip().lower())
    if not m:
        return None
    n = int(m.group(1)) * {"": 1, "k": 1_000, "m": 1_000_000}[m.group(2)]
    return n if n >= 1_000 and n % 10 == 0 else None


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes, fewer iterations (4-5 min)")
    p.add_argument("--only", default="", help=f"comma-separated sections: {', '.join(SECTIONS)}")
    p.add_argument("--skip", default="", help="comma-separated sections to leave out")
    p.add_argument(
        "--engines",
        default="sqlite,postgresql",
        help="sqlite, postgresql or both (PostgreSQL needs AUTHCONSOLE_BENCH_PG or AUTHCORE_TEST_PG_URL)",
    )
    p.add_argument("--users", type=int, default=None, help="override the large size")
    p.add_argument(
        "--size",
        default=None,
        help="the 10M run's sections (tenm) at N users vs N/10: 10m for the issue's run, 50k to try it",
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    size = None
    if args.size is not None:
        size = parse_size(args.size)
        if size is None or args.users is not None:
            print(SIZE_USAGE + ("; not with --users" if size else f"; got {args.size!r}"), file=sys.stderr)
            return 2
    from bench import datasets
    from bench.context import Ctx

    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if "postgresql" in engines and not datasets.pg_admin_url():
        print("PostgreSQL skipped: set AUTHCONSOLE_BENCH_PG or AUTHCORE_TEST_PG_URL", file=sys.stderr)
        engines = [e for e in engines if e != "postgresql"]
    big = size or args.users or (50_000 if args.quick else 1_000_000)
    small = size // 10 if size else 5_000 if args.quick else 10_000
    only = {s for s in args.only.split(",") if s} or set(SIZE_SECTIONS if size else SECTIONS)
    only -= {s for s in args.skip.split(",") if s}
    unknown = only - set(SECTIONS + SIZE_SECTIONS)
    if unknown:
        print(f"unknown section(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    print(
        f"bench: {'size' if size else 'quick' if args.quick else 'full'} run, {big:,} users (scaling vs "
        f"{small:,}), engines: {', '.join(engines)}",
        flush=True,
    )
    data = datasets.datasets([big, small], engines)
    ctx = Ctx(quick=args.quick, engines=engines, big=big, small=small, data=data)
    os.environ.setdefault("AUTHCORE_SECRET", "bench-secret-" + "b" * 40)
    try:
        for section in SECTIONS + SIZE_SECTIONS:
            if section not in only:
                continue
            print(f"[{section}]", flush=True)
            t_section = time.perf_counter()
            try:
                module = __import__(f"bench.{section}", fromlist=["run"])
                module.run(ctx)
            except Exception as exc:  # noqa: BLE001 - one broken section must not hide the rest
                from bench.harness import Row

                traceback.print_exc()
                ctx.add(
                    Row(
                        section,
                        "section failed",
                        float("nan"),
                        "",
                        0.0,
                        1.0,
                        error=f"{type(exc).__name__}: {exc}",
                    )
                )
            print(f"  ({time.perf_counter() - t_section:.0f}s)", flush=True)
    finally:
        ctx.close()
    print()
    print(ctx.table.render())
    failed = ctx.table.failed
    print(
        f"\n{len(ctx.table.rows) - len(failed)}/{len(ctx.table.rows)} rows pass "
        f"({time.perf_counter() - t0:.0f}s)"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
