"""Apply and report the shipped Alembic migrations."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from authcore.db import translate_errors, unbounded

if TYPE_CHECKING:  # alembic is imported when a migration runs, not with authcore
    from alembic.config import Config as AlembicConfig

MIGRATIONS = Path(__file__).parent / "migrations"


def _alembic_config() -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


@dataclass
class Status:
    current: str | None
    head: str
    pending: list[str]

    @property
    def up_to_date(self) -> bool:
        return not self.pending


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config()).get_current_head() or ""


def status(engine: Engine) -> Status:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_alembic_config())
    with translate_errors(engine), engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    head = script.get_current_head() or ""
    pending = [r.revision for r in script.iterate_revisions(head, current)] if current != head else []
    return Status(current=current, head=head, pending=list(reversed(pending)))


def upgrade(engine: Engine, target: str = "head") -> Status:
    """Bring the schema to ``target`` in one transaction per migration run."""
    from alembic import command

    cfg = _alembic_config()
    # DDL on a big table (an index build) may take longer than statement_timeout: lifted for
    # this transaction alone (lock_timeout stays: a migration queued behind a busy table's locks
    # would stall every query queued behind it).
    with translate_errors(engine), unbounded(), engine.connect() as conn:
        conn = conn.execution_options(authcore_write=True)
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, target)
    return status(engine)
