"""``python -m bench.fleet``: 200 verifiers on a relay's NATS stream against 200 on LISTEN.

A PostgreSQL of its own (``bench.faultkit.OwnPostgres``, ``max_connections`` raised: never the
shared server), the shared NATS (127.0.0.1:4222, a stream of this run's own, deleted after).
The bus fleet comes up first, alone, then the LISTEN fleet beside it: ``--procs`` child
processes per shape (``python -m bench.fleet --child``), each holding ``subscribers/procs``
``Verifier`` objects: ``Verifier(core)`` (one LISTEN connection each) or ``Verifier(core,
bus=...)`` (one NATS connection and ordered consumer each, fed by one ``authconsole relay``
process). Measured:

* revoke -> refused at the slowest subscriber: each round arms every subscriber of a shape with
  a token (seen accepted, so cached), then the operator's ``core.admin.revoke_tokens`` call; per
  subscriber the time from just before that call to the moment its cache refuses the token
  (taken on the thread that applied the update); the round's figure is the slowest of all
  subscribers, the row the p95 over rounds. Rounds alternate between the shapes (ABBA) while
  both fleets are up, so both see the same load;
* PostgreSQL connections each shape holds (``pg_stat_activity`` by ``application_name``: its
  verifiers', its children's pools', the relay's), before and after the rounds, and the CPU of
  the server's processes (``/proc/PID/schedstat`` of the postmaster and its children) while
  idle: the bus fleet alone, then what the LISTEN fleet adds;
* bus only: a burst of 100 revocations (4 threads) during which the relay process is SIGKILLed
  and started again: every subscriber must have applied all 100, the stream must hold each
  ``revocations`` row exactly once.

Rows (``bench.harness``): bus p95 <= 1.5x the LISTEN p95; connections O(relays): the bus
fleet's at most 5% of the LISTEN fleet's; missed + repeated notices = 0. Figures go to
docs/performance.md and docs/verifier.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.harness import Row, Table, percentile

BUS = "nats://127.0.0.1:4222"
SECRET = "fleet-bench-secret-" + "f" * 40
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# -- the child: many verifiers in one process -----------------------------------------------------
def child_main() -> int:
    from authcore.core import AuthCore
    from authcore.db import make_engine
    from authcore.verifier import AppliedUpdate, Verifier
    from bench.verifier_node import _node_core

    setup = json.loads(sys.stdin.readline())
    n, mode, st = int(setup["n"]), setup["mode"], float(setup["staleness"])
    keyed = _node_core(setup, None)  # the parent's keys and token settings
    keyed.engine.dispose()
    # this child's pool (cache misses) named for its shape, so the parent can count it
    engine = make_engine(setup["db"], create=False, connect_args={"application_name": f"fleetpool-{mode}"})
    core = AuthCore(engine, keyed.config, keyring=keyed.keyring)
    tag = setup["tag"]
    vs: list[Verifier] = []
    for i in range(n):
        kw: dict[str, Any] = {"staleness": st, "application_name": f"fleet-{tag}-{i}", "ready_timeout": 0}
        if mode == "bus":
            kw.update(bus=setup["bus"], bus_stream=setup["stream"], bus_subject=setup["subject"])
        vs.append(Verifier(core, **kw))
    # 200 connections opened at once on a loaded host: some connects time out and retry
    deadline = time.monotonic() + 180
    for v in vs:
        v.wait_ready(max(0.0, deadline - time.monotonic()))
    while time.monotonic() < deadline and not all(v.is_fresh() for v in vs):
        time.sleep(0.2)
    ready = all(v.is_fresh() for v in vs)

    def reply(obj: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    reply({"ready": ready, "pid": os.getpid()})
    refused: list[float | None] = [None] * n
    seen: list[set[int]] = [set() for _ in range(n)]
    events = [threading.Event() for _ in range(n)]
    watch: dict[str, Any] = {}

    def make_cb(i: int, v: Verifier) -> Any:
        def cb(upd: AppliedUpdate) -> None:
            seen[i].update(upd.user_ids)
            claims = watch.get("claims")
            if claims is None or refused[i] is not None:
                return
            if claims.user_id in upd.user_ids and v.cached_refusal(claims) is not None:
                refused[i] = time.time()
                events[i].set()

        return cb

    for i, v in enumerate(vs):
        v.add_update_callback(make_cb(i, v))
    for line in sys.stdin:
        cmd = json.loads(line)
        op = cmd["op"]
        if op == "quit":
            break
        if op == "arm":
            watch.pop("claims", None)
            for i in range(n):
                refused[i] = None
                events[i].clear()
            ok = 0
            for v in vs:
                v.verify_access(cmd["token"])  # cached (a miss loads it once)
                ok += 1
            watch["claims"] = core.tokens.decode(cmd["token"], "access")
            reply({"armed": ok})
        elif op == "collect":
            deadline = time.monotonic() + float(cmd["timeout"])
            for ev in events:
                ev.wait(max(0.0, deadline - time.monotonic()))
            reply({"refused": refused})
        elif op == "clear_seen":
            for s in seen:
                s.clear()
            reply({"ok": True})
        elif op == "seen":
            want = set(cmd["uids"])
            deadline = time.monotonic() + float(cmd["timeout"])
            while time.monotonic() < deadline and not all(want <= s for s in seen):
                time.sleep(0.05)
            reply({"missing": [len(want - s) for s in seen]})
        elif op == "stats":
            reply({"stats": [v.stats().to_dict() for v in vs]})
    for v in vs:
        v.close()
    core.dispose()
    return 0


class Child:
    def __init__(self, setup: dict[str, Any]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.fleet", "--child"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
            cwd=ROOT,
        )
        self._q: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.send(setup)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._q.put(line)
        self._q.put(None)

    def send(self, obj: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(obj) + "\n")
        self.proc.stdin.flush()

    def recv(self, timeout: float = 120) -> dict[str, Any]:
        line = self._q.get(timeout=timeout)
        if line is None:
            raise RuntimeError("fleet child exited")
        got: dict[str, Any] = json.loads(line)
        return got

    def close(self) -> None:
        try:
            self.send({"op": "quit"})
            self.proc.wait(30)
        except Exception:  # noqa: BLE001 - gone already, or stuck: kill it
            self.proc.kill()
            self.proc.wait(10)


# -- the parent ---------------------------------------------------------------------------------
def _cpu_s(pids: Sequence[int]) -> float:
    """CPU seconds the processes ran (``/proc/PID/schedstat``, nanoseconds: a backend answering
    two heartbeats a second runs far less than one 10 ms ``stat`` tick); exited ones not counted."""
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            continue
    return total / 1e9


def _connections(core: Any) -> dict[str, int]:
    with core.engine.connect() as c:
        rows = c.exec_driver_sql(
            "SELECT application_name, count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_type = 'client backend' AND pid <> pg_backend_pid() GROUP BY 1"
        ).all()
    return {str(a): int(n) for a, n in rows}


def _relay(db: str, stream: str, subject: str, staleness: float) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "console.cli", "relay", "--bus", BUS, "--stream", stream]
    cmd += ["--subject", subject, "--staleness", str(staleness)]
    p = subprocess.Popen(
        cmd,
        env={**os.environ, "DATABASE_URL": db},
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert p.stdout is not None
    p.stdout.readline()  # "relaying ..." once its core is up
    return p


def _stream_ids(stream: str) -> list[int]:
    from authcore.relay.bus import decode_ids

    async def go() -> list[int]:
        import nats

        nc = await nats.connect(servers=[BUS], connect_timeout=2, allow_reconnect=False)
        try:
            js = nc.jetstream(timeout=5)
            info = await js.stream_info(stream)
            ids: list[int] = []
            for seq in range(int(info.state.first_seq), int(info.state.last_seq) + 1):
                m = await js.get_msg(stream, seq)
                ids.extend(sorted(decode_ids((m.headers or {})["Nats-Msg-Id"])))
            return ids
        finally:
            await nc.close()

    return asyncio.run(go())


def _delete_stream(stream: str) -> None:
    async def go() -> None:
        import nats

        nc = await nats.connect(servers=[BUS], connect_timeout=2, allow_reconnect=False)
        try:
            await nc.jetstream(timeout=5).delete_stream(stream)
        finally:
            await nc.close()

    try:
        asyncio.run(go())
    except Exception:  # noqa: BLE001 - nothing to delete
        pass


class Fleet:
    """One shape's subscribers: ``procs`` children (and for the bus its relay and stream)."""

    def __init__(self, mode: str, core: Any, db: str, args: argparse.Namespace) -> None:
        from bench.propagation import _key_to_json

        self.mode = mode
        self.stream, self.subject = f"FLEET_{uuid.uuid4().hex[:8]}", f"fleet.{uuid.uuid4().hex[:8]}"
        self.db = db
        self.args = args
        self.children: list[Child] = []
        self.relay = _relay(db, self.stream, self.subject, args.staleness) if mode == "bus" else None
        ts = core.config.tokens
        per = args.subscribers // args.procs
        for k in range(args.procs):
            n = per + (1 if k < args.subscribers % args.procs else 0)
            setup = {
                "db": db,
                "keys": [_key_to_json(key) for key in core.keyring.keys],
                "tokens": {
                    "issuer": ts.issuer,
                    "audience": ts.audience,
                    "algorithm": ts.algorithm,
                    "leeway": ts.leeway.total_seconds(),
                    "access_ttl": ts.access_ttl.total_seconds(),
                },
                "n": n,
                "mode": mode,
                "staleness": args.staleness,
                "tag": f"{mode}{k}",
                "bus": BUS,
                "stream": self.stream,
                "subject": self.subject,
            }
            self.children.append(Child(setup))
        hello = [c.recv(240) for c in self.children]
        if not all(h["ready"] for h in hello):
            raise RuntimeError(f"{mode}: not every verifier became ready: {hello}")
        self.uid = core.users.create(f"fleet-{mode}@example.com", f"fleet-{mode}").id
        self.slowest: list[float] = []
        self.timeouts = 0

    def arm(self, core: Any) -> None:
        token = core.tokens.issue_pair(self.uid).access_token
        for c in self.children:
            c.send({"op": "arm", "token": token})
        for c in self.children:
            c.recv()

    def round(self, core: Any) -> None:
        """Revoke (the operator's call) and take the slowest subscriber's refusal."""
        began = time.time()
        core.admin.revoke_tokens(self.uid, "fleet bench")
        for c in self.children:
            c.send({"op": "collect", "timeout": 10})
        times = [t for c in self.children for t in c.recv(30)["refused"]]
        missing = sum(t is None for t in times)
        self.timeouts += missing
        self.slowest.append(float("nan") if missing else max(times) - began)

    def close(self) -> None:
        for c in self.children:
            c.close()
        if self.relay is not None:
            self.relay.send_signal(signal.SIGTERM)
            try:
                self.relay.wait(15)
            except subprocess.TimeoutExpired:
                self.relay.kill()
        if self.mode == "bus":
            _delete_stream(self.stream)


