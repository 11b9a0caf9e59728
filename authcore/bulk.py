"""Resumable bulk revocation by query: ``revoke --query "@corp-old.example" --all-tokens``.

Users whose email or username contains the query (case-insensitive, literal) are bumped in
batches, walking ``users.id`` upwards. Each batch is one transaction that bumps, audits (one event
per user), announces, and moves the run's position in ``bulk_runs``, so a crash loses at most an
uncommitted batch and a rerun of the same command resumes after the last committed user: no user
is bumped twice by one run. The run ends with one summary event.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    Engine,
    Row,
    bindparam,
    func,
    insert,
    or_,
    select,
    update,
)

from authcore import audit
from authcore.audit import EventIn
from authcore.db import read_conn, write_tx
from authcore.errors import PermissionDenied, ValidationError
from authcore.models import bulk_runs, users
from authcore.revoke import AdminService, _reason
from authcore.text import LIKE_ESCAPE, clean, like_escape, require_plain
from authcore.timeutil import utcnow

ACTION = "revoke_tokens"
MIN_QUERY = 3


def _pattern(query: str) -> str:
    q = clean(require_plain(query, "the bulk query"), max_len=None).strip().lower()
    if len(q) < MIN_QUERY:
        raise ValidationError(f"a bulk query needs at least {MIN_QUERY} characters")
    if len(q) > 320:
        raise ValidationError("the bulk query is too long")
    return "%" + like_escape(q) + "%"


def _lock_key(*identity: Any) -> int:
    """A signed 64-bit advisory lock key for a run identity."""
    digest = hashlib.sha256("\x00".join(map(str, identity)).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _match() -> ColumnElement[bool]:
    pat: BindParameter[str] = bindparam("pat")
    return or_(
        func.lower(users.c.email).like(pat, escape=LIKE_ESCAPE),
        func.lower(users.c.username).like(pat, escape=LIKE_ESCAPE),
    )


_NEXT_IDS = (
    select(users.c.id)
    .where(_match(), users.c.id > bindparam("after"))
    .order_by(users.c.id)
    .limit(bindparam("n"))
)
#: The preview's rows: the same match and walk order as ``_NEXT_IDS``, with what an operator checks.
_FIRST = (
    select(users.c.id, users.c.email, users.c.username, users.c.token_version)
    .where(_match(), users.c.id > bindparam("after"))
    .order_by(users.c.id)
    .limit(bindparam("n"))
)
_COUNT = select(func.count()).select_from(users).where(_match(), users.c.id > bindparam("after"))


@dataclass(frozen=True)
class BulkPlan:
    query: str
    matching: int
    run_id: str | None  # an unfinished run this command would resume
    already_done: int
    run_updated_at: datetime | None = None  # that run's last move (the claim compares it)
    runs_seen: int = 0  # identical runs (finished or not) when planned (the claim compares it)


@dataclass(frozen=True)
class BulkMatch:
    """One user a bulk query matches (the console's preview rows)."""

    id: int
    email: str
    username: str
    token_version: int


@dataclass(frozen=True)
class BulkPreview:
    """What a new run of ``query`` would bump now: the count and the first users by id."""

    query: str
    matching: int
    first: list[BulkMatch]


@dataclass(frozen=True)
class BulkRunInfo:
    """A row of ``bulk_runs``: an unfinished one was interrupted (process killed, stopped) and
    resumes with the same query and reason, from the console or the command line."""

    id: str
    query: str
    reason: str
    actor: str
    created_at: datetime
    updated_at: datetime
    done_count: int
    expected_count: int
    finished_at: datetime | None


@dataclass(frozen=True)
class BulkReport:
    run_id: str
    query: str
    bumped: int
    total_done: int
    resumed: bool


class BulkRevoker:
    def __init__(
        self, engine: Engine, admin: AdminService, role: str | None, guard: Callable[[int], None]
    ) -> None:
        self.engine = engine
        self.admin = admin
        self.role = role
        self._guard = guard

    def _open_run(self, conn: Connection, query: str, reason: str) -> Row[Any] | None:
        return conn.execute(
            select(bulk_runs)
            .where(
                bulk_runs.c.action == ACTION,
                bulk_runs.c.query == query,
                bulk_runs.c.reason == reason,
                bulk_runs.c.finished_at.is_(None),
            )
            .order_by(bulk_runs.c.created_at.desc())
            .limit(1)
        ).first()

    def preview(self, query: str, limit: int = 20) -> BulkPreview:
        """The users a new run of ``query`` matches: their count and the first ``limit`` by id
        (the same match and walk order as ``run``). Reads only; no reason needed yet."""
        pat = _pattern(query)
        limit = max(0, min(int(limit), 200))
        with read_conn(self.engine) as conn:
            n = int(conn.execute(_COUNT, {"pat": pat, "after": 0}).scalar_one())
            rows = conn.execute(_FIRST, {"pat": pat, "after": 0, "n": limit}).all() if limit else []
        return BulkPreview(query, n, [BulkMatch(r.id, r.email, r.username, r.token_version) for r in rows])

    def unfinished(self, limit: int = 20) -> list[BulkRunInfo]:
        """Runs that started and did not finish (newest first): each resumes when its query is
        run again with its reason (``plan`` finds it)."""
        with read_conn(self.engine) as conn:
            rows = conn.execute(
                select(bulk_runs)
                .where(bulk_runs.c.action == ACTION, bulk_runs.c.finished_at.is_(None))
                .order_by(bulk_runs.c.updated_at.desc(), bulk_runs.c.id)
                .limit(max(1, min(int(limit), 200)))
            ).all()
        return [
            BulkRunInfo(
                r.id,
                r.query,
                r.reason,
                r.actor,
                r.created_at,
                r.updated_at,
                r.done_count,
                r.expected_count,
                r.finished_at,
            )
            for r in rows
        ]

    def plan(self, query: str, reason: str) -> BulkPlan:
        """How many users the command would bump now (resuming any unfinished run)."""
        pat = _pattern(query)
        reason = _reason(reason)
        with read_conn(self.engine) as conn:
            run = self._open_run(conn, query, reason)
            after = run.last_user_id if run else 0
            n = int(conn.execute(_COUNT, {"pat": pat, "after": after}).scalar_one())
            seen = self._runs_seen(conn, query, reason)
        return BulkPlan(
            query,
            n,
            run.id if run else None,
            run.done_count if run else 0,
            run.updated_at if run else None,
            seen,
        )

    @staticmethod
    def _runs_seen(conn: Connection, query: str, reason: str) -> int:
        return int(
            conn.execute(
                select(func.count())
                .select_from(bulk_runs)
                .where(bulk_runs.c.action == ACTION, bulk_runs.c.query == query, bulk_runs.c.reason == reason)
            ).scalar_one()
        )

    def _claim(self, query: str, reason: str, plan: BulkPlan) -> tuple[str, bool]:
        """Start or resume the run ``plan`` saw, atomically: the check and the insert (or the
        resume mark) are one transaction, serialised per run identity (a PostgreSQL
        transaction-scoped advisory lock on it; SQLite's ``BEGIN IMMEDIATE``). The claim holds
        only if no identical run started, moved or finished since ``plan``: of two identical
        commands confirmed at the same instant one runs, the other is refused (even when the
        first has already finished), so two runs never walk the same users on one
        confirmation."""
        now = utcnow()
        with write_tx(self.engine) as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(select(func.pg_advisory_xact_lock(_lock_key(ACTION, query, reason))))
            run = self._open_run(conn, query, reason)
            if self._runs_seen(conn, query, reason) != plan.runs_seen and plan.run_id is None:
                raise ValidationError(
                    "an identical bulk run started since this command's "
                    "preview; nothing changed (preview again)"
                )
            if plan.run_id is None:
                if run is not None:
                    raise ValidationError(
                        f"an identical bulk run ({run.id}) started at the same "
                        "time; nothing changed (rerun to resume it)"
                    )
                run_id = "bulk_" + secrets.token_hex(8)
                conn.execute(
                    insert(bulk_runs).values(
                        id=run_id,
                        action=ACTION,
                        query=query,
                        reason=reason,
                        actor=self.admin.actor,
                        created_at=now,
                        updated_at=now,
                        last_user_id=0,
                        done_count=0,
                        expected_count=plan.matching,
                    )
                )
                return run_id, False
            if (
                run is None
                or run.id != plan.run_id
                or run.done_count != plan.already_done
                or run.updated_at != plan.run_updated_at
            ):
                raise ValidationError(
                    f"bulk run {plan.run_id} was resumed or finished by "
                    "another command meanwhile; nothing changed"
                )
            conn.execute(
                update(bulk_runs).where(bulk_runs.c.id == run.id).values(updated_at=max(now, run.updated_at))
            )
            return run.id, True

    def run(
        self,
        query: str,
        reason: str,
        *,
        confirm_count: int,
        batch: int = 1000,
        on_batch: Callable[[int, int], None] | None = None,
        plan: BulkPlan | None = None,
    ) -> BulkReport:
        """Bump every matching user. ``confirm_count`` must equal ``plan().matching``.

        ``plan``: the preview the operator confirmed; the run is claimed only if no identical
        run started, moved or finished since it (default: a plan made here, just before).
        """
        pat = _pattern(query)
        reason = _reason(reason)
        seen = plan
        plan = self.plan(query, reason)
        if seen is not None and seen.query != query:
            raise ValidationError("the plan is for another query; nothing changed")
        if plan.matching > 1 and self.role not in (None, "admin"):
            raise PermissionDenied("bulk operations need the admin role")
        self._guard(max(plan.matching, 1))
        if confirm_count != plan.matching:
            raise ValidationError(
                f"confirmation count {confirm_count} does not match the "
                f"{plan.matching} users the query matches now; nothing changed"
            )
        run_id, resumed = self._claim(query, reason, seen or plan)
        bumped = 0
        total = 0
        while True:
            with write_tx(self.engine) as conn:
                run = conn.execute(select(bulk_runs).where(bulk_runs.c.id == run_id).with_for_update()).one()
                if run.finished_at is not None:  # finished by another runner of this run
                    total = run.done_count
                    break
                ids = list(
                    conn.execute(_NEXT_IDS, {"pat": pat, "after": run.last_user_id, "n": batch}).scalars()
                )
                now = utcnow()
                if not ids:
                    total = run.done_count
                    audit.append(
                        conn,
                        [
                            EventIn(
                                "bulk_revoke_tokens",
                                self.admin.actor,
                                reason,
                                None,
                                details={"run": run_id, "query": query, "users": total, "resumed": resumed},
                                client=self.admin.client,
                            )
                        ],
                        now,
                    )
                    conn.execute(
                        update(bulk_runs)
                        .where(bulk_runs.c.id == run_id)
                        .values(finished_at=now, updated_at=now)
                    )
                    break
                self.admin.bump_many_in(conn, ids, reason, now, details={"run": run_id})
                conn.execute(
                    update(bulk_runs)
                    .where(bulk_runs.c.id == run_id)
                    .values(last_user_id=ids[-1], done_count=run.done_count + len(ids), updated_at=now)
                )
            bumped += len(ids)
            if on_batch:
                on_batch(bumped, plan.matching)
        return BulkReport(run_id, query, bumped, total, resumed)
