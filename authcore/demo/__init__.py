"""Realistic, deterministic demo data, inserted in bulk.

Modules: ``people`` (names, domains, agents and the named users alice, bob and carol),
``generate`` (users and sessions as tuples in the database's storage form, from a seeded
``random.Random``), ``load`` (``seed``: batched ``executemany``/binary ``COPY`` through
authcore's connection; ``present``), ``indexes`` (into empty tables: the secondary indexes
dropped before the load and built after it, from the catalog's own definitions).
"""

from authcore.demo.generate import SESSION_COLS, SESSIONS_PER_USER, USER_COLS, generate_batch, named_session
from authcore.demo.indexes import FTS_INSERT_TRIGGER, PG_BUILD_MEM
from authcore.demo.load import (
    BATCH,
    PG_SESSION_TYPES,
    PG_USER_TYPES,
    SQLITE_BULK_CACHE_KIB,
    BulkWriter,
    DemoSummary,
    Progress,
    _insert_sql,
    present,
    seed,
)
from authcore.demo.people import AGENTS, DOMAINS, FIRST, LAST, NAMED_EMAILS, named_users

__all__ = [
    "AGENTS",
    "BATCH",
    "DOMAINS",
    "FIRST",
    "FTS_INSERT_TRIGGER",
    "LAST",
    "NAMED_EMAILS",
    "PG_BUILD_MEM",
    "PG_SESSION_TYPES",
    "PG_USER_TYPES",
    "SESSIONS_PER_USER",
    "SESSION_COLS",
    "SQLITE_BULK_CACHE_KIB",
    "USER_COLS",
    "BulkWriter",
    "DemoSummary",
    "Progress",
    "_insert_sql",
    "generate_batch",
    "named_session",
    "named_users",
    "present",
    "seed",
]
