"""The verifier's in-memory revocation state: per user ``token_version``, the disabled flag and
the sessions seen live, plus a bounded set of sessions known to be deleted. Both maps are LRUs.

No database and no threads here: the ``Verifier`` feeds it (misses, notices, resyncs) and asks it.
Every read and write holds one lock, held only for dict operations. ``gen`` counts updates so a
miss whose query raced an update is not cached (its row may predate the update). What refuses a
token and what a notice changes are ``authcore.revocation``'s (``refusal``, ``RULES``).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from authcore.errors import TokenError
from authcore.revocation import RULES, Notice, State, refusal
from authcore.tokens import Claims

MAX_SESSIONS_PER_USER = 256
COUNTERS = ("hits", "misses", "db_fallbacks", "stale_refusals", "updates", "reconnects", "resyncs", "errors")


@dataclass(slots=True)
class Entry:
    version: int
    disabled: bool
    sessions: dict[str, float] = field(default_factory=dict)  # live session -> expires (epoch s)


class RevocationCache:
    """Users and deleted sessions, bounded by ``max_users`` and ``max_dead``; counters."""

    def __init__(self, max_users: int, max_dead: int) -> None:
        self.max_users = max_users
        self.max_dead = max_dead
        self.lock = threading.Lock()
        self.users: OrderedDict[int, Entry] = OrderedDict()
        self.dead: OrderedDict[tuple[int, str], None] = OrderedDict()
        self.gen = 0  # bumped by every applied update (guards miss loads)
        self.n = dict.fromkeys(COUNTERS, 0)

    def after_fork(self) -> None:
        """A forked child: a new lock (the parent's may have been held at the fork), no users,
        zeroed counters. The deleted-session set is kept: every entry in it stays true."""
        self.lock = threading.Lock()
        self.users = OrderedDict()
        self.gen += 1
        self.n = dict.fromkeys(self.n, 0)

    # -- reading -------------------------------------------------------------------------------
    def answer(self, claims: Claims) -> int | None:
        """Answer from the cache: return None (accepted) or raise; on a miss return the
        generation to hand to ``store``."""
        uid, sid = claims.user_id, claims.sid
        with self.lock:
            e = self.users.get(uid)
            err = refusal(claims, self._state(e, uid, sid))
            if err is not None:
                if e is not None:
                    self.users.move_to_end(uid)
                self.n["hits"] += 1
                raise err
            # A token newer than the cache, or an unseen session: load rather than guess.
            if e is not None and claims.token_version == e.version and (sid is None or sid in e.sessions):
                self._hit(uid)
                return None
            self.n["misses"] += 1
            return self.gen

    def refusal(self, claims: Claims) -> TokenError | None:
        """What the cache alone says against ``claims`` (no counters): the error ``answer``
        would raise, or None when the cache does not refuse (a miss included)."""
        uid, sid = claims.user_id, claims.sid
        with self.lock:
            return refusal(claims, self._state(uid=uid, sid=sid, e=self.users.get(uid)))

    def _state(self, e: Entry | None, uid: int, sid: str | None) -> State:  # caller holds the lock
        """What the cache knows of ``uid`` and ``sid`` as the model's ``State`` (a user not
        cached: version unknown, only a deleted session can refuse)."""
        ended = sid is not None and (uid, sid) in self.dead
        if e is None:
            return State(session_ended=ended)
        return State(True, e.disabled, e.version, ended, None if sid is None else e.sessions.get(sid))

    def _hit(self, uid: int) -> None:  # caller holds the lock
        self.users.move_to_end(uid)
        self.n["hits"] += 1

    # -- writing -------------------------------------------------------------------------------
    def store(self, claims: Claims, row: Any, g0: int) -> None:
        """A miss's row (``tokens._CHECK``, None: no such user), cached unless an update raced
        the query (generation ``g0``). A session the row lacks is deleted for good."""
        uid, sid = claims.user_id, claims.sid
        with self.lock:
            if sid is not None and row is not None and row.sid is None:
                self._dead_add(uid, sid)  # deleted sessions never come back
            if row is not None and self.gen == g0:  # no update raced the query: safe to cache
                e = self.users.get(uid)
                if e is None:
                    e = self.users[uid] = Entry(int(row.token_version), bool(row.disabled))
                    if len(self.users) > self.max_users:
                        self.users.popitem(last=False)
                else:
                    e.version = max(e.version, int(row.token_version))
                    e.disabled = bool(row.disabled)
                    self.users.move_to_end(uid)
                if sid is not None and row.sid is not None:
                    e.sessions[sid] = row.expires_at.timestamp()
                    if len(e.sessions) > MAX_SESSIONS_PER_USER:
                        e.sessions.pop(next(iter(e.sessions)))

    def apply(self, notice: Notice) -> None:
        """Apply one notice by its kind's rule (``revocation.RULES``)."""
        rule = RULES[notice.kind]
        with self.lock:
            self.gen += 1
            self.n["updates"] += 1
            if rule.sessions:
                uid = notice.user_ids[0]
                e = self.users.get(uid)
                for s in notice.session_ids:
                    self._dead_add(uid, s)
                    if e is not None:
                        e.sessions.pop(s, None)
                return
            flag = rule.disabled
            for u, v in zip(notice.user_ids, notice.versions, strict=True):
                e = self.users.get(u)
                if e is None:
                    continue
                if v is None:  # version unknown: forget the user, the next use reloads
                    del self.users[u]
                    continue
                if v > e.version:
                    e.version = v
                if flag is not None:
                    e.disabled = flag

    def reset(self) -> None:
        """Forget every user (the deleted-session set stays: it is never wrong)."""
        with self.lock:
            self.gen += 1
            self.users.clear()

    def invalidate(self, user_id: int | None = None) -> None:
        with self.lock:
            self.gen += 1
            if user_id is None:
                self.users.clear()
            else:
                self.users.pop(user_id, None)

    def _dead_add(self, uid: int, sid: str) -> None:  # caller holds the lock
        self.dead[(uid, sid)] = None
        self.dead.move_to_end((uid, sid))
        if len(self.dead) > self.max_dead:
            self.dead.popitem(last=False)

    # -- resync (after a reconnect) ------------------------------------------------------------
    def resync_targets(self) -> tuple[list[int], list[tuple[int, str]]]:
        """The cached users and live sessions to re-read; loads in flight from before are not
        cached (the generation moves)."""
        with self.lock:
            self.gen += 1
            return list(self.users), [(u, s) for u, e in self.users.items() for s in e.sessions]

    def resync_apply(
        self, uids: list[int], live: list[tuple[int, str]], rows: dict[int, Any], srows: dict[str, Any]
    ) -> tuple[list[int], list[str]]:
        """Bring the re-read users (``rows`` by id) and sessions (``srows`` by public id) in;
        returns the users that changed and the sessions that ended."""
        changed: list[int] = []
        ended: list[str] = []
        with self.lock:
            self.gen += 1
            self.n["resyncs"] += 1
            for u in uids:
                e = self.users.get(u)
                if e is None:
                    continue
                r = rows.get(u)
                if r is None:
                    del self.users[u]
                    changed.append(u)
                    continue
                if int(r.token_version) > e.version or bool(r.disabled) != e.disabled:
                    changed.append(u)
                e.version = max(e.version, int(r.token_version))
                e.disabled = bool(r.disabled)
            for u, s in live:
                sr = srows.get(s)
                if sr is None or sr.user_id != u:
                    self._dead_add(u, s)
                    ended.append(s)
                    e = self.users.get(u)
                    if e is not None:
                        e.sessions.pop(s, None)
        return changed, ended

    # -- counters ------------------------------------------------------------------------------
    def count(self, name: str, n: int = 1) -> None:
        with self.lock:
            self.n[name] += n

    def snapshot(self) -> tuple[dict[str, int], int, int]:
        """Counters, cached users, cached deleted sessions."""
        with self.lock:
            return dict(self.n), len(self.users), len(self.dead)
