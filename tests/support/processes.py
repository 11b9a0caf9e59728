"""What a fresh interpreter imports: the checks that keep start-up light and authcore a library."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import authcore
from tests.support import ROOT


def modules_loaded(code: str, names: tuple[str, ...], *, env: dict[str, str] | None = None) -> list[str]:
    """Run ``code`` in a fresh interpreter (from the repo root), then list the loaded modules
    among ``names`` (a name, or any module under it)."""
    probe = (
        f"{code}\nimport json as _json, sys as _sys\n"
        f"print(_json.dumps(sorted(m for m in _sys.modules if m in {names!r}\n"
        f"                         or m.split('.')[0] in {names!r})))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stdout + out.stderr
    loaded: list[str] = json.loads(out.stdout.strip().splitlines()[-1])
    return loaded


SKIP = ("authcore.migrations",)  # alembic env scripts run migrations when imported


def authcore_modules() -> list[str]:
    """Every module of authcore but the migration scripts."""
    names = ["authcore"]
    for info in pkgutil.walk_packages(authcore.__path__, "authcore."):
        if not info.name.startswith(SKIP):
            names.append(info.name)
    return names
