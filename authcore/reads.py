"""Read routing: which engine a read runs on when a hot standby (``read_database_url``) is set.

The one rule, ``Reads.engine``; services name what each read needs (``Read``) and call
``Reads.run``:

* ``Read.FRESH`` runs on the primary: every write, and every read that must see this process's
  own writes or the newest state: the preview before a confirm (``AdminService`` dry runs),
  resolving the user an action names (``users.find``/``users.get``), ``sessions.get``, the audit
  chain's verification (a head recorded elsewhere must be found), and an app's whole request
  path (login, refresh, resolve, the verifier). Unmarked reads are FRESH.
* ``Read.BROWSE`` runs on the standby: searches (``users.search``), listings
  (``sessions.for_user``/``recent``, ``audit.list``/``user_events``/``activity``) and the
  inspector's live lookups (``AuthCore.live_state``), which an operator repeats all day and
  which may lag by the standby's replay delay. It runs on the primary instead when

  - no standby is configured;
  - this core passed its write guard (``AuthCore.require_write``) less than ``stick_s`` seconds
    ago (``STICK_AFTER_WRITE_S``): the re-read after an action, and the refreshes right after
    it, see the write even on a standby that has not replayed it yet. ``stick_s`` covers an
    interactive commit's bound, the console's propagation probe and one refresh; a standby
    still behind after it is past the lag bound the console warns about;
  - the standby failed less than ``retry_s`` seconds ago (``REPLICA_RETRY_S``).

**A standby that is down: reads fall back to the primary.** The console is what operators use
during incidents; a standby outage must not blind it, and the primary can carry an operator's
reads (the standby only keeps them off it). The fallback is never silent: the header says
"replica down · reads on primary", ``authconsole db status`` says so, and ``authcore.reads``
logs one warning per outage. A standby that refuses connections costs nothing; a silent one
costs one bounded wait (its engine has the primary's bounds, ``authcore.db.make_engine``), after
which reads skip it for ``retry_s`` seconds, and ``status`` (the console polls it) tries it with
a short deadline and clears the mark as soon as it answers. A query the standby cancels for a
conflict with recovery (SQLSTATE 40001) is run again on the primary without marking it down.

Lag (``status``): bytes from the primary's current WAL position (``pg_current_wal_lsn``, read
first) to the standby's replay position (``pg_last_wal_replay_lsn``); zero is "caught up",
however long ago the last transaction committed (an idle primary writes no commits, so
``now() - pg_last_xact_replay_timestamp()`` alone would grow forever). Behind, the time is the
age of the oldest WAL position this process saw on the primary that the standby has not
replayed (each ``status`` call samples the primary: off by at most one poll interval); with no
such sample yet (a one-shot ``db status``), the age of the last replayed commit, an upper bound.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, TypeVar

from authcore.errors import DatabaseRefused, DatabaseUnavailable

if TYPE_CHECKING:  # pragma: no cover
    from sqlalchemy import Engine

T = TypeVar("T")
log = logging.getLogger("authcore.reads")

STICK_AFTER_WRITE_S = 15.0  # interactive commit bound (5 s) + propagation probe (3 s) + a refresh
REPLICA_RETRY_S = 10.0  # after a failure, browsing reads skip the standby this long
DEFAULT_MAX_LAG_S = 5.0  # replica_max_lag: the console warns past it
STATUS_DEADLINE_S = 2.0  # the lag probe gives up on a silent server after this
_SAMPLES = 600  # primary WAL positions kept for the time lag (~20 min at the console's 2 s)
_RECOVERY_CONFLICT = "40001"


class Read(StrEnum):
    """What a read needs to see (the module docstring gives the rule)."""

    BROWSE = "browse"  # searches, listings, inspector lookups: a standby's copy will do
    FRESH = "fresh"  # own writes and the newest state: the primary


def parse_lsn(text: str) -> int:
    """``'16/B374D848'`` -> its byte position."""
    hi, _, lo = text.partition("/")
    return (int(hi, 16) << 32) + int(lo, 16)


@dataclass(frozen=True)
class ReplicaStatus:
    """The standby as ``Reads.status`` found it. ``url`` is masked; ``error`` is one line."""

    url: str
    up: bool
    max_lag_s: float
    error: str | None = None
    standby: bool = True  # False: the server is not in recovery (not a standby at all)
    paused: bool = False  # replay paused (pg_wal_replay_pause)
    behind_bytes: int = 0
    lag_s: float = 0.0
    lag_basis: str = "observed"  # or "last replayed commit" (an upper bound)

    @property
    def caught_up(self) -> bool:
        return self.up and self.standby and self.behind_bytes == 0

    @property
    def warn(self) -> bool:
        """Down, not a standby, or behind by more than the bound."""
        return not self.up or not self.standby or self.lag_s > self.max_lag_s

    def summary(self) -> str:
        """One line: ``caught up``, ``3.2s behind (40 kB)``, ``down: ...; reads on primary``."""
        if not self.up:
            return f"down ({self.error}); reads go to the primary"
        if not self.standby:
            return "not a standby (not in recovery): check read_database_url"
        if self.caught_up:
            return "caught up" + (" (replay paused)" if self.paused else "")
        basis = "" if self.lag_basis == "observed" else f", since its {self.lag_basis}"
        text = f"{self.lag_s:.1f}s behind ({_size(self.behind_bytes)}{basis})"
        if self.paused:
            text += ", replay paused"
        if self.lag_s > self.max_lag_s:
            text += f", past the {self.max_lag_s:g}s bound"
        return text

    def to_dict(self) -> dict[str, object]:
        return {
            "url": self.url,
            "up": self.up,
            "error": self.error,
            "standby": self.standby,
            "caught_up": self.caught_up,
            "paused": self.paused,
            "behind_bytes": self.behind_bytes,
            "lag_s": round(self.lag_s, 3),
            "lag_basis": self.lag_basis,
            "max_lag_s": self.max_lag_s,
            "warn": self.warn,
        }


def _size(n: int) -> str:
    for unit, scale in (("MB", 1 << 20), ("kB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


class Reads:
    """The primary, the optional standby, and the one rule between them (module docstring).
    Thread-safe: the console's workers share one."""

    def __init__(
        self,
        primary: Engine,
        replica: Engine | None = None,
        *,
        max_lag_s: float = DEFAULT_MAX_LAG_S,
        stick_s: float = STICK_AFTER_WRITE_S,
        retry_s: float = REPLICA_RETRY_S,
    ) -> None:
        self.primary = primary
        self.replica = replica
        self.max_lag_s = max_lag_s
        self.stick_s = stick_s
        self.retry_s = retry_s
        self._lock = threading.Lock()
        self._wrote_at: float | None = None
        self._down_at: float | None = None
        self.down_reason: str | None = None
        self._samples: deque[tuple[float, int]] = deque(maxlen=_SAMPLES)

    # -- the rule ------------------------------------------------------------------------------
    def engine(self, read: Read) -> Engine:
        """Where ``read`` runs now (the module docstring's rule)."""
        replica = self.replica
        if read is Read.FRESH or replica is None:
            return self.primary
        now = time.monotonic()
        with self._lock:
            if self._wrote_at is not None and now - self._wrote_at < self.stick_s:
                return self.primary
            if self._down_at is not None and now - self._down_at < self.retry_s:
                return self.primary
        return replica

    def run(self, read: Read, fn: Callable[[Engine], T]) -> T:
        """``fn(engine)`` on the engine the rule picks; a standby that fails falls back to the
        primary (marked down on ``DatabaseUnavailable``)."""
        engine = self.engine(read)
        if engine is self.primary:
            return fn(engine)
        try:
            result = fn(engine)
        except DatabaseUnavailable as e:
            self._mark_down(str(e))
        except DatabaseRefused as e:
            if e.sqlstate != _RECOVERY_CONFLICT:
                raise
        else:
            self._mark_up()
            return result
        return fn(self.primary)

    def wrote(self) -> None:
        """This core is about to write (its guard passed): browsing reads go to the primary for
        ``stick_s`` seconds."""
        with self._lock:
            self._wrote_at = time.monotonic()

    @property
    def down(self) -> bool:
        """The standby failed within ``retry_s`` (reads are on the primary)."""
        with self._lock:
            return self._down_at is not None and time.monotonic() - self._down_at < self.retry_s

    def _mark_down(self, reason: str) -> None:
        with self._lock:
            first = self._down_at is None
            self._down_at, self.down_reason = time.monotonic(), reason
        if first:
            log.warning("read replica unavailable, reads go to the primary: %s", reason)

    def _mark_up(self) -> None:
        with self._lock:
            was = self._down_at is not None
            self._down_at, self.down_reason = None, None
        if was:
            log.warning("read replica is back: browsing reads go to it again")

    # -- lag -------------------------------------------------------------------------------------
    def status(self) -> ReplicaStatus | None:
        """The standby's state and lag (module docstring); None without one. Never raises for a
        standby that is down (``up=False``); the primary's own failure raises as any read does."""
        replica = self.replica
        if replica is None:
            return None
        from authcore.db import deadline, mask_url, read_conn

        url = mask_url(replica.url.render_as_string(hide_password=False))
        with deadline(STATUS_DEADLINE_S), read_conn(self.primary) as conn:
            primary_lsn = parse_lsn(str(conn.exec_driver_sql("SELECT pg_current_wal_lsn()::text").scalar()))
        seen = time.monotonic()
        try:
            with deadline(STATUS_DEADLINE_S), read_conn(replica) as conn:
                row = conn.exec_driver_sql(_STANDBY_SQL).one()
        except DatabaseUnavailable as e:
            self._mark_down(str(e))
            return ReplicaStatus(url, False, self.max_lag_s, error=str(e))
        self._mark_up()
        in_recovery, replay, paused, commit_age = row
        if not in_recovery or replay is None:
            return ReplicaStatus(url, True, self.max_lag_s, standby=False)
        replayed = parse_lsn(str(replay))
        behind = max(primary_lsn - replayed, 0)
        with self._lock:
            self._samples.append((seen, primary_lsn))
            first_unreplayed = next((t for t, lsn in self._samples if lsn > replayed), None)
            saw_caught_up = any(lsn <= replayed for _t, lsn in self._samples)
        if behind == 0:
            return ReplicaStatus(url, True, self.max_lag_s, paused=bool(paused))
        if first_unreplayed is not None and saw_caught_up:
            lag, basis = time.monotonic() - first_unreplayed, "observed"
        else:
            lag, basis = float(commit_age or 0.0), "last replayed commit"
        return ReplicaStatus(
            url, True, self.max_lag_s, paused=bool(paused), behind_bytes=behind, lag_s=lag, lag_basis=basis
        )

    def dispose(self) -> None:
        if self.replica is not None:
            with contextlib.suppress(Exception):
                self.replica.dispose()


# On the standby: in recovery?, replay position, replay paused?, age of the last replayed commit.
# pg_is_wal_replay_paused() raises outside recovery: CASE evaluates it only in recovery.
_STANDBY_SQL = (
    "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text, "
    "CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() END, "
    "extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8"
)
