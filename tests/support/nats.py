"""NATS for the relay tests: the shared server (127.0.0.1:4222, JetStream on), a stream and
subject of each test's own (deleted after), and a nats-server of a test's own on a free port for
kill tests (stopped by PID; the shared one is never touched)."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

SHARED_URL = os.environ.get("AUTHCORE_TEST_NATS_URL", "nats://127.0.0.1:4222")
NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"


def _port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def shared_url() -> str:
    """The shared server's URL, or skip with the reason."""
    host_port = SHARED_URL.split("://", 1)[1]
    host, _, port = host_port.partition(":")
    if not _port_open(int(port or 4222), host):
        pytest.skip(f"no NATS at {SHARED_URL} (.ci/run starts /usr/sbin/nats-server -js)")
    return SHARED_URL


def unique_names() -> tuple[str, str]:
    """``(stream, subject)`` no other test uses."""
    tag = uuid.uuid4().hex[:12]
    return f"T_{tag}", f"authtest.{tag}"


def run(coro: Any, timeout: float = 10) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def _js(url: str) -> Any:
    import nats

    nc = await nats.connect(servers=[url], connect_timeout=2, allow_reconnect=False)
    return nc, nc.jetstream(timeout=2)


def delete_stream(url: str, stream: str) -> None:
    async def go() -> None:
        from nats.js.errors import NotFoundError

        nc, js = await _js(url)
        try:
            await js.delete_stream(stream)
        except NotFoundError:
            pass
        finally:
            await nc.close()

    try:
        run(go())
    except Exception:  # noqa: BLE001 - the server of a kill test may be gone already
        pass


def stream_messages(url: str, stream: str) -> list[Any]:
    """Every message in the stream, in sequence order (``RawStreamMsg``)."""

    async def go() -> list[Any]:
        nc, js = await _js(url)
        try:
            info = await js.stream_info(stream)
            out = []
            for seq in range(int(info.state.first_seq), int(info.state.last_seq) + 1):
                out.append(await js.get_msg(stream, seq))
            return out
        finally:
            await nc.close()

    result: list[Any] = run(go(), 60)
    return result


def stream_count(url: str, stream: str) -> int:
    """How many messages the stream holds (0 when it does not exist yet)."""

    async def go() -> int:
        from nats.js.errors import NotFoundError

        nc, js = await _js(url)
        try:
            return int((await js.stream_info(stream)).state.messages)
        except NotFoundError:
            return 0
        finally:
            await nc.close()

    result: int = run(go())
    return result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class OwnNats:
    """``nats-server -js`` on a free port with its store in a temporary directory; ``kill()``
    and ``start()`` again (same port, same store: the stream survives)."""

    def __init__(self) -> None:
        if not os.path.exists(NATS_SERVER):
            pytest.skip(f"{NATS_SERVER} not installed")
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="authcore-nats-")
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [NATS_SERVER, "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", self.dir],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not _port_open(self.port):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("own nats-server did not start")
            time.sleep(0.05)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


@contextmanager
def own_nats() -> Iterator[OwnNats]:
    server = OwnNats()
    try:
        yield server
    finally:
        server.close()
