"""Fork safety: an ``AuthCore`` and a ``Verifier`` built before ``os.fork`` (gunicorn
``--preload``) work in the child, and the child leaves the parent's connections alone.

The child verifies a token, reports healthy stats (its own thread alive and connected), is
refused after the parent revokes, and exits; the parent asserts on what the child reported and
checks that its own verifier and fast-path connections still work afterwards.
"""

from __future__ import annotations

import json
import os
import select
import signal
import time
import uuid
from typing import Any

import pytest

from authcore.core import AuthCore
from authcore.errors import TokenError
from authcore.verifier import Verifier

STALE = 0.5


def _child(
    core: AuthCore, v: Verifier, token: str, parent_listener: int | None, report: int, go: int
) -> dict[str, Any]:
    out: dict[str, Any] = {"pid": os.getpid()}
    out["verified"] = v.verify_access(token).user_id
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        s = v.stats()
        if s.connected and s.fresh:
            break
        time.sleep(0.02)
    s = v.stats()
    out["stats"] = s.to_dict()
    out["thread_alive"] = v.thread_alive
    out["own_listener"] = s.listener_pid is not None and s.listener_pid != parent_listener
    out["strict_ok"] = core.tokens.verify_access(token, strict=True).user_id  # fast path
    os.write(report, (json.dumps({"ready": True}) + "\n").encode())
    select.select([go], [], [], 30)
    os.read(go, 1)
    t0 = time.monotonic()
    out["refused"] = v.wait_refused(token, 10) is not None
    out["refused_ms"] = (time.monotonic() - t0) * 1000
    try:
        v.verify_access(token)
        out["after"] = "accepted"
    except TokenError as exc:
        out["after"] = exc.code
    out["stats_after"] = v.stats().to_dict()
    return out


def _read_line(fd: int, timeout: float) -> dict[str, Any]:
    buf = b""
    deadline = time.monotonic() + timeout
    while not buf.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise TimeoutError(f"child silent for {timeout}s (got {buf!r})")
        chunk = os.read(fd, 65536)
        if not chunk:
            raise RuntimeError(f"child closed its pipe (got {buf!r})")
        buf += chunk
    result: dict[str, Any] = json.loads(buf)
    return result


