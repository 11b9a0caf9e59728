"""A streaming replica for the read-routing tests: our own primary (``bench.faultkit.OwnPostgres``
with ``wal_level=replica`` and a ``pg_hba`` replication line) and a hot standby made from it with
``pg_basebackup -R``, each on a free port, run as ``postgres`` (never the shared server on 5432).
Both are stopped by the PID in their ``postmaster.pid``.

``replica_pair`` is the module-scoped fixture; ``ReplicaPair.db`` is an authcore database (made on
the primary, replicated to the standby): ``primary_url`` / ``standby_url`` name it on each.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from authcore import migrate
from authcore.db import make_engine
from bench.faultkit import PG_BIN, PRIMARY, OwnPostgres, unavailable_reason

DB = "replica_test"


class ReplicaPair:
    """Primary + hot standby (two ``OwnPostgres`` in one directory), and the authcore database
    ``DB`` on both."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="authcore-replica-"))
        self.primary = OwnPostgres(root=self.root, name="primary", settings=PRIMARY, start=False)
        with (self.primary.data / "pg_hba.conf").open("a") as f:
            f.write("host replication postgres 127.0.0.1/32 trust\n")
        self.primary.start()
        admin = make_engine(self.primary.url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{DB}"'))
        admin.dispose()
        eng = make_engine(self.primary_url)
        migrate.upgrade(eng)
        eng.dispose()
        self.standby = OwnPostgres(root=self.root, name="standby", settings=PRIMARY, create=False)
        self.standby.as_postgres(
            [
                str(PG_BIN / "pg_basebackup"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.primary.port),
                "-U",
                "postgres",
                "-D",
                str(self.standby.data),
                "-R",
                "-X",
                "stream",
                "--checkpoint=fast",  # the default spreads the checkpoint over minutes
                "--no-sync",
            ],
            timeout=120,
        )
        self.standby.start()
        self.wait_caught_up()

    @property
    def primary_url(self) -> str:
        return self.primary.db_url(DB)

    @property
    def standby_url(self) -> str:
        return self.standby.db_url(DB)

    def _scalar(self, url: str, sql: str) -> object:
        eng = make_engine(url, isolation_level="AUTOCOMMIT")
        try:
            with eng.connect() as conn:
                return conn.exec_driver_sql(sql).scalar()
        finally:
            eng.dispose()

    def wait_caught_up(self, timeout: float = 30) -> None:
        """Until the standby has replayed everything the primary wrote so far."""
        target = self._scalar(self.primary.url, "SELECT pg_current_wal_lsn()::text")
        t0 = time.monotonic()
        while True:
            done = self._scalar(
                self.standby.url,
                f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn",
            )
            if done:
                return
            assert time.monotonic() - t0 < timeout, "standby did not catch up"
            time.sleep(0.05)

    def pause_replay(self, timeout: float = 10) -> None:
        """``pg_wal_replay_pause()`` on the standby; returns once replay is paused."""
        self._scalar(self.standby.url, "SELECT pg_wal_replay_pause()")
        t0 = time.monotonic()
        while self._scalar(self.standby.url, "SELECT pg_get_wal_replay_pause_state()") != "paused":
            # replay notices the request between records: give it one to notice
            self._scalar(self.primary.url, "SELECT txid_current()")
            assert time.monotonic() - t0 < timeout, "replay did not pause"
            time.sleep(0.05)

    def resume_replay(self) -> None:
        if self.standby.running():
            self._scalar(self.standby.url, "SELECT pg_wal_replay_resume()")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.resume_replay()
        self.standby.stop()
        self.primary.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def replica_pair() -> Iterator[ReplicaPair]:
    reason = unavailable_reason()
    if reason:
        pytest.skip(f"replica tests need their own PostgreSQL pair: {reason}")
    pair = ReplicaPair()
    try:
        yield pair
    finally:
        pair.close()
