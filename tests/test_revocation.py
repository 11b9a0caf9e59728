"""authcore.revocation: every kind has a rule, both encodings round-trip, and the one refusal
rule decides for the verifier's cache, the database check and the inspector alike.

These are the tests the module docstring promises: a kind added to ``Kind`` without its rule, a
reason without its error or its inspector wording, or a rule the verifier's cache does not honour
fails here."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, select, text

from authcore import notices, revocation, revoke
from authcore.errors import SessionInvalid, TokenError, TokenRevoked, UserDisabled
from authcore.inspect import LiveState
from authcore.inspect.live import _problem
from authcore.models import revocations
from authcore.revocation import RULES, Facts, Kind, Notice, Reason, State, refusal
from authcore.tokens import Claims
from authcore.verifier import libpq_url
from authcore.verifier.cache import RevocationCache

AT = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
FUTURE = datetime.now(UTC) + timedelta(days=1)


def claims(tv: int = 1, sid: str | None = "s1", uid: int = 7) -> Claims:
    return Claims(uid, "access", tv, sid, "jti", 0, 0, None, {})


def sample(kind: Kind, n: int = 3) -> Notice:
    """A notice of ``kind`` naming ``n`` users (or sessions)."""
    if RULES[kind].sessions:
        return Notice.of(kind, [42], session_ids=[f"sid-{i}" for i in range(n)])
    return Notice.of(kind, list(range(1, n + 1)), [i % 5 or None for i in range(1, n + 1)])


# -- the tables are complete ---------------------------------------------------------------------
def test_every_kind_has_a_rule_and_every_reason_an_error() -> None:
    assert set(RULES) == set(Kind)
    assert set(revocation._ERRORS) == set(Reason)
    for rule in RULES.values():
        assert rule.refuses is None or rule.refuses in Reason


def test_every_kind_an_admin_action_publishes_is_a_kind() -> None:
    published = {k for ks in revoke.PUBLISHES.values() for k in ks}
    assert published == set(Kind)  # every kind has a writer among the operator actions today
    assert revoke.refuses("revoke_tokens") and revoke.refuses("disable_user")
    assert not revoke.refuses("enable_user") and not revoke.refuses("no_such_action")


@pytest.mark.parametrize("reason", list(Reason))
def test_the_inspector_words_every_reason(reason: Reason) -> None:
    st = LiveState(7, True, token_version=3, sid="s1", session_exists=True, session_expires_at=AT)
    line = _problem(reason, 7, 1, "s1", st, AT.timestamp() + 60)
    assert line and line != str(reason)


# -- one notice, two encodings -------------------------------------------------------------------
@pytest.mark.parametrize("kind", list(Kind))
@pytest.mark.parametrize("n", [1, 3, 1201])
def test_every_kind_round_trips_through_payloads_and_rows(kind: Kind, n: int) -> None:
    notice = sample(kind, n)
    texts = notice.payloads()
    chunk = revocation.SIDS_PER_NOTICE if RULES[kind].sessions else revocation.USERS_PER_NOTICE
    assert len(texts) == -(-n // chunk)
    parts = [Notice.decode(t) for t in texts]
    assert all(p.kind is kind for p in parts)
    if RULES[kind].sessions:
        assert sum((p.session_ids for p in parts), ()) == notice.session_ids
    else:
        assert sum((p.user_ids for p in parts), ()) == notice.user_ids
        assert sum((p.versions for p in parts), ()) == notice.versions
    rows = [
        SimpleNamespace(id=i, at=at, kind=k, user_id=u, token_version=v, session_id=s)
        for i, (at, k, u, v, s) in enumerate(notice.rows(AT), 1)
    ]
    groups = list(revocation.group_rows(rows))
    assert len(groups) == 1 and Notice.from_rows(groups[0]) == notice


@pytest.mark.parametrize("kind", list(Kind))
@pytest.mark.parametrize("n", [1, 3])
def test_rows_of_is_the_rows_of_the_notice(kind: Kind, n: int) -> None:
    """``Notice.rows_of`` (what SQLite's ``notices.publish`` writes, no notice built) gives the
    notice's own rows, for a kind given as a member or as its text; bad input is refused alike."""
    if RULES[kind].sessions:
        args: tuple[Any, ...] = ([42], None, [f"sid-{i}" for i in range(n)])
    else:
        args = (list(range(1, n + 1)), [i % 5 or None for i in range(1, n + 1)], ())
    want = Notice.of(kind, *args).rows(AT)
    assert len(want) == n
    assert Notice.rows_of(AT, kind, *args) == want
    assert Notice.rows_of(AT, kind.value, *args) == want
    assert all(type(r[1]) is str for r in Notice.rows_of(AT, kind, *args))  # the text, not the member
    if not RULES[kind].sessions:
        for bad in (Notice.of, lambda *a: Notice.rows_of(AT, *a)):
            with pytest.raises(ValueError, match="one version per user"):
                bad(kind, [1, 2], [1])
    with pytest.raises(ValueError, match="not a valid Kind"):
        Notice.rows_of(AT, "password_reset", [1], [2])


def test_the_wire_format_is_the_one_stored_and_sent_before() -> None:
    """Byte for byte what ``notices.publish`` sent before the model, and what migration 0004's
    SQL functions send (json_build_object spaces its keys): both decode."""
    assert Notice.of(Kind.VERSION, [1, 2], [3, None]).payloads() == ['{"k":"version","u":[1,2],"v":[3,null]}']
    assert Notice.of(Kind.SESSION, [42], session_ids=["a"]).payloads() == ['{"k":"session","u":42,"s":["a"]}']
    assert Notice.decode('{"k" : "disabled", "u" : [5], "v" : [9]}') == Notice(Kind.DISABLED, (5,), (9,))
    assert Notice.decode('{"k" : "session", "u" : 5, "s" : ["x","y"]}') == Notice(
        Kind.SESSION, (5,), (), ("x", "y")
    )
    assert Notice.of(Kind.ENABLED, [5], [9]).rows(AT) == [(AT, "enabled", 5, 9, None)]


@pytest.mark.parametrize(
    "payload",
    [
        "not json",
        "[]",
        '{"k":"version"}',
        '{"k":"version","u":[1,2],"v":[1]}',
        '{"k":"session","u":[1],"s":["a"]}',
        '{"k":"version","u":["x"],"v":[1]}',
        '{"k":"password_reset","u":[1],"v":[2]}',  # a newer writer's kind
    ],
)
def test_unreadable_or_unknown_notices_are_value_errors(payload: str) -> None:
    with pytest.raises(ValueError, match=r"^(unreadable revocation notice|unknown revocation kind) "):
        Notice.decode(payload)


def test_rows_of_an_unknown_kind_are_grouped_and_refused_by_value_error() -> None:
    r = [
        SimpleNamespace(id=i, at=AT, kind="password_reset", user_id=i, token_version=1, session_id=None)
        for i in (1, 2)
    ]
    (group,) = revocation.group_rows(r)
    with pytest.raises(ValueError, match="password_reset"):
        Notice.from_rows(group)


def test_rows_split_by_kind_time_and_session_owner() -> None:
    def row(i: int, kind: str, uid: int, at: datetime = AT) -> SimpleNamespace:
        return SimpleNamespace(id=i, at=at, kind=kind, user_id=uid, token_version=None, session_id=f"s{i}")

    later = AT + timedelta(seconds=1)
    rows = [
        row(1, "session", 1),
        row(2, "session", 1),
        row(3, "session", 2),
        row(4, "version", 2),
        row(5, "version", 3),
        row(6, "version", 3, later),
    ]
    assert [[r.id for r in g] for g in revocation.group_rows(rows)] == [[1, 2], [3], [4, 5], [6]]


# -- the refusal rule ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("state", "tv", "sid", "want"),
    [
        (State(exists=False), 1, None, [Reason.NO_USER]),
        (State(exists=False, disabled=True), 1, "s1", [Reason.NO_USER]),
        (State(version=1), 1, None, []),
        (State(version=2), 1, None, [Reason.VERSION]),
        (State(version=2), 3, None, []),  # newer than the state: not refused by version
        (State(version=None), 1, None, []),  # version unknown: not judged
        (
            State(disabled=True, version=2, session_ended=True),
            1,
            "s1",
            [Reason.DISABLED, Reason.VERSION, Reason.SESSION_ENDED],
        ),
        (State(version=1, session_ended=True), 1, None, []),  # no sid: sessions do not matter
        (State(version=1, session_expires=100.0), 1, "s1", [Reason.SESSION_EXPIRED]),
        (State(version=1, session_expires=300.0), 1, "s1", []),
        (State(version=1, session_ended=True, session_expires=100.0), 1, "s1", [Reason.SESSION_ENDED]),
    ],
)
def test_reasons_in_check_order_and_refusal_is_the_first(
    state: State, tv: int, sid: str | None, want: list[Reason]
) -> None:
    c = claims(tv, sid)
    assert revocation.reasons(c, state, now=200.0) == want
    err = refusal(c, state, now=200.0)
    if not want:
        assert err is None
    else:
        assert err is not None and type(err) is type(revocation.error(want[0], c, state))


