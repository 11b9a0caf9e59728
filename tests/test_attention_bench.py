"""bench/attention.py runs end to end on small seeded databases of both engines: one row per
signal and engine, none an error (so every statement's plan named its index), the GeoIP file it
writes places the seed's public networks (the new-place row reads located sessions). No timing
is asserted: ``python -m bench`` judges those."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from authcore import demo, migrate
from authcore.db import make_engine
from authcore.demo.people import PUBLIC_NETS
from authcore.geoip import GeoIP
from bench import attention as bench_attention
from bench.context import Ctx
from bench.datasets import Dataset
from tests.conftest import temp_pg_database
from tests.support.attention import user_events_spread

SIZES = (3000, 600)


def _seed(url: str, n: int) -> None:
    """The demo seed plus user events (the bench datasets of a fleet that runs have them; an
    empty ``user_events`` is rightly scanned, not read by index, on PostgreSQL)."""
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
        # indexes grown row by row, as a live database's: at 3,000 users, indexes built after the
        # load (compact) make "session_burst times" a cost tie that PostgreSQL settles on
        # ix_sessions_created (a 240-entry window scanned vs 3 probes); from 30k users on, the
        # plan names ix_sessions_user_created either way
        demo.seed(engine, n, rng_seed=11, defer_indexes=False)
    finally:
        engine.dispose()
    user_events_spread(url, n, 2000)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[tuple[str, int], Dataset]]:
    out: dict[tuple[str, int], Dataset] = {}
    d = tmp_path_factory.mktemp("attention-bench")
    for n in SIZES:
        url = f"sqlite:///{d / f'{n}.db'}"
        _seed(url, n)
        out[("sqlite", n)] = Dataset("sqlite", n, url)
    with temp_pg_database("authcore_attb_big") as big, temp_pg_database("authcore_attb_small") as small:
        for n, url in zip(SIZES, (big, small), strict=True):
            _seed(url, n)
            with make_engine(url, isolation_level="AUTOCOMMIT").connect() as conn:
                conn.execute(text("VACUUM (ANALYZE) users, sessions, user_events"))
            out[("postgresql", n)] = Dataset("postgresql", n, url)
        yield out


def test_one_row_per_signal_and_engine_none_an_error(data: dict[tuple[str, int], Dataset]) -> None:
    ctx = Ctx(quick=True, engines=["sqlite", "postgresql"], big=SIZES[0], small=SIZES[1], data=data)
    try:
        bench_attention.run(ctx)
    finally:
        ctx.close()
    rows = ctx.table.rows
    assert len(rows) == 8
    assert [r.error for r in rows] == [None] * 8, [r.error for r in rows]
    for engine in ("sqlite", "postgresql"):
        mine = [r for r in rows if f"({engine})" in r.figure]
        assert [r.figure.split(" ")[0] for r in mine] == [
            "refresh_reuse",
            "disabled_sessions",
            "session_burst",
            "new_place",
        ]
        assert all(r.value > 0 and r.baseline > 0 for r in mine)
        place = mine[3]
        assert "0 findings" not in place.note, place.note  # the written file placed the seed
        # PostgreSQL rows carry the churn state the section started on (docs/performance.md)
        churn = [("dead rows at start, autovacuum" in r.note) for r in mine]
        assert churn == [engine == "postgresql"] * 4, [r.note for r in mine]


def test_a_signal_whose_statement_fails_is_that_rows_error(
    data: dict[tuple[str, int], Dataset], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A statement timeout in one signal (what a table full of dead entries caused in a full
    run) errors that signal's row, with the churn state; the other signals are still measured."""
    from authcore.attention import Attention
    from authcore.errors import DatabaseUnavailable

    def timed_out(*_a: object, **_k: object) -> object:
        raise DatabaseUnavailable("canceling statement due to statement timeout")

    monkeypatch.setattr(Attention, "session_burst", timed_out)
    ctx = Ctx(quick=True, engines=["postgresql"], big=SIZES[0], small=SIZES[1], data=data)
    try:
        bench_attention.run(ctx)
    finally:
        ctx.close()
    errors = {r.figure.split(" ")[0]: r.error for r in ctx.table.rows}
    assert list(errors) == ["refresh_reuse", "disabled_sessions", "session_burst", "new_place"]
    burst = errors.pop("session_burst")
    assert burst is not None and "statement timeout" in burst and "dead rows at start" in burst
    assert list(errors.values()) == [None] * 3


def test_the_geoip_file_places_every_public_network(tmp_path: Path) -> None:
    geoip = GeoIP.open(bench_attention.geoip_file(tmp_path))
    try:
        places = [geoip.lookup(f"{net}.1.2.3") for net in PUBLIC_NETS]
        assert all(p is not None and p.country and p.asn for p in places)
        assert len({p.asn for p in places if p}) == len(PUBLIC_NETS)
        assert geoip.lookup("10.1.2.3") is None  # the seed's private addresses stay unplaced
    finally:
        geoip.close()
