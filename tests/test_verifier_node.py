"""Issue 11/12.3: a ``VerifierNode`` verifies with its core's keys and keeps the URL off argv."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from authcore.config import Config, TokenSettings
from authcore.core import AuthCore
from authcore.db import make_engine
from bench.propagation import VerifierNode
from tests.conftest import TEST_SECRET

NODE = Path(__file__).parent / "support" / "verifier_node.py"
PW = "NodePassw0rd"


def _with_password(url: str) -> str:
    # The shared PostgreSQL trusts loopback: a password is accepted and ignored.
    return url.replace("postgres@", f"postgres:{PW}@") if url.startswith("postgresql") else url


@pytest.mark.parametrize("script", [None, NODE], ids=["module", "script"])
def test_node_uses_the_core_keys_whatever_the_env(db_url: str, script, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """``python -m bench`` with AUTHCORE_SECRET set failed: the parent signed with the
    environment's secret, the child verified with another. Here the parent's environment
    and the child's disagree on purpose; the child must follow the core."""
    monkeypatch.setenv("AUTHCORE_SECRET", "parent-env-secret-" + "p" * 40)
    url = _with_password(db_url)
    core = AuthCore(
        make_engine(url), Config(tokens=TokenSettings(secret=TEST_SECRET, issuer="iss-x")), actor="t"
    )
    try:
        uid = core.users.create("node@example.com", "node").id
        child_env = dict(os.environ, AUTHCORE_SECRET="child-env-secret-" + "c" * 40)
        with VerifierNode(core=core, env=child_env, script=script, staleness=1.0) as node:
            cmdline = Path(f"/proc/{node.proc.pid}/cmdline").read_bytes().decode()
            environ = Path(f"/proc/{node.proc.pid}/environ").read_bytes().decode()
            assert PW not in cmdline and PW not in environ
            assert url.split("://", 1)[1] not in cmdline  # no URL on argv at all
            token = core.tokens.issue_pair(uid).access_token
            reply = node.verify(token)
            assert reply["ok"] and reply["user_id"] == uid, reply
        assert node.proc.returncode == 0
    finally:
        core.dispose()


def test_node_from_a_url_keeps_it_off_argv(pg_url: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("AUTHCORE_SECRET", TEST_SECRET)
    url = _with_password(pg_url)
    with VerifierNode(url, script=NODE) as node:
        assert PW not in Path(f"/proc/{node.proc.pid}/cmdline").read_bytes().decode()
        assert node.hello["ready"]
