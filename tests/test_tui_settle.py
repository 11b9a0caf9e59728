"""The tests' ``settle`` (tests/support/tui.py) against a worker whose failure the app handles.

The clean-clone CI of 2026-12-03 failed ``test_an_action_during_an_outage_…[postgresql]``: the
user screen's load (``exit_on_error=False``) raised ``DatabaseUnavailable`` as the test meant it
to, but on a loaded machine it was still running when ``settle`` began waiting, and Textual's
``wait_for_complete`` re-raises a failed worker's error. A slow failing worker makes that timing
certain here (this test fails with the old ``settle``).
"""

from __future__ import annotations

import time

from textual import work
from textual.app import App
from textual.worker import Worker, WorkerState

from tests.support.tui import settle


class FailsLate(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.failures: list[str] = []

    @work(thread=True, exit_on_error=False)
    def load(self) -> None:
        time.sleep(0.3)  # longer than settle's first pause
        raise RuntimeError("database unavailable")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.failures.append(str(event.worker.error))


async def test_settle_leaves_a_handled_worker_failure_to_the_app() -> None:
    app = FailsLate()
    async with app.run_test() as pilot:
        app.load()
        await settle(pilot)
        assert app.failures == ["database unavailable"], "handled by the app, once"
        assert app.is_running
