"""``sessions list`` and ``users show`` with readable sessions (issue 16.3), on both engines: the
``agent`` object always, the ``location`` key only with a GeoIP file; the text table's DEVICE
and WHERE columns cleaned; a bad GeoIP file is one stderr line and exit 3, nothing on stdout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import update

from console.cli import main
from console.exitcodes import Exit
from tests.support.agents import IPHONE
from tests.support.hostile import FORBIDDEN
from tests.support.mmdb import asn_db, city_db


def run(capsys, *argv: str) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def demo_db(db_url, capsys):  # type: ignore[no-untyped-def]
    code, _out, err = run(capsys, "--db", db_url, "demo", "--users", "10")
    assert code == 0, err
    from authcore.core import AuthCore
    from authcore.db import make_engine

    engine = make_engine(db_url)
    core = AuthCore(engine)
    core.sessions.create(core.users.find("bob").id, ip="203.0.113.77", user_agent=IPHONE)
    engine.dispose()
    return db_url


def use_geoip(hermetic_env: Path, *lines: str) -> None:
    """Top-level keys go before the demo's [tokens] table."""
    cfg = hermetic_env / "config.toml"
    cfg.write_text("\n".join(lines) + "\n" + cfg.read_text())


def bobs(out: str) -> list[dict]:  # type: ignore[type-arg]
    return [s for s in json.loads(out)["sessions"] if s["last_ip"] == "203.0.113.77"]


def test_json_without_geoip_has_agent_and_no_location_key(demo_db, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run(capsys, "--db", demo_db, "sessions", "list", "--json", "--limit", "1000")
    assert code == 0, err
    sessions = json.loads(out)["sessions"]
    assert sessions and all("location" not in s and "agent" in s for s in sessions)
    (bob,) = bobs(out)
    assert bob["agent"] == {"browser": "Mobile Safari 17", "os": "iOS 17.1", "device": "iPhone"}
    assert bob["user_agent"] == IPHONE
    code, out, _ = run(capsys, "--db", demo_db, "users", "show", "bob", "--json")
    assert code == 0 and all("location" not in s for s in json.loads(out)["sessions"])
    assert bobs(out)[0]["agent"]["device"] == "iPhone"


def test_json_with_geoip_has_location(demo_db, capsys, hermetic_env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    use_geoip(hermetic_env, f'geoip_db = "{city_db(tmp_path)}"', f'geoip_asn_db = "{asn_db(tmp_path)}"')
    code, out, err = run(capsys, "--db", demo_db, "sessions", "list", "--json", "--limit", "1000")
    assert code == 0, err
    sessions = json.loads(out)["sessions"]
    assert all("location" in s for s in sessions)
    (bob,) = bobs(out)
    assert bob["location"] == {"country": "DE", "asn": 64500, "asn_org": "Example Telecom AG"}
    assert any(s["location"] is None for s in sessions), "demo addresses outside the file: null"
    code, out, _ = run(capsys, "--db", demo_db, "sessions", "list", "bob", "--json")
    assert code == 0 and bobs(out)[0]["location"]["country"] == "DE"
    code, out, _ = run(capsys, "--db", demo_db, "users", "show", "bob", "--json")
    assert code == 0 and bobs(out)[0]["location"]["asn"] == 64500


def test_text_table_device_and_where(demo_db, capsys, hermetic_env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run(capsys, "--db", demo_db, "sessions", "list", "bob")
    assert code == 0
    head = out.splitlines()[0].split()
    assert head[-1] == "DEVICE" and "WHERE" not in head
    assert "Mobile Safari 17 · iOS 17.1 · iPhone" in out
    use_geoip(hermetic_env, f'geoip_db = "{city_db(tmp_path)}"', f'geoip_asn_db = "{asn_db(tmp_path)}"')
    code, out, _ = run(capsys, "--db", demo_db, "users", "show", "bob")
    assert code == 0 and "WHERE" in out and "DE AS64500 Example Telecom AG" in out


def test_hostile_user_agent_is_cleaned_in_text_and_escaped_in_json(demo_db, capsys) -> None:  # type: ignore[no-untyped-def]
    from authcore.db import make_engine
    from authcore.models import sessions

    engine = make_engine(demo_db)
    evil = (
        "\x1b]52;c;QQ==\x07[@click=app.quit]x[/] \u202eMozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X)"
    )
    with engine.begin() as conn:
        conn.execute(update(sessions).where(sessions.c.last_ip == "203.0.113.77").values(user_agent=evil))
    engine.dispose()
    code, out, _ = run(capsys, "--db", demo_db, "sessions", "list", "bob")
    assert code == 0
    assert not [ch for ch in out.replace("\n", "") if ch in FORBIDDEN]
    code, out, _ = run(capsys, "--db", demo_db, "sessions", "list", "bob", "--json")
    assert code == 0 and out.isascii() and "\\u001b" in out
    assert bobs(out)[0]["user_agent"] == evil


@pytest.mark.parametrize(
    "argv", [["sessions", "list"], ["sessions", "list", "bob", "--json"], ["users", "show", "bob"]]
)
@pytest.mark.parametrize("bad", ["missing", "garbage", "directory"])
def test_bad_geoip_file_is_one_line_exit_3(demo_db, capsys, hermetic_env, tmp_path, argv, bad) -> None:  # type: ignore[no-untyped-def]
    path = {"missing": tmp_path / "nope.mmdb", "garbage": tmp_path / "g.mmdb", "directory": tmp_path}[bad]
    if bad == "garbage":
        path.write_bytes(b"\x00" * 100)
    use_geoip(hermetic_env, f'geoip_db = "{path}"')
    code, out, err = run(capsys, "--db", demo_db, *argv)
    assert code == Exit.CONFIG
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    assert "geoip_db" in lines[0] and str(path) in lines[0]


def test_other_commands_do_not_open_the_geoip_file(demo_db, capsys, hermetic_env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    use_geoip(hermetic_env, f'geoip_db = "{tmp_path / "not-yet-downloaded.mmdb"}"')
    code, out, err = run(capsys, "--db", demo_db, "users", "search", "bob", "--json")
    assert code == 0, err
