"""Readable sessions in the TUI (issue 16.3), on both engines: the user and sessions screens show
each session's device (parsed user agent) and, only with a GeoIP file configured, where its
address is; hostile user agents and ASN names render inert; a bad GeoIP file is one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import update

from authcore.config import Config, TokenSettings
from authcore.core import AuthCore
from authcore.models import sessions
from console.screens.sessions import SessionsScreen
from console.screens.user import UserScreen
from tests.conftest import TEST_SECRET
from tests.support.agents import IPHONE, WINDOWS
from tests.support.hostile import HOSTILE, assert_inert
from tests.support.mmdb import asn_db, city_db, write_mmdb
from tests.support.tui import make_app, rows, seed, settle, table, text_of, walk_texts


def located_core(core: AuthCore, tmp_path: Path, **files: Path) -> AuthCore:
    cfg = Config(tokens=TokenSettings(secret=TEST_SECRET), **files)
    return AuthCore(core.engine, cfg, actor="test-operator")


def with_devices(core: AuthCore) -> tuple[int, str, str]:
    """alice's seeded sessions plus two with known user agents (one at a located address); the
    parse cache emptied, so the screens paint first and parse after (``DevicesParsed``)."""
    from authcore import useragent

    useragent.cache_clear()
    seed(core, 5)
    alice = core.users.find("alice").id
    phone, _ = core.sessions.create(alice, ip="203.0.113.50", user_agent=IPHONE)
    desk, _ = core.sessions.create(alice, ip="8.8.4.4", user_agent=WINDOWS)
    return alice, phone.public_id, desk.public_id


def headers(app, selector: str) -> list[str]:  # type: ignore[no-untyped-def]
    return [c.label.plain for c in table(app, selector).columns.values()]


def row_of(app, selector: str, key: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    t = table(app, selector)
    labels = headers(app, selector)
    i = t.get_row_index(key)
    return dict(zip(labels, rows(app, selector)[i], strict=True))


async def test_user_screen_devices_without_geoip_has_no_where_column(
    core: AuthCore, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, phone, desk = with_devices(core)
    late: list[set[str]] = []
    handler = UserScreen.on_devices_parsed

    def spy(self: UserScreen, message) -> None:  # type: ignore[no-untyped-def]
        late.append(set(message.devices))
        handler(self, message)

    monkeypatch.setattr(UserScreen, "on_devices_parsed", spy)
    app = make_app(core)
    async with app.run_test(size=(160, 40)) as pilot:
        app.open_user(alice)
        await settle(pilot)
        assert isinstance(app.screen, UserScreen)
        assert "where" not in headers(app, "#sessions") and "device" in headers(app, "#sessions")
        assert row_of(app, "#sessions", phone)["device"] == "Mobile Safari 17 · iOS 17.1 · iPhone"
        assert row_of(app, "#sessions", desk)["device"] == "Chrome 120 · Windows 10"
        assert late and {phone, desk} <= late[0], "new user agents came after the page, parsed"
        t = table(app, "#sessions")
        t.move_cursor(row=t.get_row_index(phone))
        await pilot.pause()
        pane = text_of(app, "#session-detail")
        assert "browser Mobile Safari 17 · os iOS 17.1 · device iPhone · " + IPHONE[:40] in pane
        assert "where" not in pane


async def test_user_screen_with_geoip_shows_where(core: AuthCore, tmp_path: Path) -> None:
    alice, phone, desk = with_devices(core)
    located = located_core(core, tmp_path, geoip_db=city_db(tmp_path), geoip_asn_db=asn_db(tmp_path))
    app = make_app(located)
    async with app.run_test(size=(160, 40)) as pilot:
        app.open_user(alice)
        await settle(pilot)
        assert headers(app, "#sessions")[:4] == ["state", "public id", "ip", "where"]
        assert row_of(app, "#sessions", phone)["where"] == "DE AS64500"
        assert row_of(app, "#sessions", desk)["where"] == "-"  # not in the file
        t = table(app, "#sessions")
        t.move_cursor(row=t.get_row_index(phone))
        await pilot.pause()
        assert "where DE AS64500 Example Telecom AG" in text_of(app, "#session-detail")
        t.move_cursor(row=t.get_row_index(desk))
        await pilot.pause()
        assert "where unknown" in text_of(app, "#session-detail")


async def test_sessions_screen_devices_and_where(core: AuthCore, tmp_path: Path) -> None:
    _alice, phone, _desk = with_devices(core)
    for geo in (False, True):
        c = located_core(core, tmp_path, geoip_db=city_db(tmp_path)) if geo else core
        app = make_app(c)
        async with app.run_test(size=(160, 40)) as pilot:
            await settle(pilot)
            app.goto("sessions")
            await settle(pilot)
            assert isinstance(app.screen, SessionsScreen)
            assert ("where" in headers(app, "#sessions-all")) is geo
            row = row_of(app, "#sessions-all", phone)
            assert row["device"] == "Mobile Safari 17 · iOS 17.1 · iPhone"
            if geo:
                assert row["where"] == "DE"  # the city file alone: no ASN
            t = table(app, "#sessions-all")
            t.move_cursor(row=t.get_row_index(phone))
            await pilot.pause()
            pane = text_of(app, "#session-detail")
            assert "device iPhone" in pane and ("where DE" in pane) is geo


async def test_an_unknown_user_agent_shows_as_sent(core: AuthCore) -> None:
    seed(core, 2)
    bob = core.users.find("bob").id
    s, _ = core.sessions.create(bob, ip="192.0.2.1", user_agent="in-house sync agent")
    app = make_app(core)
    async with app.run_test(size=(160, 40)) as pilot:
        app.open_user(bob)
        await settle(pilot)
        assert row_of(app, "#sessions", s.public_id)["device"] == "in-house sync agent"


async def test_hostile_user_agents_and_asn_names_render_inert(core: AuthCore, tmp_path: Path) -> None:
    """Markup, escapes, bidi and 10,000-character user agents (stored by another writer) and an
    MMDB file whose ASN names are hostile: every cell and the detail pane show them literally."""
    bob = core.users.create("victim@example.com", "victim").id
    evil_org = "[@click=app.quit]Evil[/] \x1b]52;c;QQ==\x07AS \u202eorg" + "x" * 500
    db = write_mmdb(
        tmp_path / "evil.mmdb",
        {"192.0.2.0/24": {"country": {"iso_code": "[b"}, "asn": "AS64511", "as_name": evil_org}},
    )
    ids = []
    for i, ua in enumerate(
        [*HOSTILE, "Mozilla/5.0 [@click=app.quit]x[/] (iPhone; CPU iPhone OS 17_1 like Mac OS X)"]
    ):
        s, _ = core.sessions.create(bob, ip=f"192.0.2.{i + 1}", user_agent="placeholder")
        with core.engine.begin() as conn:
            conn.execute(
                update(sessions)
                .where(sessions.c.public_id == s.public_id)
                .values(user_agent=ua.replace("\x00", ""))
            )
        ids.append(s.public_id)
    app = make_app(located_core(core, tmp_path, geoip_db=db))
    async with app.run_test(size=(120, 40)) as pilot:
        app.open_user(bob)
        await settle(pilot)
        assert isinstance(app.screen, UserScreen), "a markup user agent quit the app or broke the screen"
        got = rows(app, "#sessions")
        assert len(got) == len(ids)
        assert all(r[3] == "AS64511" for r in got), "a bad country code is unknown, the ASN stays"
        t = table(app, "#sessions")
        for sid in ids:
            t.move_cursor(row=t.get_row_index(sid))
            await pilot.pause()
            pane = text_of(app, "#session-detail")
            assert "[@click=app.quit]Evil[/]" in pane, "the ASN name is shown literally"
            for text in walk_texts(app):
                assert_inert(text)
        assert any("[@click=app.quit]" in r[-1] or "[link=" in r[-1] for r in got), (
            "markup shown, not applied"
        )
        assert app.is_running


async def test_a_bad_geoip_file_is_one_line_and_the_screen_stays(core: AuthCore, tmp_path: Path) -> None:
    seed(core, 2)
    bad = tmp_path / "GeoLite2-City.mmdb"
    bad.write_bytes(b"not an mmdb")
    app = make_app(located_core(core, tmp_path, geoip_db=bad))
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        app.goto("sessions")
        line = f"config: geoip_db {bad} is not a MaxMind DB (mmdb) file"
        said = ""
        for _ in range(200):  # not settle(): waiting on a failing worker re-raises its error
            await pilot.pause(0.05)
            said = " ".join(walk_texts(app)) + " ".join(n.message for n in app._notifications)
            if line in said:
                break
        assert line in said
        assert isinstance(app.screen, SessionsScreen) and app.is_running


def test_the_console_refuses_a_bad_geoip_file_at_start(db_url: str, tmp_path: Path, write_config) -> None:  # type: ignore[no-untyped-def]
    """``run_tui`` builds the core through ``Connect``: the GeoIP file is opened there, so the
    console ends at start with the config's one line (exit 3), as for a bad key file."""
    from authcore.errors import ConfigError
    from console.cli import Ctx, parse
    from console.connect import Connect

    write_config(f'geoip_db = "{tmp_path / "missing.mmdb"}"\n')
    ctx = Ctx(parse(["--db", db_url]))
    connect = Connect.from_ctx(ctx)
    assert connect.located
    with pytest.raises(ConfigError, match=r"^config: geoip_db .*missing\.mmdb: No such file or directory$"):
        connect.build()
    ctx.close()
