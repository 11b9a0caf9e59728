"""The users table's former drawing, kept as the bench's reference (issue 15 item 7).

Until then ``KeyedTable`` overrode DataTable's private ``_render_cell``: a body cell's layout
(Rich wrap/justify/pad of its Text) cached per cell object and width across updates, only the
row style (zebra, cursor) applied per frame, and DataTable's dead row/line caches dropped after
each sync. Stock DataTable keeps keystroke p95 under 100 ms at 1M users on a quiet
machine, so the console draws the stock way now; ``bench/console.py`` switches one live table
between the two (``use``) to show what the override would still buy. Relies on DataTable
privates (pyproject.toml, [[tool.authconsole.private-api]]); ``tests/test_tui_table.py`` checks
it draws exactly what DataTable draws, so the comparison is like for like.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.cells import cell_len, set_cell_size
from rich.console import ConsoleOptions
from rich.padding import Padding
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.cache import LRUCache

from console.widgets.table import KeyedTable, Row

_NULL = Style.null()
_EMPTY = Text(no_wrap=True, end="")  # what DataTable draws for an empty cell


def use(table: KeyedTable, cached: bool) -> None:
    """Draw ``table`` with the cached layouts (``cached``) or the stock way, from now on; every
    cache starts empty, so neither drawing inherits the other's work."""
    table.__class__ = CachedDrawing if cached else KeyedTable
    layouts: LRUCache[Any, Any] = LRUCache(1024)
    table._layouts = layouts  # type: ignore[attr-defined]  # noqa: SLF001 - CachedDrawing's own
    for cache in (table._cell_render_cache, table._row_render_cache, table._line_cache):  # noqa: SLF001 - pinned
        cache.clear()
    table.refresh()


class CachedDrawing(KeyedTable):
    """``KeyedTable`` drawn with each cell's layout cached (the console's drawing until issue 15
    item 7); swapped in on a live table by ``use``."""

    _layouts: LRUCache[tuple[int, int], tuple[Text, list[list[Segment]]]]

    def sync(self, rows: Sequence[Row], *, append: bool = False, top: bool = False) -> None:
        super().sync(rows, append=append, top=top)
        # DataTable keys its drawn rows and lines by an update count that just moved on: drop
        # them now rather than keep ~1000 dead strips for the collector to walk.
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
