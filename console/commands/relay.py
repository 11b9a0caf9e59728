"""``authconsole relay``: revocation notices from PostgreSQL onto a NATS JetStream stream.

Runs until SIGTERM or ctrl+c (a service: systemd ``Restart=always``). Each failure (database or
bus) is one line on stderr and a reconnect; a restart resumes from the stream, so nothing is lost
or sent twice (``authcore.relay``, docs/verifier.md "Deployment shapes").
"""

from __future__ import annotations

import argparse
import logging
import signal
from typing import TYPE_CHECKING, Any

from console.output import err, line

if TYPE_CHECKING:
    from console.cli import Ctx


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser(
        "relay",
        parents=[common],
        help="relay revocation notices from PostgreSQL to NATS JetStream (runs until stopped)",
    )
    p.add_argument("--bus", required=True, metavar="URL", help="the NATS server, nats://host:4222")
    p.add_argument("--stream", default=None, help="JetStream stream (default AUTHCORE_REVOCATIONS)")
    p.add_argument("--subject", default=None, help="subject prefix (default authcore.revocations)")
    p.add_argument(
        "--staleness",
        type=float,
        default=None,
        metavar="S",
        help="beat every S/4 seconds (default: the config's staleness; use the verifiers' value)",
    )
    p.set_defaults(func=relay)


class _ToStderr(logging.Handler):
    """The relay's log lines on stderr, cleaned like every other CLI line."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            err(record.getMessage())
        except Exception:  # noqa: BLE001 - a log line must not stop the relay
            pass


def relay(ctx: Ctx) -> int:
    from authcore.relay import Relay
    from authcore.urls import mask_password

    args = ctx.args
    if args.staleness is not None and not args.staleness > 0:
        from authcore.errors import ValidationError

        raise ValidationError("--staleness must be positive")
    core = ctx.core(operator=False)
    r = Relay(core, args.bus, stream=args.stream, subject=args.subject, staleness=args.staleness, start=False)
    for name in ("authcore.relay", "nats"):  # nats-py logs its own errors (with tracebacks)
        log = logging.getLogger(name)
        log.addHandler(_ToStderr(logging.WARNING))
        log.propagate = False

    def stop(*_a: Any) -> None:
        r.close()

    signal.signal(signal.SIGTERM, stop)
    line(
        f"relaying {core.url_masked} -> {mask_password(r.target.url)} "
        f"stream {r.target.stream} subject {r.target.notices}"
    )
    r.run()
    return 0
