"""The confirm dialog: says exactly what will happen, needs a reason, focuses Cancel.

What each key does depends on where the focus is, and the hint under the buttons says exactly
that, from one table (``KEYS``) that the tests also play key by key:

- on a button, ``y`` confirms and ``n``/``esc`` cancel, ``enter`` presses the button; any other
  letter starts the reason, so an operator can type it straight away;
- in the reason box every letter types (``y`` and ``n`` too: a word arriving in one burst over
  SSH is never an answer), ``enter`` confirms, ``esc`` cancels; ``tab`` goes to the buttons,
  where ``y``/``n`` answer again.

An empty reason is refused with a message and the focus goes to the reason box: nothing is sent
to authcore.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label, Static

from console.safe import safe
from console.screens.base import ClosesOnce

#: Focus state -> (keys, what they do), in hint order. ``letters`` are the other printable keys.
KEYS: dict[str, list[tuple[str, str]]] = {
    "cancel": [
        ("y", "confirm"),
        ("n", "cancel"),
        ("esc", "cancel"),
        ("enter", "cancel"),
        ("letters", "reason"),
    ],
    "confirm": [
        ("enter", "confirm"),
        ("y", "confirm"),
        ("n", "cancel"),
        ("esc", "cancel"),
        ("letters", "reason"),
    ],
    "reason": [("enter", "confirm"), ("esc", "cancel"), ("y", "type"), ("n", "type"), ("letters", "type")],
}
_VERBS = {"confirm": "confirm", "cancel": "cancel"}


def hint(state: str) -> str:
    """``y confirm · n/esc/enter cancel · letters: reason``: ``KEYS[state]`` in words."""
    groups: dict[str, list[str]] = {}
    for key, effect in KEYS[state]:
        groups.setdefault(effect, []).append(key)
    parts = []
    for effect, keys in groups.items():
        if effect == "type" and "letters" in keys:
            others = [k for k in keys if k != "letters"]
            parts.append(f"letters ({'/'.join(others)} too) type" if others else "letters type")
        elif effect == "reason":
            parts.append(f"{'/'.join(keys)}: reason")
        else:
            parts.append(f"{'/'.join(keys)} {_VERBS[effect]}")
    if state == "reason":
        parts.append("tab: buttons")
    return " · ".join(parts)


class ConfirmScreen(ClosesOnce, ModalScreen[str | None]):
    """Returns the reason on confirm, ``None`` on cancel."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("n", "no", "No", show=False),
        Binding("y", "yes", "Yes (needs a reason)", show=False),
        Binding("pageup", "scroll(-1)", "Scroll up", show=False),
        Binding("pagedown", "scroll(1)", "Scroll down", show=False),
    ]

    def __init__(self, title: str, summary: str, *, actor: str) -> None:
        super().__init__()
        self.title_text = title
        self.summary = summary
        self.actor = actor
        self._typing = False  # the operator has started typing a reason

    def compose(self) -> ComposeResult:
        # The title and the foot (reason, buttons, hint) are docked: at 60x15 only what will
        # happen scrolls (pgup/pgdn), the keys and their hint never leave the screen.
        with VerticalScroll(id="dialog") as dialog:
            dialog.can_focus = False  # not a focus state of its own: the keys stay as hinted
            yield Label(Text(self.title_text + "?", style="bold"), id="confirm-title")
            with Vertical(id="confirm-foot"):
                yield Label(
                    Text.assemble("Reason, audited as ", safe(self.actor, max_len=60, style="bold"), ":"),
                    id="confirm-reason-label",
                )
                reason = Input(
                    placeholder="required: why? e.g. ticket SEC-123, stolen laptop",
                    id="reason",
                    max_length=1000,
                    compact=True,
                    select_on_focus=False,
                )
                reason.cursor_blink = False
                yield reason
                yield Static(id="confirm-problem", markup=False)
                with Horizontal(id="confirm-buttons"):
                    yield Button("Cancel", id="cancel", compact=True)
                    yield Button(self.title_text, id="confirm-button", variant="error", compact=True)
                yield Label(Text(hint("cancel"), style="dim"), id="confirm-hint")
            yield Label(
                Text("What will happen (a dry run of the same call):", style="dim"), id="confirm-what"
            )
            yield Static(safe(self.summary, max_len=800, wrap=True), id="confirm-summary", markup=False)
        yield Footer()

    def on_resize(self) -> None:
        self.call_after_refresh(self._say_if_scrolls)

    def _say_if_scrolls(self) -> None:
        """Name the scroll keys when what will happen does not fit (60x15)."""
        scrolls = self.query_one("#dialog", VerticalScroll).max_scroll_y > 0
        self.query_one("#confirm-what", Label).update(
            Text(
                "What will happen (dry run; pgup/pgdn scroll):"
                if scrolls
                else "What will happen (a dry run of the same call):",
                style="dim",
            )
        )

    def action_scroll(self, pages: int) -> None:
        dialog = self.query_one("#dialog", VerticalScroll)
        if pages < 0:
            dialog.scroll_page_up(animate=False)
        else:
            dialog.scroll_page_down(animate=False)

    def on_mount(self) -> None:
        self.app.clear_notifications()  # nothing covers the dialog (console.app.notify_safe)
        self.query_one("#cancel", Button).focus()
        self.call_after_refresh(self._say_if_scrolls)

    def focus_state(self) -> str:
        """``reason`` (letters type), ``confirm`` or ``cancel`` (the focused button)."""
        focused = self.focused
        if self._typing or (isinstance(focused, Input) and focused.id == "reason"):
            return "reason"
        if isinstance(focused, Button) and focused.id == "confirm-button":
            return "confirm"
        return "cancel"

    def _show_hint(self) -> None:
        self.query_one("#confirm-hint", Label).update(Text(hint(self.focus_state()), style="dim"))

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        if isinstance(event.widget, Button):
            self._typing = False  # the operator moved to the buttons: y and n answer again
        self._show_hint()

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
            if not self._typing:
                self._typing = True  # until the focus lands on a button again
                self._show_hint()
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
            problem = self.query_one("#confirm-problem", Static)
            problem.update(Text("A reason is required: type it, then press enter.", style="bold red"))
            problem.display = True
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
