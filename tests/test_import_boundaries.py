"""authcore is a library: importing any of its modules pulls in neither Textual nor the console."""

from __future__ import annotations

import pkgutil

import authcore
from tests.conftest import modules_loaded

SKIP = ("authcore.migrations",)  # alembic env scripts run migrations when imported


def authcore_modules() -> list[str]:
    names = ["authcore"]
    for info in pkgutil.walk_packages(authcore.__path__, "authcore."):
        if not info.name.startswith(SKIP):
            names.append(info.name)
    return names


def test_authcore_imports_no_textual_and_no_console() -> None:
    modules = authcore_modules()
    assert {"authcore.core", "authcore.users", "authcore.revoke", "authcore.audit"} <= set(modules)
    code = f"import importlib\nfor name in {modules!r}:\n    importlib.import_module(name)\n"
    assert modules_loaded(code, ("textual", "console")) == []


def test_console_screens_do_not_import_sqlalchemy_directly() -> None:
    """The TUI reads and writes only through authcore (it never builds SQL itself)."""
    import pathlib

    root = pathlib.Path(__file__).resolve().parent.parent / "console"
    files = [root / "app.py", root / "safe.py", root / "palette.py", root / "workers.py",
             root / "messages.py", root / "actions.py",
             *(root / "screens").glob("*.py"), *(root / "widgets").glob("*.py")]
    for f in files:
        text = f.read_text(encoding="utf-8")
        assert "import sqlalchemy" not in text and "from sqlalchemy" not in text, f
