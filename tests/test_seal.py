"""Sealed checkpoints: a consistently rewritten chain passes ``audit verify`` and fails
``audit verify --seals`` (both engines, through the real CLI)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from authcore import seal as sealing
from authcore.core import AuthCore
from authcore.errors import ValidationError
from console.cli import main
from tests.support.audit import rewrite_event


def _cli(capsys, *argv: str) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    key = tmp_path / "seal.key"
    pub = sealing.generate_key(key)
    assert (key.stat().st_mode & 0o777) == 0o600
    return key, pub


def test_rewritten_chain_passes_plain_verify_and_fails_seals(
    core: AuthCore, db_url: str, capsys, keys, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    key, pub = keys
    seals = tmp_path / "seals.jsonl"
    u = core.users.create("alice@example.com", "alice")
    for i in range(3):
        core.admin.revoke_tokens(u.id, f"r{i}")
    code, out, err = _cli(capsys, "--db", db_url, "audit", "seal", "--key", str(key), "--out", str(seals))
    assert code == 0 and "sealed head 3:" in out, err
    core.admin.revoke_tokens(u.id, "after the seal")
    code, out, _ = _cli(capsys, "--db", db_url, "audit", "seal", "--key", str(key), "--json")
    printed = json.loads(out)
    assert code == 0 and printed["seq"] == 4 and not printed["out"]
    code, out, _ = _cli(
        capsys, "--db", db_url, "audit", "verify", "--seals", str(seals), "--pubkey", str(pub)
    )
    assert code == 0 and "1 seal(s) verified, newest seq 3" in out
    # a rewrite after the sealed head is not covered by it; one before it is found
    rewrite_event(core, 2, "nothing to see here")
    code, out, _ = _cli(capsys, "--db", db_url, "audit", "verify")
    assert code == 0 and "intact" in out  # the plain walk is fooled
    code, out, err = _cli(
        capsys, "--db", db_url, "audit", "verify", "--seals", str(seals), "--pubkey", str(pub)
    )
    assert code == 1 and "SEAL CHECK FAILED" in out and "3:" in out and not err
    assert out.count("\n") == 1


def test_forged_or_foreign_seal_fails(core: AuthCore, db_url: str, capsys, keys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    key, pub = keys
    u = core.users.create("bob@example.com", "bob")
    core.admin.revoke_tokens(u.id, "r")
    seals = tmp_path / "seals.jsonl"
    assert _cli(capsys, "--db", db_url, "audit", "seal", "--key", str(key), "--out", str(seals))[0] == 0
    line = json.loads(seals.read_text())
    line["hash"] = "f" * 64  # a seal edited to match a rewritten chain
    forged = tmp_path / "forged.jsonl"
    forged.write_text(json.dumps(line) + "\n")
    code, out, _ = _cli(
        capsys, "--db", db_url, "audit", "verify", "--seals", str(forged), "--pubkey", str(pub)
    )
    assert code == 1 and "bad signature" in out
    other_pub = sealing.generate_key(tmp_path / "other.key")
    code, out, _ = _cli(
        capsys, "--db", db_url, "audit", "verify", "--seals", str(seals), "--pubkey", str(other_pub)
    )
    assert code == 1 and "not this public key" in out


def test_bad_inputs_are_one_line_and_change_nothing(
    core: AuthCore, db_url: str, capsys, keys, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    key, pub = keys
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text("{not json\n")
    loose = tmp_path / "loose.key"
    loose.write_bytes(key.read_bytes())
    os.chmod(loose, 0o644)
    pub600 = tmp_path / "pub600.pem"
    pub600.write_bytes(pub.read_bytes())
    os.chmod(pub600, 0o600)
    cases = [
        (["audit", "seal", "--key", str(loose)], "chmod 600"),
        (["audit", "seal", "--key", str(pub600)], "private key"),
        (["audit", "seal", "--key", str(tmp_path / "missing")], "cannot read"),
        (["audit", "seal", "--key", str(key)], "empty"),  # nothing to seal yet
        (["audit", "verify", "--seals", str(empty), "--pubkey", str(pub)], "no seal"),
        (["audit", "verify", "--seals", str(garbage), "--pubkey", str(pub)], "line 1"),
        (["audit", "verify", "--seals", str(empty)], "go together"),
        (["audit", "verify", "--seals", "/dev/zero", "--pubkey", str(pub)], "regular file"),
        (["audit", "verify", "--seals", str(garbage), "--pubkey", str(key)], "line 1"),
        (["audit", "seal-key", "--out", str(key)], "never overwritten"),
    ]
    for argv, want in cases:
        code, out, err = _cli(capsys, "--db", db_url, *argv)
        assert code in (1, 2) and want in err and len(err.strip().splitlines()) == 1, (argv, err)
        assert "Traceback" not in err
    with pytest.raises(ValidationError):
        sealing.parse_seals('{"v": 2, "seq": 1}')


def test_a_broken_chain_is_never_sealed(core: AuthCore, db_url: str, capsys, keys) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    from tests.conftest import bypass_audit_trigger

    key, _pub = keys
    u = core.users.create("c@example.com", "c")
    core.admin.revoke_tokens(u.id, "r")
    with core.engine.begin() as c:
        bypass_audit_trigger(c)
        c.execute(text("UPDATE audit_events SET reason = 'edited' WHERE seq = 1"))
    code, _out, err = _cli(capsys, "--db", db_url, "audit", "seal", "--key", str(key))
    assert code == 1 and "broken, not sealing" in err


async def test_audit_screen_shows_the_newest_verified_seal_and_a_rewrite(
    core: AuthCore, keys, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from tests.support.tui import make_app, settle, text_of

    key, pub = keys
    seals = tmp_path / "seals.jsonl"
    u = core.users.create("screen@example.com", "screen")
    core.admin.revoke_tokens(u.id, "r1")
    core.admin.revoke_tokens(u.id, "r2")
    sealing.append_seal(seals, sealing.seal_chain(core.engine, sealing.load_private_key(key)))
    core.config.seals_file, core.config.seals_pubkey = seals, pub

    async def chain() -> str:
        app = make_app(core)
        async with app.run_test(size=(120, 24)) as pilot:
            app.goto("audit")
            await settle(pilot)
            return text_of(app, "#chain")

    got = await chain()
    assert "hash chain intact" in got and "sealed: seq 2 at" in got, got
    rewrite_event(core, 1, "nothing happened")
    got = await chain()
    assert "HASH CHAIN BROKEN" in got and "not in the chain" in got, got
    core.config.seals_pubkey = sealing.generate_key(tmp_path / "other.key")
    got = await chain()
    assert "SEALS FAILED" in got and "not this public key" in got, got
