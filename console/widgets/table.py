"""``KeyedTable``: a row-cursor DataTable keyed by id, synced in place, sized to the terminal.

``sync(rows)`` updates the table in place inside ``app.batch_update()`` (dolphie-style): rows
that stay keep their key, their cell objects when unchanged, and the cursor; only changed cells
are updated, rows that went are removed and new rows added; rows that moved are laid out again.
A new result set that shares little with the shown one (or a table grown by paging) is swapped
with one ``clear()`` instead, so a keystroke costs the new page, never the size of the table.

Drawing: a body cell's layout (Rich wrap/justify/pad of its Text) is cached per cell object and
width, across updates; only the row style (zebra, cursor) is applied per frame. Stock DataTable
drops its per-cell cache on every update, so each keystroke or appended row laid out every
visible cell again: at 1M users the users table at 120x40 missed keystroke p95 < 100 ms on an
idle machine, and the live activity tail (200 rows, appended every tick) spent 20 of 27 s of its
refresh time in ``_render_cell`` (pyinstrument; docs/performance.md "The table"). This overrides
DataTable's private ``_render_cell`` (Textual pinned exactly, pyproject.toml, with each private
listed), and ``tests/test_tui_table_drawing.py`` checks it draws exactly what DataTable draws.
The bench draws the same live table both ways (``bench/table_drawing.py``): the day stock draws
as fast, drop the override and the pin.

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

from rich.cells import cell_len, set_cell_size
from rich.console import ConsoleOptions
from rich.padding import Padding
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.message import Message
from textual.widgets import DataTable

Row = tuple[str, Sequence[Text]]
_NULL = Style.null()
_EMPTY = Text(no_wrap=True, end="")  # what DataTable draws for an empty cell


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
        self._layouts: LRUCache[tuple[int, int], tuple[Text, list[list[Segment]]]] = LRUCache(1024)

    # -- scrollbars --------------------------------------------------------------------------
    def watch_show_vertical_scrollbar(self, show: bool) -> None:
        """A scrollbar that appears shows where the table is scrolled. Textual moves the thumb
        only while the bar is shown: rows added and the table scrolled to its end before the
        bar's first layout left the thumb at the top under the newest rows (the activity tail,
        until something scrolled again)."""
        if show:
            self.vertical_scrollbar.position = self.scroll_y

    def watch_show_horizontal_scrollbar(self, show: bool) -> None:
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
        self._sync(rows, append=append, top=top)
        self._drop_dead_lines()

    def _sync(self, rows: Sequence[Row], *, append: bool, top: bool) -> None:
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
        if order != list(new):  # rows moved: lay them out again in order (the cells keep their
            self.clear()  # objects, so their cached layouts stay valid)
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

    # -- drawing -----------------------------------------------------------------------------
    def _drop_dead_lines(self) -> None:
        """DataTable keys its drawn rows and lines by an update count that just moved on: drop
        them now rather than keep ~1000 dead strips for the collector to walk."""
        self._row_render_cache.clear()
        self._line_cache.clear()

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> list[list[Segment]]:
        """A body cell: its cached layout with this frame's row style applied (the result is
        what DataTable's ``Styled(Padding(cell))`` renders; tests compare the two)."""
        row_key = self._row_locations.get_key(row_index) if row_index >= 0 else None
        row = self.rows.get(row_key) if row_key is not None else None
        if row is None or column_index < 0 or row.height != 1 or self.fixed_rows or self.fixed_columns:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        column_key = self._column_locations.get_key(column_index)
        # row_key is set when row is (above); a None column_key finds nothing: DataTable draws it
        cell = self._data[row_key].get(column_key)  # type: ignore[index,arg-type]
        if not isinstance(cell, Text):
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        layout = self._layout(cell or _EMPTY, width)  # DataTable draws "" unstyled
        component_style, post_style = self._get_styles_to_render_cell(
            False,
            False,
            False,
            hover,
            cursor,
            self.show_cursor,
            self._show_hover_cursor,
            self.cursor_foreground_priority == "css",
            self.cursor_background_priority == "css",
        )
        pre_style = base_style + Style.from_meta({"row": row_index, "column": column_index})
        pre_style += component_style
        return [list(Segment.apply_style(line, pre_style, post_style)) for line in layout]

    def _layout(self, cell: Text, width: int) -> list[list[Segment]]:
        """``cell`` padded, cut and justified to ``width`` (one line), before any row style."""
        cached = self._layouts.get((id(cell), width))
        if cached is not None and cached[0] is cell:
            return cached[1]
        options = self.app.console_options.update_dimensions(width, 1).update(no_wrap=True)
        lines = self._layout_line(cell, width, options)
        if lines is None:
            lines = self.app.console.render_lines(Padding(cell, (0, self.cell_padding)), options)
        self._layouts[(id(cell), width)] = (cell, lines)  # holding cell: its id stays unique
        return lines

    def _layout_line(self, cell: Text, width: int, options: ConsoleOptions) -> list[list[Segment]] | None:
        """What ``render_lines(Padding(cell, (0, pad)), options)`` returns for a one-line cell,
        by Rich's own steps (wrap, join, render, crop and pad) without its generic render
        dispatch; None when the cell is not that simple (then Rich renders it)."""
        pad = self.cell_padding
        inner = width - 2 * pad
        plain = cell.plain
        if inner < 1 or cell.no_wrap is False or "\n" in plain or "\t" in plain:
            return None
        console = self.app.console
        if not cell.spans:
            line = self._plain_line(cell, inner, options)
            if pad:
                line = [Segment(" " * pad, _NULL), *line, Segment(" " * pad, _NULL)]
            return [line]
        wrapped = cell.wrap(
            console,
            inner,
            justify=cell.justify or options.justify or "default",
            overflow=cell.overflow or options.overflow or "fold",
            no_wrap=True,
        )
        segments = Text("\n").join(wrapped).render(console, end=cell.end)
        line = next(
            iter(
                Segment.split_and_crop_lines(segments, inner, style=_NULL, pad=True, include_new_lines=False)
            ),
            [Segment(" " * inner, _NULL)],
        )
        if pad:
            line = [Segment(" " * pad, _NULL), *line, Segment(" " * pad, _NULL)]
        return [line]

    def _plain_line(self, cell: Text, inner: int, options: ConsoleOptions) -> list[Segment]:
        """A Text without spans, one line ``inner`` cells wide: ``Text.wrap`` (no_wrap: justify,
        then truncate), ``Text.render`` (one segment in the cell's style) and the crop or pad of
        ``render_lines``, done on the string. The cells of the users table are all like this."""
        justify = cell.justify or options.justify or "default"
        overflow = cell.overflow or options.overflow or "fold"
        text = cell.plain
        if justify in ("right", "center"):
            text = text.rstrip()
        if overflow != "ignore":
            length = cell_len(text)
            if length > inner:
                text = (
                    set_cell_size(text, inner - 1) + "…"
                    if overflow == "ellipsis"
                    else set_cell_size(text, inner)
                )
            elif justify == "left" and length < inner:
                text += " " * (inner - length)
        if justify == "right":
            text = " " * (inner - cell_len(text)) + text
        elif justify == "center":
            text = " " * ((inner - cell_len(text)) // 2) + text
            text += " " * (inner - cell_len(text))
        if not cell.style:  # Text.render: one segment, even an empty one
            segments = [Segment(text)]
        else:  # the style is a span over the text: nothing for an empty text
            style = self.app.console.get_style(cell.style, default=_NULL)
            segments = [Segment(text, style)] if text else []
        return Segment.adjust_line_length(segments, inner, style=_NULL, pad=True)

    def notify_style_update(self) -> None:
        self._layouts.clear()
        super().notify_style_update()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if self.row_count and event.cursor_row >= self.row_count - self._near_end:
            self.post_message(self.NearEnd(self))

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if self.row_count and self.max_scroll_y > 0 and new_value >= self.max_scroll_y - 1:
            self.post_message(self.NearEnd(self))  # scrolled (wheel, page) to the end
