"""The test app (tests/app, built as docs/verifier.md shows) as a real server process with 2
workers on a free port, on SQLite and PostgreSQL, driven by real HTTP requests:

* ``uvicorn --workers 2`` running the FastAPI-lifespan recipe (``tests.app.lifespan:app``);
* ``gunicorn --preload -w 2 -k uvicorn.workers.UvicornWorker`` running the module-level recipe
  (``tests.app.main:app``): the AuthCore and Verifier are built in the master, then forked.

Login, /me, refresh, refresh reuse, logout, 4 parallel logouts, a disabled user's login (403 and
no session left), and a revoke from the operator's CLI refused by every worker. Each worker
reports its pid (``X-Worker-Pid``) and its verifier's stats (``/health``).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from authcore.core import AuthCore
from authcore.errors import TokenRevoked
from tests.conftest import ROOT, TEST_SECRET

SERVERS = {
    "uvicorn": [
        "-m",
        "uvicorn",
        "tests.app.lifespan:app",
        "--workers",
        "2",
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
        "--log-level",
        "warning",
    ],
    "gunicorn-preload": [
        "-m",
        "gunicorn",
        "--preload",
        "-w",
        "2",
        "-k",
        "uvicorn.workers.UvicornWorker",
        "-c",
        "tests/app/gunicorn_conf.py",
        "-b",
        "127.0.0.1:{port}",
        "--log-level",
        "warning",
        "--graceful-timeout",
        "5",
        "tests.app.main:app",
    ],
}
WORKERS = 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def app_env(db_url: str, home: Path) -> dict[str, str]:
    """The app's environment: database and secret from variables, no config file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHCONSOLE_")}
    env.update(
        DATABASE_URL=db_url,
        AUTHCORE_SECRET=TEST_SECRET,
        AUTHCONSOLE_CONFIG=str(home / "no-config.toml"),
        PYTHONPATH=str(ROOT),
    )
    return env


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    base: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


@contextlib.contextmanager
def serve(
    kind: str, db_url: str, tmp: Path, env: dict[str, str] | None = None, timeout: float = 90
) -> Iterator[Server]:
    """Start the server (its own process group), wait until it answers, stop it after."""
    port = free_port()
    log = tmp / f"{kind}-{port}.log"
    argv = [sys.executable] + [a.format(port=port) for a in SERVERS[kind]]
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env or app_env(db_url, tmp),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(proc, f"http://127.0.0.1:{port}", log)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{kind} exited with {proc.returncode}: {server.output()}")
            try:
                if httpx.get(server.base + "/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{kind} did not answer in {timeout}s: {server.output()}")
            time.sleep(0.2)
        yield server
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group (the master and its workers), SIGKILL if it lingers."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # workers the master left behind
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)


def fresh(c: httpx.Client, method: str, url: str, **kw: Any) -> httpx.Response:
    """One request on a new connection (so the kernel may hand it to either worker)."""
    return c.request(method, url, headers={**kw.pop("headers", {}), "Connection": "close"}, **kw)


def fan_out(
    server: Server,
    fn: Callable[[httpx.Client], httpx.Response],
    until: Callable[[dict[int, list[httpx.Response]]], bool],
    *,
    limit: int = 600,
    parallel: int = 8,
) -> dict[int, list[httpx.Response]]:
    """Send requests in parallel (new connection each) until ``until(by_pid)`` holds; the
    responses grouped by the worker pid that answered."""
    by_pid: dict[int, list[httpx.Response]] = {}
    with httpx.Client(base_url=server.base, timeout=10) as c, ThreadPoolExecutor(parallel) as pool:
        sent = 0
        while sent < limit and not until(by_pid):
            for r in pool.map(lambda _i: fn(c), range(parallel)):
                by_pid.setdefault(int(r.headers["x-worker-pid"]), []).append(r)
            sent += parallel
    return by_pid


