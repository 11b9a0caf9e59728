"""``ctrl+p``: every action of the screen the palette was opened from, plus navigation.

Commands come from ``ConsoleScreen.palette_commands()`` and pass the screen's ``check_action``
first, so read-only mode leaves the mutating ones out here exactly as in the footer and help.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from textual import on
from textual.await_complete import AwaitComplete
from textual.command import CommandList, CommandPalette, DiscoveryHit, Hit, Hits, Provider
from textual.screen import Screen
from textual.widgets import Input

from console.screens.base import ConsoleScreen, PaletteCommand, done


def _available(screen: ConsoleScreen) -> list[PaletteCommand]:
    return [c for c in screen.palette_commands() if screen.check_action(c.action, c.params)]


class ConsoleCommands(Provider):
    """Screen actions and navigation of the operator console."""

    def _commands(self) -> list[PaletteCommand]:
        screen: Screen[Any] = self.screen
        # The palette is itself a screen: look at the console screen it was opened over.
        for candidate in reversed(self.app.screen_stack):
            if isinstance(candidate, ConsoleScreen):
                screen = candidate
                break
        return _available(screen) if isinstance(screen, ConsoleScreen) else []

    async def discover(self) -> Hits:
        for cmd in self._commands():
            yield DiscoveryHit(cmd.title, partial(cmd.run), help=cmd.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for cmd in self._commands():
            score = matcher.match(cmd.title)
            if score > 0:
                yield Hit(score, matcher.highlight(cmd.title), partial(cmd.run), help=cmd.help)


class ConsolePalette(CommandPalette):
    """Textual's palette, made safe for keys arriving in bursts (both found by the random walk,
    ``tests/test_tui_walk.py``). An ``enter`` already queued when the first one closed the
    palette would close it again (popping the screen under it: Textual's ``dismiss`` pops
    whatever is on top) and run the chosen command a second time."""

    @on(Input.Submitted)
    def _closed_already(self, event: Input.Submitted) -> None:
        if self.app.screen is not self:
            event.stop()
            event.prevent_default()  # not to CommandPalette's own handler

    def dismiss(self, result: Any = None) -> AwaitComplete:
        if self.app.screen is not self:
            return done()
        return super().dismiss(result)

    def _watch__list_visible(self) -> None:
        """A search that ends after the palette's list is gone (a key burst right after ctrl+p,
        random walk seed 3792091157) would query the missing ``CommandList`` (NoMatches, a
        failed worker). Nothing to show then."""
        if not self.query(CommandList):
            return
        super()._watch__list_visible()

    def _action_command_list(self, action: str) -> None:
        """pgup/pgdn in a burst right after ctrl+p: Textual 8.2's OptionList pages a list that
        is not laid out yet (KeyError in ``_move_page``). The key does nothing then."""
        try:
            super()._action_command_list(action)
        except (KeyError, IndexError):
            pass
