"""The screens of the console, registered once, and the one rule for opening them.

Each full screen has one ``ScreenSpec``: the key that opens it from any screen, its footer label,
help line and palette title, the worker groups it reads the database with (an outage ends when
one of them succeeds: ``console.workers.READ_GROUPS`` is built from here) and what opening it
does when one of its kind is already on the stack.

The rule (k9s-like, decided here and nowhere else): the stack holds at most one screen of each
kind. Opening a kind that is on the stack pops down to it; then ``back`` hands it the new
arguments (the audit log takes the new user filter, the inspector keeps its token), while
``replace`` swaps it for a fresh one when it shows something else (``user`` 2 replaces ``user``
1; the same user is simply gone back to). A kind not on the stack is pushed.

Adding a screen: write its module (a ``ConsoleScreen`` with ``KIND``, ``reopen`` and, for
``replace``, ``shows``), add its ``ScreenSpec`` below. Keys, help, palette, outage recovery and
the navigation rule follow; ``tests/test_tui_navigation.py`` checks the registry.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from textual.binding import Binding

if TYPE_CHECKING:  # pragma: no cover
    from textual.screen import Screen

    from console.screens.base import ConsoleScreen


@dataclass(frozen=True)
class ScreenSpec:
    kind: str
    target: str  # "module:Class", imported when first opened (start-up imports only the first)
    key: str  # opens it from every screen ("" for none: a user is opened from a row)
    short: str  # footer label
    help: str  # help screen line
    title: str  # command palette entry
    read_groups: frozenset[str]
    on_stack: Literal["back", "replace"]

    def load(self) -> type[ConsoleScreen]:
        module, _, name = self.target.partition(":")
        cls: type[ConsoleScreen] = getattr(importlib.import_module(module), name)
        return cls

    @property
    def action(self) -> str:
        return f"goto('{self.kind}')"


SCREENS: dict[str, ScreenSpec] = {
    s.kind: s
    for s in (
        ScreenSpec(
            "users",
            "console.screens.users:UsersScreen",
            "u",
            "Users",
            "Users: back to the user search",
            "Users: search users",
            frozenset({"users", "users-more"}),
            "back",
        ),
        ScreenSpec(
            "user",
            "console.screens.user:UserScreen",
            "",
            "User",
            "User: profile, sessions, audit events and the revocation actions",
            "",
            frozenset({"user", "preview"}),
            "replace",
        ),
        ScreenSpec(
            "sessions",
            "console.screens.sessions:SessionsScreen",
            "s",
            "Sessions",
            "Sessions: recent sessions of all users",
            "Sessions: recent sessions",
            frozenset({"sessions", "sessions-more"}),
            "back",
        ),
        ScreenSpec(
            "audit",
            "console.screens.audit:AuditScreen",
            "a",
            "Audit",
            "Audit log, with the hash chain check",
            "Audit log",
            frozenset({"audit", "audit-more", "audit-live", "chain"}),
            "back",
        ),
        ScreenSpec(
            "attention",
            "console.screens.attention:AttentionScreen",
            "exclamation_mark",
            "Attention",
            "Needs attention: refresh token reuse, new places, session bursts, disabled users with sessions",
            "Needs attention: users to look at now",
            frozenset({"attention"}),
            "back",
        ),
        ScreenSpec(
            "activity",
            "console.screens.activity:ActivityScreen",
            "L",
            "Activity",
            "Live activity: logins, refreshes, reuse, ended sessions, bumps, disables as they happen",
            "Live activity",
            frozenset({"activity"}),
            "back",
        ),
        ScreenSpec(
            "token",
            "console.screens.token:TokenScreen",
            "t",
            "Token",
            "Token inspector: paste a token to decode it",
            "Token inspector",
            frozenset({"token"}),
            "back",
        ),
        ScreenSpec(
            "bulk",
            "console.screens.bulk:BulkScreen",
            "b",
            "Bulk",
            "Bulk revoke: every user matching a query, typed count, resumable runs",
            "Bulk revoke: every user matching a query",
            frozenset({"bulk", "bulk-runs", "bulk-plan"}),
            "back",
        ),
    )
}


def bindings(*shown: str) -> list[Binding]:
    """The navigation keys of a screen: every registered key, in the footer for ``shown``."""
    return [Binding(s.key, s.action, s.short, show=s.kind in shown) for s in SCREENS.values() if s.key]


def identity(screen: Screen[Any]) -> str:
    """What a screen on the stack is "for": its kind (one per kind), else its class (modals)."""
    return getattr(screen, "KIND", "") or type(screen).__name__


@dataclass(frozen=True)
class Plan:
    """What opening ``kind`` does to the stack: pop ``pop`` screens, then push / replace the top
    with a new screen, or hand the screen reached the new arguments (``reopen``)."""

    pop: int
    step: Literal["push", "replace", "reopen"]


def plan(stack: list[Screen[Any]], kind: str, args: dict[str, Any]) -> Plan:
    spec = SCREENS[kind]
    for depth, screen in enumerate(reversed(stack)):
        if identity(screen) == kind:
            if spec.on_stack == "replace" and not screen.shows(**args):
                return Plan(depth, "replace")
            return Plan(depth, "reopen")
    return Plan(0, "push")