def both(by_pid: dict[int, list[httpx.Response]]) -> bool:
    return len(by_pid) >= WORKERS


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def wait_refused_everywhere(server: Server, token: str, timeout: float = 15) -> dict[int, float]:
    """Hit /me until every worker has refused ``token``; per worker pid, seconds until it did.
    Once a worker has refused, it must never accept again."""
    t0 = time.monotonic()
    refused_at: dict[int, float] = {}
    accepted_after: list[int] = []
    with httpx.Client(base_url=server.base, timeout=10) as c, ThreadPoolExecutor(8) as pool:
        while len(refused_at) < WORKERS:
            assert time.monotonic() - t0 < timeout, f"refused only by {sorted(refused_at)}"
            batch = list(pool.map(lambda _i: fresh(c, "GET", "/me", headers=bearer(token)), range(8)))
            now = time.monotonic() - t0
            for r in batch:  # a batch's requests overlap: judge them against earlier batches
                pid = int(r.headers["x-worker-pid"])
                if r.status_code == 200:
                    if pid in refused_at:
                        accepted_after.append(pid)
                else:
                    assert r.status_code == 401, r.text
                    assert r.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
            for r in batch:
                if r.status_code == 401:
                    refused_at.setdefault(int(r.headers["x-worker-pid"]), now)
    assert not accepted_after, f"accepted again after a refusal by {accepted_after}"
    return refused_at


