"""Hypothesis: random search text and random command lines never raise and change nothing."""

from __future__ import annotations

import io
import sys

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from authcore.core import AuthCore
from authcore.errors import ValidationError
from authcore.models import audit_events, audit_head, sessions, users
from console.cli import main

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _state(core: AuthCore) -> tuple:
    with core.engine.connect() as c:
        return (
            tuple(
                c.execute(
                    select(
                        func.count(),
                        func.sum(users.c.token_version),
                        func.sum(users.c.disabled.cast(users.c.token_version.type)),
                    )
                ).one()
            ),
            c.execute(select(func.count()).select_from(sessions)).scalar_one(),
            c.execute(select(func.count()).select_from(audit_events)).scalar_one(),
            c.execute(select(audit_head.c.hash)).scalar_one(),
        )


def _seed(core: AuthCore) -> None:
    for name in ("alice", "bob", "carol"):
        u = core.users.create(f"{name}@example.com", name, name.title())
        core.sessions.create(u.id, ip="192.0.2.1", user_agent="UA")


@FUZZ
@given(q=st.text(max_size=400))
def test_search_random_text(core: AuthCore, q: str) -> None:
    if not hasattr(core, "_fuzz_seeded"):
        _seed(core)
        core._fuzz_seeded = _state(core)  # type: ignore[attr-defined]
    try:
        page = core.users.search(q, limit=20)
        assert len(page.items) <= 20
    except ValidationError:
        assert len(q.strip()) > 300
    assert _state(core) == core._fuzz_seeded  # type: ignore[attr-defined]


WORDS = [
    "users",
    "search",
    "show",
    "disable",
    "enable",
    "sessions",
    "list",
    "prune",
    "revoke",
    "audit",
    "verify",
    "db",
    "status",
    "upgrade",
    "demo",
    "tokens",
    "decode",
    "relay",  # never relays here: --bus is never a nats:// URL, so it exits 1 at once
    "--bus",
    "--stream",
    "--json",
    "--limit",
    "--after",
    "--reason",
    "--yes",
    "--dry-run",
    "--all-tokens",
    "--sessions",
    "--session",
    "--query",
    "--confirm-count",
    "--active",
    "--filter",
    "--user",
    "--action",
    "--users",
    "--no-db",
    "--read-db",
    "attention",
    "--since",
    "24h",
    "31d",
    "-",
    # audit list filters/formats, audit tail (never -f: it follows until stopped; the tail
    # parser takes no abbreviation, so no fuzzed prefix reaches --follow) and verify --file
    "tail",
    "--from-seq",
    "--state",
    "--out",
    "--poll",
    "--format",
    "jsonl",
    "csv",
    "--since",
    "--until",
    "--actor",
    "--file",
    "1h",
    "2026-12-01",
    "alice",
    "bob",
    "1",
    "0",
    "-1",
    "99999999999999999999",
    "ses_x",
    "@example.com",
    "--help",
]
ARG = st.one_of(st.sampled_from(WORDS), st.text(max_size=40))


@FUZZ
@given(argv=st.lists(ARG, max_size=8))
def test_cli_random_argv(core: AuthCore, db_url: str, argv: list[str], capsys, monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)  # a fuzzed `audit tail --state NAME` writes its state here
    if not hasattr(core, "_fuzz_seeded"):
        _seed(core)
        core._fuzz_seeded = _state(core)  # type: ignore[attr-defined]
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    argv = [a.replace("\x00", "") for a in argv]
    code = main(["--db", db_url, "--read-only", *argv])
    out, err = capsys.readouterr()
    # 4: refused by --read-only; 3: --read-db naming no PostgreSQL standby (a config error)
    assert isinstance(code, int) and code in ((0, 1, 2, 3, 4) if "--read-db" in argv else (0, 1, 2, 4))
    assert "Traceback" not in err and "internal error" not in err
    assert err.count("\n") <= 1
    assert _state(core) == core._fuzz_seeded  # type: ignore[attr-defined]
