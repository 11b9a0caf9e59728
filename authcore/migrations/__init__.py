"""Alembic migrations shipped with authcore (applied by ``authcore.migrate.upgrade``)."""