def cli(db_url: str, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = app_env(db_url, home)
    env.pop("DATABASE_URL")
    env.pop("AUTHCORE_SECRET")  # the operator's console needs no signing key
    env["AUTHCONSOLE_DATABASE_URL"] = db_url  # not on argv
    return subprocess.run(
        [sys.executable, "-m", "console", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("kind", list(SERVERS))
def test_app_under_a_real_server(kind: str, db_url: str, core: AuthCore, tmp_path: Path) -> None:
    alice = core.users.create("alice@example.com", "alice", "Alice")
    bob = core.users.create("bob@example.com", "bob", "Bob")
    carol = core.users.create("carol@example.com", "carol", "Carol")
    core.admin.set_disabled(carol.id, True, "test: disabled user")
    figures: dict[str, Any] = {}
    with serve(kind, db_url, tmp_path) as server, httpx.Client(base_url=server.base, timeout=10) as c:
        # -- both workers are up, each with its own healthy verifier ----------------------
        health = fan_out(server, lambda c: fresh(c, "GET", "/health"), both)
        assert len(health) == WORKERS, sorted(health)
        for pid, rs in health.items():
            deadline = time.monotonic() + 10
            st = rs[-1].json()
            while not (st["verifier"]["connected"] and st["verifier"]["fresh"]):
                assert time.monotonic() < deadline, (pid, st)
                time.sleep(0.1)
                got = fan_out(server, lambda c: fresh(c, "GET", "/health"), lambda b, pid=pid: pid in b)
                st = got[pid][-1].json()
            assert st["thread_alive"] and st["pid"] == pid, st

        # -- login, /me on both workers ------------------------------------------------------
        r = c.post("/login", json={"username": "alice"})
        assert r.status_code == 200, r.text
        pair = r.json()
        me = fan_out(server, lambda c: fresh(c, "GET", "/me", headers=bearer(pair["access_token"])), both)
        for rs in me.values():
            for x in rs:
                assert x.status_code == 200 and x.json()["user_id"] == alice.id, x.text
                assert x.json()["pid"] == int(x.headers["x-worker-pid"])
        assert c.post("/login", json={"username": "nobody"}).status_code == 401

        # -- refresh, then reuse of a rotated token ends the session ---------------------------
        r1 = pair["refresh_token"]
        p2 = c.post("/refresh", json={"refresh_token": r1})
        assert p2.status_code == 200, p2.text
        p3 = c.post("/refresh", json={"refresh_token": p2.json()["refresh_token"]})
        assert p3.status_code == 200, p3.text
        latest = p3.json()
        assert c.get("/me", headers=bearer(latest["access_token"])).status_code == 200
        reuse = c.post("/refresh", json={"refresh_token": r1})  # two rotations behind
        assert reuse.status_code == 401 and reuse.json() == {"detail": "reuse"}, reuse.text
        wait_refused_everywhere(server, latest["access_token"])
        again = c.post("/refresh", json={"refresh_token": latest["refresh_token"]})
        assert again.status_code == 401, again.text

        # -- logout, and 4 logouts at once ------------------------------------------------------
        pair = c.post("/login", json={"username": "alice"}).json()
        sid = pair["sid"]
        with ThreadPoolExecutor(4) as pool:
            codes = list(
                pool.map(
                    lambda _i: fresh(c, "POST", "/logout", headers=bearer(pair["access_token"])).status_code,
                    range(4),
                )
            )
        assert codes == [204] * 4, codes
        assert core.sessions.get(sid) is None
        wait_refused_everywhere(server, pair["access_token"])
        assert c.post("/logout", headers=bearer(pair["access_token"])).status_code == 204
        assert c.post("/logout").status_code == 401

        # -- a disabled user cannot log in and leaves no session ---------------------------------
        for _ in range(3):
            r = c.post("/login", json={"username": "carol"})
            assert r.status_code == 403, r.text
        assert core.sessions.for_user(carol.id) == []

        # -- a revoke from the operator's CLI is refused by every worker ---------------------------
        bob_pair = c.post("/login", json={"username": "bob"}).json()
        ok = fan_out(
            server, lambda c: fresh(c, "GET", "/me", headers=bearer(bob_pair["access_token"])), both
        )  # cached as valid in both workers
        assert all(x.status_code == 200 for rs in ok.values() for x in rs)
        t_cli = time.monotonic()
        done = cli(
            db_url, tmp_path, "revoke", "bob", "--all-tokens", "--reason", "test: stolen laptop", "--yes"
        )
        cli_s = time.monotonic() - t_cli
        assert done.returncode == 0, done.stdout + done.stderr
        refused = wait_refused_everywhere(server, bob_pair["access_token"])
        figures["cli_s"] = round(cli_s, 3)
        figures["refused_after_cli_exit_s"] = {p: round(t, 3) for p, t in refused.items()}
        with pytest.raises(TokenRevoked):
            core.tokens.verify_access(bob_pair["access_token"], strict=True)
        assert core.users.get(bob.id).token_version == 1

        # -- the workers' verifiers are still healthy and did not fall back to the database ------
        health = fan_out(server, lambda c: fresh(c, "GET", "/health"), both)
        for pid, rs in health.items():
            v = rs[-1].json()["verifier"]
            assert v["connected"] and v["fresh"], (pid, v)
            # answered from its own cache (a dead thread meant a query per request)
            assert v["hits"] > 0 and v["db_fallbacks"] < v["hits"], (pid, v)
            figures[f"worker {pid}"] = {
                k: v[k] for k in ("mode", "hits", "misses", "updates_applied", "listener_pid")
            }
    print(f"\n{kind} {core.engine.dialect.name}: {figures}")


def test_app_refuses_to_start_without_a_database(tmp_path: Path) -> None:
    """No database URL: the worker fails at start with the one-line ConfigError, and no
    SQLite file is created in the service user's data dir."""
    env = app_env("", tmp_path)
    env.pop("DATABASE_URL")
    env["XDG_DATA_HOME"] = str(tmp_path / "data")
    proc = subprocess.run(
        [sys.executable, "-c", "import tests.app.main"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert "ConfigError: no database URL configured" in proc.stderr
    assert not (tmp_path / "data").exists()


def test_docs_recipes_are_the_tested_app() -> None:
    """Every code line of docs/verifier.md's recipes is in the app files the servers run."""
    doc = (ROOT / "docs" / "verifier.md").read_text(encoding="utf-8")
    section = doc.split("## Recipes per server", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    files = ["lifespan.py", "main.py", "gunicorn_conf.py"]
    assert len(blocks) == len(files)
    for block, name in zip(blocks, files, strict=True):
        source = (ROOT / "tests" / "app" / name).read_text(encoding="utf-8")
        for line in block.splitlines():
            code = line.split("#", 1)[0].strip().rstrip(":").replace("myapp", "tests.app.main")
            if code:
                assert code in source, f"{name} lacks the documented line {code!r}"