def test_refusal_errors_are_the_ones_apps_see() -> None:
    c = claims(1, "s1")
    no_user = refusal(c, State(exists=False))
    assert (
        isinstance(no_user, TokenRevoked)
        and no_user.code == "no_user"
        and str(no_user) == "user no longer exists"
    )
    assert isinstance(refusal(c, State(disabled=True)), UserDisabled)
    v = refusal(c, State(version=4))
    assert isinstance(v, TokenRevoked) and str(v) == "revoked: token version 1, user is at 4"
    assert isinstance(refusal(c, State(version=1, session_ended=True)), SessionInvalid)


def test_the_database_row_judged_by_the_same_rule() -> None:
    row = SimpleNamespace(token_version=2, disabled=False, sid=None, expires_at=None)
    assert State.from_row(row, "s1") == State(True, False, 2, True, None)
    assert State.from_row(None, None) == State(exists=False)
    live = SimpleNamespace(token_version=2, disabled=True, sid="s1", expires_at=FUTURE)
    assert State.from_row(live, "s1").session_expires == FUTURE.timestamp()
    with pytest.raises(UserDisabled):
        revocation.judge_row(claims(2), live)
    revocation.judge_row(
        claims(2, None), SimpleNamespace(token_version=2, disabled=False, sid=None, expires_at=None)
    )


