"""Helpers the tests share: plain modules, not tests and not fixtures (those are in
``tests/conftest.py``, which re-exports these names for older imports).

- ``hostile``: hostile strings and the "nothing terminal-active" assertion;
- ``pg``: PostgreSQL databases of a test run's own, and the audit-trigger bypass;
- ``processes``: what a fresh interpreter loads;
- ``tui``: the console app with test timings, settling, and readers for what is on screen;
- ``verifier_node.py``: a verifier process for the multi-process tests (a script).
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository
