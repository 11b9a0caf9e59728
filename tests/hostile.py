"""Moved to ``tests.support.hostile``; this re-export keeps tests written on branches in flight
importing (``from tests.hostile import HOSTILE``). New tests import from ``tests.support``."""

from tests.support.hostile import FORBIDDEN, HOSTILE, assert_inert, seed_hostile

__all__ = ["FORBIDDEN", "HOSTILE", "assert_inert", "seed_hostile"]
