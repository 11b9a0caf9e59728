"""How a ``Verifier`` stays current from a NATS JetStream stream fed by a relay
(``Verifier(core, bus="nats://...")``, ``authcore.relay``).

The background thread runs an asyncio loop with one NATS connection: an ordered push consumer on
the notices stream (delivered by start sequence) and a plain subscription to the relay's beats.
Each message is a NOTIFY payload (``revocation.Notice.decode``) applied to the cache like a
notice heard by LISTEN; the verifier remembers the last stream sequence it applied.

* **Synced**: a beat ``(seq S, at T)`` says every revocation committed before ``T`` is in the
  stream at a sequence <= ``S``; once this verifier has applied ``S`` it is synced as of ``T``
  (the relay's clock: keep hosts' clocks in step, skew adds to the bound). No beats (relay down,
  bus down or silent) means no sync: past ``staleness`` the verifier takes the stale path,
  i.e. the database, exactly as when its LISTEN connection is down.
* **Reconnect**: the consumer starts again at the sequence after the last one applied, so what
  was published meanwhile is replayed and no cached user is re-read. Only when the stream no
  longer holds that sequence (aged out, purged, a new stream), or a delivered sequence skips one,
  does it re-read every cached user and session from PostgreSQL (the listener's ``_resync``),
  after the new consumer is in place.
* **Bounds**: the NATS handshake ``connect_timeout`` (2 s); every ``staleness/4`` a flush
  (PING/PONG) must answer within ``max(0.5, staleness/2)`` or the bus counts as down and the
  thread reconnects (backoff like the listener's).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from authcore.relay.bus import BusTarget, connect, decode_beat
from authcore.revocation import Notice
from authcore.verifier.updates import Updates, first_line

if TYPE_CHECKING:  # pragma: no cover
    from nats.aio.msg import Msg

log = logging.getLogger("authcore.verifier")

MAX_PENDING_BEATS = 64


class _Gap(Exception):
    """A delivered stream sequence skipped one: resync from the database."""


class Bussing(Updates):
    """The ``Verifier``'s bus side (a mixin: these methods run on its background thread)."""

    _bus: BusTarget | None
    _bus_seq: int | None  # the last stream sequence applied (None: none yet, or resync needed)
    _bus_gap: bool
    _bus_beats: list[tuple[int, float]]
    _bus_heard: int  # messages and beats received (the pump flushes only when this stands still)
    _bus_wake: asyncio.Event | None
    _bus_loop: asyncio.AbstractEventLoop | None

    def _resync(self) -> None:  # the listener's (``Listening``): a Verifier has both sides
        raise NotImplementedError

    def _run_bus(self) -> None:
        """The background thread: an asyncio loop of its own (one verifier per app process is
        the usual shape, as with LISTEN: a thread and a connection each)."""
        asyncio.run(self._bus_main())

    async def _bus_main(self) -> None:
        delay = self._reconnect_delay
        first = True
        while not self._stop.is_set():
            try:
                await self._bus_session(first)
            except Exception as exc:  # noqa: BLE001 - any failure reconnects (logged and counted)
                if self._stop.is_set():
                    break
                self._cache.count("errors")
                log.warning("verifier bus: %s; reconnecting in %.2fs", first_line(exc), delay)
            finally:
                self._connected = False
                self._beat_started = None
            first = False
            await asyncio.to_thread(self._stop.wait, delay)
            delay = min(delay * 2, self._max_backoff)

    async def _bus_session(self, first: bool) -> None:
        from nats.js.api import ConsumerConfig, DeliverPolicy

        target = self._bus
        assert target is not None
        wake = self._bus_wake = asyncio.Event()
        self._bus_loop = asyncio.get_running_loop()
        nc = await connect(target, self.application_name, closed_cb=self._bus_closed_cb(wake))
        try:
            js = nc.jetstream(timeout=self._beat_timeout)
            state = (await js.stream_info(target.stream)).state
            have = self._bus_seq
            replay = (
                have is not None and not self._bus_gap and state.first_seq <= have + 1 <= state.last_seq + 1
            )
            start = have + 1 if replay and have is not None else state.last_seq + 1
            self._bus_gap = False
            self._bus_seq = start - 1
            self._bus_beats = []
            await nc.subscribe(target.beat, cb=self._on_beat)
            await js.subscribe(
                target.notices,
                stream=target.stream,
                cb=self._on_bus_msg,
                ordered_consumer=True,
                config=ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start),
            )
            if not first:
                self._cache.count("reconnects")
            if not replay:
                # The consumer is in place from the stream's end: what the stream holds before
                # it is in the database, re-read now (on this thread: no message is applied
                # meanwhile). An empty cache (the first start) has nothing to re-read: no query,
                # no connection (a fleet of verifiers starting together would each take one).
                began = time.monotonic()
                if self._cache.snapshot()[1]:  # users cached
                    self._resync()
                self._mark_synced(began)
            self._connected = True
            await self._bus_pump(nc)
        finally:
            try:
                await asyncio.wait_for(nc.close(), self._beat_timeout)
            except Exception:  # noqa: BLE001 - broken already; the socket goes with the loop
                pass

    async def _bus_pump(self, nc: Any) -> None:
        """Wait for a gap, ``close()`` or a quiet ``staleness/4``: a beat or message proves the
        bus alive, so the server is asked (a flush: PING/PONG within ``max(0.5, staleness/2)``)
        only when nothing came; a closed connection or an unanswered flush ends the session.
        No ticking: a fleet of idle verifiers costs a wakeup per beat each."""
        wake = self._bus_wake
        assert wake is not None
        while not self._stop.is_set():
            heard = self._bus_heard
            try:
                await asyncio.wait_for(wake.wait(), self._heartbeat)
            except TimeoutError:
                pass
            wake.clear()
            if self._stop.is_set():
                return
            if self._bus_gap:
                raise _Gap("a stream sequence was skipped: resyncing from the database")
            if nc.is_closed:
                raise ConnectionError("bus connection closed")
            if self._bus_heard == heard:  # nothing for a heartbeat: is the server there?
                self._beat_started = time.monotonic()
                await nc.flush(timeout=self._beat_timeout)
                self._beat_started = None

    def _bus_closed_cb(self, wake: asyncio.Event) -> Any:
        async def closed() -> None:
            wake.set()

        return closed

    async def _on_bus_msg(self, msg: Msg) -> None:
        self._bus_heard += 1
        seq = int(msg.metadata.sequence.stream)
        have = self._bus_seq
        if have is None or seq <= have or self._bus_gap:
            return  # delivered twice, or a resync is coming
        if seq != have + 1:
            self._bus_gap = True
            if self._bus_wake is not None:
                self._bus_wake.set()
            return
        received = time.time()
        try:
            notice = Notice.decode(msg.data.decode("utf-8", "replace"))
        except ValueError as exc:  # unreadable, or a kind this authcore does not know
            log.warning("%s: dropping the user cache", exc)
            self._reset("bus")
        else:
            self._apply(notice, "bus", received)
        self._bus_seq = seq
        if self._bus_beats:
            self._settle_beats()

    async def _on_beat(self, msg: Msg) -> None:
        self._bus_heard += 1
        try:
            seq, at = decode_beat(msg.data)
        except ValueError as exc:
            log.warning("verifier bus: %s", exc)
            return
        beats = self._bus_beats
        beats.append((seq, at))
        if len(beats) > MAX_PENDING_BEATS:
            del beats[0]
        self._settle_beats()

    def _settle_beats(self) -> None:
        """Mark synced as of the newest beat whose sequence has been applied."""
        have = self._bus_seq
        if have is None:
            return
        done = [b for b in self._bus_beats if b[0] <= have]
        if not done:
            return
        self._bus_beats = [b for b in self._bus_beats if b[0] > have]
        at = max(b[1] for b in done)
        # the beat's wall time as this process's monotonic time (never later than now)
        self._mark_synced(time.monotonic() - max(0.0, time.time() - at))
