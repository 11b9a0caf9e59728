"""``SearchBox``: a one-line Input for live filters; ``down`` hands focus to the results."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Input


class SearchBox(Input):
    """A compact Input. Printable keys always type (no screen key steals them)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("down", "to_results", "Results", show=False)
    ]  # esc says it (footer)

    class ToResults(Message):
        """The operator pressed down: move into the results table."""

        def __init__(self, box: SearchBox) -> None:
            super().__init__()
            self.box = box

        @property
        def control(self) -> SearchBox:
            return self.box

    def __init__(self, placeholder: str, *, id: str | None = None, value: str = "") -> None:
        super().__init__(value=value, placeholder=placeholder, id=id, compact=True, select_on_focus=False)
        self.cursor_blink = False  # no redraw every half second over a slow link

    def action_to_results(self) -> None:
        self.post_message(self.ToResults(self))
