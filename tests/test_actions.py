"""console.actions: one registry of operator actions serves the TUI and the CLI.

A spy put in the registry sees the same entry run by ``authconsole revoke``/``users disable``
and by the user screen's key, preview first, then the commit; so a kind changed there changes
both, and neither holds its own copy of the mapping.
"""

from __future__ import annotations

import dataclasses

import pytest

from authcore.core import AuthCore
from console import actions
from console.actions import ACTIONS, ActionSpec
from console.cli import main
from console.commands.revoke import KIND_FOR_FLAG
from console.commands.users import KIND_FOR_DISABLE
from tests.support.tui import make_app, seed, settle, type_text


def spy(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bool]]:
    """Wrap every registry entry's call; returns the (kind, dry_run) log."""
    calls: list[tuple[str, bool]] = []
    for kind, spec in list(ACTIONS.items()):

        def call(core, uid, sid, reason, dry, _spec: ActionSpec = spec):  # type: ignore[no-untyped-def]
            calls.append((_spec.name, dry))
            return _spec.call(core, uid, sid, reason, dry)

        monkeypatch.setitem(ACTIONS, kind, dataclasses.replace(spec, call=call))
    return calls


def test_every_kind_has_one_entry_that_both_front_ends_reach() -> None:
    assert set(KIND_FOR_FLAG.values()) | set(KIND_FOR_DISABLE.values()) == set(ACTIONS)
    for kind, spec in ACTIONS.items():
        assert spec.name == kind and spec.role == "admin"
        assert spec.cli.split()[0] in ("revoke", "users")
    from console.screens.user import UserScreen

    keys = {(b.key, b.action) for b in UserScreen.BINDINGS if not isinstance(b, tuple)}
    assert {(s.key, s.name) for s in ACTIONS.values()} <= keys


def test_the_cli_runs_the_registry_entry(core: AuthCore, db_url: str, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    seed(core, 0)
    alice = core.users.find("alice")
    calls = spy(monkeypatch)
    assert main(["--db", db_url, "revoke", "alice", "--all-tokens", "--reason", "t1", "--yes"]) == 0
    assert main(["--db", db_url, "users", "disable", "alice", "--reason", "t2", "--dry-run"]) == 0
    assert "would: " in capsys.readouterr().out
    assert calls == [("revoke_tokens", True), ("revoke_tokens", False), ("disable_user", True)]
    assert core.users.get(alice.id).token_version == alice.token_version + 1
    assert not core.users.get(alice.id).disabled


async def test_the_tui_runs_the_same_registry_entry(core: AuthCore, monkeypatch: pytest.MonkeyPatch) -> None:
    seed(core, 0)
    alice = core.users.find("alice")
    calls = spy(monkeypatch)
    app = make_app(core, retry_interval=60)
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_user(alice.id)
        await settle(pilot)
        await pilot.press(ACTIONS["revoke_tokens"].key)
        await settle(pilot)
        await pilot.press("shift+tab")
        await type_text(pilot, "rotate")
        await pilot.press("enter")
        await settle(pilot)
    assert calls[:2] == [("revoke_tokens", True), ("revoke_tokens", False)]
    assert core.users.get(alice.id).token_version == alice.token_version + 1


def test_an_unknown_kind_or_a_missing_session_is_refused(core: AuthCore) -> None:
    seed(core, 0)
    uid = core.users.find("alice").id
    with pytest.raises(ValueError, match="unknown action"):
        actions.perform(core, "nope", uid, "x", dry_run=True)
    with pytest.raises(ValueError, match="no session selected"):
        actions.perform(core, "delete_session", uid, "x", dry_run=True)
