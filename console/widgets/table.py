"""``KeyedTable``: a row-cursor DataTable keyed by id, synced in place, sized to the terminal.

``sync(rows)`` updates cells of rows that are still there inside ``app.batch_update()`` and keeps
the cursor on the same key (dolphie-style), so a periodic refresh never makes the cursor jump.
Columns have a minimum width and a flex share; they are refitted when the table is resized, so key
columns stay visible at 80 columns. Cells must be ``Text`` (see ``console.safe``): a plain ``str``
in a DataTable cell is markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

Row = tuple[str, Sequence[Text]]


@dataclass(frozen=True)
class Col:
    key: str
    label: str
    width: int  # minimum
    flex: int = 0  # share of the spare width
    optional: bool = False  # dropped when the terminal is too narrow (shown elsewhere)


def fit(cols: Sequence[Col], width: int, padding: int = 1,
        scrollbar: int = 2) -> list[tuple[int, int]]:
    """``(column index, width)`` of the columns shown in a table ``width`` cells wide: minimums
    plus flex shares of the rest; optional columns go first when the minimums do not fit."""
    shown = list(range(len(cols)))

    def spare() -> int:
        return width - scrollbar - sum(cols[i].width + 2 * padding for i in shown)

    for i in reversed(range(len(cols))):
        if spare() >= 0:
            break
        if cols[i].optional:
            shown.remove(i)
    extra = spare()
    flex = sum(cols[i].flex for i in shown)
    out = []
    for i in shown:
        share = extra * cols[i].flex // flex if extra > 0 and flex else 0
        out.append((i, cols[i].width + share))
    return out


class KeyedTable(DataTable[Text]):
    """A DataTable of Text cells whose rows are keyed by a stable id."""

    BINDINGS = [
        Binding("enter", "select_cursor", "Open", show=False),
        Binding("home,ctrl+home", "scroll_top", "First row", show=False),
        Binding("end,ctrl+end", "scroll_bottom", "Last row", show=False),
    ]

    class NearEnd(Message):
        """The cursor reached the last rows: time to fetch the next page."""

        def __init__(self, table: KeyedTable) -> None:
            super().__init__()
            self.table = table

        @property
        def control(self) -> KeyedTable:
            return self.table

    def __init__(self, cols: Sequence[Col], *, id: str | None = None, near_end: int = 3,
                 classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=True)
        self._cols = list(cols)
        self._data_rows: dict[str, list[Text]] = {}
        self._widths: list[tuple[int, int]] = []
        self._near_end = near_end

    # -- columns ---------------------------------------------------------------------------
    def on_mount(self) -> None:
        self._refit(self.size.width or self.app.size.width)

    def on_resize(self, event: events.Resize) -> None:
        self._refit(event.size.width)

    def _refit(self, width: int) -> None:
        widths = fit(self._cols, max(width, 20))
        if widths == self._widths:
            return
        self._widths = widths
        key = self.highlighted_key
        self.clear(columns=True)
        for i, w in widths:
            self.add_column(Text(self._cols[i].label, style="bold"), width=w,
                            key=self._cols[i].key)
        for k, cells in self._data_rows.items():
            self.add_row(*self._shown(cells), key=k)
        self._restore(key, 0)

    def _shown(self, cells: Sequence[Text]) -> list[Text]:
        return [cells[i] for i, _w in self._widths]

    # -- rows ------------------------------------------------------------------------------
    @property
    def highlighted_key(self) -> str | None:
        if not self.row_count:
            return None
        try:
            return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except Exception:  # cursor out of range while rebuilding
            return None

    @property
    def keys(self) -> list[str]:
        return list(self._data_rows)

    def _restore(self, key: str | None, index: int) -> None:
        if not self.row_count:
            return
        if key is not None and key in self._data_rows:
            index = self.get_row_index(key)
        self.move_cursor(row=min(max(index, 0), self.row_count - 1), animate=False)

    def sync(self, rows: Sequence[Row], *, append: bool = False, top: bool = False) -> None:
        """Show ``rows`` (in order); update in place when the keys allow it, keep the cursor
        (``top``: a new question, so the cursor goes to the first row)."""
        with self.app.batch_update():
            if append:
                for key, cells in rows:
                    if key not in self._data_rows:
                        self._data_rows[key] = list(cells)
                        if self.columns:
                            self.add_row(*self._shown(cells), key=key)
                return
            new = {k: list(c) for k, c in rows}
            old_keys = list(self._data_rows)
            kept = [k for k in old_keys if k in new]
            if self.columns and kept == list(new) and not top:  # removals and updates: in place
                for k in old_keys:
                    if k not in new:
                        self.remove_row(k)
                for k, cells in new.items():
                    if cells != self._data_rows[k]:
                        for i, _w in self._widths:
                            self.update_cell(k, self._cols[i].key, cells[i])
                self._data_rows = new
                return
            key, index = (None, 0) if top else (self.highlighted_key, self.cursor_row)
            self._data_rows = new
            if not self.columns:
                return
            self.clear()
            for k, cells in new.items():
                self.add_row(*self._shown(cells), key=k)
            self._restore(key, index)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if self.row_count and event.cursor_row >= self.row_count - self._near_end:
            self.post_message(self.NearEnd(self))

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if self.row_count and self.max_scroll_y > 0 and new_value >= self.max_scroll_y - 1:
            self.post_message(self.NearEnd(self))  # scrolled (wheel, page) to the end
