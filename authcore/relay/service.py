"""``Relay``: revocation notices from PostgreSQL onto a NATS JetStream stream.

One relay (a process, ``authconsole relay``, or a thread in one: ``Relay(core, bus=...)``)
LISTENs like a verifier does (``authcore.verifier.listen.open_listener``: one bounded autocommit
connection) and, on each notice or every ``staleness/4``, reads the ``revocations`` rows it has
not published (``authcore.relay.scan``: none skipped even when ids commit out of order). Each
revocation becomes one stream message: its NOTIFY payload (``revocation.Notice``, the one
format), its row ids as ``Nats-Msg-Id``. Then a beat on plain NATS says up to which stream
sequence every revocation committed before the scan started has been published
(``authcore.relay.bus``).

A restarted relay reads the stream's last message for its table position (no local state file):
it neither loses a notice (it rescans from that position) nor repeats one (it skips the ids the
message says are published; JetStream's duplicate window drops any second copy of a message id
anyway, e.g. two relays running at once).

Every call is bounded: the NATS handshake (``connect_timeout``), each publish's ack and each
stream request (``op_timeout``), the PostgreSQL connection like the verifier's listener (connect
5 s, every wait ``max(0.5, staleness/2)``). A failure ends the session: reconnect with backoff,
resume from the stream.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Self

from authcore.errors import ValidationError
from authcore.relay.bus import (
    CONNECT_TIMEOUT,
    DUPLICATE_WINDOW,
    H_ABOVE,
    H_FLOOR,
    H_MSG_ID,
    MAX_AGE,
    OP_TIMEOUT,
    BusTarget,
    beat_payload,
    connect,
    decode_ids,
    encode_ids,
    require_nats,
)
from authcore.relay.scan import Scanner, table_end
from authcore.verifier.listen import libpq_url, open_listener
from authcore.verifier.updates import first_line

if TYPE_CHECKING:  # pragma: no cover
    from nats.js import JetStreamContext

    from authcore.core import AuthCore

log = logging.getLogger("authcore.relay")

DEFAULT_APP_NAME = "authcore-relay"


@dataclass(frozen=True)
class RelayStats:
    connected: bool  # a session is up: PostgreSQL LISTENing and the bus answering
    published: int  # messages the stream stored
    duplicates: int  # messages the stream had already (its duplicate window)
    beats: int
    last_seq: int | None  # the stream sequence of the last message this relay knows of
    floor: int | None  # every revocations id <= floor is published or will never commit
    open_gaps: int
    sessions: int
    errors: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def relay_listen_url(core: AuthCore, listen_url: str | None) -> str:
    """The libpq URL the relay LISTENs on: ``listen_url``, else the config's, else the engine's
    (a direct URL: LISTEN does not work through a transaction pooler)."""
    from authcore.config import resolve_listen_url

    if core.engine.dialect.name != "postgresql":
        raise ValidationError("the relay needs PostgreSQL (SQLite has no NOTIFY; its verifiers poll)")
    url = listen_url or resolve_listen_url(core.config)
    if not url:
        from authcore.db import is_pooled

        if is_pooled(core.engine):
            raise ValidationError(
                "the database URL goes through a pooler: give the relay a direct listen_url"
            )
        url = core.engine.url.render_as_string(hide_password=False)
    return libpq_url(url)


async def ensure_stream(js: JetStreamContext, target: BusTarget, max_age: float = MAX_AGE) -> None:
    """Create the stream when it is missing (file storage, ``DUPLICATE_WINDOW``, ``max_age``);
    an existing one is used as it is."""
    from nats.js.errors import NotFoundError

    try:
        await js.stream_info(target.stream)
    except NotFoundError:
        from nats.js.api import DiscardPolicy, StorageType, StreamConfig

        await js.add_stream(
            StreamConfig(
                name=target.stream,
                subjects=[target.notices],
                storage=StorageType.FILE,
                max_age=max_age,
                duplicate_window=DUPLICATE_WINDOW,
                discard=DiscardPolicy.OLD,
            )
        )


class Relay:
    """PostgreSQL revocation notices onto NATS JetStream (see the module docstring).

    :param core: its engine names the database (and the dialect the scan is compiled for).
    :param bus: ``nats://host:port``. ``stream``/``subject``: default ``AUTHCORE_REVOCATIONS`` /
        ``authcore.revocations`` (verifiers must use the same).
    :param listen_url: a direct PostgreSQL URL for LISTEN (default: config, then the engine's).
    :param staleness: beats every ``staleness/4`` (default ``core.config.staleness``); use the
        verifiers' value.
    """

    def __init__(
        self,
        core: AuthCore,
        bus: str,
        *,
        stream: str | None = None,
        subject: str | None = None,
        listen_url: str | None = None,
        staleness: timedelta | float | None = None,
        application_name: str = DEFAULT_APP_NAME,
        connect_timeout: float = CONNECT_TIMEOUT,
        op_timeout: float = OP_TIMEOUT,
        max_age: float = MAX_AGE,
        reconnect_delay: float = 0.05,
        start: bool = True,
    ) -> None:
        require_nats()
        self.core = core
        self.target = BusTarget.of(bus, stream, subject)
        self._pg_url = relay_listen_url(core, listen_url)
        st = core.config.staleness if staleness is None else staleness
        self.staleness = st.total_seconds() if isinstance(st, timedelta) else float(st)
        if not self.staleness > 0:
            raise ValidationError("staleness must be positive")
        self.application_name = application_name
        self.connect_timeout = connect_timeout
        self.op_timeout = op_timeout
        self.max_age = max_age
        self._heartbeat = self.staleness / 4
        self._beat_timeout = max(0.5, self.staleness / 2)
        self._reconnect_delay = reconnect_delay
        self._max_backoff = max(reconnect_delay, min(1.0, self.staleness / 4))
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._woke: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._connected = False
        self._scanner: Scanner | None = None
        self._n = {"published": 0, "duplicates": 0, "beats": 0, "sessions": 0, "errors": 0}
        self._last_seq: int | None = None
        if start:
            self.start()

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self.run, name="authcore-relay", daemon=True)
            self._thread.start()

    def run(self) -> None:
        """Relay until ``close()`` (on this thread; ``start()`` runs it on its own)."""
        asyncio.run(self._main())

    def wait_ready(self, timeout: float) -> bool:
        """Wait until a session is up (connected to both and the first scan published)."""
        return self._ready.wait(timeout)

    def close(self) -> None:
        self._stop.set()
        loop, woke = self._loop, self._woke
        if loop is not None and woke is not None:
            try:
                loop.call_soon_threadsafe(woke.set)
            except RuntimeError:  # the loop has ended already
                pass
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=15)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stats(self) -> RelayStats:
        sc = self._scanner
        n = dict(self._n)
        return RelayStats(
            self._connected,
            n["published"],
            n["duplicates"],
            n["beats"],
            self._last_seq,
            None if sc is None else sc.floor,
            0 if sc is None else len(sc.gaps),
            n["sessions"],
            n["errors"],
        )

    # -- the loop ------------------------------------------------------------------------------
    async def _main(self) -> None:
        delay = self._reconnect_delay
        while not self._stop.is_set():
            try:
                await self._session()
            except Exception as exc:  # noqa: BLE001 - any failure reconnects (logged and counted)
                if self._stop.is_set():
                    break
                self._n["errors"] += 1
                log.warning("relay: %s; reconnecting in %.2fs", first_line(exc), delay)
            finally:
                self._connected = False
            await asyncio.to_thread(self._stop.wait, delay)
            delay = min(delay * 2, self._max_backoff)

    async def _resume(self, js: JetStreamContext) -> tuple[int | None, set[int], int]:
        """``(floor, above, last_seq)`` from the stream's last message; floor None: empty."""
        from nats.js.errors import NotFoundError

        info = await js.stream_info(self.target.stream)
        last = int(info.state.last_seq)
        if info.state.messages == 0:
            return None, set(), last
        try:
            msg = await js.get_last_msg(self.target.stream, self.target.notices)
        except NotFoundError:
            return None, set(), last
        h = msg.headers or {}
        try:
            return int(h[H_FLOOR]), decode_ids(h.get(H_ABOVE, "")), last
        except (KeyError, ValueError):
            raise ValidationError(
                f"stream {self.target.stream}: its last message has no readable relay position"
            ) from None

    async def _session(self) -> None:
        nc = await connect(self.target, self.application_name, self.connect_timeout)
        pg = None
        try:
            js = nc.jetstream(timeout=self.op_timeout)
            await ensure_stream(js, self.target, self.max_age)
            floor, above, self._last_seq = await self._resume(js)
            pg = await asyncio.to_thread(
                open_listener, self._pg_url, self.application_name, self._beat_timeout
            )
            dialect = self.core.engine.dialect
            if floor is None:  # a new stream starts at the table's end
                floor = await asyncio.to_thread(table_end, pg, dialect)
            scanner = self._scanner = Scanner(floor, above)
            self._n["sessions"] += 1
            while not self._stop.is_set():
                started = time.time()
                scan = scanner.scan(pg, dialect)  # bounded (the listener's waits); no thread hop
                for chunk in scan.chunks:
                    fl, ab = scanner.header_state(chunk.ids)
                    headers = {H_MSG_ID: encode_ids(chunk.ids), H_FLOOR: str(fl), H_ABOVE: encode_ids(ab)}
                    ack = await js.publish(
                        self.target.notices, chunk.body, timeout=self.op_timeout, headers=headers
                    )
                    scanner.published(chunk.ids)
                    self._n["duplicates" if ack.duplicate else "published"] += 1
                    self._last_seq = max(self._last_seq or 0, int(ack.seq))
                scanner.settle(scan)
                await nc.publish(self.target.beat, beat_payload(self._last_seq or 0, started))
                await nc.flush(timeout=self.op_timeout)  # type: ignore[arg-type]  # nats-py says int; a float works (asyncio.wait_for)
                self._n["beats"] += 1
                self._connected = True
                self._ready.set()
                await self._wait_notice(pg)
        finally:
            self._connected = False
            if pg is not None:
                try:
                    pg.close()
                except Exception:  # noqa: BLE001 - broken already
                    pass
            try:
                await asyncio.wait_for(nc.close(), self.op_timeout)
            except Exception:  # noqa: BLE001 - broken already; the socket goes with the loop
                pass

    async def _wait_notice(self, pg: Any) -> None:
        """Until a notice arrives (the rest are drained: the scan reads every new row),
        ``staleness/4`` passes, or ``close()``: the connection's socket is watched by the loop,
        so a notice wakes the relay at once, without a thread."""
        loop = asyncio.get_running_loop()
        woke = self._woke = asyncio.Event()
        self._loop = loop
        fd = pg.fileno()
        loop.add_reader(fd, woke.set)
        try:
            if not any(True for _n in pg.notifies(timeout=0)):  # none already buffered
                try:
                    await asyncio.wait_for(woke.wait(), self._heartbeat)
                except TimeoutError:
                    return
        finally:
            loop.remove_reader(fd)
        for _n in pg.notifies(timeout=0):
            pass
