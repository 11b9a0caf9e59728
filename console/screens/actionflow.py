"""Running an operator action from a screen: key, dry run, confirm dialog, commit, result.

One flow for every screen that offers actions of the registry (``console.actions``): the user
screen (its keys) and the attention list (the action that fits the highlighted finding). The
dry run answers first; the dialog opens only if it answered within ``action_patience`` of the
key, no outage began meanwhile and the operator is still on the screen; the commit goes
through the propagation probe and its outcome lands on the screen's ``report`` line.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from rich.text import Text
from textual import work

from console.actions import ACTIONS
from console.messages import ActionDone, PreviewReady
from console.propagation import result_text
from console.safe import safe, safe_join
from console.screens.base import ConsoleScreen
from console.screens.confirm import ConfirmScreen
from console.workers import cancelled


@dataclass(frozen=True)
class Pending:
    """An action key pressed, waiting for its dry run: when, and how many outages then."""

    action: str
    at: float
    outages: int
    user_id: int = 0


class ActionFlow(ConsoleScreen):
    """A screen that runs registry actions: call ``start_action``; override ``after_action``."""

    _pending: Pending | None = None  # the action key waiting for its dry run

    def start_action(self, action: str, user_id: int, session_id: str | None) -> None:
        """An action key: its dry run first, for the dialog. During an outage it says at once
        that it cannot run, and nothing is queued to fire when the database is back."""
        title = ACTIONS[action].title
        if self.capp.outage is not None:
            self.report(f"{title}: cannot run, the database is unavailable; nothing was sent", "bold red")
            return
        self._pending = Pending(action, time.monotonic(), self.capp.outages, user_id)
        self.say(f"{title}: preparing…", "dim")
        self._preview(action, user_id, session_id)

    @work(thread=True, exclusive=True, group="preview", exit_on_error=False)
    def _preview(self, action: str, user_id: int, session_id: str | None) -> None:
        self.capp.probe.ensure_started()  # ready by the time the operator confirms
        result = ACTIONS[action].preview(self.core, user_id, session_id=session_id)
        if not cancelled():
            self.post_message(PreviewReady(action, result, {"session_id": session_id, "user_id": user_id}))

    def on_preview_ready(self, message: PreviewReady) -> None:
        spec = ACTIONS[message.action]
        sid = message.args.get("session_id")
        uid = int(message.args["user_id"])
        pending, self._pending = self._pending, None
        if pending is None or pending.action != message.action or pending.user_id != uid:
            return  # another key came after it
        late = time.monotonic() - pending.at
        why = (
            "the database was unavailable meanwhile"
            if self.capp.outages != pending.outages or self.capp.outage is not None
            else "you moved on"
            if self.app.screen is not self
            else f"the database took {late:.0f}s to answer"
            if late > self.capp.action_patience
            else ""
        )
        if why:  # the dialog opens when the key is pressed, or never
            self.report(
                f"{spec.title}: not opened ({why}); nothing was changed, press {spec.key} again", "bold red"
            )
            return

        def done(reason: str | None) -> None:
            if reason and self.capp.outage is not None:
                self.report(
                    f"{spec.title}: cannot run, the database is unavailable; nothing was sent", "bold red"
                )
            elif reason:
                self.say(f"{spec.title}: committing…", "dim")
                self._commit(message.action, uid, reason, sid)
            else:
                self.say(f"{spec.title}: cancelled, nothing changed", "dim")

        self.say(f"{spec.title}: answer in the dialog", "dim")
        self.app.push_screen(
            ConfirmScreen(spec.title, spec.summary(message.preview), actor=self.core.actor), done
        )

    @work(thread=True, exclusive=True, group="action", exit_on_error=False)
    def _commit(self, action: str, user_id: int, reason: str, session_id: str | None) -> None:
        result, ms = self.capp.probe.measure(
            action,
            user_id,
            lambda: ACTIONS[action].run(self.core, user_id, reason, dry_run=False, session_id=session_id),
        )
        self.post_message(ActionDone(result, ms))

    def on_action_done(self, message: ActionDone) -> None:
        text = result_text(message.result, message.propagation_ms, self.capp.probe.timeout)
        self.report(
            safe_join(
                Text(f"{ACTIONS[message.result.action].title}: ", style="bold"), safe(text, max_len=400)
            )
        )
        self.after_action()

    def after_action(self) -> None:
        """What the screen shows changed: reload it."""
        self.reload()
