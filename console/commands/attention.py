"""``authconsole attention [--since 24h] [--limit N]``: the users that need an operator now.

One row per finding of ``core.attention`` (``authcore.attention``): the signal, the user, when,
why, and the command of the operator action that fits it (``console.actions``). A signal that
could not run (no GeoIP database) or had more findings than shown says so under the table.
"""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from console.args import LIMIT_MAX, limit_arg
from console.output import emit_json, line, table

if TYPE_CHECKING:
    from authcore.attention import AttentionReport, Finding
    from console.cli import Ctx


def _since(value: str) -> timedelta:
    from authcore.timeutil import parse_duration

    try:
        return parse_duration(value)
    except ValueError:  # its message quotes the value; argparse's line names the option
        raise argparse.ArgumentTypeError("not a positive duration (use e.g. 90m, 24h, 7d)") from None


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser(
        "attention",
        parents=[common],
        help="users that need attention: refresh reuse, new places, session bursts, disabled with sessions",
    )
    p.add_argument(
        "--since",
        type=_since,
        default=timedelta(hours=24),
        metavar="DURATION",
        help="window (default 24h, at most 30d)",
    )
    p.add_argument(
        "--limit", type=limit_arg(), default=200, help=f"1..{LIMIT_MAX} findings per signal (default 200)"
    )
    p.set_defaults(func=attention)


def command(f: Finding) -> str:
    """The command line of the action that fits ``f`` (the registry's CLI form, filled in)."""
    from console.actions import ACTIONS

    form = ACTIONS[f.action].cli.replace("USER", str(f.user_id), 1)
    return "authconsole " + form.replace("SID", f.session_id or "SID")


def notes(report: AttentionReport) -> list[str]:
    """One line per signal that did not run or had more findings than shown."""
    from authcore.attention import TITLES

    out = []
    for s in report.signals:
        if not s.available:
            out.append(f"{s.signal} ({TITLES[s.signal]}): not checked: {s.note}")
        elif s.truncated:
            out.append(f"{s.signal}: more findings than shown (raise --limit or narrow --since)")
    return out


def attention(ctx: Ctx) -> int:
    a = ctx.args
    report = ctx.core().attention(a.since, limit=a.limit)
    if ctx.json:
        data: dict[str, Any] = report.to_dict()
        for d, f in zip(data["findings"], report.findings, strict=True):
            d["command"] = command(f)
        emit_json(data)
        return 0
    rows = [
        [str(f.signal), f.email, f.user_id, f.at.strftime("%Y-%m-%d %H:%M"), f.count, f.why, command(f)]
        for f in report.findings
    ]
    if rows:
        table(rows, ["SIGNAL", "USER", "ID", "LAST (UTC)", "N", "WHY", "ACTION"], [17, 26, 8, 16, 4, 60, 44])
    else:
        line("nothing needs attention")
    for n in notes(report):
        line("note: " + n)
    return 0
