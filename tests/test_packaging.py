"""The app install: ``pip install authconsole`` (no extra) gives an app server authcore without
the terminal UI's dependencies, and README's app example runs on it.

A real install into a fresh venv from a copy of the repo's sources (so the build sees only what
the distribution ships, e.g. the migrations as package data); dependencies come from the same
index/cache as ``.ci/run``'s own install. It takes minutes on a shared machine, so it is marked
``slow_install``: the default run leaves it out and ``.ci/run`` runs it as a step of its own.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, TEST_SECRET

pytestmark = pytest.mark.slow_install

SHIPPED = ("pyproject.toml", "README.md", "authcore", "console")
TUI_ONLY = ("textual", "rich")  # the `tui` extra's distributions (Rich comes with Textual)


def readme_app_example() -> str:
    """The first ``python`` block under README's "Using authcore in an app" heading."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Using authcore in an app", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "README has no python block under 'Using authcore in an app'"
    return match.group(1)


@pytest.fixture(scope="module")
def app_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding ``pip install <repo>`` without extras."""
    base = tmp_path_factory.mktemp("appinstall")
    src = base / "src"
    src.mkdir()
    for name in SHIPPED:
        item = ROOT / name
        if item.is_dir():
            shutil.copytree(item, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(item, src / name)
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    pip = subprocess.run(
        [str(venv / "bin/python"), "-m", "pip", "install", "-q", str(src)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert pip.returncode == 0, pip.stdout + pip.stderr
    return venv


def run(venv: Path, cwd: Path, *argv: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv / "bin" / argv[0]), *argv[1:]],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def app_env(tmp_path: Path) -> dict[str, str]:
    """An app's environment: a config file (mode 0600) naming a SQLite file and an HS256 key."""
    db = tmp_path / "app.db"
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'database_url = "sqlite:///{db}"\n[tokens]\nsecret = "{TEST_SECRET}"\n', encoding="utf-8")
    cfg.chmod(0o600)
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "AUTHCONSOLE_CONFIG": str(cfg),
        "XDG_CONFIG_HOME": str(tmp_path / ".config"),
        "XDG_DATA_HOME": str(tmp_path / ".local/share"),
    }


def test_app_install_has_no_tui_dependencies(app_venv: Path, tmp_path: Path) -> None:
    code = (
        "import importlib.metadata as m, importlib.util as u, json\n"
        f"names = {TUI_ONLY!r}\n"
        "print(json.dumps({'found': [n for n in names if u.find_spec(n)],\n"
        "                  'dists': sorted(d.metadata['Name'].lower() for d in m.distributions()),\n"
        "                  'authcore': __import__('authcore').__file__}))\n"
    )
    out = run(app_venv, tmp_path, "python", "-c", code, env={"PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    import json

    seen = json.loads(out.stdout)
    assert seen["found"] == []
    assert not set(TUI_ONLY) & set(seen["dists"]), seen["dists"]
    assert {"authconsole", "sqlalchemy", "pyjwt", "alembic", "psycopg"} <= set(seen["dists"])
    assert seen["authcore"].startswith(str(app_venv)), seen["authcore"]  # the install, not ROOT


def test_readme_app_example_runs_on_the_app_install(
    app_venv: Path, tmp_path: Path, app_env: dict[str, str]
) -> None:
    # the operator's side, with the same install: schema (and alice) through the plain CLI
    demo = run(app_venv, tmp_path, "authconsole", "demo", "--users", "0", env=app_env)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    prelude = (
        "from authcore import AuthCore as _A, load_config as _lc\n"
        "_c = _A.from_config(_lc())\n"
        "user = _c.users.find('alice')\n"
        "_c.dispose()\n"
        "ip, ua = '10.0.0.7', 'pytest-app/1.0'\n"
    )
    checks = (
        "assert claims.user_id == user.id and claims.sid == session.public_id, claims\n"
        "assert new_pair.refresh_token != pair.refresh_token\n"
        "assert who is not None and who.user_id == user.id, who\n"
        "assert core.logout(claims.sid) is False  # already gone: idempotent\n"
        "import sys\n"
        f"assert not [m for m in sys.modules if m.split('.')[0] in {TUI_ONLY!r}]\n"
        "print('example ran')\n"
    )
    out = run(app_venv, tmp_path, "python", "-c", prelude + readme_app_example() + checks, env=app_env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip().splitlines()[-1] == "example ran"


def test_console_without_tui_says_what_to_install(
    app_venv: Path, tmp_path: Path, app_env: dict[str, str]
) -> None:
    """The TUI command is one clear line (no traceback); the plain commands keep working."""
    tui = run(app_venv, tmp_path, "authconsole", env=app_env)
    assert (tui.returncode, tui.stdout) == (2, "")
    assert tui.stderr == "authconsole: the console needs: pip install 'authconsole[tui]'\n"
    made = run(app_venv, tmp_path, "authconsole", "demo", "--users", "0", env=app_env)
    assert made.returncode == 0, made.stderr
    found = run(app_venv, tmp_path, "authconsole", "users", "search", "alice", "--json", env=app_env)
    assert found.returncode == 0, found.stderr
    assert "alice@" in found.stdout
    assert os.path.exists(tmp_path / "app.db")  # the config's database, not a default one


def test_tui_extra_brings_the_console(app_venv: Path, tmp_path: Path, app_env: dict[str, str]) -> None:
    """README's quick start: the ``tui`` extra on top adds Textual and the console starts (last
    in this file: it changes the shared venv)."""
    src = app_venv.parent / "src"
    pip = subprocess.run(
        [str(app_venv / "bin/python"), "-m", "pip", "install", "-q", f"{src}[tui]"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert pip.returncode == 0, pip.stdout + pip.stderr
    probe = run(app_venv, tmp_path, "python", "-c", "import console.app, textual; print('ok')", env=app_env)
    assert probe.stdout.strip() == "ok", probe.stderr
    tui = run(app_venv, tmp_path, "authconsole", env=app_env)  # past the extra, to the tty check
    assert (tui.returncode, tui.stderr) == (
        2,
        "authconsole: the console needs a terminal; for scripts use a command (authconsole --help)\n",
    )
