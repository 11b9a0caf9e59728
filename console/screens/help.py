"""``?``: every key of the screen it was opened from (as the screen allows them right now)."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Label, Static

from console.screens.base import ClosesOnce


class HelpScreen(ClosesOnce, ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark,f1,enter", "close", "Close"),
    ]

    def __init__(self, title: str, rows: list[tuple[str, str]]) -> None:
        super().__init__()
        self.title_text = title
        self.rows = rows

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body"):
            yield Label(Text(f"Keys: {self.title_text}", style="bold"))
            width = max((len(k) for k, _ in self.rows), default=4) + 2
            lines = [Text.assemble((k.ljust(width), "bold"), d) for k, d in self.rows]
            yield Static(Text("\n").join(lines), id="help-keys", markup=False)
            yield Label(Text("esc / ? closes", style="dim"))
        yield Footer()

    def action_close(self) -> None:
        self.dismiss(None)
