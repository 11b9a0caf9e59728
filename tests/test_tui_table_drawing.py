"""``KeyedTable``'s cached cell drawing (console/widgets/table.py) draws exactly what DataTable
draws (cells, cursor and zebra rows, hostile strings); the bench's ``use`` (bench/table_drawing.py)
swaps a live table between the two, so the bench compares like with like."""

from __future__ import annotations

from rich.padding import Padding
from rich.style import Style
from rich.text import Text
from textual.app import App, ComposeResult

from bench.table_drawing import StockDrawing, use
from console.safe import safe
from console.widgets import cells
from console.widgets.table import Col, KeyedTable
from tests.support.hostile import HOSTILE

COLS = [Col("name", "name", 10, 2), Col("n", "n", 4), Col("flag", "flag", 4)]


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield KeyedTable(COLS, id="t")


async def test_cells_draw_exactly_as_datatable_draws_them() -> None:
    """The table lays out a cell once per cell object, by a short path for plain Text; the lines
    it draws must be Textual's own, for every kind of cell the console puts in a table."""
    texts = [
        "",
        "a",
        "alice@example.com",
        "ünïcödé",
        "宽字符的名字很长很长",
        "emoji 🎉🎉 end",
        " padded  ",
        "x" * 80,
        *HOSTILE[:-1],
        HOSTILE[-1][:300],
    ]
    variants: list[Text] = []
    for s in texts:
        variants += [
            safe(s),
            safe(s, style="bold"),
            safe(s, style=Style(color="red")),
            Text(s[:40], justify="right"),
            Text(s[:40], justify="center"),
            Text(s[:40], justify="left", style="dim"),
            Text(s[:40], justify="full", overflow="crop"),
            Text(s[:40], overflow="ignore", no_wrap=True),
            cells.number(len(s)),
        ]
    variants += [
        cells.yes_no(True),
        cells.yes_no(False),
        cells.action("refresh_reuse_detected"),
        safe_join_sample(),
    ]
    app = TableApp()
    async with app.run_test(size=(100, 40)) as pilot:
        t = app.query_one(KeyedTable)
        assert type(t) is KeyedTable
        for width in (3, 4, 7, 12, 24):
            options = app.console_options.update_dimensions(width, 1).update(no_wrap=True)
            for cell in variants:
                ours = t._layout_line(cell, width, options)
                rich = app.console.render_lines(Padding(cell, (0, t.cell_padding)), options)
                if ours is not None:
                    assert ours == rich, (cell, width)
        # whole lines, cursor and zebra stripes included, against DataTable's own _render_cell
        t.sync(
            [(str(i), [c, cells.number(i), cells.yes_no(i % 3 == 0)]) for i, c in enumerate(variants[:120])]
        )
        await pilot.pause()
        t.move_cursor(row=3)
        await pilot.pause()
        ours = [t.render_line(y) for y in range(t.size.height)]
        assert len(t._layouts) > 0, "drawn by the cached layouts"
        use(t, False)
        assert type(t) is StockDrawing
        theirs = [t.render_line(y) for y in range(t.size.height)]
        assert len(t._layouts) == 0, "drawn by stock DataTable"
        assert [list(s) for s in ours] == [list(s) for s in theirs]


def safe_join_sample() -> Text:
    from console.safe import safe_join

    return safe_join(Text("#1 ", style="dim"), ("bob@example.com", "bold"), Text("  x"))
