"""Load generator for the activity rows: ``python -m bench.activity_load URL RATE [THREADS [SECONDS]]``.

A real app process on the database at URL: logins and refresh rotations (half each) through
``AuthCore``, paced to RATE events per second over THREADS threads. Commands on stdin, one per
line: ``go`` (start or resume), ``stop`` (pause; prints ``RAN <events> <seconds>`` for the span
since ``go``), ``quit``. Prints ``READY`` once connected. With SECONDS it needs no commands: it
runs for that long, prints ``RAN`` and exits (a burst to watch on the console's ``L`` screen).
"""

from __future__ import annotations

import random
import sys
import threading
import time

from authcore.config import Config, TokenSettings
from authcore.core import AuthCore
from authcore.db import make_engine
from authcore.errors import AuthCoreError


def main(url: str, rate: float, threads: int, seconds: float | None = None) -> None:
    core = AuthCore(make_engine(url), Config(tokens=TokenSettings(secret="bench-secret-" + "b" * 40)))
    from sqlalchemy import select

    from authcore.db import read_conn
    from authcore.models import users

    with read_conn(core.engine) as conn:
        ids = [r[0] for r in conn.execute(select(users.c.id).where(users.c.disabled.is_(False)).limit(5000))]
    running = threading.Event()
    stop = threading.Event()
    count = [0]
    lock = threading.Lock()
    per_thread = rate / threads

    def work(seed: int) -> None:
        rng = random.Random(seed)
        token: str | None = None
        next_at = time.monotonic()
        while not stop.is_set():
            if not running.wait(0.1):
                next_at = time.monotonic()
                continue
            try:
                if token is None or rng.random() < 0.5:
                    token = core.login(
                        rng.choice(ids), ip="198.51.100.7", user_agent="bench-load"
                    ).pair.refresh_token
                else:
                    token = core.tokens.refresh(token).refresh_token
            except AuthCoreError:
                token = None
            with lock:
                count[0] += 1
            next_at += 1.0 / per_thread
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif delay < -1.0:
                next_at = time.monotonic()  # behind by a second: do not catch up in a burst

    workers = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(threads)]
    for t in workers:
        t.start()
    print("READY", flush=True)
    started = time.monotonic()
    if seconds is not None:
        running.set()
        time.sleep(seconds)
        running.clear()
        print(f"RAN {count[0]} {time.monotonic() - started:.3f}", flush=True)
    for line in [] if seconds is not None else sys.stdin:
        cmd = line.strip()
        if cmd == "go":
            with lock:
                count[0] = 0
            started = time.monotonic()
            running.set()
        elif cmd == "stop":
            running.clear()
            with lock:
                n = count[0]
            print(f"RAN {n} {time.monotonic() - started:.3f}", flush=True)
        elif cmd == "quit":
            break
    stop.set()
    running.set()
    for t in workers:
        t.join(5)
    core.dispose()


if __name__ == "__main__":
    main(
        sys.argv[1],
        float(sys.argv[2]),
        int(sys.argv[3]) if len(sys.argv) > 3 else 4,
        float(sys.argv[4]) if len(sys.argv) > 4 else None,
    )
