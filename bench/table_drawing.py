"""Stock DataTable drawing, the baseline of the console's cached cell layouts (issue 15 item 7).

``KeyedTable`` overrides DataTable's private ``_render_cell``: a body cell's layout is cached
per cell object and width across updates, and DataTable's dead row/line caches are dropped
after each sync. ``use`` switches one live table between that and DataTable's own drawing
(``StockDrawing``), so ``bench/console.py`` times both on the same table, pass by pass: the day
stock draws as fast, the override and the exact Textual pin can go. Relies on DataTable privates
(pyproject.toml, [[tool.authconsole.private-api]]).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from textual.cache import LRUCache
from textual.widgets import DataTable

from console.widgets.table import KeyedTable, Row


def use(table: KeyedTable, cached: bool) -> None:
    """Draw ``table`` with the console's cached layouts (``cached``) or the stock way, from now
    on; every cache starts empty, so neither drawing inherits the other's work."""
    table.__class__ = KeyedTable if cached else StockDrawing
    layouts: LRUCache[Any, Any] = LRUCache(1024)
    table._layouts = layouts  # noqa: SLF001 - KeyedTable's own
    for cache in (table._cell_render_cache, table._row_render_cache, table._line_cache):  # noqa: SLF001 - pinned
        cache.clear()
    table.refresh()


class StockDrawing(KeyedTable):
    """``KeyedTable`` drawn by DataTable's own ``_render_cell`` and caches (public API only:
    ``sync`` is ``update_cell``/``add_row``/``remove_row``/``clear`` in ``batch_update``);
    swapped in on a live table by ``use``."""

    def sync(self, rows: Sequence[Row], *, append: bool = False, top: bool = False) -> None:
        self._sync(rows, append=append, top=top)  # DataTable's caches left as DataTable keeps them

    # DataTable's own, past KeyedTable's overrides
    _render_cell = DataTable._render_cell  # noqa: SLF001 - pinned
    notify_style_update = DataTable.notify_style_update
