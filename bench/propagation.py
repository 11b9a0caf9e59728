"""Measuring revocation propagation: revoke commit -> refusal, in this process or another.

Test and bench tooling, not library code (``authcore.verifier`` is what apps import):

* ``measure_propagation`` times revoke commit -> refusal over many rounds with probes:
  ``LocalProbe`` (an in-process ``Verifier``) or ``VerifierNode`` (a ``Verifier`` in a child
  process running ``bench/verifier_node.py``, JSON lines on stdin/stdout);
* ``PropagationStats``: the samples and their nearest-rank percentiles.
"""

from __future__ import annotations

import json
import math
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, Self

from authcore.verifier import StalePolicy, Verifier

if TYPE_CHECKING:  # pragma: no cover
    from authcore.core import AuthCore

NODE_SCRIPT = Path(__file__).with_name("verifier_node.py")


class Probe(Protocol):
    """Something that can watch a token and tell when it became refused (``time.time()``)."""

    def arm(self, token: str, timeout: float) -> None: ...

    def refused_at(self, timeout: float) -> float | None: ...


class LocalProbe:
    """A probe on an in-process ``Verifier`` (a watcher thread per armed token)."""

    def __init__(self, verifier: Verifier) -> None:
        self.verifier = verifier
        self._thread: threading.Thread | None = None
        self._result: float | None = None

    def arm(self, token: str, timeout: float) -> None:
        armed = threading.Event()
        self._result = None

        def watch() -> None:
            self._result = self.verifier.wait_refused(token, timeout, armed=armed)

        self._thread = threading.Thread(target=watch, daemon=True)
        self._thread.start()
        while not armed.wait(0.01):
            if not self._thread.is_alive():
                raise RuntimeError("the token was refused before the revoke")

    def refused_at(self, timeout: float) -> float | None:
        assert self._thread is not None, "arm() first"
        self._thread.join(timeout)
        return self._result


@dataclass(frozen=True)
class PropagationStats:
    """Revoke commit -> refusal delays in milliseconds (one sample per probe per round)."""

    samples_ms: tuple[float, ...]
    timeouts: int = 0

    @property
    def n(self) -> int:
        return len(self.samples_ms)

    def percentile(self, q: float) -> float:
        """Nearest-rank percentile, ``q`` in [0, 100]."""
        if not self.samples_ms:
            return math.nan
        s = sorted(self.samples_ms)
        return s[max(0, math.ceil(q / 100 * len(s)) - 1)]

    @property
    def p50(self) -> float:
        return self.percentile(50)

    @property
    def p95(self) -> float:
        return self.percentile(95)

    @property
    def p99(self) -> float:
        return self.percentile(99)

    @property
    def max(self) -> float:
        return max(self.samples_ms) if self.samples_ms else math.nan

    def summary(self) -> str:
        return (
            f"n={self.n} p50={self.p50:.1f} ms p95={self.p95:.1f} ms "
            f"p99={self.p99:.1f} ms max={self.max:.1f} ms timeouts={self.timeouts}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "p50_ms": self.p50,
            "p95_ms": self.p95,
            "p99_ms": self.p99,
            "max_ms": self.max,
            "timeouts": self.timeouts,
        }


def measure_propagation(
    core: AuthCore,
    user_id: int,
    probes: Sequence[Probe],
    *,
    rounds: int = 200,
    timeout: float = 10.0,
    jitter: float = 0.0,
    reason: str = "verifier propagation measurement",
) -> PropagationStats:
    """Bump ``user_id``'s token_version ``rounds`` times; time each probe's refusal.

    Each round issues an access token, arms every probe (each has seen the token accepted),
    then revokes through ``core.admin.revoke_tokens``. The delay runs from the moment the
    revoking transaction sends COMMIT (``time.time()``: ``fastpath.watch_commits`` on the fast
    path, a SQLAlchemy ``commit`` event with fast paths off; neither changes the path the revoke
    takes, so this measures the path the core's ``fast_paths`` setting names) to the probe's
    refusal. Every round is a real, audited revocation: use a dedicated user.
    ``jitter``: sleep a random [0, jitter) s before each revoke, so a polling verifier is sampled
    at random points of its poll cycle (use the poll interval, ``staleness/2``).
    """
    import random

    from sqlalchemy import event

    from authcore import fastpath

    me = threading.get_ident()
    commits: list[float] = []

    def on_commit(_conn: Any) -> None:
        if threading.get_ident() == me:
            commits.append(time.time())

    samples: list[float] = []
    timeouts = 0
    event.listen(core.engine, "commit", on_commit)
    try:
        with fastpath.watch_commits() as fast_commits:
            for _ in range(rounds):
                token = core.tokens.issue_pair(user_id).access_token
                for p in probes:
                    p.arm(token, timeout)
                if jitter > 0:
                    time.sleep(random.uniform(0, jitter))
                commits.clear()
                fast_commits.clear()
                core.admin.revoke_tokens(user_id, reason)
                t_commit = max(commits + fast_commits)  # the revoke's COMMIT, either path
                for p in probes:
                    t = p.refused_at(timeout)
                    if t is None:
                        timeouts += 1
                    else:
                        samples.append(max(0.0, (t - t_commit) * 1000))
    finally:
        event.remove(core.engine, "commit", on_commit)
    return PropagationStats(tuple(samples), timeouts)


