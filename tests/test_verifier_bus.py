"""authcore.verifier.bus: what a bus verifier does with each message and beat (fed by hand to a
verifier whose thread never starts; the messages are nats-py's own ``Msg`` with a JetStream
reply subject). Its life against a real relay and nats-server is in test_relay.py."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from nats.aio.msg import Msg

from authcore.core import AuthCore
from authcore.errors import ValidationError
from authcore.relay.bus import beat_payload
from authcore.revocation import Kind, Notice
from authcore.tokens import Claims
from authcore.verifier import AppliedUpdate, Verifier


@pytest.fixture
def idle(core: AuthCore) -> Iterator[tuple[Verifier, list[AppliedUpdate]]]:
    if core.engine.dialect.name != "postgresql":
        with pytest.raises(ValidationError, match="PostgreSQL"):
            Verifier(core, bus="nats://127.0.0.1:4222", start=False)
        pytest.skip("a bus verifier is PostgreSQL's (checked: refused on SQLite)")
    got: list[AppliedUpdate] = []
    v = Verifier(core, bus="nats://127.0.0.1:4222", start=False, on_update=got.append, staleness=1)
    v._bus_seq = 0  # as after subscribing to an empty stream
    yield v, got
    v.close()


def _msg(seq: int, body: str) -> Msg:
    reply = f"$JS.ACK.S.C.1.{seq}.{seq}.{time.time_ns()}.0"
    return Msg(None, subject="authcore.revocations.notices", reply=reply, data=body.encode())  # type: ignore[arg-type]


def _feed(v: Verifier, seq: int, notice: Notice | str) -> None:
    body = notice if isinstance(notice, str) else notice.payloads()[0]
    asyncio.run(v._on_bus_msg(_msg(seq, body)))


def _beat(v: Verifier, seq: int, at: float) -> None:
    asyncio.run(v._on_beat(Msg(None, subject="b", data=beat_payload(seq, at))))  # type: ignore[arg-type]


def _cache_user(v: Verifier, uid: int) -> None:
    c = Claims(uid, "access", 1, None, "j", 0, 0, None, {})
    g0 = v._cache.answer(c)
    assert g0 is not None
    v._cache.store(c, SimpleNamespace(token_version=1, disabled=False, sid=None, expires_at=None), g0)


def test_messages_apply_in_sequence_and_twice_is_once(idle: tuple[Verifier, list[AppliedUpdate]]) -> None:
    v, got = idle
    _cache_user(v, 5)
    _feed(v, 1, Notice.of(Kind.VERSION, [5], [2]))
    _feed(v, 1, Notice.of(Kind.VERSION, [5], [2]))  # redelivered: ignored
    assert v._bus_seq == 1 and v._cache.users[5].version == 2
    assert [(u.kind, u.source) for u in got] == [("version", "bus")]
    assert v.stats().bus_seq == 1 and v.stats().mode == "bus"


def test_a_skipped_sequence_stops_applying_and_asks_for_a_resync(
    idle: tuple[Verifier, list[AppliedUpdate]],
) -> None:
    v, got = idle
    _cache_user(v, 5)
    _feed(v, 2, Notice.of(Kind.VERSION, [5], [3]))  # 1 never came
    assert v._bus_gap and v._bus_seq == 0 and v._cache.users[5].version == 1
    _feed(v, 1, Notice.of(Kind.VERSION, [5], [2]))  # nothing more until the resync
    assert got == []


def test_an_unreadable_or_unknown_message_drops_the_user_cache(
    idle: tuple[Verifier, list[AppliedUpdate]],
) -> None:
    v, got = idle
    _cache_user(v, 5)
    _feed(v, 1, '{"k":"password_reset"}')  # a newer relay's kind (what scan.py sends for one)
    assert not v._cache.users and v._bus_seq == 1
    assert [(u.kind, u.source) for u in got] == [("reset", "bus")]


def test_a_beat_syncs_only_once_its_sequence_is_applied(idle: tuple[Verifier, list[AppliedUpdate]]) -> None:
    v, _got = idle
    assert not v.is_fresh()
    _beat(v, 1, time.time())
    assert not v.is_fresh()  # seq 1 not applied yet: the beat waits
    _feed(v, 1, Notice.of(Kind.VERSION, [7], [1]))
    assert v.is_fresh()
    _beat(v, 1, time.time() - 5)  # a beat older than the bound does not make it fresh
    v._synced_at = None
    _beat(v, 1, time.time() - 5)
    assert not v.is_fresh()
    _beat(v, 1, time.time() + 60)  # a relay clock ahead counts as now, never later
    assert v.is_fresh() and v._synced_at is not None and v._synced_at <= time.monotonic()
    _beat(v, 0, 0)
    asyncio.run(v._on_beat(Msg(None, subject="b", data=b"garbage")))  # type: ignore[arg-type]  # logged, ignored
