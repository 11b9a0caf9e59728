"""The confirm dialog: says exactly what will happen, needs a reason, focuses Cancel.

``y`` confirms, ``n``/``esc`` cancel (from the buttons; in the reason box letters type and
``enter`` confirms). Any other letter typed on the buttons starts the reason, so an operator can
type it straight away. An empty reason is refused with a message: nothing is sent to authcore.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label, Static

from console.safe import safe


class ConfirmScreen(ModalScreen[str | None]):
    """Returns the reason on confirm, ``None`` on cancel."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("n", "no", "No", show=False),
        Binding("y", "yes", "Yes (needs a reason)", show=False),
    ]

    def __init__(self, title: str, summary: str, *, actor: str) -> None:
        super().__init__()
        self.title_text = title
        self.summary = summary
        self.actor = actor
        self._typing = False  # the operator has started typing a reason

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(Text(self.title_text + "?", style="bold"), id="confirm-title")
            yield Label(Text("What will happen (a dry run of the same call):", style="dim"),
                        id="confirm-what")
            yield Static(safe(self.summary, max_len=800, wrap=True), id="confirm-summary",
                         markup=False)
            yield Label(Text.assemble("Reason (required; audited as ",
                                      safe(self.actor, max_len=60, style="bold"), "):"))
            reason = Input(placeholder="why? e.g. ticket SEC-123, stolen laptop", id="reason",
                           max_length=1000, compact=True, select_on_focus=False)
            reason.cursor_blink = False
            yield reason
            yield Static(id="confirm-problem", markup=False)
            with Horizontal(id="confirm-buttons"):
                yield Button("Cancel", id="cancel", compact=True)
                yield Button(self.title_text, id="confirm-button", variant="error",
                             compact=True)
            yield Label(Text("type a reason, enter confirms · y confirm · n, esc cancel",
                             style="dim"), id="confirm-hint")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_key(self, event: events.Key) -> None:
        """On the buttons, a printable key other than y/n starts typing the reason; from then on
        every printable key types (y and n too), even before the focus move has landed."""
        reason = self.query_one("#reason", Input)
        if self.focused is reason or not (event.is_printable and event.character):
            return
        if self._typing or event.character not in "yn":
            event.stop()
            event.prevent_default()
            self._typing = True
            reason.focus()
            reason.insert_text_at_cursor(event.character)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """While the reason is being typed, y and n are letters, not answers (esc still cancels)."""
        return not (action in ("yes", "no") and self._typing)

    def action_yes(self) -> None:
        self.action_confirm()

    def action_no(self) -> None:
        self.action_cancel()

    def action_confirm(self) -> None:
        reason = self.query_one("#reason", Input).value.strip()
        if not reason:
            self.query_one("#confirm-problem", Static).update(
                Text("A reason is required: type it, then press enter.", style="bold red"))
            self.query_one("#reason", Input).focus()
            return
        self.dismiss(reason)

    @on(Input.Submitted, "#reason")
    def _submitted(self) -> None:
        self.action_confirm()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()

    @on(Button.Pressed, "#confirm-button")
    def _confirm_pressed(self) -> None:
        self.action_confirm()