def _reap(pid: int, timeout: float = 10) -> None:
    """Wait for the child (bounded); kill it if it does not exit."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


def test_verifier_and_core_survive_fork(core: AuthCore) -> None:
    alice = core.users.create("alice@example.com", "alice", "Alice")
    v = Verifier(core, staleness=STALE, application_name=f"fork-test-{uuid.uuid4().hex[:8]}")
    try:
        assert v.wait_ready(10), v.stats()
        session, _raw = core.sessions.create(alice.id, ip="127.0.0.1", user_agent="fork-test")
        token = core.tokens.issue_pair(alice.id, sid=session.public_id).access_token
        assert v.verify_access(token).user_id == alice.id  # cached in the parent
        assert core.tokens.verify_access(token, strict=True).user_id == alice.id  # fast path
        parent_listener = v.stats().listener_pid
        report_r, report_w = os.pipe()
        go_r, go_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: never return into pytest
            code = 0
            try:
                os.close(report_r)
                os.close(go_w)
                result = _child(core, v, token, parent_listener, report_w, go_r)
                os.write(report_w, (json.dumps(result) + "\n").encode())
            except BaseException as exc:  # noqa: BLE001 - report anything to the parent
                os.write(report_w, (json.dumps({"error": repr(exc)}) + "\n").encode())
                code = 1
            finally:
                os._exit(code)
        os.close(report_w)
        os.close(go_r)
        try:
            ready = _read_line(report_r, 30)
            assert ready.get("ready"), ready
            core.admin.revoke_tokens(alice.id, "fork test")
            os.write(go_w, b"g")
            child = _read_line(report_r, 30)
        finally:
            _reap(pid)
            os.close(report_r)
            os.close(go_w)
        assert "error" not in child, child
        assert child["verified"] == alice.id
        assert child["strict_ok"] == alice.id
        assert child["thread_alive"], child
        st = child["stats"]
        assert st["connected"] and st["fresh"], st
        if v.mode == "listen":
            assert child["own_listener"], (child, parent_listener)
        assert child["refused"], child
        assert child["after"] == "revoked", child
        assert child["stats_after"]["connected"], child
        # The parent is untouched: its thread, its listener connection, its fast-path pool.
        assert v.thread_alive
        assert v.wait_refused(token, 10) is not None
        ps = v.stats()
        assert ps.connected and ps.fresh, ps
        if v.mode == "listen":
            assert ps.listener_pid == parent_listener and ps.reconnects == 0, ps
        fresh_token = core.tokens.issue_pair(alice.id, sid=session.public_id).access_token
        assert core.tokens.verify_access(fresh_token, strict=True).user_id == alice.id
        assert v.verify_access(fresh_token).user_id == alice.id
    finally:
        v.close()


def test_stats_tell_the_truth_without_a_thread(core: AuthCore) -> None:
    """``connected`` is reported only while the background thread is alive."""
    v = Verifier(core, staleness=STALE, application_name=f"fork-test-{uuid.uuid4().hex[:8]}")
    try:
        assert v.wait_ready(10)
        assert v.stats().connected
        v._stop.set()  # the thread ends; whatever flag it left behind, stats must not lie
        assert v._thread is not None
        v._thread.join(10)
        v._connected = True
        assert not v.stats().connected
    finally:
        v.close()


@pytest.mark.parametrize("closed", [True])
def test_closed_verifier_stays_closed_in_child(core: AuthCore, closed: bool) -> None:
    v = Verifier(core, staleness=STALE, application_name=f"fork-test-{uuid.uuid4().hex[:8]}")
    v.close()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.write(
                w,
                json.dumps(
                    {"alive": v.thread_alive, "closed": v.closed, "connected": v.stats().connected}
                ).encode()
                + b"\n",
            )
        finally:
            os._exit(0)
    os.close(w)
    try:
        got = _read_line(r, 30)
    finally:
        _reap(pid)
        os.close(r)
    assert got == {"alive": False, "closed": closed, "connected": False}


def test_pid_check_on_use_restarts_without_the_hook(core: AuthCore) -> None:
    """Should a fork bypass the at-fork hook, the first use in the child starts over."""
    v = Verifier(core, staleness=STALE, application_name=f"fork-test-{uuid.uuid4().hex[:8]}")
    r, w = os.pipe()
    try:
        assert v.wait_ready(10)
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                # the hook restarted us; undo that, as if it had never run: stop our thread and
                # take the parent's pid and (dead here) thread object back
                v._stop.set()
                assert v._thread is not None
                v._thread.join(10)
                v._pid, v._connected = os.getppid(), True
                before = {"alive": v.thread_alive}
                deadline = time.monotonic() + 15
                while not (v.stats().connected and v.is_fresh()) and time.monotonic() < deadline:
                    time.sleep(0.02)
                after = {
                    "alive": v.thread_alive,
                    "connected": v.stats().connected,
                    "fresh": v.is_fresh(),
                    "pid_ok": v._pid == os.getpid(),
                }
                os.write(w, (json.dumps({"before": before, "after": after}) + "\n").encode())
            except BaseException as exc:  # noqa: BLE001
                os.write(w, (json.dumps({"error": repr(exc)}) + "\n").encode())
                code = 1
            finally:
                os._exit(code)
        try:
            got = _read_line(r, 30)
        finally:
            _reap(pid)
        assert "error" not in got, got
        assert got["before"]["alive"] is False  # not this process's thread: never "alive"
        assert got["after"] == {"alive": True, "connected": True, "fresh": True, "pid_ok": True}
        assert v.thread_alive and v.stats().connected  # the parent's own thread untouched
    finally:
        os.close(r)
        os.close(w)
        v.close()
