"""Fast-path pool sizing (``pool_size``): N concurrent strict verifies open at most N
connections, and later rounds reuse them (connects counted with the pool's ``connect`` event)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import event

from authcore import fastpath
from authcore.config import Config, TokenSettings, load_config
from authcore.core import AuthCore
from authcore.errors import ConfigError
from tests.conftest import TEST_SECRET

N = 20  # above the former fixed bound of 8 idle connections


class Watch:
    """Counts new driver connections and the most fast-path connections out at once. Each
    checkout is held briefly, as a slow query would, so the N callers really overlap."""

    def __init__(self, core: AuthCore, monkeypatch: pytest.MonkeyPatch) -> None:
        self.connects = 0
        self.out = 0
        self.peak = 0
        self._lock = threading.Lock()
        conns = fastpath.connections(core.engine)
        get, put, discard = conns.get, conns.put, conns.discard

        def on_connect(*_a: Any) -> None:
            with self._lock:
                self.connects += 1

        def held_get() -> Any:
            c = get()
            with self._lock:
                self.out += 1
                self.peak = max(self.peak, self.out)
            time.sleep(0.2)
            return c

        def back(fn: Any) -> Any:
            def _back(c: Any) -> None:
                with self._lock:
                    self.out -= 1
                fn(c)

            return _back

        event.listen(core.engine, "connect", on_connect)
        monkeypatch.setattr(conns, "get", held_get)
        monkeypatch.setattr(conns, "put", back(put))
        monkeypatch.setattr(conns, "discard", back(discard))


def _round(core: AuthCore, token: str, n: int) -> None:
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def one() -> None:
        try:
            barrier.wait(10)
            assert core.tokens.verify_access(token, strict=True).user_id
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors


def _token(core: AuthCore) -> str:
    user = core.users.create("pool@example.com", "pool", "Pool")
    session, _ = core.sessions.create(user.id)
    return core.tokens.issue_pair(user.id, sid=session.public_id).access_token


def test_concurrent_strict_verifies_reuse_their_connections(
    core: AuthCore, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = _token(core)
    core.engine.dispose()  # start from no fast-path connection
    w = Watch(core, monkeypatch)
    _round(core, token, N)
    assert w.peak > 8, f"the callers did not overlap (peak {w.peak})"  # the old bound
    first = w.connects
    assert 1 <= first <= N, first
    for _ in range(3):
        _round(core, token, N)
    assert w.connects == first, f"{w.connects - first} new connections in later rounds"
    assert len(fastpath.connections(core.engine).idle) == first


def test_callers_beyond_pool_size_overflow_and_close(
    engine: Any, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    core = AuthCore(engine, config, pool_size=4)
    token = _token(core)
    core.engine.dispose()
    w = Watch(core, monkeypatch)
    _round(core, token, 8)
    assert w.peak > 4, w.peak
    assert w.connects <= 8
    assert len(fastpath.connections(core.engine).idle) == 4  # the rest were closed
    before = w.connects
    _round(core, token, 8)
    assert w.connects - before <= 4  # four reused, at most four opened for the overflow


def test_pool_size_from_config(write_config: Any) -> None:
    path = write_config("pool_size = 12\n")
    assert load_config(path).pool_size == 12
    assert Config().pool_size == fastpath.DEFAULT_POOL_SIZE == 40
    for bad in ("0", "-3", '"many"', "true"):
        path = write_config(f"pool_size = {bad}\n")
        with pytest.raises(ConfigError, match="pool_size must be a positive integer"):
            load_config(path)


def test_core_sets_the_engines_pool_size(engine: Any) -> None:
    config = Config(tokens=TokenSettings(secret=TEST_SECRET), pool_size=7)
    AuthCore(engine, config)
    assert fastpath.connections(engine).max_idle == 7
    AuthCore(engine, config, pool_size=9)
    assert fastpath.connections(engine).max_idle == 9
