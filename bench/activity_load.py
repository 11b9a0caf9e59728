"""Load generator for the activity rows:
``python -m bench.activity_load [--writes] URL RATE [THREADS [SECONDS]]``.

Logins and refresh rotations (half each) on the database at URL, paced to RATE events a second.

* Default, **app** mode: a real app process, ``core.login`` / ``core.tokens.refresh`` through
  ``AuthCore`` over THREADS threads (JWT signing, the reads, the locks: ~1-1.3 ms of CPU per
  event here, plus PostgreSQL's).
* ``--writes``: the same database writes and notifications for much less CPU -- what the console
  consumes, without the apps' work. Every ``INTERVAL`` seconds, one transaction sends the due
  events as two ``executemany``: authcore's own session INSERT (``sessions.login_write``, rows
  from ``sessions.new_row``: public id and token digest made as a login makes them) and its own
  rotation UPDATE (``tokens.rotation_write``: counter + 1, ``refresh_rotated_at``) of sessions
  this mode opened; on PostgreSQL with the NOTIFY folded in as ``AuthCore(activity=True)`` does.
  Not replayed: the reads, the user-row lock and ``users.last_login_at`` UPDATE of a login, and
  the signing (no token is handed out). THREADS is ignored.

Commands on stdin, one per
line: ``go`` (start or resume), ``stop`` (pause; prints ``RAN <events> <seconds>`` for the span
since ``go``), ``quit``. Prints ``READY`` once connected. With SECONDS it needs no commands: it
runs for that long, prints ``RAN`` and exits (a burst to watch on the console's ``L`` screen).
"""

from __future__ import annotations

import random
import sys
import threading
import time
from typing import Any

from authcore.config import Config, TokenSettings
from authcore.core import AuthCore
from authcore.db import make_engine
from authcore.errors import AuthCoreError

INTERVAL = 0.025  # seconds between the write mode's batches (RATE * INTERVAL events each)
POOL = 5000  # sessions the write mode keeps to rotate (its newest)


def main(url: str, rate: float, threads: int, seconds: float | None = None, *, writes: bool = False) -> None:
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

    def batches() -> None:
        """The ``--writes`` mode: due events every ``INTERVAL``, one transaction a batch."""
        from datetime import timedelta

        from authcore.db import write_tx
        from authcore.sessions import login_write, new_row
        from authcore.timeutil import utcnow
        from authcore.tokens import rotation_write

        rng = random.Random(7)
        notify = core.sessions.notify_activity
        ttl: timedelta = core.sessions.default_ttl
        pool: list[list[Any]] = []  # [public id, user id, counter] of sessions opened here
        done = 0.0
        started_at = time.monotonic()
        while not stop.is_set():
            if not running.wait(0.1):
                done, started_at = 0.0, time.monotonic()
                continue
            due = int(rate * (time.monotonic() - started_at) - done)
            if due > 0:
                n_rot = due // 2 if pool else 0
                now = utcnow()
                logins = [
                    new_row(rng.choice(ids), now, ttl, "198.51.100.7", "bench-load")[0]
                    for _ in range(due - n_rot)
                ]
                rotations = []
                for _ in range(n_rot):
                    s = rng.choice(pool)
                    s[2] += 1
                    rotations.append(rotation_write(s[0], s[1], s[2], now, notify=notify))
                try:
                    with write_tx(core.engine) as conn:
                        ins = [login_write(r, notify=notify) for r in logins]
                        conn.execute(ins[0][0], [v for _, v in ins])
                        if rotations:
                            conn.execute(rotations[0][0], [v for _, v in rotations])
                except AuthCoreError as exc:
                    print(f"batch failed: {exc}", file=sys.stderr, flush=True)
                else:
                    pool.extend([r["public_id"], r["user_id"], 0] for r in logins)
                    del pool[:-POOL]
                    with lock:
                        count[0] += due
                done += due
                if rate * (time.monotonic() - started_at) - done > rate:
                    done = rate * (time.monotonic() - started_at)  # a second behind: no burst
            stop.wait(INTERVAL)

    if writes:
        workers = [threading.Thread(target=batches, daemon=True)]
    else:
        workers = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(threads)]
    for t in workers:
        t.start()
    print("READY", flush=True)
    started = time.monotonic()
    if seconds is not None:
        running.set()
        time.sleep(seconds)
        running.clear()
        stop.set()
        for t in workers:
            t.join(5)  # what was in flight counts: RAN is what the database got
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
    args = [a for a in sys.argv[1:] if a != "--writes"]
    main(
        args[0],
        float(args[1]),
        int(args[2]) if len(args) > 2 else 4,
        float(args[3]) if len(args) > 3 else None,
        writes="--writes" in sys.argv[1:],
    )
