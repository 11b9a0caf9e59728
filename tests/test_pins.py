"""The private APIs listed in pyproject.toml ([[tool.authconsole.private-api]]) are still there.

For each entry: the installed distribution is inside the pin the dependencies give it (with an
upper bound: a new release must be checked before it is allowed), every listed name still exists
on the object the test builds for ``on``, and every listed file still uses it. A failure names
the entry, so widening a pin or moving a use updates the list in the same change.
"""

from __future__ import annotations

import inspect
import json.encoder
import sys
import tomllib
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
ENTRIES: list[dict[str, Any]] = PYPROJECT["tool"]["authconsole"]["private-api"]


def _compiled() -> Any:
    import sqlalchemy as sa

    stmt = sa.select(sa.literal(1)).where(sa.bindparam("x") == 1)
    return stmt.compile(dialect=sa.create_engine("sqlite://").dialect)


def _dialect() -> Any:
    import sqlalchemy as sa

    return sa.create_engine("sqlite://").dialect


def _statement() -> Any:
    import sqlalchemy as sa

    return sa.select(sa.literal(1)).execution_options(authcore_probe=True)


def _psycopg_errors() -> Any:
    from psycopg import errors

    return errors


def _app() -> Any:
    textual_app = pytest.importorskip("textual.app")
    return textual_app.App()


def _data_table() -> Any:
    widgets = pytest.importorskip("textual.widgets")
    return widgets.DataTable()


def _command_palette() -> Any:
    command = pytest.importorskip("textual.command")
    return command.CommandPalette  # the class: the name checked is a method


OBJECTS: dict[str, Callable[[], Any]] = {
    "compiled": _compiled,
    "dialect": _dialect,
    "statement": _statement,
    "psycopg.errors": _psycopg_errors,
    "json.encoder": lambda: json.encoder,
    "App": _app,
    "DataTable": _data_table,
    "CommandPalette": _command_palette,
}


def _pins() -> dict[str, SpecifierSet]:
    project = PYPROJECT["project"]
    reqs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        reqs += extra
    pins: dict[str, SpecifierSet] = {"python": SpecifierSet(project["requires-python"])}
    for text in reqs:
        req = Requirement(text)
        if req.name != "authconsole":
            pins[canonicalize_name(req.name)] = req.specifier
    return pins


def _label(entry: dict[str, Any]) -> str:
    return f"{entry['dist']}:{entry['on']}"


def test_the_list_is_not_empty_and_well_formed() -> None:
    assert ENTRIES
    for entry in ENTRIES:
        assert set(entry) == {"dist", "on", "names", "files"}, entry
        assert entry["on"] in OBJECTS, f"{_label(entry)}: add a builder for it to OBJECTS"
        assert entry["names"] and entry["files"], entry


@pytest.mark.parametrize("entry", ENTRIES, ids=_label)
def test_installed_version_is_inside_the_pin(entry: dict[str, Any]) -> None:
    dist = canonicalize_name(entry["dist"])
    pins = _pins()
    assert dist in pins, f"{entry['dist']} relied on privately but not a dependency"
    if dist == "python":
        installed = ".".join(map(str, sys.version_info[:3]))
    else:
        installed = version(entry["dist"])
        # a private API can change in any release: the pin must stop before the next unchecked one
        assert any(s.operator in ("<", "<=", "==", "~=") for s in pins[dist]), (
            f"{entry['dist']}: no upper bound on a dependency whose private API is relied on"
        )
    assert pins[dist].contains(installed, prereleases=True), (
        f"{entry['dist']} {installed} is outside the pin {pins[dist]}"
    )


@pytest.mark.parametrize("entry", ENTRIES, ids=_label)
def test_each_private_name_still_exists(entry: dict[str, Any]) -> None:
    obj = OBJECTS[entry["on"]]()
    for name in entry["names"]:
        target = obj
        for part in name.split("."):
            assert hasattr(target, part), f"{_label(entry)}: {name} is gone (pin says it exists)"
            target = getattr(target, part)
    if entry["on"] == "json.encoder" and sys.implementation.name == "cpython":
        assert getattr(json.encoder, "c_make_encoder", None) is not None  # CPython's C encoder


@pytest.mark.parametrize("entry", ENTRIES, ids=_label)
def test_each_listed_file_still_uses_it(entry: dict[str, Any]) -> None:
    for file in entry["files"]:
        path = ROOT / file
        assert path.is_file(), f"{_label(entry)}: {file} is gone: update the list in pyproject.toml"
        text = path.read_text(encoding="utf-8")
        for name in entry["names"]:
            assert name.split(".")[-1] in text, f"{_label(entry)}: {file} no longer uses {name}"


def test_the_table_override_keeps_datatable_signature() -> None:
    """``KeyedTable._render_cell`` (the cached cell drawing, issue 15 item 7) is called by
    DataTable with DataTable's arguments."""
    pytest.importorskip("textual")
    from textual.widgets import DataTable

    from console.widgets.table import KeyedTable

    ours = list(inspect.signature(KeyedTable._render_cell).parameters)
    theirs = list(inspect.signature(DataTable._render_cell).parameters)
    assert ours == theirs
