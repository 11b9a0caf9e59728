"""``python -m bench.faults``: freeze, kill and cut a PostgreSQL of our own under load.

Rerunnable; needs root and the installed PostgreSQL 15 binaries (``bench.faultkit``); never
touches the shared server on 5432. Load during every fault: 4 threads verifying access tokens
through one ``Verifier`` (staleness 1 s), one writer revoking (a version bump every 50 ms), one
console-like reader (``users.search``). Faults, each on a healthy, warmed-up server:

* ``freeze``  SIGSTOP to the postmaster and every backend for 6 s, then SIGCONT;
* ``cut``     the TCP proxy in front of the server stops forwarding for 6 s (a silent peer);
* ``kill``    ``pg_ctl stop -m immediate``, started again 3 s later;
* ``bulk``    the server stopped (fast) while a bulk revoke's batch is in psycopg's pipeline: the
  CLI's stderr must be one line (issue 12.6).

For each it prints: time to the first fail-closed refusal (``DatabaseUnavailable``) and the
bound it must meet (staleness + db_timeout); the slowest single verification, revoke and search
during the fault; verifications answered "ok" later than the staleness bound (must be 0: nothing
answers from a cache past its bound, and a silent database cannot answer); the time until the
listener reported itself down; time to recover. Exit 1 when a bound or invariant is missed.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.faultkit import OwnPostgres, Proxy, create_database, unavailable_reason

ROOT = Path(__file__).resolve().parents[1]
STALENESS = 1.0
STATEMENT_S = 3.0  # the revoker's and searcher's engine: statement_timeout (answer deadline +5 s)
ANSWER_S = STATEMENT_S + 5
SECRET = "bench-faults-secret-" + "x" * 40


@dataclass
class Probe:
    """What the load saw during one fault window."""

    fault_at: float = 0.0
    first_refusal: float | None = None
    late_ok: int = 0
    verify_max: float = 0.0
    verify_n: int = 0
    refusals: int = 0
    revoke_max: float = 0.0
    revoke_errors: int = 0
    search_max: float = 0.0
    search_errors: int = 0
    other_errors: list[str] = field(default_factory=list)
    active: bool = False
    back_at: float | None = None  # when the fault ended (SIGCONT, proxy resumed, restarted)


class Load:
    def __init__(self, core: Any, verifier: Any, tokens: list[str], writer_uid: int) -> None:
        self.core, self.v, self.tokens, self.writer_uid = core, verifier, tokens, writer_uid
        self.stop = threading.Event()
        self.probe = Probe()
        self.threads = [threading.Thread(target=self._verify, daemon=True) for _ in range(4)]
        self.threads += [
            threading.Thread(target=self._revoke, daemon=True),
            threading.Thread(target=self._search, daemon=True),
        ]
        for t in self.threads:
            t.start()

    def _verify(self) -> None:
        from authcore.errors import DatabaseUnavailable, TokenError

        rnd = random.Random()
        while not self.stop.is_set():
            tok = rnd.choice(self.tokens)
            p, t = self.probe, time.monotonic()
            counted = p.active
            try:
                self.v.verify_access(tok)
                ok = True
            except DatabaseUnavailable:
                ok = False
            except TokenError:
                ok = True  # an answer (revoked), from cache or database
            except Exception as e:  # noqa: BLE001 - reported, not hidden
                p.other_errors.append(f"verify: {type(e).__name__}: {e}")
                ok = False
            now = time.monotonic()
            if counted:
                p.verify_n += 1
                p.verify_max = max(p.verify_max, now - t)
                back = p.back_at
                # an answer while the database is still silent, past the staleness bound
                if ok and now - p.fault_at > STALENESS + 0.3 and (back is None or now < back):
                    p.late_ok += 1
                if not ok:
                    p.refusals += 1
                    if p.first_refusal is None:
                        p.first_refusal = now - p.fault_at
            time.sleep(0.002)

    def _revoke(self) -> None:
        while not self.stop.is_set():
            t = time.monotonic()
            failed = False
            try:
                self.core.admin.revoke_tokens(self.writer_uid, "bench faults")
            except Exception:  # noqa: BLE001 - counted: the database is down on purpose
                failed = True
            p = self._overlaps(t)
            if p is not None:
                p.revoke_errors += failed
                p.revoke_max = max(p.revoke_max, time.monotonic() - t)
            self.stop.wait(0.05)

    def _search(self) -> None:
        while not self.stop.is_set():
            t = time.monotonic()
            failed = False
            try:
                self.core.users.search("user1", limit=20)
            except Exception:  # noqa: BLE001 - counted
                failed = True
            p = self._overlaps(t)
            if p is not None:
                p.search_errors += failed
                p.search_max = max(p.search_max, time.monotonic() - t)
            self.stop.wait(0.1)

    def _overlaps(self, started: float) -> Probe | None:
        """The fault window this call overlapped (started before its end, ended after its
        start), if any: a call already blocked when the fault began counts too."""
        p = self.probe
        if not p.fault_at or time.monotonic() < p.fault_at:
            return None
        if p.back_at is not None and started > p.back_at:
            return None
        return p

    def begin(self) -> Probe:
        self.probe = Probe(fault_at=time.monotonic(), active=True)
        return self.probe

    def end(self) -> None:
        self.probe.active = False

    def close(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(30)


def _wait(cond: Any, timeout: float) -> float | None:
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            return None
        time.sleep(0.05)
    return time.monotonic() - t0


def _healthy(v: Any) -> bool:
    return bool(v.stats().connected and v.is_fresh())


def run_fault(name: str, load: Load, v: Any, start: Any, stop: Any, hold: float) -> dict[str, Any]:
    if _wait(lambda: _healthy(v), 30) is None:
        return {"fault": name, "error": "not healthy before the fault"}
    time.sleep(0.5)
    p = load.begin()
    start()
    down = _wait(lambda: not v.stats().connected, hold)
    time.sleep(max(0.0, hold - (time.monotonic() - p.fault_at)))
    t_back = p.back_at = time.monotonic()
    stop()
    recovered = _wait(lambda: _healthy(v), 30)
    time.sleep(0.2)  # calls started in the window report when they return
    load.end()
    return {
        "fault": name,
        "first_refusal_s": p.first_refusal,
        "bound_s": v.staleness + v.db_timeout,
        "verify_max_s": p.verify_max,
        "verifications": p.verify_n,
        "refusals": p.refusals,
        "late_ok": p.late_ok,
        "listener_down_s": down,
        "revoke_max_s": p.revoke_max,
        "revoke_errors": p.revoke_errors,
        "search_max_s": p.search_max,
        "search_errors": p.search_errors,
        "recovered_s": recovered,
        "since_back_s": time.monotonic() - t_back,
        "other_errors": p.other_errors[:3],
    }


def bulk_fault(own: OwnPostgres, url: str) -> dict[str, Any]:
    """The server stopped while a bulk batch is in the pipeline; the CLI's stderr lines."""
    from authcore.config import Config
    from authcore.core import AuthCore
    from authcore.db import make_engine

    core = AuthCore(make_engine(url), Config(), actor="bench-faults")
    for i in range(60):
        core.users.create(f"b{i}-{uuid.uuid4().hex[:6]}@corp-gone.example", f"bulk{i}")
    core.engine.dispose()
    head, tail = url.rsplit("@", 1)
    db = tail.split("/", 1)[1]
    with Proxy(own.port) as proxy:
        proxy.cut_on(b"INSERT INTO audit_events", lambda: own.kill("fast"))
        env = {**os.environ, "AUTHCORE_SECRET": SECRET}
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "console",
                "--db",
                f"{head}@127.0.0.1:{proxy.port}/{db}",
                "revoke",
                "--query",
                "@corp-gone.example",
                "--all-tokens",
                "--reason",
                "faults",
                "--confirm-count",
                "60",
                "--batch",
                "20",
                "--yes",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
            env=env,
        )
        hit = proxy.triggered.is_set()
    own.start()
    lines = out.stderr.splitlines()
    return {
        "fault": "bulk",
        "triggered": hit,
        "exit": out.returncode,
        "stderr_lines": len(lines),
        "stderr": lines[:3],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.faults", description=__doc__.split("\n")[0])
    ap.add_argument("--hold", type=float, default=6.0, help="seconds each fault lasts")
    ap.add_argument("--only", default="freeze,cut,kill,bulk")
    args = ap.parse_args(argv)
    reason = unavailable_reason()
    if reason:
        print(f"bench.faults: cannot run: {reason}", file=sys.stderr)
        return 2
    import signal

    # SIGTERM runs the cleanup too (thaw, stop the own server by PID, remove its directory).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    only = set(args.only.split(","))
    import logging

    # The listener logs every reconnect attempt; the table below says what matters.
    logging.getLogger("authcore").setLevel(logging.ERROR)
    from authcore.config import Config, TokenSettings
    from authcore.core import AuthCore
    from authcore.db import make_engine
    from authcore.verifier import Verifier

    results: list[dict[str, Any]] = []
    t_all = time.monotonic()
    with OwnPostgres() as own:
        print(f"own PostgreSQL: {own.dir} port {own.port} (postmaster pid {own.pid()})")
        url = create_database(own, "faults")
        with Proxy(own.port) as proxy:
            purl = url.replace(f":{own.port}/", f":{proxy.port}/")
            config = Config(tokens=TokenSettings(secret=SECRET))
            # A shorter statement_timeout than the default (15 s) so writers' waits are short.
            core = AuthCore(make_engine(purl, statement_timeout=STATEMENT_S), config, actor="bench-faults")
            uids = [core.users.create(f"user{i}@example.com", f"user{i}").id for i in range(200)]
            tokens = [core.tokens.issue_pair(u).access_token for u in uids]
            v = Verifier(core, staleness=STALENESS)
            v.wait_ready(10)
            load = Load(core, v, tokens, uids[0])
            try:
                if "freeze" in only:
                    results.append(run_fault("freeze", load, v, own.freeze, own.thaw, args.hold))
                if "cut" in only:
                    results.append(run_fault("cut", load, v, proxy.silence, proxy.resume, args.hold))
                if "kill" in only:
                    results.append(run_fault("kill", load, v, own.kill, own.start, 3.0))
            finally:
                load.close()
                v.close()
                core.engine.dispose()
        if "bulk" in only:
            results.append(bulk_fault(own, url))
    failed = _report(results)
    verdict = "FAILED: " + "; ".join(failed) if failed else "all bounds met"
    print(f"total {time.monotonic() - t_all:.0f} s; {verdict}")
    return 1 if failed else 0


def _fmt(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.2f}"
    return str(x)


def _report(results: list[dict[str, Any]]) -> list[str]:
    failed: list[str] = []
    cols = (
        "first_refusal_s",
        "bound_s",
        "verify_max_s",
        "late_ok",
        "listener_down_s",
        "revoke_max_s",
        "search_max_s",
        "recovered_s",
        "verifications",
        "refusals",
    )
    print(f"{'fault':<8}" + "".join(f"{c:>16}" for c in cols))
    for r in results:
        if r["fault"] == "bulk":
            continue
        if "error" in r:
            print(f"{r['fault']:<8} {r['error']}")
            failed.append(r["fault"])
            continue
        print(f"{r['fault']:<8}" + "".join(f"{_fmt(r.get(c)):>16}" for c in cols))
        bound = r["bound_s"] + 0.5
        if r["first_refusal_s"] is None or r["first_refusal_s"] > bound:
            failed.append(f"{r['fault']}: no refusal within {bound:.1f}s")
        if r["verify_max_s"] > r["bound_s"] - STALENESS + 0.7:
            failed.append(f"{r['fault']}: a verification blocked {r['verify_max_s']:.1f}s")
        limit = ANSWER_S + 5 + 1.0  # answer deadline, a reconnect's connect timeout, slack
        for col in ("revoke_max_s", "search_max_s"):
            if r[col] > limit:
                failed.append(f"{r['fault']}: {col} {r[col]:.1f}s > {limit:.0f}s")
        if r["late_ok"]:
            failed.append(f"{r['fault']}: {r['late_ok']} answers past the staleness bound")
        if r["listener_down_s"] is None:
            failed.append(f"{r['fault']}: listener never reported down")
        if r["recovered_s"] is None:
            failed.append(f"{r['fault']}: no recovery")
        if r["other_errors"]:
            failed.append(f"{r['fault']}: unexpected errors {r['other_errors']}")
    for r in results:
        if r["fault"] != "bulk":
            continue
        print(
            f"bulk    killed mid-batch: triggered={r['triggered']} exit={r['exit']} "
            f"stderr lines={r['stderr_lines']}: {r['stderr']}"
        )
        from console.exitcodes import Exit

        if not r["triggered"] or r["stderr_lines"] != 1 or r["exit"] != Exit.DATABASE:
            failed.append("bulk: not exactly one stderr line")
    return failed


if __name__ == "__main__":
    sys.exit(main())