class VerifierNode:
    """A ``Verifier`` in a child process (``bench/verifier_node.py``), driven over pipes.

    A probe for ``measure_propagation`` ("revoke -> refused by another process"), and a handle
    for multi-process tests. With ``core``, the child verifies with exactly that core's keys,
    issuer, audience and leeway (and its database, unless ``db_url`` says otherwise), whatever
    ``AUTHCORE_SECRET`` or the config hold. Without it, the child reads its keys from
    ``AUTHCORE_SECRET`` in ``env`` (or the config file named by ``config``).

    The URL (it may hold a password) and the keys reach the child on its stdin pipe, never on
    its command line, which every local user can read (``ps``, ``/proc/PID/cmdline``).
    """

    def __init__(
        self,
        db_url: str | None = None,
        *,
        core: AuthCore | None = None,
        staleness: float | None = None,
        application_name: str | None = None,
        on_stale: StalePolicy = "db",
        config: str | None = None,
        script: str | os.PathLike[str] | None = None,
        env: dict[str, str] | None = None,
        ready_timeout: float = 30.0,
    ) -> None:
        if db_url is None:
            if core is None:
                raise ValueError("VerifierNode needs db_url or core")
            db_url = core.engine.url.render_as_string(hide_password=False)
        setup: dict[str, Any] = {"db": db_url}
        if core is not None:
            setup["keys"] = [_key_to_json(k) for k in core.keyring.keys]
            ts = core.config.tokens
            setup["tokens"] = {
                "issuer": ts.issuer,
                "audience": ts.audience,
                "algorithm": ts.algorithm,
                "leeway": ts.leeway.total_seconds(),
                "access_ttl": ts.access_ttl.total_seconds(),
            }
            if staleness is None:
                staleness = core.config.staleness.total_seconds()
        cmd = [sys.executable, os.fspath(script or NODE_SCRIPT)]
        cmd += ["--setup-stdin", "--on-stale", on_stale]
        if staleness is not None:
            cmd += ["--staleness", str(staleness)]
        if application_name:
            cmd += ["--app-name", application_name]
        if config:
            cmd += ["--config", config]
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1, env=env
        )
        self._send(setup)  # first line: what must not be on the command line
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()
        self.hello = self._recv(ready_timeout)
        if not self.hello.get("ready"):
            self.close()
            raise RuntimeError(f"verifier node did not become ready: {self.hello}")
        self.pid = int(self.hello["pid"])

    def _read_loop(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def _send(self, obj: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(obj) + "\n")
        self.proc.stdin.flush()

    def _recv(self, timeout: float) -> dict[str, Any]:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"verifier node silent for {timeout}s") from None
        if line is None:
            raise RuntimeError(f"verifier node exited (code {self.proc.poll()})")
        result: dict[str, Any] = json.loads(line)
        return result

    def request(self, obj: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
        self._send(obj)
        return self._recv(timeout)

    def verify(self, token: str) -> dict[str, Any]:
        """``{"ok": True, "user_id": ...}`` or ``{"ok": False, "error": ..., "code": ...}``."""
        return self.request({"op": "verify", "token": token})

    def stats(self) -> dict[str, Any]:
        return self.request({"op": "stats"})

    def arm(self, token: str, timeout: float) -> None:
        reply = self.request({"op": "watch", "token": token, "timeout": timeout})
        if not reply.get("armed"):
            raise RuntimeError(f"verifier node could not watch the token: {reply}")

    def refused_at(self, timeout: float) -> float | None:
        reply = self._recv(timeout + 5)
        t = reply.get("refused_at")
        return float(t) if t is not None else None

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self._send({"op": "quit"})
                self.proc.wait(timeout=20)
            except Exception:  # noqa: BLE001 - any failure to stop politely ends in kill
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout):
            if f is not None:
                try:
                    f.close()
                except Exception:  # noqa: BLE001 - the child is gone; its pipes may be too
                    pass

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _key_to_json(key: Any) -> dict[str, Any]:
    """A verification key as JSON for a ``VerifierNode`` child (public half only)."""
    import base64

    if key.is_hmac:
        return {
            "alg": key.alg,
            "kid": key.kid,
            "hmac": base64.b64encode(bytes(key.verify_key)).decode("ascii"),
        }
    from cryptography.hazmat.primitives import serialization

    pem = key.verify_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return {"alg": key.alg, "kid": key.kid, "pem": pem.decode("ascii")}
