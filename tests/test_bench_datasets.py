"""bench/datasets.py: a dataset seeded at an older schema revision is copied (or, ``--in-place``,
renamed) and brought to head by the migrations instead of being seeded again (the users it holds
are the same ones), and a seeded dataset at head is reused as it is. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from authcore import demo, migrate
from authcore.db import make_engine
from bench import datasets
from tests.support.pg import PG_ENV, admin_url

N = 37  # a size no real bench uses: names of its own
OLD = "0006"


def _count(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM users")).scalar_one())
    finally:
        engine.dispose()


def _at(url: str) -> str | None:
    engine = make_engine(url)
    try:
        return migrate.status(engine).current
    finally:
        engine.dispose()


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AUTHCONSOLE_BENCH_CACHE", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize("in_place", [False, True], ids=["copy", "in-place"])
def test_sqlite_older_seed_is_upgraded_not_reseeded(cache: Path, in_place: bool) -> None:
    old = cache / f"bench_{N}_v{datasets.DATA_VERSION}_r{OLD}.db"
    engine = make_engine(f"sqlite:///{old}")
    try:
        migrate.upgrade(engine, OLD)
        demo.seed(engine, N, rng_seed=datasets.SEED)
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        engine.dispose()
    old.with_suffix(".done").write_text("{}")
    users = _count(f"sqlite:///{old}")

    ds = datasets.sqlite_dataset(N, in_place)
    assert ds.seed_seconds is None  # not seeded
    assert _at(ds.url) == migrate.head_revision() and _count(ds.url) == users
    marker = json.loads(Path(ds.url.removeprefix("sqlite:///")).with_suffix(".done").read_text())
    if in_place:  # the older one became this one (no second copy on disk)
        assert marker["moved_from"] == old.name
        assert not old.exists() and not old.with_suffix(".done").exists()
    else:
        assert marker["upgraded_from"] == old.name
        assert _at(f"sqlite:///{old}") == OLD  # the older one is left as it was
    assert datasets.sqlite_dataset(N).url == ds.url  # and the new one is reused


@pytest.fixture
def pg_admin(monkeypatch: pytest.MonkeyPatch, cache: Path) -> Iterator[str]:
    admin = admin_url()
    if admin is None:
        pytest.skip(f"{PG_ENV} is not set")
    monkeypatch.setenv("AUTHCONSOLE_BENCH_PG", admin)  # lock files go to ``cache``, not the real one
    stem = f"bench_{N}_v{datasets.DATA_VERSION}_r"
    yield admin
    eng = make_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        with eng.connect() as conn:
            names = conn.execute(
                text("SELECT datname FROM pg_database WHERE starts_with(datname, :s)"), {"s": stem}
            ).scalars()
            for name in list(names):
                conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    finally:
        eng.dispose()


@pytest.mark.parametrize("in_place", [False, True], ids=["copy", "in-place"])
def test_postgresql_older_seed_is_upgraded_not_reseeded(pg_admin: str, in_place: bool) -> None:
    name = f"bench_{N}_v{datasets.DATA_VERSION}_r{OLD}"
    old_url = pg_admin.rsplit("/", 1)[0] + "/" + name
    eng = make_engine(pg_admin, isolation_level="AUTOCOMMIT")
    try:
        with eng.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine = make_engine(old_url)
        try:
            migrate.upgrade(engine, OLD)
            demo.seed(engine, N, rng_seed=datasets.SEED)
        finally:
            engine.dispose()
        with eng.connect() as conn:
            conn.execute(text(f"COMMENT ON DATABASE \"{name}\" IS 'authconsole-bench seeded users={N}'"))
    finally:
        eng.dispose()
    users = _count(old_url)

    ds = datasets.pg_dataset(N, in_place)
    assert ds is not None and ds.seed_seconds is None
    assert _at(ds.url) == migrate.head_revision() and _count(ds.url) == users
    eng = make_engine(pg_admin, isolation_level="AUTOCOMMIT")
    try:
        with eng.connect() as conn:
            names = set(conn.execute(text("SELECT datname FROM pg_database")).scalars())
    finally:
        eng.dispose()
    if in_place:  # renamed, not copied
        assert name not in names
    else:
        assert name in names and _at(old_url) == OLD
    again = datasets.pg_dataset(N)
    assert again is not None and again.url == ds.url


def _waits_for_the_holder(
    capsys: pytest.CaptureFixture[str],
    get: Callable[[], datasets.Dataset | None],
    untouched: Callable[[], bool],
) -> threading.Thread:
    """Start ``get`` in a thread while this test holds the dataset's turn; return once it says it is
    waiting, having checked that it left the unmarked dataset alone meanwhile."""
    got: list[datasets.Dataset | None] = []
    t = threading.Thread(target=lambda: got.append(get()), daemon=True)
    t.start()
    deadline = time.monotonic() + 20
    while "waiting: another process is preparing" not in capsys.readouterr().out:
        assert time.monotonic() < deadline, "the second process did not wait for the first"
        assert t.is_alive(), f"the second process did not wait: {got}"
        time.sleep(0.02)
    assert untouched(), "the second process touched the first one's unmarked dataset"
    t.result = got  # type: ignore[attr-defined]
    return t


def test_sqlite_a_second_process_waits_for_a_seed_in_progress(
    cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = cache / f"bench_{N}_v{datasets.DATA_VERSION}_r{migrate.head_revision()}.db"
    with datasets._turn_for("sqlite", N):  # this test is the first process, mid-seed
        path.write_bytes(b"half a seed")
        t = _waits_for_the_holder(
            capsys, lambda: datasets.sqlite_dataset(N), lambda: path.read_bytes() == b"half a seed"
        )
        path.unlink()
        first = datasets._sqlite_dataset(N)  # the first process finishes its seed
    t.join(60)
    (second,) = t.result  # type: ignore[attr-defined]
    assert first.seed_seconds is not None
    assert second is not None and second.url == first.url and second.seed_seconds is None  # reused


def test_postgresql_a_second_process_waits_for_a_seed_in_progress(
    pg_admin: str, capsys: pytest.CaptureFixture[str]
) -> None:
    name = f"bench_{N}_v{datasets.DATA_VERSION}_r{migrate.head_revision()}"
    eng = make_engine(pg_admin, isolation_level="AUTOCOMMIT")

    def half_seeded() -> bool:
        with eng.connect() as conn:
            return (
                conn.execute(
                    text("SELECT count(*) FROM pg_database WHERE datname = :n"), {"n": name}
                ).scalar_one()
                == 1
            )

    try:
        with datasets._turn_for("postgresql", N):
            with eng.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                conn.execute(text(f'CREATE DATABASE "{name}"'))  # unmarked: a seed in progress
            t = _waits_for_the_holder(capsys, lambda: datasets.pg_dataset(N), half_seeded)
            first = datasets._pg_dataset(N, pg_admin)
        t.join(120)
    finally:
        eng.dispose()
    (second,) = t.result  # type: ignore[attr-defined]
    assert first.seed_seconds is not None
    assert second is not None and second.url == first.url and second.seed_seconds is None
