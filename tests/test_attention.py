"""authcore.attention: each signal flags the right users and only them, at the edges of its window
and threshold, on SQLite and PostgreSQL (the plans: tests/test_attention_plans.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from authcore.attention import Finding, Signal, densest
from authcore.config import AttentionSettings, Config, TokenSettings
from authcore.core import AuthCore
from authcore.errors import RefreshReuse, ValidationError
from tests.conftest import TEST_SECRET
from tests.support.attention import add_reuse, add_session

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def _core(engine: Engine, burst: int = 3, window: timedelta = timedelta(minutes=10)) -> AuthCore:
    cfg = Config(tokens=TokenSettings(secret=TEST_SECRET), attention=AttentionSettings(burst, window))
    return AuthCore(engine, cfg, actor="test-operator")


def _of(core: AuthCore, signal: Signal, **kw: object) -> list[Finding]:
    kw.setdefault("now", NOW)
    return [f for f in core.attention(**kw).findings if f.signal == signal]  # type: ignore[arg-type]


# -- refresh reuse -----------------------------------------------------------------------------


def test_a_real_refresh_reuse_flags_its_user_and_a_single_replay_does_not(core: AuthCore) -> None:
    thief = core.users.create("thief@example.com", "thief")
    tab = core.users.create("tab@example.com", "tab")
    s, _raw, p0 = core.login(thief.id)
    core.tokens.refresh(p0.refresh_token)
    core.tokens.refresh(p0.refresh_token)  # a replay within the grace window: allowed, no signal
    with pytest.raises(RefreshReuse):
        core.tokens.refresh(p0.refresh_token)
    _s2, _raw2, q0 = core.login(tab.id)
    core.tokens.refresh(q0.refresh_token)
    core.tokens.refresh(q0.refresh_token)  # replay only
    found = [f for f in core.attention().findings if f.signal == Signal.REFRESH_REUSE]
    assert [(f.user_id, f.count, f.session_id, f.action) for f in found] == [
        (thief.id, 1, s.public_id, "revoke_tokens")
    ]
    assert "presented again" in found[0].why and found[0].email == "thief@example.com"


def test_reuse_window_edges_and_counts(engine: Engine) -> None:
    core = _core(engine)
    edge, old, twice = (core.users.create(f"{n}@example.com", n) for n in ("edge", "old", "twice"))
    add_reuse(core, edge.id, NOW - DAY)  # exactly at the start of the window: in
    add_reuse(core, old.id, NOW - DAY - timedelta(microseconds=1))  # just before: out
    add_reuse(core, old.id, NOW + timedelta(seconds=1))  # after now: out
    add_reuse(core, twice.id, NOW - timedelta(hours=3), "ses_a")
    add_reuse(core, twice.id, NOW - timedelta(hours=1), "ses_b")
    found = _of(core, Signal.REFRESH_REUSE)
    assert [(f.user_id, f.count) for f in found] == [(twice.id, 2), (edge.id, 1)]  # newest first
    assert found[0].at == NOW - timedelta(hours=1) and found[0].session_id is None
    wider = _of(core, Signal.REFRESH_REUSE, since=2 * DAY)
    assert {f.user_id for f in wider} == {edge.id, old.id, twice.id}


# -- bursts of new sessions --------------------------------------------------------------------


def test_burst_threshold_and_window_edges(engine: Engine) -> None:
    core = _core(engine, burst=3, window=timedelta(minutes=10))
    t = NOW - timedelta(hours=2)
    on_edge, just_over, two, before, spread = (
        core.users.create(f"{n}@example.com", n) for n in ("onedge", "over", "two", "before", "spread")
    )
    for m in (0, 5, 10):  # 3 within exactly 10 min: fires
        add_session(core, on_edge.id, t + timedelta(minutes=m))
    for d in (timedelta(0), timedelta(minutes=5), timedelta(minutes=10, seconds=1)):  # 10m01s: no
        add_session(core, just_over.id, t + d)
    for m in (0, 1):  # 2 < 3
        add_session(core, two.id, t + timedelta(minutes=m))
    for m in (0, 1, 2):  # a burst, but before the window
        add_session(core, before.id, NOW - DAY - timedelta(hours=1) + timedelta(minutes=m))
    for h in (1, 3, 5, 7):  # many, never 3 in 10 min
        add_session(core, spread.id, NOW - timedelta(hours=h))
    found = _of(core, Signal.SESSION_BURST)
    assert [(f.user_id, f.count, f.action) for f in found] == [(on_edge.id, 3, "delete_sessions")]
    assert found[0].at == t + timedelta(minutes=10)
    assert "3 new sessions within 10 min" in found[0].why
    # a lower threshold from the config flags the pair too; a wider window the spread user
    assert {f.user_id for f in _of(_core(engine, burst=2), Signal.SESSION_BURST)} == {
        on_edge.id,
        just_over.id,
        two.id,
    }
    wide = _of(_core(engine, burst=3, window=timedelta(hours=5)), Signal.SESSION_BURST)
    assert spread.id in {f.user_id for f in wide}


def test_densest_window() -> None:
    t = NOW
    m = timedelta(minutes=1)
    assert densest([t, t + m, t + 5 * m, t + 5 * m, t + 6 * m], m) == (3, t + 6 * m)
    assert densest([t, t + 2 * m], m) == (1, t)


# -- disabled users holding sessions -----------------------------------------------------------


def test_disabled_users_with_unexpired_sessions(engine: Engine) -> None:
    """Disabling deletes the user's sessions; rows written around it (an older authcore, a
    direct database edit, an import) are what this signal finds."""
    core = _core(engine)
    holds, expired, none, enabled = (
        core.users.create(f"{n}@example.com", n) for n in ("holds", "expired", "none", "enabled")
    )
    for u in (holds, expired, none):
        core.admin.set_disabled(u.id, True, "test")
    add_session(core, holds.id, NOW - 40 * DAY, ttl=60 * DAY)  # old, still unexpired: since does not apply
    add_session(core, holds.id, NOW - 2 * DAY)
    add_session(core, holds.id, NOW - 40 * DAY, ttl=DAY)  # expired: not counted
    add_session(core, expired.id, NOW - 40 * DAY, ttl=DAY)
    add_session(core, enabled.id, NOW - DAY)
    found = _of(core, Signal.DISABLED_SESSIONS)
    assert [(f.user_id, f.count, f.disabled, f.action) for f in found] == [
        (holds.id, 2, True, "delete_sessions")
    ]
    assert "2 unexpired sessions" in found[0].why
    core.admin.delete_sessions(holds.id, "test")
    assert _of(core, Signal.DISABLED_SESSIONS) == []


# -- the report ----------------------------------------------------------------------------------


def test_new_place_is_absent_without_geoip_and_says_so(core: AuthCore) -> None:
    report = core.attention()
    st = report.status(Signal.NEW_PLACE)
    assert not st.available and "geoip_db" in st.note
    assert [s.signal for s in report.signals] == list(Signal)
    assert all(s.available for s in report.signals if s.signal != Signal.NEW_PLACE)


def test_limit_truncates_and_says_so(engine: Engine) -> None:
    core = _core(engine)
    a, b = core.users.create("a@example.com", "a"), core.users.create("b@example.com", "b")
    add_reuse(core, a.id, NOW - timedelta(hours=2))
    add_reuse(core, b.id, NOW - timedelta(hours=1))
    report = core.attention(now=NOW, limit=1)
    assert [f.user_id for f in report.findings] == [b.id]
    assert report.status(Signal.REFRESH_REUSE).truncated
    assert not core.attention(now=NOW, limit=2).status(Signal.REFRESH_REUSE).truncated
    d = report.to_dict()
    assert d["findings"][0]["signal"] == "refresh_reuse" and d["findings"][0]["action"] == "revoke_tokens"
    assert {s["signal"] for s in d["signals"]} == {str(s) for s in Signal}


@pytest.mark.parametrize("since", [timedelta(0), timedelta(seconds=-1), timedelta(days=30, seconds=1)])
def test_since_out_of_range_is_refused(core: AuthCore, since: timedelta) -> None:
    with pytest.raises(ValidationError, match="since must be positive"):
        core.attention(since)


def test_a_viewer_may_read_it(engine: Engine) -> None:
    core = AuthCore(engine, Config(tokens=TokenSettings(secret=TEST_SECRET)), role="viewer", read_only=True)
    assert core.attention().findings == []
