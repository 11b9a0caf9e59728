"""Issue 17.4: read replicas, against a real streaming replica made here (tests/support/replica.py:
our own primary and a ``pg_basebackup -R`` hot standby, each on a free port).

What each test proves, with replay paused on the standby (``pg_wal_replay_pause``) so a row can
exist on the primary only: searches, listings and the inspector's lookups read the standby
(they do not see the row) while the preview before a confirm, the lookups an action resolves
with and the re-read after a write read the primary (they do); writes go to the primary (the
standby refuses writes, and they succeed); lag is measured and warned about past the bound; a
standby that is down sends reads to the primary and says so; the header shows it all (Pilot).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from sqlalchemy import event

from authcore.config import Config
from authcore.core import AuthCore
from authcore.db import make_engine
from authcore.reads import Read
from console.actions import ACTIONS
from console.cli import main
from tests.support.replica import ReplicaPair, replica_pair  # noqa: F401 - the fixture
from tests.support.tui import make_app, settle, text_of

pytestmark = pytest.mark.faults  # a PostgreSQL pair of its own


@pytest.fixture
def pair(replica_pair: ReplicaPair) -> Iterator[ReplicaPair]:  # noqa: F811 - the fixture
    """The module's pair, its standby up and replaying, caught up at the start and the end."""
    if not replica_pair.standby.running():
        replica_pair.standby.start()
    replica_pair.resume_replay()
    replica_pair.wait_caught_up()
    yield replica_pair
    if not replica_pair.standby.running():
        replica_pair.standby.start()
    replica_pair.resume_replay()
    replica_pair.wait_caught_up()


def _core(pair: ReplicaPair, config: Config, *, replica: bool = True) -> AuthCore:
    read = make_engine(pair.standby_url, interactive=True) if replica else None
    return AuthCore(make_engine(pair.primary_url, interactive=True), config, actor="ops", read_engine=read)


@pytest.fixture
def cores(pair: ReplicaPair, config: Config) -> Iterator[Callable[..., AuthCore]]:
    made: list[AuthCore] = []

    def make(**kw: bool) -> AuthCore:
        made.append(_core(pair, config, **kw))
        return made[-1]

    yield make
    for c in made:
        c.dispose()


def _name() -> str:
    return f"r{uuid.uuid4().hex[:10]}"


def _wait(cond: Callable[[], object], timeout: float = 20) -> None:
    t0 = time.monotonic()
    while not cond():
        assert time.monotonic() - t0 < timeout, "condition not reached"
        time.sleep(0.1)


def test_browsing_reads_hit_the_replica_the_preview_reads_the_primary(pair: ReplicaPair, cores) -> None:  # type: ignore[no-untyped-def]
    console, writer = cores(), cores(replica=False)
    pair.pause_replay()
    name = _name()
    user = writer.users.create(f"{name}@example.com", name)  # on the primary only
    writer.sessions.open(user.id, ip="10.9.8.7", user_agent=f"agent-{name}")
    # searches, listings, the inspector's live lookup: the standby, which has not replayed them
    assert console.reads.engine(Read.BROWSE) is console.reads.replica
    assert console.users.search(name).items == []
    assert console.sessions.for_user(user.id) == []
    assert console.sessions.recent(text=f"agent-{name}") == []
    assert console.live_state(user.id, None).exists is False
    # the preview before a confirm and the lookup an action resolves its user with: the primary
    preview = ACTIONS["revoke_tokens"].preview(console, user.id)
    assert preview.email == f"{name}@example.com" and preview.dry_run
    assert console.users.find(name).id == user.id
    assert console.users.get(user.id).username == name
    # replayed: the same browsing reads find it
    pair.resume_replay()
    pair.wait_caught_up()
    assert [u.id for u in console.users.search(name).items] == [user.id]
    assert len(console.sessions.for_user(user.id)) == 1
    assert console.live_state(user.id, None).exists is True


def test_the_attention_report_reads_the_replica(pair: ReplicaPair, cores) -> None:  # type: ignore[no-untyped-def]
    console = cores()
    ran: dict[str, int] = {"primary": 0, "replica": 0}
    for name, engine in (("primary", console.reads.primary), ("replica", console.reads.replica)):
        event.listen(engine, "before_cursor_execute", lambda *_a, n=name: ran.__setitem__(n, ran[n] + 1))
    console.attention()
    assert ran["replica"] > 0 and ran["primary"] == 0


def test_writes_go_to_the_primary_and_the_reads_after_them_see_them(pair: ReplicaPair, cores) -> None:  # type: ignore[no-untyped-def]
    setup = cores(replica=False)
    name = _name()
    user = setup.users.create(f"{name}@example.com", name)
    pair.wait_caught_up()
    console, other = cores(), cores()
    pair.pause_replay()
    # a write: the standby is read-only, so this succeeding proves it ran on the primary
    result = console.admin.revoke_tokens(user.id, "replica test")
    assert result.new_version == 1
    # this core wrote: its browsing reads (the re-read after an action) read the primary
    assert console.reads.engine(Read.BROWSE) is console.reads.primary
    assert console.users.search(name).items[0].token_version == 1
    assert [e.action for e in console.audit.activity(user.id)][:1] == ["revoke_tokens"]
    # another console, which wrote nothing, reads the standby: still the old version
    assert other.users.search(name).items[0].token_version == 0
    assert other.audit.activity(user.id) == []
    # after the stick window this core reads the standby again
    console.reads.stick_s = 0.2
    time.sleep(0.3)
    assert console.users.search(name).items[0].token_version == 0
    pair.resume_replay()
    pair.wait_caught_up()
    assert other.users.search(name).items[0].token_version == 1


