"""authcore.bulk: resumable bulk revocation by query, on both engines. The query is literal text
(``%``, ``_`` and ``\\`` match themselves, case-insensitive, in email or username); planning
writes nothing; a run bumps each matching user once and audits it; bad queries are refused in one
line before anything is written.

Issue 12.5: two identical bulk runs started at the same instant bump every user once.

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
from authcore.models import audit_events, bulk_runs, users

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


def _count(core: AuthCore, table) -> int:  # type: ignore[no-untyped-def]
    with core.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


@pytest.fixture
def people(core: AuthCore) -> dict[str, int]:
    """Users whose names hold LIKE's wildcards and escape literally, and look-alikes."""
    rows = {
        "a_b@wild.example": "wild_under",
        "axb@wild.example": "wildx",
        "pct%100@wild.example": "pct",
        "pct7100@wild.example": "pct7",
        "back\\slash@wild.example": "backslash",
        "Mixed.CASE@Corp-Old.Example": "mixed",
        "plain@elsewhere.example": "corp-old-user",
    }
    return {email: core.users.create(email, name).id for email, name in rows.items()}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("a_b@", {"a_b@wild.example"}),  # not axb: '_' is no wildcard
        ("pct%1", {"pct%100@wild.example"}),  # not pct7100: '%' is no wildcard
        ("k\\sl", {"back\\slash@wild.example"}),
        ("%%%", set()),
        ("___", set()),
        ("corp-old", {"Mixed.CASE@Corp-Old.Example", "plain@elsewhere.example"}),  # email or username
        ("CORP-OLD.EXAMPLE", {"Mixed.CASE@Corp-Old.Example"}),  # case-insensitive
        (
            "  wild.example  ",
            {
                "a_b@wild.example",
                "axb@wild.example",
                "pct%100@wild.example",
                "pct7100@wild.example",
                "back\\slash@wild.example",
            },
        ),
    ],
)
def test_the_query_is_literal_text(
    core: AuthCore, people: dict[str, int], query: str, expected: set[str]
) -> None:
    plan = core.bulk.plan(query, "audit")
    assert plan.matching == len(expected), query
    assert plan.run_id is None and plan.already_done == 0
    assert _count(core, bulk_runs) == 0 and _count(core, audit_events) == 0  # planning writes nothing
    if not expected:
        return
    before = {e: core.users.get(i).token_version for e, i in people.items()}
    report = core.bulk.run(query, "audit", confirm_count=plan.matching, batch=2)
    assert report.bumped == report.total_done == len(expected) and not report.resumed
    after = {e: core.users.get(i).token_version for e, i in people.items()}
    assert {e for e in people if after[e] == before[e] + 1} == expected
    assert all(after[e] == before[e] for e in people if e not in expected)
    with core.engine.connect() as conn:
        events = conn.execute(select(audit_events.c.action, audit_events.c.target_user_id)).all()
    assert sorted(uid for action, uid in events if action != "bulk_revoke_tokens") == sorted(
        people[e] for e in expected
    )
    assert [a for a, _ in events].count("bulk_revoke_tokens") == 1


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("ab", "at least 3 characters"),
        ("  a  ", "at least 3 characters"),
        ("x" * 321, "too long"),
        ("corp\x00old", "control character"),
        ("corp\nold", "control character"),
    ],
)
def test_bad_queries_are_refused_before_anything_is_written(
    core: AuthCore, people: dict[str, int], query: str, fragment: str
) -> None:
    for call in (
        lambda: core.bulk.plan(query, "audit"),
        lambda: core.bulk.run(query, "audit", confirm_count=1),
    ):
        with pytest.raises(ValidationError, match=fragment) as info:
            call()
        assert "\n" not in str(info.value)
    assert _count(core, bulk_runs) == 0 and _count(core, audit_events) == 0


def test_a_stale_confirmation_count_changes_nothing(core: AuthCore, people: dict[str, int]) -> None:
    plan = core.bulk.plan("wild.example", "audit")
    core.users.create("late@wild.example", "late")  # the set grew after the preview
    with pytest.raises(ValidationError, match="does not match"):
        core.bulk.run("wild.example", "audit", confirm_count=plan.matching)
    with core.engine.connect() as conn:
        assert conn.execute(select(func.sum(users.c.token_version))).scalar_one() == 0
    assert _count(core, bulk_runs) == 0 and _count(core, audit_events) == 0


def test_a_reason_is_required(core: AuthCore, people: dict[str, int]) -> None:
    with pytest.raises(ValidationError):
        core.bulk.run("wild.example", "   ", confirm_count=5)
    assert _count(core, bulk_runs) == 0
