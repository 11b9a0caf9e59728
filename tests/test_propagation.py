"""The console's propagation probe: measured on refusing actions only, never blocks the rest."""

from __future__ import annotations

import time

from authcore.core import AuthCore
from console.actions import perform
from console.propagation import PropagationProbe, describe


def test_probe_measures_a_bump_and_skips_quiet_actions(core: AuthCore) -> None:
    u = core.users.create("p@example.com", "p")
    probe = PropagationProbe(core)
    try:
        result, ms = probe.measure(
            "revoke_tokens", u.id, lambda: perform(core, "revoke_tokens", u.id, "x", dry_run=False)
        )
        assert ms is not None and 0 <= ms < probe.timeout * 1000
        assert describe(ms, result, probe.timeout).startswith("Refused by strict verifiers within ~")
        t0 = time.monotonic()
        result, ms = probe.measure(
            "delete_sessions", u.id, lambda: perform(core, "delete_sessions", u.id, "x", dry_run=False)
        )
        assert ms is None and result.sessions_deleted == 0 and describe(ms, result, 1) == ""
        assert time.monotonic() - t0 < probe.timeout, "nothing announced: no wait"
        result, ms = probe.measure(
            "enable_user", u.id, lambda: perform(core, "enable_user", u.id, "x", dry_run=False)
        )
        assert ms is None and describe(ms, result, 1) == ""
    finally:
        probe.close()


def test_probe_never_starts_in_read_only(engine, config) -> None:  # type: ignore[no-untyped-def]
    ro = AuthCore(engine, config, read_only=True)
    assert PropagationProbe(ro).ensure_started() is None
