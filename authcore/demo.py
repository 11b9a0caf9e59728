"""Realistic, deterministic demo data, inserted in bulk (Core executemany in batches)."""

from __future__ import annotations

import hashlib
import random
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, func, insert, select

from authcore.db import write_tx
from authcore.models import sessions, users
from authcore.timeutil import utcnow

FIRST = ("james mary robert patricia john jennifer michael linda david elizabeth william barbara "
         "richard susan joseph jessica thomas sarah charles karen chris nancy daniel lisa matthew "
         "betty anthony sandra mark ashley donald kimberly steven emily paul donna andrew michelle "
         "joshua carol kenneth amanda kevin melissa brian deborah george stephanie timothy rebecca "
         "ronald laura jason sharon edward cynthia jeffrey kathleen ryan amy jacob angela gary "
         "shirley nicholas anna eric brenda jonathan pamela stephen emma larry nicole justin helen "
         "scott samantha brandon katherine benjamin christine samuel debra gregory rachel "
         "alexander carolyn frank janet patrick maria raymond olivia jack heather dennis diane "
         "jerry julie tyler joyce aaron victoria jose kelly adam ruth nathan lauren henry christina "
         "zachary joan douglas evelyn peter judith kyle megan noah andrea ethan cheryl jeremy hannah "
         "walter jacqueline christian martha keith gloria roger teresa terry ann austin sara sean "
         "madison gerald frances carl kathryn harold janice dylan jean arthur abigail lawrence "
         "alice yuki wei mohammed fatima priya arjun sofia lucas mateo chloe").split()
LAST = ("smith johnson williams brown jones garcia miller davis rodriguez martinez hernandez "
        "lopez gonzalez wilson anderson thomas taylor moore jackson martin lee perez thompson "
        "white harris sanchez clark ramirez lewis robinson walker young allen king wright scott "
        "torres nguyen hill flores green adams nelson baker hall rivera campbell mitchell carter "
        "roberts gomez phillips evans turner diaz parker cruz edwards collins reyes stewart "
        "morris morales murphy cook rogers gutierrez ortiz morgan cooper peterson bailey reed "
        "kelly howard ramos kim cox ward richardson watson brooks chavez wood james bennett gray "
        "mendoza ruiz hughes price alvarez castillo sanders patel myers long ross foster jimenez "
        "tanaka schmidt muller rossi dubois novak kowalski singh chen wang li zhang").split()
DOMAINS = ("example.com example.org example.net mail.example.com corp.example acme.example "
           "globex.example initech.example umbrella.example corp-old.example").split()
AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 15; Pixel 9) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0 Mobile Safari/537.36",
    "ExampleApp/4.2.1 (iOS 18.1; iPhone15,2)",
    "ExampleApp/4.2.0 (Android 14; SM-S918B)",
    "curl/8.5.0",
)
BATCH = 5000


@dataclass(frozen=True)
class DemoSummary:
    users: int
    sessions: int
    named: tuple[str, ...]


def _ip(rng: random.Random) -> str:
    if rng.random() < 0.3:
        return f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    return (f"{rng.choice((81, 88, 93, 145, 176, 185, 203))}.{rng.randrange(256)}."
            f"{rng.randrange(256)}.{rng.randrange(1, 255)}")


def _sid(rng: random.Random) -> str:
    return "ses_" + "".join(rng.choices(string.ascii_letters + string.digits, k=16))


def _digest(rng: random.Random) -> str:
    return hashlib.sha256(rng.randbytes(32)).hexdigest()


def _session(rng: random.Random, uid: int, created: datetime, ttl: timedelta, now: datetime,
             agent: str | None = None, ip: str | None = None) -> dict:
    ip = ip or _ip(rng)
    seen = min(created + timedelta(seconds=rng.randrange(1, 7 * 86400)), created + ttl, now)
    return {"public_id": _sid(rng), "token_hash": _digest(rng), "user_id": uid,
            "created_at": created, "last_seen_at": seen, "expires_at": created + ttl,
            "first_ip": ip, "last_ip": ip if rng.random() < 0.8 else _ip(rng),
            "user_agent": agent or rng.choice(AGENTS), "refresh_counter": rng.randrange(0, 40)}


