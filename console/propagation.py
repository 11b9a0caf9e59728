"""How fast a revocation reaches strict verifiers, measured on every action.

The console runs its own ``authcore.verifier.Verifier`` (LISTEN on PostgreSQL, polling on
SQLite), started lazily when the first action is previewed. A committed revocation is timed from
the call to the moment that verifier has applied it: the same path every app server's verifier
takes, so "refused by strict verifiers within ~N ms" is a figure measured here, not a promise.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:  # pragma: no cover
    from authcore.core import AuthCore
    from authcore.revoke import RevokeResult
    from authcore.verifier import AppliedUpdate, Verifier

T = TypeVar("T")


class PropagationProbe:
    """Times revocations against a verifier of the console's own. Thread-safe; blocking."""

    def __init__(self, core: AuthCore, timeout: float | None = None) -> None:
        self.core = core
        self.timeout = timeout if timeout is not None else core.config.staleness.total_seconds() + 1.0
        self._verifier: Verifier | None = None
        self._lock = threading.Lock()

    def ensure_started(self) -> Verifier | None:
        """Start the verifier (once); None when it cannot run (read-only, no database)."""
        if self.core.read_only:
            return None
        with self._lock:
            if self._verifier is None or self._verifier.closed:
                from authcore.verifier import Verifier

                try:
                    self._verifier = Verifier(self.core, application_name="authconsole-probe")
                except Exception:  # noqa: BLE001 - a missing figure must not block an action
                    self._verifier = None
            return self._verifier

    def measure(self, action: str, user_id: int, call: Callable[[], T]) -> tuple[T, float | None]:
        """Run ``call`` (the committing revocation) and return its result with the time in ms
        until this console's verifier applied it, or None (not a refusing action, not seen)."""
        from authcore.revoke import refuses

        verifier = self.ensure_started() if refuses(action) else None
        if verifier is None:
            return call(), None
        seen = threading.Event()
        stamp: list[float] = []

        def on_update(update: AppliedUpdate) -> None:
            if user_id in update.user_ids and not seen.is_set():
                stamp.append(update.applied_at)
                seen.set()

        verifier.add_update_callback(on_update)
        try:
            start = time.time()
            result = call()
            quiet = not getattr(result, "refuses", True)  # nothing refusing was announced
            if quiet or not seen.wait(self.timeout):  # or not seen in time
                return result, None
            return result, max(stamp[0] - start, 0.0) * 1000.0
        finally:
            verifier.remove_update_callback(on_update)

    def close(self) -> None:
        with self._lock:
            if self._verifier is not None:
                self._verifier.close()
                self._verifier = None


def describe(ms: float | None, result: RevokeResult, timeout: float) -> str:
    """The sentence the console adds to an action's result."""
    if not result.refuses:  # what it published refuses nothing (authcore.revocation.RULES)
        return ""
    if ms is None:
        return f"Strict verifiers: not confirmed within {timeout:.0f} s by this console's own verifier."
    return f"Refused by strict verifiers within ~{ms:.0f} ms (measured by this console's verifier)."


def result_text(result: RevokeResult, ms: float | None, timeout: float) -> str:
    """An action's result line: the measured figure first (the user screen's result line is
    three lines at 80 columns, and the figure is what the operator is waiting for), then the
    summary (console and CLI alike)."""
    summary = result.summary()
    speed = describe(ms, result, timeout)
    return f"{speed} {summary}" if speed else summary


def commit_measured(
    core: AuthCore, action: str, user_id: int, call: Callable[[], RevokeResult]
) -> tuple[RevokeResult, float | None, float]:
    """For a one-shot tool (the CLI): run a committing action under a probe of its own, closed
    afterwards. Returns the result, the measured ms (or None) and the probe's timeout."""
    probe = PropagationProbe(core)
    try:
        result, ms = probe.measure(action, user_id, call)
    finally:
        probe.close()
    return result, ms, probe.timeout