def test_lag_is_measured_and_warned_past_the_bound(pair: ReplicaPair, config: Config, cores, capsys) -> None:  # type: ignore[no-untyped-def]
    config.replica_max_lag = timedelta(seconds=1)
    console, writer = cores(), cores(replica=False)
    st = console.replica_status()
    assert st is not None and st.caught_up and not st.warn and st.summary() == "caught up"
    time.sleep(1.5)  # an idle primary: the last replayed commit ages, the standby is not behind
    st = console.replica_status()
    assert st is not None and st.caught_up and st.lag_s == 0 and not st.warn
    pair.pause_replay()
    writer.users.create(f"{_name()}@example.com", _name())
    st = console.replica_status()
    assert st is not None and st.behind_bytes > 0 and st.paused and st.lag_basis == "observed"

    def past() -> bool:
        s = console.replica_status()
        return s is not None and s.warn

    _wait(past, 15)
    st = console.replica_status()
    assert st is not None and st.lag_s > 1 and "past the 1s bound" in st.summary()
    # db status shows it too (a one-shot process: its lag is the last replayed commit's age)
    code = main(["db", "status", "--json", "--db", pair.primary_url, "--read-db", pair.standby_url])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["replica"]["behind_bytes"] > 0 and doc["replica"]["paused"] is True
    pair.resume_replay()
    pair.wait_caught_up()
    st = console.replica_status()
    assert st is not None and st.caught_up and not st.warn
    assert main(["db", "status", "--db", pair.primary_url, "--read-db", pair.standby_url]) == 0
    out = capsys.readouterr().out
    assert "read replica: postgresql+psycopg://postgres@127.0.0.1:" in out and "caught up" in out


def test_a_replica_that_is_down_sends_reads_to_the_primary(pair: ReplicaPair, cores) -> None:  # type: ignore[no-untyped-def]
    setup = cores(replica=False)
    name = _name()
    user = setup.users.create(f"{name}@example.com", name)
    pair.wait_caught_up()
    console = cores()
    assert [u.id for u in console.users.search(name).items] == [user.id]
    pair.standby.stop()
    # the chosen behaviour: reads fall back to the primary, and it is said
    assert [u.id for u in console.users.search(name).items] == [user.id]
    assert console.reads.down and console.reads.engine(Read.BROWSE) is console.reads.primary
    assert console.sessions.recent(text=name) == []  # a listing answers too (from the primary)
    st = console.replica_status()
    assert st is not None and not st.up and st.warn
    assert st.summary().startswith("down (database unavailable") and "reads go to the primary" in st.summary()
    pair.standby.start()
    pair.wait_caught_up()
    st = console.replica_status()  # the probe finds it back: browsing reads return to it
    assert st is not None and st.up and not console.reads.down
    assert console.reads.engine(Read.BROWSE) is console.reads.replica


def test_a_silent_replica_counts_as_down_within_its_bound(pair: ReplicaPair, cores) -> None:  # type: ignore[no-untyped-def]
    setup = cores(replica=False)
    name = _name()
    user = setup.users.create(f"{name}@example.com", name)
    pair.wait_caught_up()
    console = cores()
    assert [u.id for u in console.users.search(name).items] == [user.id]  # a pooled standby connection
    pair.standby.freeze()  # accepts bytes, never answers
    try:
        # the search waits out the standby's bound once, then answers from the primary
        assert [u.id for u in console.users.search(name).items] == [user.id]
        assert console.reads.down and console.reads.engine(Read.BROWSE) is console.reads.primary
        assert [u.id for u in console.users.search(name).items] == [user.id]  # no second wait
        st = console.replica_status()  # the probe's own short deadline
        assert st is not None and not st.up and st.warn
    finally:
        pair.standby.thaw()
    pair.wait_caught_up()
    st = console.replica_status()
    assert st is not None and st.up and st.caught_up and not console.reads.down


async def test_header_shows_the_lag_and_warns_past_the_bound(
    pair: ReplicaPair, config: Config, cores
) -> None:  # type: ignore[no-untyped-def]
    config.replica_max_lag = timedelta(seconds=1)
    console, writer = cores(), cores(replica=False)
    app = make_app(console, replica_interval=0.2)
    async with app.run_test(size=(80, 24)) as pilot:  # an operator's smallest terminal
        await settle(pilot)

        async def until(text: str) -> str:
            t0 = time.monotonic()
            while text not in (header := text_of(app, "#console-header")):
                assert time.monotonic() - t0 < 20, f"header never said {text!r}: {header!r}"
                await pilot.pause(0.1)
            return header

        await until("replica ok")
        pair.pause_replay()
        writer.users.create(f"{_name()}@example.com", _name())
        header = await until("⚠ replica")
        assert "behind paused" in header
        pair.resume_replay()
        await until("replica ok")