def _named(now: datetime) -> list[tuple[dict, list[tuple[timedelta, timedelta, str, str]]]]:
    """alice (3 active sessions on different devices + 1 expired), bob (1), carol (disabled)."""
    day = timedelta(days=1)
    return [
        ({"email": "alice@example.com", "username": "alice", "display_name": "Alice Liddell",
          "created_at": now - 400 * day, "last_login_at": now - timedelta(hours=2),
          "disabled": False, "disabled_at": None, "token_version": 0},
         [(timedelta(hours=2), 30 * day, AGENTS[2], "203.0.113.10"),
          (timedelta(days=3), 30 * day, AGENTS[3], "198.51.100.23"),
          (timedelta(days=9), 30 * day, AGENTS[5], "192.0.2.77"),
          (timedelta(days=45), 30 * day, AGENTS[0], "203.0.113.99")]),
        ({"email": "bob@example.com", "username": "bob", "display_name": "Bob Builder",
          "created_at": now - 200 * day, "last_login_at": now - 1 * day,
          "disabled": False, "disabled_at": None, "token_version": 2},
         [(timedelta(days=1), 30 * day, AGENTS[1], "198.51.100.5")]),
        ({"email": "carol@example.com", "username": "carol", "display_name": "Carol Danvers",
          "created_at": now - 100 * day, "last_login_at": now - 20 * day,
          "disabled": True, "disabled_at": now - 5 * day, "token_version": 1}, []),
    ]


def generate_users(rng: random.Random, n: int, start: int, now: datetime) -> Iterator[dict]:
    for i in range(start, start + n):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        created = now - timedelta(seconds=rng.randrange(60, 730 * 86400))
        disabled = rng.random() < 0.02
        yield {"email": f"{first}.{last}{i}@{rng.choice(DOMAINS)}",
               "username": f"{first[:1]}{last}{i}",
               "display_name": f"{first.title()} {last.title()}",
               "created_at": created,
               "last_login_at": created + (now - created) * rng.random(),
               "disabled": disabled, "disabled_at": now - timedelta(days=1) if disabled else None,
               "token_version": rng.choice((0, 0, 0, 0, 1, 1, 2, 3))}


def seed(engine: Engine, n_users: int = 1000, *, rng_seed: int = 42, now: datetime | None = None,
         sessions_per_user: float = 3.0, refresh_ttl: timedelta = timedelta(days=30),
         progress: Callable[[int, int], None] | None = None) -> DemoSummary:
    """Add the named demo users (once) and ``n_users`` generated users with sessions."""
    rng = random.Random(rng_seed)
    now = now or utcnow()
    total_users = total_sessions = 0
    named: list[str] = []
    with write_tx(engine) as conn:
        for user, sess in _named(now):
            exists = conn.execute(select(users.c.id).where(
                func.lower(users.c.email) == user["email"])).first()
            if exists:
                continue
            uid = conn.execute(insert(users).returning(users.c.id), user).scalar_one()
            named.append(user["email"])
            total_users += 1
            for age, ttl, agent, ip in sess:
                conn.execute(insert(sessions), _session(rng, uid, now - age, ttl, now, agent, ip))
                total_sessions += 1
        start = int(conn.execute(select(func.coalesce(func.max(users.c.id), 0))).scalar_one())
    done = 0
    gen = generate_users(rng, n_users, start + 1, now)
    while done < n_users:
        batch = [next(gen) for _ in range(min(BATCH, n_users - done))]
        with write_tx(engine) as conn:
            ids = [r.id for r in conn.execute(insert(users).returning(users.c.id,
                                                                       sort_by_parameter_order=True),
                                               batch)]
            rows = []
            for uid in ids:
                k = min(int(rng.expovariate(1 / sessions_per_user)), 12)
                for _ in range(k):
                    created = now - timedelta(seconds=rng.randrange(60, 45 * 86400))
                    rows.append(_session(rng, uid, created, refresh_ttl, now))
            if rows:
                conn.execute(insert(sessions), rows)
        done += len(batch)
        total_users += len(batch)
        total_sessions += len(rows)
        if progress:
            progress(done, n_users)
    return DemoSummary(total_users, total_sessions, tuple(named))
