"""Counting the statements a test's own thread sends, whichever path they take.

Fast paths run on driver connections (``authcore.fastpath``), where engine event listeners do
not see them; ``fastpath.tracing`` does. With fast paths off they run through SQLAlchemy, where
both see them. ``Statements`` merges the two, each statement counted once.
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from typing import Any, Self

from sqlalchemy import event

from authcore import fastpath

SKIP = ("BEGIN", "COMMIT", "PRAGMA", "select pg_", "SELECT 1")  # BEGIN may carry SET LOCALs


class Statements:
    """``with Statements(engine) as q: ...; q.n, q.seen``: the SQL the calling thread ran
    (background threads ignored), without ``SKIP``-prefixed housekeeping."""

    def __init__(self, engine: Any, skip: tuple[str, ...] = SKIP) -> None:
        self.engine = engine
        self.skip = skip
        self.me = threading.get_ident()
        self._listened: list[str] = []
        self._traced: list[tuple[str, Any]] = []
        self._stack = contextlib.ExitStack()

    def _count(self, conn: Any, cursor: Any, statement: str, *a: Any) -> None:
        if threading.get_ident() == self.me:
            self._listened.append(statement)

    def __enter__(self) -> Self:
        event.listen(self.engine, "before_cursor_execute", self._count)
        self._stack.callback(event.remove, self.engine, "before_cursor_execute", self._count)
        self._traced = self._stack.enter_context(fastpath.tracing())
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    @property
    def seen(self) -> list[str]:
        traced = [sql for sql, _ in self._traced]
        also = Counter(traced)  # run through SQLAlchemy too (fast paths off): once
        out = []
        for sql in self._listened:
            if also[sql]:
                also[sql] -= 1
            else:
                out.append(sql)
        return [s for s in out + traced if not s.startswith(self.skip)]

    @property
    def n(self) -> int:
        return len(self.seen)

    def clear(self) -> None:
        self._listened.clear()
        self._traced.clear()
