"""The app through a real server: verified requests per second against signature-only.

The test app (``tests/app``, built as docs/verifier.md shows) runs under ``uvicorn --workers 2``
(lifespan recipe) and ``gunicorn --preload -w 2 -k uvicorn.workers.UvicornWorker`` (module-level
recipe: the verifier is built before the fork). A client process keeps 16 HTTP/1.1 keep-alive
connections busy with ``GET /me`` (``BearerAuth``: signature + the verifier's cache) and, as the
baseline in the same run, ``GET /me/signature`` (signature and claims only, same server, same
token); samples alternate ABBA. ``GET /me/strict`` (``verify_access(strict=True)``: one query
per request on the fast-path pool) is reported alongside.

Two figures per side: requests per second (wall clock: on a shared 2-core host the client and
other load move it a lot) and the server's CPU time per request (user + system of the master and
its workers, from ``/proc``: what the check itself costs, far less sensitive to neighbours). The
judged row is the CPU time per verified request against signature-only; the rps rows are info.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from bench.context import SECRET, Ctx
from bench.harness import Row

ROOT = Path(__file__).resolve().parents[1]
CONNS = 16

SERVERS = {
    "uvicorn --workers 2": [
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
        "--no-access-log",
    ],
    "gunicorn --preload -w 2": [
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
        "tests.app.main:app",
    ],
}

_CLIENT = r"""
import http.client, json, sys, threading, time
port, path, token, seconds, conns = (int(sys.argv[1]), sys.argv[2], sys.argv[3],
                                     float(sys.argv[4]), int(sys.argv[5]))
ok = [0] * conns
bad = [0] * conns
start = threading.Barrier(conns + 1)
def run(i):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    h = {"Authorization": "Bearer " + token}
    start.wait()
    while time.monotonic() < stop:
        c.request("GET", path, headers=h)
        r = c.getresponse()
        r.read()
        if r.status == 200:
            ok[i] += 1
        else:
            bad[i] += 1
threads = [threading.Thread(target=run, args=(i,)) for i in range(conns)]
for t in threads:
    t.start()
stop = time.monotonic() + seconds
start.wait()
t0 = time.monotonic()
for t in threads:
    t.join()
print(json.dumps({"ok": sum(ok), "bad": sum(bad), "seconds": time.monotonic() - t0}))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _group_cpu(pgid: int) -> float:
    """CPU seconds (user + system) of every live process in process group ``pgid``."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # pgrp
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


@contextlib.contextmanager
def _server(argv: list[str], url: str) -> Iterator[tuple[int, int]]:
    """Start the server in its own process group; yield (port, process group id)."""
    import httpx

    port = _free_port()
    argv = [a.format(port=port) for a in argv]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHCONSOLE_")}
    env.update(
        DATABASE_URL=url,
        AUTHCORE_SECRET=SECRET,
        PYTHONPATH=str(ROOT),
        AUTHCONSOLE_CONFIG=str(ROOT / ".no-config.toml"),
    )
    proc = subprocess.Popen(
        [sys.executable, *argv],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                raise RuntimeError(f"server exited: {err[-300:]}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise TimeoutError("server did not answer in 60 s")
            time.sleep(0.2)
        yield port, proc.pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _load(
    port: int, path: str, token: str, seconds: float, pgid: int | None = None
) -> tuple[float, float, int]:
    """(requests per second, server CPU seconds per request, non-200 answers)."""
    c0 = _group_cpu(pgid) if pgid else 0.0
    out = subprocess.run(
        [sys.executable, "-c", _CLIENT, str(port), path, token, str(seconds), str(CONNS)],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    )
    if out.returncode != 0:
        raise RuntimeError(f"load client failed: {out.stderr[-300:]}")
    r = json.loads(out.stdout)
    cpu = (_group_cpu(pgid) - c0) / max(1, r["ok"]) if pgid else float("nan")
    return r["ok"] / r["seconds"], cpu, int(r["bad"])


def measure(ctx: Ctx, engine: str, server: str) -> None:
    core = ctx.core(engine)
    email = "bench-appserver@example.invalid"
    try:
        user = core.users.find(email)
    except Exception:  # noqa: BLE001 - first run on this database
        user = core.users.create(email, "bench-appserver", "Bench App Server")
    token = core.login(user.id, ip="127.0.0.1", user_agent="bench").pair.access_token
    seconds = 1.5 if ctx.quick else 3.0  # short samples, many rounds: a busy host hits all
    rounds = 6 if ctx.quick else 10  # sides alike
    paths = ("/me", "/me/signature", "/me/strict")
    rps: dict[str, list[float]] = {p: [] for p in paths}
    cpu: dict[str, list[float]] = {p: [] for p in paths}
    bad = 0
    with _server(SERVERS[server], ctx.url(engine)) as (port, pgid):
        _load(port, "/me", token, 1.0)  # warm both workers (imports, first miss, connections)
        _load(port, "/me/strict", token, 1.0)
        for i in range(rounds):
            for path in paths if i % 2 == 0 else paths[::-1]:
                r, c, b = _load(port, path, token, seconds, pgid)
                rps[path].append(r)
                cpu[path].append(c)
                bad += b
    med = {p: statistics.median(v) for p, v in rps.items()}
    mcpu = {p: statistics.median(v) for p, v in cpu.items()}
    note = (
        f"req/s (median of {rounds} x {seconds:g} s, {CONNS} keep-alive connections): "
        f"verifier {med['/me']:.0f}, signature-only {med['/me/signature']:.0f}, "
        f"strict=True {med['/me/strict']:.0f}; server CPU per request: verifier "
        f"{mcpu['/me'] * 1000:.2f} ms, signature-only {mcpu['/me/signature'] * 1000:.2f} ms, "
        f"strict=True {mcpu['/me/strict'] * 1000:.2f} ms"
    )
    section = f"appserver {engine}"
    row = Row(
        section,
        f"{server}: GET /me via Verifier, server CPU per request",
        mcpu["/me"],
        "signature only",
        mcpu["/me/signature"],
        1.25,
        note=note,
    )
    if bad:
        row.error = f"{bad} non-200 answers"
    ctx.add(row)
    ctx.add(
        Row(
            section,
            f"{server}: GET /me via Verifier, wall time per request (1/rps)",
            1 / med["/me"],
            "signature only",
            1 / med["/me/signature"],
            1.0,
            info=True,
        )
    )
    ctx.add(
        Row(
            section,
            f"{server}: GET /me strict=True, server CPU per request",
            mcpu["/me/strict"],
            "signature only",
            mcpu["/me/signature"],
            1.0,
            info=True,
        )
    )


def run(ctx: Ctx) -> None:
    for engine in ctx.engines:
        if not ctx.has(engine):
            continue
        for server in SERVERS:
            measure(ctx, engine, server)
