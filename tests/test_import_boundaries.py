"""authcore is a library: importing any of its modules pulls in neither Textual nor the console."""

from __future__ import annotations

import os
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import authcore
from tests.conftest import ROOT, modules_loaded

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
    files = [
        root / "app.py",
        root / "safe.py",
        root / "palette.py",
        root / "workers.py",
        root / "messages.py",
        root / "actions.py",
        *(root / "screens").glob("*.py"),
        *(root / "widgets").glob("*.py"),
    ]
    for f in files:
        text = f.read_text(encoding="utf-8")
        assert "import sqlalchemy" not in text and "from sqlalchemy" not in text, f


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` (the contracts in pyproject.toml) on the packages under ``root``."""
    exe = Path(sys.executable).parent / "lint-imports"
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(exe), "--no-cache", "--no-logo"], cwd=root, env=env, capture_output=True, text=True, timeout=300
    )


def test_import_contracts_hold() -> None:
    out = lint_imports(ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Contracts: 3 kept, 0 broken." in out.stdout


def test_import_contracts_catch_a_violation(tmp_path: Path) -> None:
    """The same contracts on a copy with one forbidden import of each kind: all break."""
    for name in ("authcore", "console"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    with open(tmp_path / "authcore" / "text.py", "a", encoding="utf-8") as f:
        f.write("\n\ndef _tui() -> None:\n    import textual  # noqa: F401\n")
    with open(tmp_path / "console" / "safe.py", "a", encoding="utf-8") as f:
        f.write("\n\ndef _sql() -> None:\n    from sqlalchemy import text  # noqa: F401\n")
    with open(tmp_path / "console" / "output.py", "a", encoding="utf-8") as f:
        f.write("\n\ndef _rich() -> None:\n    import rich  # noqa: F401\n")
    out = lint_imports(tmp_path)
    assert out.returncode != 0
    assert "Contracts: 0 kept, 3 broken." in out.stdout, out.stdout
    for chain in ("authcore.text -> textual", "console.safe -> sqlalchemy", "console.output -> rich"):
        assert chain in out.stdout, chain
