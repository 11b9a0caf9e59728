"""Hostile strings shared by the hardening, CLI and console tests."""

from __future__ import annotations

HOSTILE = [
    "[link=https://evil.example]click[/link]",
    "[@click=app.quit]quit[/]",
    "[/",
    "[b]bold[/b] [red]red",
    "\x1b]52;c;cm0gLXJmIH4=\x07osc52",
    "\x1b[2J\x1b[Hclear",
    "c1\x9b31mcsi\x85nel",
    "bidi\u202eevil\u202c",
    "zero\u200bwidth\u2060join\ufeff",
    "nul\x00byte",
    "A" * 10_000,
]

# Characters that must never reach a terminal.
FORBIDDEN = (
    [chr(c) for c in range(0x20)]
    + [chr(c) for c in range(0x7F, 0xA0)]
    + ["\u202e", "\u202c", "\u200b", "\u2060", "\ufeff", "\u2066", "\u2069"]
)


def assert_inert(text: str) -> None:
    """No control, C1, bidi or zero-width character (newlines between lines are allowed)."""
    for line in text.split("\n"):
        bad = [hex(ord(ch)) for ch in line if ch in FORBIDDEN]
        assert not bad, f"terminal-active characters {bad[:5]} in {line[:80]!r}"


def seed_hostile(core) -> list[int]:  # type: ignore[no-untyped-def]
    """One user per hostile string (in email local part, username, name and session UA)."""
    from sqlalchemy import insert

    from authcore.models import sessions, users
    from authcore.sessions import new_public_id, token_digest
    from authcore.timeutil import utcnow

    now = utcnow()
    ids = []
    with core.engine.begin() as conn:
        for i, s in enumerate(HOSTILE):
            s_db = s.replace("\x00", "")  # PostgreSQL text cannot hold NUL
            uid = conn.execute(
                insert(users).returning(users.c.id),
                {
                    "email": f"h{i}.{s_db[:200]}@example.com",
                    "username": f"h{i}{s_db[:50]}",
                    "display_name": s_db[:200],
                    "created_at": now,
                    "disabled": False,
                    "token_version": 0,
                },
            ).scalar_one()
            conn.execute(
                insert(sessions),
                {
                    "public_id": new_public_id(),
                    "token_hash": token_digest(f"t{i}"),
                    "user_id": uid,
                    "created_at": now,
                    "last_seen_at": now,
                    "expires_at": now.replace(year=now.year + 1),
                    "first_ip": "192.0.2.1",
                    "last_ip": "192.0.2.1",
                    "user_agent": s_db,
                },
            )
            ids.append(uid)
    return ids