def _held(core: Any, mode: str) -> tuple[int, int]:
    """``(all, LISTEN)`` connections of a shape: its verifiers' own and its children's pools
    (and the relay's, for the bus), by ``application_name``."""
    conns = _connections(core)
    own = (f"fleet-{mode}", f"fleetpool-{mode}") + (
        ("fleet-relay", "authcore-relay") if mode == "bus" else ()
    )
    listen = (f"fleet-{mode}",) if mode == "listen" else ("authcore-relay",)  # the relay's LISTEN
    return (
        sum(n for a, n in conns.items() if a.startswith(own)),
        sum(n for a, n in conns.items() if a.startswith(listen)),
    )


def _idle_cpu(pg_pids: Any, seconds: float) -> float:
    c0, t0 = _cpu_s(pg_pids()), time.monotonic()
    time.sleep(seconds)
    return (_cpu_s(pg_pids()) - c0) / (time.monotonic() - t0)


def measure(
    core: Any, db: str, pg_pids: Any, args: argparse.Namespace, burst_users: list[int]
) -> dict[str, Any]:
    """The bus fleet alone (connections, idle database CPU), then the LISTEN fleet beside it
    (its connections; its idle CPU is what it adds), then rounds alternating between the two
    (ABBA) so both see the same load, then the burst with the relay killed."""
    out: dict[str, Any] = {"bus": {}, "listen": {}}
    fleets: dict[str, Fleet] = {}
    try:
        fleets["bus"] = Fleet("bus", core, db, args)
        time.sleep(1)
        out["bus"]["idle_cpu"] = _idle_cpu(pg_pids, args.idle)
        out["bus"]["connections_idle"], out["bus"]["listen_connections"] = _held(core, "bus")
        fleets["listen"] = Fleet("listen", core, db, args)
        time.sleep(1)
        both = _idle_cpu(pg_pids, args.idle)
        out["listen"]["idle_cpu"] = max(0.0, both - out["bus"]["idle_cpu"])
        out["listen"]["connections_idle"], out["listen"]["listen_connections"] = _held(core, "listen")
        order = ("bus", "listen")
        for i in range(args.rounds):
            pair = order if i % 2 == 0 else order[::-1]  # ABBA: bus listen, listen bus, ...
            for m in pair:
                fleets[m].arm(core)
            for m in pair:
                fleets[m].round(core)
                time.sleep(args.pause)
        for m, f in fleets.items():
            o = out[m]
            o["connections_after"], _ = _held(core, m)
            o["connections"] = max(o["connections_idle"], o["connections_after"])
            ok = [x for x in f.slowest if x == x]
            o["p50"] = percentile(ok, 50)
            o["p95"] = percentile(ok, 95) if len(ok) == len(f.slowest) else float("inf")
            o["max"] = max(ok) if ok else float("nan")
            o["timeouts"] = f.timeouts
        bus = fleets["bus"]
        assert bus.relay is not None
        res = _burst(core, db, bus.stream, bus.subject, args, bus.relay, bus.children, burst_users)
        bus.relay = res.pop("relay_proc")
        out["bus"].update(res)
    finally:
        for f in fleets.values():
            f.close()
    return out


