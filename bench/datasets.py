"""Seeded benchmark databases, cached between runs and keyed by size and schema revision.

SQLite files live under ``$AUTHCONSOLE_BENCH_CACHE`` (default ``~/.cache/authconsole-bench``);
PostgreSQL databases are named ``bench_<size>_r<revision>`` next to the admin URL's database
(``$AUTHCONSOLE_BENCH_PG``, else ``$AUTHCORE_TEST_PG_URL``). A database counts as seeded only
once a marker says so (a ``.done`` file / a database comment), so an interrupted seed is redone.
Two bench processes asking for the same dataset take turns (a lock file per dataset in the cache
directory): the second waits for the first's seed instead of taking its unmarked database for an
interrupted one and dropping it midway.

A new migration does not mean a new seed: when only an older revision's dataset of the same size
and data version exists, it is copied (a file copy; ``CREATE DATABASE ... TEMPLATE``) and the copy
is brought to head by ``migrate.upgrade`` -- what an operator's own database goes through, in
seconds for an index, instead of minutes of seeding. The marker says which revision it came from.
A copy needs the dataset's size again on disk (~25 GB per engine at 10M): ``--in-place`` renames
the older dataset instead and upgrades that (the older revision is then gone; unmarked until the
upgrade is done, so an interrupted one is seeded again).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# Bump when the generator or the seeded content changes.
DATA_VERSION = 1
SEED = 42
LONG_DDL_S = 1800.0


def label(n: int) -> str:
    if n % 1_000_000 == 0:
        return f"{n // 1_000_000}m"
    if n % 1000 == 0:
        return f"{n // 1000}k"
    return str(n)


def cache_dir() -> Path:
    d = Path(
        os.environ.get("AUTHCONSOLE_BENCH_CACHE", Path.home() / ".cache" / "authconsole-bench")
    ).expanduser()
    d.mkdir(parents=True, exist_ok=True)
    return d


def pg_admin_url() -> str | None:
    url = os.environ.get("AUTHCONSOLE_BENCH_PG") or os.environ.get("AUTHCORE_TEST_PG_URL")
    if url and url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


@contextlib.contextmanager
def _turn(name: str) -> Iterator[None]:
    """Hold this dataset's lock file (``flock``: released by the kernel if the holder dies, so a
    killed seed never leaves it taken) while it is checked, seeded or upgraded."""
    with open(cache_dir() / f"{name}.lock", "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"  waiting: another process is preparing {name}", flush=True)
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _turn_for(engine: str, n: int) -> contextlib.AbstractContextManager[None]:
    return _turn(f"{engine}_bench_{label(n)}_v{DATA_VERSION}_r{_revision()}")


def _revision() -> str:
    from authcore import migrate

    return migrate.head_revision()


@dataclass(frozen=True)
class Dataset:
    engine: str  # "sqlite" | "postgresql"
    users: int
    url: str
    seed_seconds: float | None = None  # set when this run seeded it


def _progress(tag: str):  # type: ignore[no-untyped-def]
    start = time.perf_counter()

    def report(done: int, total: int, sessions: int) -> None:
        el = time.perf_counter() - start
        print(
            f"\r  seeding {tag}: {done:,}/{total:,} users, {sessions:,} sessions, {el:.0f}s",
            end="" if done < total else "\n",
            flush=True,
        )

    return report


def sqlite_dataset(n: int, in_place: bool = False) -> Dataset:
    with _turn_for("sqlite", n):
        return _sqlite_dataset(n, in_place)


def _sqlite_dataset(n: int, in_place: bool = False) -> Dataset:
    from authcore import demo, migrate
    from authcore.db import make_engine

    stem = f"bench_{label(n)}_v{DATA_VERSION}_r"
    path = cache_dir() / f"{stem}{_revision()}.db"
    marker = path.with_suffix(".done")
    url = f"sqlite:///{path}"
    if marker.exists() and path.exists():
        return Dataset("sqlite", n, url)
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    older = sorted(
        (m.with_suffix(".db") for m in cache_dir().glob(f"{stem}*.done") if m.with_suffix(".db").exists()),
        reverse=True,
    )
    t = time.perf_counter()
    info: dict[str, object] = {"users": n}
    if older and in_place:  # the older revision becomes this one: no second copy on disk
        older[0].with_suffix(".done").unlink()
        older[0].rename(path)
        info["moved_from"] = older[0].name
    elif older:
        shutil.copyfile(older[0], path)  # checkpointed (TRUNCATE) when it was made
        info["upgraded_from"] = older[0].name
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
        if not older:
            demo.seed(engine, n, rng_seed=SEED, progress=_progress(f"sqlite {label(n)}"))
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        engine.dispose()
    took = time.perf_counter() - t
    marker.write_text(json.dumps({**info, "seconds": round(took, 1)}))
    return Dataset("sqlite", n, url, None if older else took)


def pg_dataset(n: int, in_place: bool = False) -> Dataset | None:
    admin = pg_admin_url()
    if not admin:
        return None
    with _turn_for("postgresql", n):
        return _pg_dataset(n, admin, in_place)


def _pg_dataset(n: int, admin: str, in_place: bool = False) -> Dataset:
    from sqlalchemy import text

    from authcore import demo, migrate
    from authcore.db import make_engine

    rev = _revision()
    stem = f"bench_{label(n)}_v{DATA_VERSION}_r"
    name = f"{stem}{rev}"
    url = admin.rsplit("/", 1)[0] + "/" + name
    done = f"authconsole-bench seeded users={n}"
    # CREATE DATABASE ... TEMPLATE and VACUUM of a 1M seed take a minute or more on a busy
    # machine: past authcore's statement bound, so a bound of their own (an interrupted seed is
    # redone: the marker comes last)
    eng = make_engine(admin, isolation_level="AUTOCOMMIT", statement_timeout=LONG_DDL_S)
    try:
        with eng.connect() as conn:
            seeded = {
                r[0]: r[1]
                for r in conn.execute(
                    text(
                        "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database "
                        "WHERE starts_with(datname, :stem)"
                    ),
                    {"stem": stem},
                )
            }
            if seeded.get(name) == done:
                return Dataset("postgresql", n, url)
            if name in seeded:
                conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            older = sorted((d for d, c in seeded.items() if d != name and c == done), reverse=True)
            if older and in_place:  # the older seed itself, unmarked until at head below
                conn.execute(text(f'ALTER DATABASE "{older[0]}" RENAME TO "{name}"'))
                conn.execute(text(f'COMMENT ON DATABASE "{name}" IS NULL'))
            elif older:  # a copy of the newest older seed, brought to head below
                conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{older[0]}"'))
            else:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine = make_engine(url)
        t = time.perf_counter()
        try:
            migrate.upgrade(engine)
            if not older:
                demo.seed(engine, n, rng_seed=SEED, progress=_progress(f"postgresql {label(n)}"))
        finally:
            engine.dispose()
        took = time.perf_counter() - t
        # hint bits + visibility map
        vac = make_engine(url, isolation_level="AUTOCOMMIT", statement_timeout=LONG_DDL_S)
        try:
            with vac.connect() as conn:
                conn.execute(text("VACUUM (ANALYZE) users, sessions"))
        finally:
            vac.dispose()
        with eng.connect() as conn:
            conn.execute(text(f"COMMENT ON DATABASE \"{name}\" IS '{done}'"))
        return Dataset("postgresql", n, url, None if older else took)
    finally:
        eng.dispose()


def datasets(sizes: list[int], engines: list[str]) -> dict[tuple[str, int], Dataset]:
    out: dict[tuple[str, int], Dataset] = {}
    for n in sizes:
        if "sqlite" in engines:
            out[("sqlite", n)] = sqlite_dataset(n)
        if "postgresql" in engines:
            ds = pg_dataset(n)
            if ds is not None:
                out[("postgresql", n)] = ds
    return out


if __name__ == "__main__":  # seed ahead of time: python -m bench.datasets 1000000 10000
    import sys

    args = sys.argv[1:]
    move = args[:1] == ["--in-place"]
    sizes = args[1:] if move else args
    if not sizes or not all(a.isdigit() and int(a) > 0 for a in sizes):
        print(
            "usage: python -m bench.datasets [--in-place] SIZE [SIZE ...]  (user counts, e.g. "
            "1000000 10000; --in-place: bring an older revision's dataset to head itself, no copy)",
            file=sys.stderr,
        )
        raise SystemExit(2)
    for arg in sizes:
        n = int(arg)
        for ds in (sqlite_dataset(n, move), pg_dataset(n, move)):
            if ds is not None:
                print(ds)
