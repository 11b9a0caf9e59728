"""Issue 12.7: ``audit verify --expect-head SEQ:HASH`` pins the chain to a head kept elsewhere.

A chain rewritten consistently (an event edited, every later hash and the anchor recomputed)
passes the plain walk; it must fail against a head recorded before the rewrite.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from sqlalchemy import select, update

from authcore import audit
from authcore.core import AuthCore
from authcore.errors import ValidationError
from authcore.models import audit_events, audit_head
from console.cli import main
from tests.support.audit import rewrite_event
from tests.support.pg import bypass_audit_trigger


def _cli(capsys, *argv: str) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def chain(core: AuthCore) -> AuthCore:
    u = core.users.create("alice@example.com", "alice")
    for i in range(5):
        core.admin.revoke_tokens(u.id, f"rotation {i}")
    return core


def _head(db_url: str, capsys) -> str:  # type: ignore[no-untyped-def]
    code, out, _ = _cli(capsys, "--db", db_url, "audit", "list", "--limit", "1", "--json")
    ev = json.loads(out)["events"][0]
    return f"{ev['seq']}:{ev['hash']}"


def test_list_json_has_seq_hash_prev_hash(chain: AuthCore, db_url: str, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = _cli(capsys, "--db", db_url, "audit", "list", "--json")
    events = json.loads(out)["events"]
    assert code == 0 and len(events) == 5
    by_seq = {e["seq"]: e for e in events}
    for seq in range(2, 6):
        assert by_seq[seq]["prev_hash"] == by_seq[seq - 1]["hash"]
    assert all(len(e["hash"]) == 64 for e in events)


def test_rewritten_chain_passes_plain_verify_but_not_expect_head(
    chain: AuthCore, db_url: str, capsys, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    old_head = _head(db_url, capsys)
    code, out, _ = _cli(capsys, "--db", db_url, "audit", "verify", "--expect-head", old_head)
    assert code == 0 and old_head in out and "1 expected head(s) found" in out
    mid = f"3:{audit.verify_chain(chain.engine).head_hash}"  # wrong hash for seq 3
    rewrite_event(chain, 2, "nothing to see here")
    assert audit.verify_chain(chain.engine).ok  # the plain walk is fooled
    code, out, err = _cli(capsys, "--db", db_url, "audit", "verify")
    assert code == 0
    code, out, err = _cli(capsys, "--db", db_url, "audit", "verify", "--expect-head", old_head)
    assert code == 1 and out.count("\n") == 1 and not err
    assert "expected head 5:" in out and "not in the chain" in out
    # several heads, from a file, with comments; the first missing one is reported
    f = tmp_path / "heads.txt"
    f.write_text(f"# shipped to the SIEM\n{old_head}\n\n{mid}  # another\n")
    code, out, _ = _cli(capsys, "--db", db_url, "audit", "verify", "--expect-head-file", str(f))
    assert code == 1 and "not in the chain" in out
    code, out, _ = _cli(capsys, "--db", db_url, "audit", "verify", "--json", "--expect-head", old_head)
    rep = json.loads(out)
    assert code == 1 and rep["ok"] is False and rep["first_bad_seq"] == 5


def test_expect_head_beyond_a_truncated_chain(chain: AuthCore) -> None:
    rep = audit.verify_chain(chain.engine)
    head = audit.ExpectedHead(rep.head_seq, rep.head_hash)
    # Drop the newest two events and re-anchor: the walk passes, the recorded head is gone.
    with chain.engine.begin() as conn:
        bypass_audit_trigger(conn)
        conn.execute(audit_events.delete().where(audit_events.c.seq > 3))
        h3 = conn.execute(select(audit_events.c.hash).where(audit_events.c.seq == 3)).scalar_one()
        conn.execute(update(audit_head).where(audit_head.c.id == 1).values(seq=3, hash=h3))
    assert audit.verify_chain(chain.engine).ok
    rep = audit.verify_chain(chain.engine, expect=[head])
    assert not rep.ok and "seq 5 is not in the chain" in rep.problem
    # an older recorded head is still there
    assert audit.verify_chain(chain.engine, expect=[audit.ExpectedHead(3, h3)]).heads_checked == 1


def test_bad_heads_are_one_line_usage_errors(chain: AuthCore, db_url: str, capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    empty = tmp_path / "empty"
    empty.write_text("# nothing\n")
    bad_line = tmp_path / "bad"
    bad_line.write_text("1:" + "a" * 64 + "\nnot-a-head\n")
    for argv in (
        ["--expect-head", "5"],
        ["--expect-head", "0:" + "a" * 64],
        ["--expect-head", "5:" + "g" * 64],
        ["--expect-head-file", str(fifo)],
        ["--expect-head-file", str(tmp_path / "missing")],
        ["--expect-head-file", str(empty)],
        ["--expect-head-file", str(bad_line)],
        ["--expect-head-file", "/dev/zero"],
        ["--expect-head-file", str(tmp_path)],
    ):
        code, out, err = _cli(capsys, "--db", db_url, "audit", "verify", *argv)
        assert code == 2 and err.count("\n") == 1 and not out, (argv, err)
    code, out, err = _cli(capsys, "--db", db_url, "audit", "verify", "--expect-head-file", str(bad_line))
    assert "line 2" in err
    with pytest.raises(ValidationError):
        audit.parse_head("\xff:" + "a" * 64)
