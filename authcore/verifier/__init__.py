"""``Verifier``: strict access-token checks from an in-memory cache of revocation state.

Each app process creates one ``Verifier`` and keeps it for its lifetime (one built before a fork,
e.g. gunicorn ``--preload``, restarts itself in the child: see ``Verifier._after_fork``)::

    core = AuthCore.from_config(load_config(), app=True)
    verifier = Verifier(core)                       # starts a background thread
    claims = verifier.verify_access(access_token)   # signature + claims + revocation, no query
    verifier.close()                                 # or ``with Verifier(core) as verifier:``

The cache holds, per user, ``token_version``, the disabled flag and the sessions seen live, plus a
bounded set of sessions known to be deleted. A cache hit costs no database query; a miss loads the
user (and the token's session) with one query. It stays current by LISTEN on PostgreSQL and by
polling on SQLite, and answers from the cache only within its staleness bound.

Modules: ``service`` (the ``Verifier`` facade: lifecycle, fork safety, verification paths, stats),
``cache`` (the in-memory state), ``listen`` (PostgreSQL LISTEN, heartbeat, resync), ``poll``
(SQLite). Measuring propagation (probes, child-process verifier nodes) is test and bench tooling:
``bench/propagation.py``.
"""

from authcore.verifier.listen import libpq_url
from authcore.verifier.service import (
    DEFAULT_APP_NAME,
    StalePolicy,
    Verifier,
    VerifierStale,
    VerifierStats,
)
from authcore.verifier.updates import AppliedUpdate

__all__ = [
    "DEFAULT_APP_NAME",
    "AppliedUpdate",
    "StalePolicy",
    "Verifier",
    "VerifierStale",
    "VerifierStats",
    "libpq_url",
]
