"""``authconsole attention``: JSON and table output of the findings with the command that fits
each; a bad ``--since`` or ``--limit`` is one line and a defined exit code, never a traceback;
read-only and viewers may run it (it changes nothing). Both engines."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from authcore.core import AuthCore
from authcore.timeutil import utcnow
from console.cli import main
from console.exitcodes import Exit
from tests.support.attention import add_reuse, add_session


def _run(capsys, *argv: str) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def flagged(core: AuthCore) -> dict[str, int]:
    now = utcnow()
    reused = core.users.create("reused@example.com", "reused")
    old = core.users.create("old@example.com", "old")
    gone = core.users.create("gone@example.com", "gone")
    add_reuse(core, reused.id, now - timedelta(hours=2), "ses_abc")
    add_reuse(core, old.id, now - timedelta(hours=30))  # outside 24h, inside 2d
    core.admin.set_disabled(gone.id, True, "test")
    add_session(core, gone.id, now - timedelta(hours=1))
    return {"reused": reused.id, "old": old.id, "gone": gone.id}


def test_json(core: AuthCore, db_url: str, flagged: dict[str, int], capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, err = _run(capsys, "attention", "--db", db_url, "--json")
    assert code == 0 and err == ""
    data = json.loads(out)
    got = {(f["signal"], f["user_id"]): f for f in data["findings"]}
    assert set(got) == {("refresh_reuse", flagged["reused"]), ("disabled_sessions", flagged["gone"])}
    reuse = got[("refresh_reuse", flagged["reused"])]
    assert reuse["action"] == "revoke_tokens" and reuse["session"] == "ses_abc"
    assert reuse["command"] == f"authconsole revoke {flagged['reused']} --all-tokens"
    gone = got[("disabled_sessions", flagged["gone"])]
    assert gone["command"] == f"authconsole revoke {flagged['gone']} --sessions" and gone["count"] == 1
    place = next(s for s in data["signals"] if s["signal"] == "new_place")
    assert place["available"] is False and "geoip_db" in place["note"]
    code, out, _ = _run(capsys, "attention", "--db", db_url, "--json", "--since", "2d")
    assert {f["user_id"] for f in json.loads(out)["findings"]} == set(flagged.values())


def test_table(core: AuthCore, db_url: str, flagged: dict[str, int], capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, err = _run(capsys, "attention", "--db", db_url, "--since", "90m")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["SIGNAL", "USER", "ID"]
    assert [ln.split()[0] for ln in lines[1:] if not ln.startswith("note:")] == ["disabled_sessions"]
    assert "gone@example.com" in out and f"authconsole revoke {flagged['gone']} --sessions" in out
    assert "reused@example.com" not in out  # 2 h ago: outside 90m
    assert "note: new_place (session from a new country or network): not checked: no GeoIP" in out


def test_nothing(db_url: str, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = _run(capsys, "attention", "--db", db_url, "--read-only")
    assert code == 0 and out.splitlines()[0] == "nothing needs attention"


@pytest.mark.parametrize(
    ("argv", "exit", "fragment"),
    [
        (["--since", "yesterday"], Exit.USAGE, "argument --since: not a positive duration"),
        (["--since", "0"], Exit.USAGE, "argument --since: not a positive duration"),
        (["--since", "-5h"], Exit.USAGE, "argument --since"),
        (["--since"], Exit.USAGE, "argument --since: expected one argument"),
        (["--since", "31d"], Exit.FAILED, "since must be positive and at most 30 d"),
        (["--limit", "many"], Exit.USAGE, "argument --limit: the limit must be an integer 1..1000"),
        (["--limit", "0"], Exit.USAGE, "argument --limit: the limit must be an integer 1..1000"),
    ],
)
def test_bad_arguments_one_line(db_url: str, argv: list[str], exit: Exit, fragment: str, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, err = _run(capsys, "attention", "--db", db_url, *argv)
    assert code == exit and fragment in err, err
    assert out == "" and err.count("\n") == 1 and "Traceback" not in err
    code, out, err = _run(capsys, "attention", "--db", db_url, "--json", *argv)
    assert code == exit and out == "" and json.loads(err)["exit"] == int(exit)
