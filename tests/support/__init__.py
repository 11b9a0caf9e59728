"""Helpers the tests share: plain modules, not tests and not fixtures (those are in
``tests/conftest.py``, which re-exports these names for older imports).

- ``hostile``: hostile strings and the "nothing terminal-active" assertion;
- ``pg``: PostgreSQL databases of a test run's own, and the audit-trigger bypass;
- ``processes``: what a fresh interpreter loads, and authcore's modules;
- ``audit``: the chain rewritten as an attacker with every write right would;
- ``roles``: PostgreSQL roles of a run's own (``cluster``, ``owner`` fixtures), the CLI as a process;
- ``tui``: the console app with test timings, settling, and readers for what is on screen;
- ``verifier_node.py``: a verifier process for the multi-process tests (a script).
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository
TEST_SECRET = "test-secret-" + "s" * 40  # the HS secret of the tests' Config
