"""``ctrl+p``: every action of the screen the palette was opened from, plus navigation.

Commands come from ``ConsoleScreen.palette_commands()`` and pass the screen's ``check_action``
first, so read-only mode leaves the mutating ones out here exactly as in the footer and help.
"""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from console.screens.base import ConsoleScreen, PaletteCommand


def _available(screen: ConsoleScreen) -> list[PaletteCommand]:
    return [c for c in screen.palette_commands() if screen.check_action(c.action, c.params)]


class ConsoleCommands(Provider):
    """Screen actions and navigation of the operator console."""

    def _commands(self) -> list[PaletteCommand]:
        screen = self.screen
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
