"""authcore is a library: importing any of its modules pulls in neither Textual nor the console."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, modules_loaded
from tests.support.processes import authcore_modules


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


# -- AuthCore is the only door (issue 15 item 3) ------------------------------------------------


def engine_uses(source: str, name: str = "<src>") -> list[str]:
    """Where ``source`` reaches past the core: any ``.engine`` attribute (``core.engine``,
    ``self.core.engine``, ``ctx.core().engine``: an authcore module function called on the
    engine, or SQL run on it), or an engine built (``make_engine``/``create_engine``)."""
    import ast

    found = []
    for node in ast.walk(ast.parse(source, name)):
        if isinstance(node, ast.Attribute) and node.attr == "engine":
            found.append(f"{name}:{node.lineno}: .engine")
        elif isinstance(node, ast.Name | ast.Attribute | ast.alias):
            ident = (
                node.id
                if isinstance(node, ast.Name)
                else node.attr
                if isinstance(node, ast.Attribute)
                else node.name
            )
            if ident in ("make_engine", "create_engine"):
                found.append(f"{name}:{node.lineno}: {ident}")
    return found


def test_the_console_reaches_the_database_only_through_the_core() -> None:
    """Screens and commands call ``core.users``/``core.audit``/``core.inspect()``/... , never
    an authcore module function with ``core.engine``, and build no engine (``Ctx.core`` does)."""
    root = ROOT / "console"
    files = sorted(root.rglob("*.py"))
    assert len(files) > 20 and root / "screens" / "audit.py" in files
    bad = [hit for f in files for hit in engine_uses(f.read_text(encoding="utf-8"), str(f.relative_to(ROOT)))]
    assert bad == [], "\n".join(bad)


def test_the_door_check_catches_each_way_around_it() -> None:
    """Control: the scan finds what it forbids."""
    for src in (
        "audit.list_events(core.engine, limit=1)\n",
        "check_configured(self.core.engine, a, b)\n",
        "seal.seal_chain(ctx.core().engine, key)\n",
        "from authcore.db import make_engine\n",
        "e = create_engine(url)\n",
    ):
        assert engine_uses(src), src
    assert engine_uses("core.audit.list(limit=1)\nctx.core(create=True)\n") == []
