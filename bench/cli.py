"""``authconsole tokens decode --no-db`` cold start vs a bare script importing jwt and decoding.

Both are fresh interpreters started the same way (``python -c`` / ``python -m console``) with the
same token and HS256 secret; wall time from spawn to exit, interleaved, median.
"""

from __future__ import annotations

import compileall
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.context import Ctx
from bench.harness import Row

SECRET = "bench-cli-secret-" + "c" * 40


def _token() -> str:
    import jwt

    now = int(time.time())
    return jwt.encode(
        {
            "sub": "42",
            "typ": "access",
            "token_version": 0,
            "iat": now,
            "exp": now + 600,
            "jti": "x" * 24,
            "iss": "authconsole",
            "aud": "authconsole",
        },
        SECRET,
        algorithm="HS256",
    )


def _time(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    took = time.perf_counter() - t0
    if out.returncode not in (0, 1):
        raise RuntimeError(f"{cmd[:4]} exited {out.returncode}: {out.stderr.strip()[:200]}")
    return took


def run(ctx: Ctx) -> None:
    root = Path(__file__).resolve().parents[1]
    if not (root / "console" / "commands" / "tokens.py").exists():
        ctx.add(
            Row(
                "cli",
                "tokens decode --no-db cold start",
                float("nan"),
                "",
                0,
                1.3,
                error="console/commands/tokens.py is not there",
            )
        )
        return
    token = _token()
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "AUTHCONSOLE_CONFIG": str(Path(tmp) / "none.toml"),
            "BENCH_SECRET": SECRET,
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        env.pop("AUTHCONSOLE_DATABASE_URL", None)
        ours = [
            sys.executable,
            "-m",
            "console",
            "tokens",
            "decode",
            "--no-db",
            "--secret-env",
            "BENCH_SECRET",
            token,
        ]
        bare = [
            sys.executable,
            "-c",
            (
                "import os, sys, jwt\n"
                "c = jwt.decode(sys.argv[1], os.environ['BENCH_SECRET'], algorithms=['HS256'], "
                "audience='authconsole', issuer='authconsole')\nprint(c)"
            ),
            token,
        ]
        # An installed authconsole has its bytecode (pip compiles on install), as jwt has in
        # site-packages; a fresh checkout has none, and with PYTHONDONTWRITEBYTECODE every start
        # would compile the source again and time the compiler, not the start.
        for pkg in ("authcore", "console"):
            compileall.compile_dir(str(root / pkg), quiet=1)
        for cmd in (ours, bare):  # warm the OS file cache, check both work
            _time(cmd, env)
        a: list[float] = []
        b: list[float] = []
        for i in range(15):  # in --quick too: a median of 5 read 0.89x-1.32x in four runs
            for cmd in (ours, bare) if i % 2 == 0 else (bare, ours):
                (a if cmd is ours else b).append(_time(cmd, env))
    ctx.add(
        Row(
            "cli",
            "tokens decode --no-db cold start",
            statistics.median(a),
            "python -c 'import jwt; jwt.decode(...)'",
            statistics.median(b),
            1.3,
        )
    )