def _burst(
    core: Any,
    db: str,
    stream: str,
    subject: str,
    args: argparse.Namespace,
    relay: subprocess.Popen[str],
    children: list[Child],
    users: list[int],
) -> dict[str, Any]:
    """100 revocations from 4 threads; the relay SIGKILLed after 30 and started again."""
    from sqlalchemy import func, select

    from authcore.models import revocations

    with core.engine.connect() as c:
        before = int(c.execute(select(func.coalesce(func.max(revocations.c.id), 0))).scalar_one())
    for c in children:
        c.send({"op": "clear_seen"})
    for c in children:
        c.recv()
    done: list[int] = []
    lock = threading.Lock()

    def revoke(part: list[int]) -> None:
        for u in part:
            core.admin.revoke_tokens(u, "fleet burst")
            with lock:
                done.append(u)

    threads = [threading.Thread(target=revoke, args=(users[i::4],)) for i in range(4)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    while len(done) < 30:
        time.sleep(0.002)
    relay.send_signal(signal.SIGKILL)
    relay.wait(10)
    killed_at = len(done)
    relay = _relay(db, stream, subject, args.staleness)
    for t in threads:
        t.join(120)
    for c in children:
        c.send({"op": "seen", "uids": users, "timeout": 60})
    missing = [m for c in children for m in c.recv(90)["missing"]]
    all_seen_s = time.monotonic() - t0
    ids = _stream_ids(stream)
    with core.engine.connect() as c:
        rows = set(c.execute(select(revocations.c.id).where(revocations.c.id > before)).scalars())
    burst_ids = [i for i in ids if i > before]
    return {
        "relay_proc": relay,
        "burst_killed_after": killed_at,
        "burst_missed": sum(missing),
        "burst_subscribers_missing": sum(1 for m in missing if m),
        "burst_stream_repeats": len(burst_ids) - len(set(burst_ids)),
        "burst_stream_lost": len(rows - set(burst_ids)),
        "burst_all_seen_s": all_seen_s,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.fleet", description=__doc__.split("\n\n")[0])
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--subscribers", type=int, default=200)
    ap.add_argument("--procs", type=int, default=4, help="child processes holding the subscribers")
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--staleness", type=float, default=2.0)
    ap.add_argument("--idle", type=float, default=5.0, help="seconds of idle CPU measured per shape")
    ap.add_argument("--pause", type=float, default=0.2, help="seconds between rounds")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = ap.parse_args(argv)
    if args.child:
        return child_main()

    from authcore.config import Config, TokenSettings
    from authcore.core import AuthCore
    from authcore.db import make_engine
    from bench.faultkit import OwnPostgres, create_database

    own = OwnPostgres(max_connections=args.subscribers + 100)
    try:
        db = create_database(own, "fleet")
        engine = make_engine(db, connect_args={"application_name": "fleet-bench"})
        core = AuthCore(engine, Config(tokens=TokenSettings(secret=SECRET)), actor="fleet-bench")
        burst_users = [core.users.create(f"b{i}@example.com", f"b{i}").id for i in range(100)]
        load = os.getloadavg()[0]
        results = measure(core, db, own.pids, args, burst_users)
        core.dispose()
    finally:
        own.close()
    lis, bus = results["listen"], results["bus"]
    n = args.subscribers
    table = Table()
    table.add(
        Row(
            "fleet",
            f"revoke call -> refused at the slowest of {n}, p95 (bus)",
            bus["p95"],
            f"{n} LISTEN",
            lis["p95"],
            1.5,
            note=f"{args.rounds} rounds each; p50 {bus['p50'] * 1000:.1f} vs {lis['p50'] * 1000:.1f} ms, "
            f"max {bus['max'] * 1000:.1f} vs {lis['max'] * 1000:.1f} ms; load {load:.1f} at start",
        )
    )
    table.add(
        Row(
            "fleet",
            f"PostgreSQL connections held, {n} subscribers (bus)",
            bus["connections"],
            f"{n} LISTEN",
            lis["connections"],
            0.05,
            unit="count",
            note=f"the most held, before or after the rounds (bus {bus['connections_idle']} / "
            f"{bus['connections_after']}, LISTEN {lis['connections_idle']} / {lis['connections_after']}); "
            f"LISTEN connections: bus {bus['listen_connections']} (the relay), LISTEN fleet "
            f"{lis['listen_connections']}; the rest are the relay's core and the children's pools "
            f"(cache misses, {args.procs} processes)",
        )
    )
    table.add(
        Row(
            "fleet",
            "database CPU while idle (bus)",
            bus["idle_cpu"],
            f"{n} LISTEN",
            lis["idle_cpu"],
            1.0,
            unit="cores",
            info=True,
            note="the bus fleet alone, then what the LISTEN fleet added beside it (heartbeats)",
        )
    )
    table.add(
        Row(
            "fleet",
            "relay SIGKILLed mid-burst of 100: notices missed + repeated",
            float(bus["burst_missed"] + bus["burst_stream_repeats"] + bus["burst_stream_lost"]),
            "",
            1.0,
            0.0,
            unit="count",
            note=f"killed after {bus['burst_killed_after']} revocations; every subscriber had all 100 "
            f"after {bus['burst_all_seen_s']:.2f} s; stream repeats {bus['burst_stream_repeats']}, "
            f"rows not in the stream {bus['burst_stream_lost']}, subscribers missing any "
            f"{bus['burst_subscribers_missing']}",
        )
    )
    print(table.render())
    if args.json:
        print(json.dumps(results, indent=2, default=str))
    return 1 if table.failed else 0


if __name__ == "__main__":
    sys.exit(main())
