"""``KeyedTable``: a row-cursor DataTable keyed by id, synced in place, sized to the terminal.

``sync(rows)`` updates the table in place inside ``app.batch_update()`` (dolphie-style): rows
that stay keep their key, their cell objects when unchanged, and the cursor; only changed cells
are updated, rows that went are removed and new rows added; rows that moved are laid out again.
A new result set that shares little with the shown one (or a table grown by paging) is swapped
with one ``clear()`` instead, so a keystroke costs the new page, never the size of the table.

Drawing is stock DataTable's. Until issue 15 item 7 this class overrode DataTable's private
``_render_cell`` to cache each cell's layout across updates; measured at 1M users on a quiet
machine (``python -m bench --only console``, the table rows, docs/performance.md "The table")
stock DataTable keeps keystroke p95 under 100 ms at 80x24 and at 120x40 on both engines (about
53-57 ms at 120x40, the override 42-47 ms), so the override and the exact Textual pin went. It
lives on as the bench's reference (``bench/table_override.py``), should Textual's drawing
get slower.

Columns have a minimum width and a flex share; they are refitted when the table is resized (and
when the widest never-cut value changes), so key columns stay visible at 80 and 60 columns: the
widest text column shrinks first, an IP address is never cut (see ``fit``). Cells must be ``Text``
(see ``console.safe``): a plain ``str`` in a DataTable cell is markup. Cells are never mutated
after they are handed to ``sync``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.cells import cell_len
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
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
    floor: int | None = None  # a text column: may shrink to this width (cut with …) to fit
    whole: bool = False  # never cut (IP addresses): at least as wide as its widest value


def fit(
    cols: Sequence[Col],
    width: int,
    padding: int = 1,
    scrollbar: int = 2,
    content: dict[int, int] | None = None,
) -> list[tuple[int, int]]:
    """``(column index, width)`` of the columns shown in a table ``width`` cells wide: minimums
    (``whole`` columns: their widest value in ``content``) plus flex shares of the rest. When
    that does not fit, optional columns go first (from the right), then the widest text column
    with a ``floor`` shrinks, one cell at a time, so every other column stays (users keep
    ``off``, sessions keep the whole IP and cut the user agent)."""
    content = content or {}
    widths = {i: max(c.width, content.get(i, 0)) if c.whole else c.width for i, c in enumerate(cols)}
    shown = list(range(len(cols)))

    def spare() -> int:
        return width - scrollbar - sum(widths[i] + 2 * padding for i in shown)

    for i in reversed(range(len(cols))):
        if spare() >= 0:
            break
        if cols[i].optional:
            shown.remove(i)
    while spare() < 0:
        shrinkable = [i for i in shown if cols[i].floor is not None and widths[i] > (cols[i].floor or 0)]
        if not shrinkable:
            break  # the table scrolls sideways rather than cut a key column
        widest = max(shrinkable, key=lambda i: (widths[i], -i))
        widths[widest] -= 1
    extra = spare()
    flex = sum(cols[i].flex for i in shown)
    out = []
    for i in shown:
        share = extra * cols[i].flex // flex if extra > 0 and flex else 0
        out.append((i, widths[i] + share))
    return out


def event_key(event: DataTable.RowHighlighted | DataTable.RowSelected) -> str | None:
    """The row key of a table event; None when there is no row (a table that was emptied under
    its cursor posts a highlight of row -1 with no key)."""
    key = event.row_key
    return None if key is None else key.value


def same_cell(a: Text, b: Text) -> bool:
    """Same text drawn the same way (``Text.__eq__`` ignores the base style and layout)."""
    return (
        a.plain == b.plain
        and a.style == b.style
        and a.spans == b.spans
        and a.justify == b.justify
        and a.overflow == b.overflow
        and a.no_wrap == b.no_wrap
        and a.end == b.end
    )


class KeyedTable(DataTable[Text]):
    """A DataTable of Text cells whose rows are keyed by a stable id."""

    BINDINGS: ClassVar[list[BindingType]] = [
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

    def __init__(
        self, cols: Sequence[Col], *, id: str | None = None, near_end: int = 3, classes: str | None = None
    ) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=True)
        self._cols = list(cols)
        self._data_rows: dict[str, list[Text]] = {}
        self._widths: list[tuple[int, int]] = []
        self._width = 0  # the table's width the columns were fitted to
        self._content: dict[int, int] = {}  # the widths of the whole columns then
        self._near_end = near_end

    # -- scrollbars --------------------------------------------------------------------------
    def _watch_show_vertical_scrollbar(self, show: bool) -> None:
        """A scrollbar that appears shows where the table is scrolled. Textual moves the thumb
        only while the bar is shown: rows added and the table scrolled to its end before the
        bar's first layout left the thumb at the top under the newest rows (the activity tail,
        until something scrolled again)."""
        if show:
            self.vertical_scrollbar.position = self.scroll_y

    def _watch_show_horizontal_scrollbar(self, show: bool) -> None:
        if show:
            self.horizontal_scrollbar.position = self.scroll_x

    # -- columns ---------------------------------------------------------------------------
    def on_mount(self) -> None:
        self._refit(self.size.width or self.app.size.width)

    def on_resize(self, event: events.Resize) -> None:
        self._refit(event.size.width)

    def _whole_widths(self) -> dict[int, int]:
        """The widest value of each never-cut column (IP addresses)."""
        return {
            i: max((cell_len(cells[i].plain) for cells in self._data_rows.values()), default=0)
            for i, c in enumerate(self._cols)
            if c.whole
        }

    def _refit(self, width: int) -> None:
        self._width = width
        self._content = self._whole_widths()
        widths = fit(self._cols, max(width, 20), content=self._content)
        if widths == self._widths:
            return
        self._widths = widths
        key = self.highlighted_key
        self.clear(columns=True)
        for i, w in widths:
            self.add_column(Text(self._cols[i].label, style="bold"), width=w, key=self._cols[i].key)
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
        except Exception:  # noqa: BLE001 - cursor out of range while rebuilding
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
        """Show ``rows`` (in order), updating the table in place; the cursor stays on its key
        (``top``: a new question, so the cursor goes to the first row)."""
        with self.app.batch_update():
            if append:
                for key, cells in rows:
                    if key not in self._data_rows:
                        self._data_rows[key] = list(cells)
                        if self.columns:
                            self.add_row(*self._shown(cells), key=key)
                if (
                    self.columns
                    and any(c.whole for c in self._cols)
                    and self._whole_widths() != self._content
                ):
                    current = self.highlighted_key
                    self._widths = []
                    self._refit(self._width or self.size.width or self.app.size.width)
                    self._restore(current, 0)
                return
            old = self._data_rows
            new: dict[str, list[Text]] = {}
            for k, cells in rows:  # unchanged cells keep their object (and its drawn layout)
                prev = old.get(k)
                new[k] = [
                    p if prev is not None and same_cell(p, c) else c
                    for p, c in zip(prev or cells, cells, strict=True)
                ]
            current, index = (None, 0) if top else (self.highlighted_key, self.cursor_row)
            self._data_rows = new
            if not self.columns:
                return
            if any(c.whole for c in self._cols) and self._whole_widths() != self._content:
                self._widths = []  # a wider IP came (or the widest went): fit the columns again
                self._refit(self._width or self.size.width or self.app.size.width)
                self._restore(current, index)
                return
            gone = [k for k in old if k not in new]
            if len(gone) > len(old) - len(gone):  # mostly a new set: one clear beats row by row
                self.clear()
                for k, cells in new.items():
                    self.add_row(*self._shown(cells), key=k)
            else:
                self._update_in_place(old, new, gone)
            self._restore(current, index)

    def _update_in_place(
        self, old: dict[str, list[Text]], new: dict[str, list[Text]], gone: list[str]
    ) -> None:
        order = [k for k in old if k in new] + [k for k in new if k not in old]
        if order != list(new):  # rows moved: lay them out again in order
            self.clear()
            for k, cells in new.items():
                self.add_row(*self._shown(cells), key=k)
            return
        for k in gone:
            self.remove_row(k)
        for k, cells in new.items():
            prev = old.get(k)
            if prev is None:
                self.add_row(*self._shown(cells), key=k)
                continue
            for i, _w in self._widths:
                if cells[i] is not prev[i]:
                    self.update_cell(k, self._cols[i].key, cells[i])

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if self.row_count and event.cursor_row >= self.row_count - self._near_end:
            self.post_message(self.NearEnd(self))

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if self.row_count and self.max_scroll_y > 0 and new_value >= self.max_scroll_y - 1:
            self.post_message(self.NearEnd(self))  # scrolled (wheel, page) to the end
