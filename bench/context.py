"""What every benchmark gets: the run's settings, seeded databases, cores and raw connections."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.datasets import Dataset
from bench.harness import Row, Table

SECRET = "bench-secret-" + "b" * 40


@dataclass
class Ctx:
    quick: bool
    engines: list[str]
    big: int
    small: int
    data: dict[tuple[str, int], Dataset]
    table: Table = field(default_factory=Table)
    _cores: dict[tuple[str, int], Any] = field(default_factory=dict)

    def has(self, engine: str, n: int | None = None) -> bool:
        return (engine, n or self.big) in self.data

    def url(self, engine: str, n: int | None = None) -> str:
        return self.data[(engine, n or self.big)].url

    def core(self, engine: str, n: int | None = None) -> Any:
        """One ``AuthCore`` per database, HS256 with a fixed secret, unrestricted actor."""
        key = (engine, n or self.big)
        if key not in self._cores:
            self._cores[key] = make_core(self.url(*key))
        return self._cores[key]

    def add(self, row: Row) -> Row:
        self.table.add(row)
        mark = row.verdict
        print(f"  {mark:5} {row.section}: {row.figure}  ratio {row.ratio:.2f}x", flush=True)
        return row

    def close(self) -> None:
        for core in self._cores.values():
            core.dispose()


def make_core(url: str, algorithm: str = "HS256", private_key_file: Any = None) -> Any:
    from authcore.config import Config, TokenSettings
    from authcore.core import AuthCore
    from authcore.db import make_engine

    ts = TokenSettings(secret=SECRET, algorithm=algorithm, private_key_file=private_key_file)
    # fast_paths: the default apps run, named here because it is what every row measures (an
    # engine listener, e.g. measure_propagation's commit timing, never switches it off)
    return AuthCore(make_engine(url), Config(tokens=ts), actor="bench", fast_paths=True)


def raw_connect(url: str) -> Any:
    """A raw driver connection set up like authcore's (SQLite pragmas; PostgreSQL autocommit)."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1]
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        for pragma in (
            "busy_timeout = 30000",
            "journal_mode = WAL",
            "foreign_keys = ON",
            "synchronous = NORMAL",
        ):
            conn.execute(f"PRAGMA {pragma}")
        return conn
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(url)
    return psycopg.connect(
        host=u.host,
        port=u.port or 5432,
        user=u.username,
        password=u.password,
        dbname=u.database,
        autocommit=True,
    )


def checkpointer(*raws: Any, frames: dict[str, list[int]] | None = None) -> Callable[[str | None], None]:
    """SQLite WAL checkpoints through the ``raw_connect`` connections ``raws``, for
    ``harness.interleave``'s ``after``: the pages a sample wrote are written back in that
    sample's time. Left to the autocheckpoint (the commit that takes the WAL past 1,000 pages
    pays ~4 ms), it fell in about every other sample of whichever side crossed the mark, and a
    write row's median flipped between two values. A WAL with nothing new costs next to
    nothing, so a sample of the other side (or of another file) pays no one else's pages.
    ``frames`` collects, per side, the frames the first connection's WAL held after each of its
    samples (the warm-up's are not kept)."""

    def checkpoint(side: str | None) -> None:
        for i, raw in enumerate(raws):
            n = int(raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1])
            if frames is not None and i == 0 and side is not None:
                frames.setdefault(side, []).append(n)

    return checkpoint
