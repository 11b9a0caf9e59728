"""Generated demo rows: users and their sessions as tuples already in storage form.

Deterministic for a given ``random.Random`` and clock (tests and the bench compare runs).
Timestamps are produced in the driver's storage form (ISO text for SQLite, aware datetimes for
PostgreSQL), so nothing is converted per value on the way in.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from authcore.demo.people import AGENTS, DOMAINS, FIRST, FIRST_TITLED, LAST, LAST_TITLED, PUBLIC_NETS
from authcore.models import SESSION_INSERT_COLUMNS

# Sessions per generated user: mean exactly 3 (0..8, most users have 1 to 4).
SESSIONS_PER_USER = (0, 1, 1, 2, 2, 3, 3, 3, 4, 4, 5, 8)
USER_COLS = (
    "id",
    "email",
    "username",
    "display_name",
    "created_at",
    "last_login_at",
    "disabled",
    "disabled_at",
    "token_version",
)
SESSION_COLS = SESSION_INSERT_COLUMNS  # the columns login writes: one list
_VERSIONS = (0, 0, 0, 0, 1, 1, 2, 3)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_HMS: list[str] = []


def _timestamps(now: datetime, postgres: bool) -> tuple[int, Callable[[int], Any]]:
    """``now`` in whole epoch seconds, and a converter from epoch seconds to storage form.

    Every generated timestamp keeps ``now``'s microseconds. PostgreSQL gets aware datetimes;
    SQLite gets the text SQLAlchemy's DateTime would write (``YYYY-MM-DD HH:MM:SS.ffffff``),
    assembled from cached day and time-of-day strings (isoformat per value costs more than
    the insert of the row).
    """
    now = now.astimezone(UTC)
    base = int((now - _EPOCH).total_seconds())
    micro = now.microsecond
    if postgres:
        td = timedelta

        def pg(t: int) -> datetime:
            return _EPOCH + td(seconds=t, microseconds=micro)

        return base, pg
    if not _HMS:
        _HMS.extend(f"{h:02d}:{m:02d}:{sec:02d}" for h in range(24) for m in range(60) for sec in range(60))
    hms, suffix = _HMS, f".{micro:06d}"
    days: dict[int, str] = {}

    def sqlite(t: int) -> str:
        d, r = divmod(t, 86400)
        day = days.get(d)
        if day is None:
            day = days[d] = (_EPOCH + timedelta(days=d)).strftime("%Y-%m-%d ")
        return day + hms[r] + suffix

    return base, sqlite


def _ip(rng: random.Random) -> str:
    x = rng.getrandbits(40)
    tail = f"{(x >> 8) & 255}.{(x >> 16) & 255}.{(x >> 24) % 254 + 1}"
    if x & 255 < 77:  # ~30% private addresses
        return f"10.{tail}"
    return f"{PUBLIC_NETS[(x >> 32) % 7]}.{tail}"


def session_id(rng: random.Random) -> str:
    """``ses_`` + 16 URL-safe characters, the shape of ``sessions.new_public_id``."""
    return "ses_" + base64.urlsafe_b64encode(rng.randbytes(12)).decode()


def generate_batch(
    rng: random.Random,
    ids: list[int],
    now: datetime,
    refresh_ttl: timedelta,
    *,
    postgres: bool,
    sessions_per_user: float = 3.0,
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Users (one per id) and their sessions, as tuples in ``USER_COLS``/``SESSION_COLS`` order.

    Timestamps are in the driver's storage form: aware datetimes for PostgreSQL, the text of the
    naive UTC time for SQLite (exactly what ``UTCDateTime`` would bind).
    """
    base, ts = _timestamps(now, postgres)
    rand, bits, randbytes, b64 = rng.random, rng.getrandbits, rng.randbytes, base64.urlsafe_b64encode
    first_names, last_names, titles_f, titles_l = FIRST, LAST, FIRST_TITLED, LAST_TITLED
    nf, nl, nd, ns = len(FIRST), len(LAST), len(DOMAINS), len(SESSIONS_PER_USER)
    day = 86400
    ttl = int(refresh_ttl.total_seconds())
    scale = sessions_per_user / 3.0
    disabled_at = ts(base - day)
    user_rows: list[tuple[Any, ...]] = []
    session_rows: list[tuple[Any, ...]] = []
    add_user, add_session = user_rows.append, session_rows.append
    for uid in ids:
        fi, li = int(rand() * nf), int(rand() * nl)
        first, last = first_names[fi], last_names[li]
        age = 60 + int(rand() * 730 * day)
        created = base - age
        disabled = rand() < 0.02
        add_user(
            (
                uid,
                f"{first}.{last}{uid}@{DOMAINS[int(rand() * nd)]}",
                f"{first[0]}{last}{uid}",
                f"{titles_f[fi]} {titles_l[li]}",
                ts(created),
                ts(created + int(age * rand())),
                disabled,
                disabled_at if disabled else None,
                _VERSIONS[bits(3)],
            )
        )
        k = SESSIONS_PER_USER[int(rand() * ns)]
        if scale != 1.0:
            k = int(k * scale + rand())
        window = min(age, 45 * day) - 60
        for _ in range(k):
            s_created = base - 60 - int(rand() * window)
            expires = s_created + ttl
            seen = min(s_created + 1 + int(rand() * 7 * day), expires, base)
            x = bits(40)
            ip = (
                f"10.{(x >> 8) & 255}.{(x >> 16) & 255}.{(x >> 24) % 254 + 1}"
                if x & 255 < 77
                else f"{PUBLIC_NETS[(x >> 32) % 7]}.{(x >> 8) & 255}.{(x >> 16) & 255}.{(x >> 24) % 254 + 1}"
            )
            add_session(
                (
                    "ses_" + b64(randbytes(12)).decode(),
                    randbytes(32).hex(),
                    uid,
                    ts(s_created),
                    ts(seen),
                    ts(expires),
                    ip,
                    ip if rand() < 0.8 else _ip(rng),
                    AGENTS[bits(3)],
                    bits(5) + bits(3),
                )
            )
    return user_rows, session_rows


def named_session(
    rng: random.Random, uid: int, created: datetime, ttl: timedelta, now: datetime, agent: str, ip: str
) -> dict[str, Any]:
    """A named user's session row (``people.named_users`` gives its age, lifetime, agent, ip)."""
    seen = min(created + timedelta(seconds=rng.randrange(1, 7 * 86400)), created + ttl, now)
    return {
        "public_id": session_id(rng),
        "token_hash": rng.randbytes(32).hex(),
        "user_id": uid,
        "created_at": created,
        "last_seen_at": seen,
        "expires_at": created + ttl,
        "first_ip": ip,
        "last_ip": ip,
        "user_agent": agent,
        "refresh_counter": rng.randrange(0, 40),
    }
