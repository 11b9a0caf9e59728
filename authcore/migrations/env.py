"""Alembic environment: always runs on a connection handed over by ``authcore.migrate``."""

from __future__ import annotations

from alembic import context

from authcore.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only authcore.migrate drives this env
    raise RuntimeError("run migrations through `authconsole db upgrade`")

context.configure(
    connection=connection, target_metadata=Base.metadata, render_as_batch=connection.dialect.name == "sqlite"
)
with context.begin_transaction():
    context.run_migrations()