def test_inspector_facts_need_no_verified_claims() -> None:
    assert revocation.reasons(Facts(None, None), State(version=9)) == []  # no integer version claim
    assert revocation.reasons(Facts(1, None), State(version=9)) == [Reason.VERSION]


# -- every kind, applied to a verifier cache, refuses what its rule says -------------------------
@pytest.mark.parametrize("kind", list(Kind))
def test_every_kind_applied_to_the_cache_refuses_as_its_rule_says(kind: Kind) -> None:
    rule = RULES[kind]
    cache = RevocationCache(10, 10)
    c = claims(1, "s1")
    start_disabled = rule.disabled is False  # enabling is seen from a disabled user
    g0 = cache.answer(c)
    assert g0 is not None  # a miss: nothing cached yet
    cache.store(c, SimpleNamespace(token_version=1, disabled=start_disabled, sid="s1", expires_at=FUTURE), g0)
    assert (cache.refusal(c) is not None) == start_disabled
    if rule.sessions:
        notice = Notice.of(kind, [c.user_id], session_ids=["s1"])
    else:  # a version bump where the rule is about versions; otherwise the token's own version
        notice = Notice.of(kind, [c.user_id], [2 if rule.refuses is Reason.VERSION else 1])
    cache.apply(notice)
    with cache.lock:
        state = cache._state(cache.users.get(c.user_id), c.user_id, c.sid)
    got = revocation.reasons(c, state)
    assert (got[0] if got else None) is rule.refuses
    err = cache.refusal(c)
    assert (err is None) is (rule.refuses is None)
    if rule.refuses is not None:
        with pytest.raises(TokenError):
            cache.answer(c)


# -- the SQL writer (migration 0004) and the Python writer agree -------------------------------
def _notices_rows(engine: Engine) -> list[Any]:
    t = revocations.c
    with engine.connect() as conn:
        return list(
            conn.execute(select(t.id, t.at, t.kind, t.user_id, t.token_version, t.session_id).order_by(t.id))
        )


def test_the_sql_functions_write_the_same_notice(engine: Engine) -> None:
    """``authcore_notice`` (migration 0004, the PostgreSQL role path) and ``notices.publish``
    write rows and payloads that decode to the same ``Notice``."""
    if engine.dialect.name != "postgresql":
        pytest.skip("the SQL functions are PostgreSQL's")
    pg_engine = engine
    lis = psycopg.connect(libpq_url(pg_engine.url.render_as_string(hide_password=False)), autocommit=True)
    try:
        lis.execute(f"LISTEN {notices.CHANNEL}")
        for kind, sids, version in ((Kind.SESSION, ["a", "b"], None), (Kind.VERSION, None, 4)):
            before = len(_notices_rows(pg_engine))
            with pg_engine.begin() as conn:
                conn.execute(
                    text("SELECT authcore_notice(:at, :k, 42, :v, :s)"),
                    {"at": AT, "k": kind.value, "v": version, "s": sids},
                )
            got_sql = [x.payload for x in lis.notifies(timeout=5, stop_after=1)]
            rows_sql = _notices_rows(pg_engine)[before:]
            with pg_engine.begin() as conn:
                notices.publish(conn, AT, kind, [42], None if version is None else [version], sids or ())
            got_py = [x.payload for x in lis.notifies(timeout=5, stop_after=1)]
            rows_py = _notices_rows(pg_engine)[before + len(rows_sql) :]
            assert [Notice.decode(p) for p in got_sql] == [Notice.decode(p) for p in got_py]
            assert json.loads(got_sql[0]) == json.loads(got_py[0])
            (g_sql,), (g_py,) = revocation.group_rows(rows_sql), revocation.group_rows(rows_py)
            assert Notice.from_rows(g_sql) == Notice.from_rows(g_py) == Notice.decode(got_py[0])
    finally:
        lis.close()
