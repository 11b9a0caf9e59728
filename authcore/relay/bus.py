"""What the relay and the bus verifier agree on: the NATS connection, names and message headers.

One JetStream stream holds the notices (subject ``<subject>.notices``), one message per
``revocation.Notice`` (its one NOTIFY payload as the body), with the ``revocations`` row ids it
carries as the message id (``Nats-Msg-Id``: JetStream drops a second copy published within the
stream's duplicate window). Each message also carries the relay's position in the table
(``Authcore-Floor``, ``Authcore-Above``): a restarted relay reads the stream's last message and
resumes from there, so no local state file is trusted.

Beats go on plain NATS (``<subject>.beat``, not stored): ``{"seq": S, "at": T}`` says every
revocation committed before ``T`` (the relay's ``time.time()`` when its scan started) is in the
stream at a sequence <= ``S``. A verifier that has applied ``S`` is synced as of ``T``.

``nats-py`` is the ``bus`` extra: imported only here, only when a bus is used.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from authcore.errors import ConfigError, ValidationError

if TYPE_CHECKING:  # pragma: no cover
    from nats.aio.client import Client

log = logging.getLogger("authcore.relay")

DEFAULT_SUBJECT = "authcore.revocations"
DEFAULT_STREAM = "AUTHCORE_REVOCATIONS"
CONNECT_TIMEOUT = 2.0  # seconds: a bus that does not finish the handshake is down
OP_TIMEOUT = 2.0  # seconds: a publish ack, a stream lookup, a flush (PING/PONG)
DUPLICATE_WINDOW = 120.0  # seconds: JetStream drops a message id seen within this
MAX_AGE = 24 * 3600.0  # seconds a notice stays in the stream (a verifier away longer resyncs)

H_MSG_ID = "Nats-Msg-Id"
H_FLOOR = "Authcore-Floor"
H_ABOVE = "Authcore-Above"
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SUBJECT = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+){0,7}$")


@dataclass(frozen=True)
class BusTarget:
    """Where notices go: the server URL, the stream and the subject prefix."""

    url: str
    stream: str = DEFAULT_STREAM
    subject: str = DEFAULT_SUBJECT

    @property
    def notices(self) -> str:
        return f"{self.subject}.notices"

    @property
    def beat(self) -> str:
        return f"{self.subject}.beat"

    @classmethod
    def of(cls, url: str, stream: str | None = None, subject: str | None = None) -> BusTarget:
        """Checked: a ``nats://`` (or ``tls://``) URL, a JetStream stream name, a subject."""
        if not isinstance(url, str) or not url.startswith(("nats://", "tls://")):
            raise ValidationError("the bus URL must start with nats:// or tls://")
        stream = stream or DEFAULT_STREAM
        subject = subject or DEFAULT_SUBJECT
        if not _NAME.match(stream):
            raise ValidationError("the stream name takes letters, digits, - and _ (at most 64)")
        if not _SUBJECT.match(subject):
            raise ValidationError("the subject takes dot-separated tokens of letters, digits, - and _")
        return cls(url, stream, subject)


def require_nats() -> None:
    """``ConfigError`` naming the extra when nats-py is not installed."""
    try:
        import nats  # noqa: F401
    except ImportError:
        raise ConfigError("the bus needs nats-py: pip install 'authconsole[bus]'") from None


async def _quiet(exc: Exception) -> None:  # nats-py's error callback: the callers log and retry
    log.debug("nats: %s", exc)


async def connect(
    target: BusTarget,
    name: str,
    connect_timeout: float = CONNECT_TIMEOUT,
    closed_cb: Callable[[], Awaitable[None]] | None = None,
) -> Client:
    """One NATS connection, bounded: the handshake within ``connect_timeout``; no automatic
    reconnect (the caller's loop reconnects and decides what to replay); the server pinged every
    5 s and the connection dropped after 2 unanswered pings. ``closed_cb`` is awaited when it
    closes (whatever the reason)."""
    import nats

    return await nats.connect(
        servers=[target.url],
        name=name,
        connect_timeout=connect_timeout,
        allow_reconnect=False,
        max_reconnect_attempts=0,
        ping_interval=5,
        max_outstanding_pings=2,
        error_cb=_quiet,
        closed_cb=closed_cb,
    )


# -- the table position a message carries -------------------------------------------------------
def encode_ids(ids: Iterable[int]) -> str:
    """Sorted ids as ranges: ``"3-7,9"`` (empty: ``""``)."""
    out: list[str] = []
    run: list[int] = []
    for i in sorted(set(ids)):
        if run and i == run[1] + 1:
            run[1] = i
            continue
        if run:
            out.append(f"{run[0]}" if run[0] == run[1] else f"{run[0]}-{run[1]}")
        run = [i, i]
    if run:
        out.append(f"{run[0]}" if run[0] == run[1] else f"{run[0]}-{run[1]}")
    return ",".join(out)


def decode_ids(text: str) -> set[int]:
    """``encode_ids`` backwards; ``ValueError`` on anything else."""
    ids: set[int] = set()
    for part in filter(None, text.split(",")):
        a, _, b = part.partition("-")
        lo, hi = int(a), int(b or a)
        if hi < lo or hi - lo > 10_000_000:
            raise ValueError(f"bad id range {part[:40]!r}")
        ids.update(range(lo, hi + 1))
    return ids


def beat_payload(seq: int, at: float) -> bytes:
    return json.dumps({"seq": seq, "at": at}, separators=(",", ":")).encode()


def decode_beat(data: bytes) -> tuple[int, float]:
    """``(seq, at)`` of a beat; ``ValueError`` when unreadable."""
    try:
        p: Any = json.loads(data)
        return int(p["seq"]), float(p["at"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"unreadable beat ({type(exc).__name__})") from None
