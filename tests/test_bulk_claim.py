"""Issue 12.5: two identical bulk runs started at the same instant bump every user once.

Each round starts two runners (separate engines, as two processes would have) behind a barrier,
after both have planned and confirmed the same count. Whatever the interleaving, every matching
user ends exactly one version higher; a runner that loses the claim is refused in one line and
changes nothing.
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from authcore.config import Config
from authcore.core import AuthCore
from authcore.db import make_engine
from authcore.errors import ValidationError
from authcore.models import audit_events, bulk_runs

N_USERS = 40
ROUNDS = 4


def _versions(core: AuthCore, ids: list[int]) -> list[int]:
    return [core.users.get(i).token_version for i in ids]


def _race(cores: list[AuthCore], reason: str, plans: list) -> list[object]:  # type: ignore[type-arg]
    """Both runners released by one barrier; each result is a BulkReport or the refusal."""
    barrier = threading.Barrier(2)
    results: list[object] = [None, None]

    def go(k: int) -> None:
        barrier.wait()
        try:
            results[k] = cores[k].bulk.run(
                "@corp-old.example", reason, confirm_count=N_USERS, batch=5, plan=plans[k]
            )
        except ValidationError as e:
            results[k] = e

    threads = [threading.Thread(target=go, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


def test_simultaneous_identical_runs_bump_once(core: AuthCore, db_url: str, config: Config) -> None:
    ids = [core.users.create(f"u{i}@corp-old.example", f"corp{i}").id for i in range(N_USERS)]
    cores = [AuthCore(make_engine(db_url), config, actor=f"runner{k}") for k in range(2)]
    try:
        for rnd in range(ROUNDS):
            reason = f"breach round {rnd}"
            plans = [c.bulk.plan("@corp-old.example", reason) for c in cores]
            assert [p.matching for p in plans] == [N_USERS, N_USERS]
            results = _race(cores, reason, plans)
            versions = _versions(core, ids)
            assert versions == [rnd + 1] * N_USERS, f"round {rnd}: {versions} {results}"
            reports = [r for r in results if not isinstance(r, Exception)]
            refusals = [r for r in results if isinstance(r, Exception)]
            assert reports, results
            assert sum(r.bumped for r in reports) == N_USERS  # type: ignore[attr-defined]
            for e in refusals:
                assert "\n" not in str(e) and "nothing changed" in str(e), str(e)
            with core.engine.connect() as conn:
                open_runs = conn.execute(
                    select(func.count()).select_from(bulk_runs).where(bulk_runs.c.finished_at.is_(None))
                ).scalar_one()
                summaries = conn.execute(
                    select(func.count())
                    .select_from(audit_events)
                    .where(audit_events.c.action == "bulk_revoke_tokens", audit_events.c.reason == reason)
                ).scalar_one()
            assert open_runs == 0 and summaries == 1
    finally:
        for c in cores:
            c.engine.dispose()


@pytest.mark.parametrize("n", [3])
def test_later_identical_run_after_finish_is_a_new_run(core: AuthCore, n: int) -> None:
    ids = [core.users.create(f"u{i}@corp-old.example", f"corp{i}").id for i in range(n)]
    first = core.bulk.run("@corp-old.example", "again", confirm_count=n)
    second = core.bulk.run("@corp-old.example", "again", confirm_count=n)
    assert first.run_id != second.run_id and not second.resumed
    assert _versions(core, ids) == [2] * n
