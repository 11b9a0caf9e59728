"""authcore.devices (``core.devices``): session records made readable, on both engines; the
geoip settings in the config; a bad file is one ConfigError line from the one door."""

from __future__ import annotations

from pathlib import Path

import pytest

from authcore.config import Config, TokenSettings, load_config
from authcore.core import AuthCore
from authcore.devices import Devices
from authcore.errors import ConfigError
from authcore.geoip import Location
from authcore.useragent import Agent
from tests.conftest import TEST_SECRET
from tests.support.agents import IPHONE, WINDOWS
from tests.support.mmdb import asn_db, city_db


def _core(engine, tmp_path: Path, *, geo: bool) -> AuthCore:  # type: ignore[no-untyped-def]
    cfg = Config(tokens=TokenSettings(secret=TEST_SECRET))
    if geo:
        cfg.geoip_db, cfg.geoip_asn_db = city_db(tmp_path), asn_db(tmp_path)
    return AuthCore(engine, cfg, actor="test-operator")


def test_sessions_get_agent_and_location(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    core = _core(engine, tmp_path, geo=True)
    u = core.users.create("geo@example.com", "geo")
    a, _ = core.sessions.create(u.id, ip="203.0.113.7", user_agent=IPHONE)
    b, _ = core.sessions.create(u.id, ip="8.8.8.8", user_agent=WINDOWS)
    c, _ = core.sessions.create(u.id)
    recs = core.sessions.for_user(u.id)
    devs = core.devices.describe(recs)
    assert core.devices.located
    assert devs[a.public_id].agent == Agent("Mobile Safari 17", "iOS 17.1", "iPhone")
    assert devs[a.public_id].location == Location("DE", 64500, "Example Telecom AG")
    assert devs[b.public_id].agent == Agent("Chrome 120", "Windows 10", None)
    assert devs[b.public_id].location is None  # not in the file
    assert devs[c.public_id].agent is None and devs[c.public_id].location is None
    by_id = {s.public_id: s for s in recs}
    d = core.devices.session_dict(by_id[a.public_id])
    assert d["agent"] == {"browser": "Mobile Safari 17", "os": "iOS 17.1", "device": "iPhone"}
    assert d["location"] == {"country": "DE", "asn": 64500, "asn_org": "Example Telecom AG"}
    assert d["user_agent"] == IPHONE and d["public_id"] == a.public_id
    none = core.devices.session_dict(by_id[c.public_id])
    assert none["agent"] is None and none["location"] is None


def test_without_a_geoip_file_there_is_no_location_key(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    core = _core(engine, tmp_path, geo=False)
    u = core.users.create("nogeo@example.com", "nogeo")
    s, _ = core.sessions.create(u.id, ip="203.0.113.7", user_agent=IPHONE)
    assert not core.devices.located
    assert core.devices.of(s).location is None
    d = core.devices.session_dict(core.sessions.for_user(u.id)[0])
    assert "location" not in d and d["agent"]["device"] == "iPhone"


def test_the_last_address_is_located(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from authcore.sessions import SessionRecord

    devices = Devices.from_config(Config(geoip_db=city_db(tmp_path)))
    now = datetime.now(UTC)
    moved = SessionRecord("ses_x", 1, now, now, now, "203.0.113.1", "2001:db8::9", None)
    assert devices.of(moved).location == Location("JP", None, None)
    first_only = SessionRecord("ses_y", 1, now, now, now, "203.0.113.1", None, None)
    assert devices.of(first_only).location == Location("DE", None, None)


@pytest.mark.parametrize("geo", [True, False])
def test_a_page_described_at_once_is_each_row_described_alone(geo: bool, tmp_path: Path) -> None:
    """``describe`` parses each distinct user agent and builds each (user agent, place) once
    for a page: what it gives every row is what ``of`` gives that row on its own."""
    from datetime import UTC, datetime

    from authcore import useragent
    from authcore.sessions import SessionRecord

    devices = Devices.from_config(Config(geoip_db=city_db(tmp_path)) if geo else Config())
    now = datetime.now(UTC)
    ips = ["203.0.113.1", "2001:db8::9", None, "8.8.8.8", "198.51.100.4"]
    agents = [IPHONE, WINDOWS, None, "", "curl/8.5.0"]
    page = [
        SessionRecord(f"ses_{i}", 1, now, now, now, ips[i % 5], ips[(i * 3) % 5], agents[(i * 7) % 5])
        for i in range(40)
    ]
    useragent.cache_clear()
    assert all(d.agent is None for d in devices.describe(page, cached_only=True).values() if d)
    described = devices.describe(page)
    assert described == {s.public_id: devices.of(s) for s in page}
    assert described == devices.describe(page, cached_only=True)  # all parsed by now
    if geo:
        assert {d.location for d in described.values()} >= {Location("JP", None, None), None}


def test_a_row_seen_before_is_served_built_and_the_built_ones_are_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A warm page is one lookup a row: no parse-cache or address-cache call. The built devices
    are bounded (oldest out; one out is rebuilt from the caches below) and closing forgets them
    with the file."""
    from datetime import UTC, datetime

    from authcore import devices as devices_mod
    from authcore import useragent
    from authcore.sessions import SessionRecord

    monkeypatch.setattr(devices_mod, "CACHE_SIZE", 3)
    devices = Devices.from_config(Config(geoip_db=city_db(tmp_path)))
    assert devices.geoip is not None
    lookups = devices.geoip._cached.cache_info  # counting the address lookups
    now = datetime.now(UTC)
    page = [SessionRecord(f"ses_{i}", 1, now, now, now, None, f"203.0.113.{i}", IPHONE) for i in range(5)]
    first = devices.describe(page)
    assert {d.location for d in first.values()} == {Location("DE", None, None)}
    parses, found = useragent.cache_info(), lookups()
    assert devices.describe(page[2:]) == {s.public_id: first[s.public_id] for s in page[2:]}
    assert (useragent.cache_info(), lookups()) == (parses, found), "the newest three: built"
    assert devices.describe(page[:1]) == {"ses_0": first["ses_0"]}
    assert lookups().hits == found.hits + 1, "the oldest was let go: looked up again"
    devices.close()
    assert devices.describe(page[:1])["ses_0"].location is None, "the file is closed"


def test_an_asn_file_alone(tmp_path: Path) -> None:
    devices = Devices.from_config(Config(geoip_asn_db=asn_db(tmp_path)))
    assert devices.geoip is not None
    assert devices.geoip.lookup("203.0.113.1") == Location(None, 64500, "Example Telecom AG")


def test_bad_file_is_a_config_error_from_the_door_each_time(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    core = AuthCore(engine, Config(tokens=TokenSettings(secret=TEST_SECRET), geoip_db=tmp_path / "gone.mmdb"))
    core.users.create("x@example.com", "x")  # the rest of the core works: the file opens on first use
    for _ in range(2):
        with pytest.raises(ConfigError, match=r"^config: geoip_db .*gone\.mmdb: No such file or directory$"):
            core.devices  # noqa: B018 - the property opens the file


def test_devices_built_once(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    core = _core(engine, tmp_path, geo=True)
    assert core.devices is core.devices
    core.dispose()


def test_config_reads_geoip_paths_relative_to_the_file(write_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = write_config('geoip_db = "geo/GeoLite2-City.mmdb"\ngeoip_asn_db = "/srv/GeoLite2-ASN.mmdb"\n')
    cfg = load_config()
    assert cfg.geoip_db == path.parent / "geo/GeoLite2-City.mmdb"
    assert cfg.geoip_asn_db == Path("/srv/GeoLite2-ASN.mmdb")
    write_config("")
    assert load_config().geoip_db is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("geoip_db = 7\n", "config: geoip_db must be a string, not a number"),
        ('geoip_asn_db = ""\n', "config: geoip_asn_db must be a path to an .mmdb file"),
        ("geoip_db = ['a']\n", "config: geoip_db must be a string, not a list"),
    ],
)
def test_bad_geoip_setting_is_one_line(write_config, body: str, message: str) -> None:  # type: ignore[no-untyped-def]
    write_config(body)
    with pytest.raises(ConfigError) as exc:
        load_config()
    assert str(exc.value) == message


def test_a_page_is_described_from_the_cache_then_parsed(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """What a screen's worker does: paint with what costs nothing, then parse the rest."""
    from authcore import useragent

    core = _core(engine, tmp_path, geo=True)
    u = core.users.create("two@example.com", "two")
    a, _ = core.sessions.create(u.id, ip="203.0.113.7", user_agent=IPHONE)
    b, _ = core.sessions.create(u.id, ip="203.0.113.8", user_agent=WINDOWS)
    c, _ = core.sessions.create(u.id, ip="203.0.113.9")
    useragent.cache_clear()
    useragent.parse(WINDOWS)
    recs = core.sessions.for_user(u.id)
    first = core.devices.describe(recs, cached_only=True)
    assert first[a.public_id].agent is None, "not parsed yet"
    assert first[a.public_id].location == Location("DE", 64500, "Example Telecom AG"), "lookups always"
    assert first[b.public_id].agent == Agent("Chrome 120", "Windows 10", None)
    assert first[c.public_id].agent is None
    rest = core.devices.unparsed(recs)
    assert [s.public_id for s in rest] == [a.public_id]
    assert core.devices.describe(rest)[a.public_id].agent == Agent("Mobile Safari 17", "iOS 17.1", "iPhone")
    assert core.devices.unparsed(recs) == []


def test_a_system_file_gives_the_geoip_paths(
    write_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """Set on a bastion's /etc/authconsole/config.toml (and lockable), the paths reach every
    operator; a user file's own setting wins unless the system file locks it."""
    from authcore import config as config_mod

    etc = tmp_path / "etc"
    etc.mkdir()
    system = etc / "config.toml"
    system.write_text(
        'geoip_db = "/srv/geo/City.mmdb"\nlock = ["geoip_asn_db"]\ngeoip_asn_db = "/srv/geo/ASN.mmdb"\n'
    )
    system.chmod(0o644)
    monkeypatch.setattr(config_mod, "SYSTEM_CONFIG", system)
    write_config("")
    cfg = load_config()
    assert (cfg.geoip_db, cfg.geoip_asn_db) == (Path("/srv/geo/City.mmdb"), Path("/srv/geo/ASN.mmdb"))
    write_config('geoip_db = "/home/op/City.mmdb"\n')
    assert load_config().geoip_db == Path("/home/op/City.mmdb")
    write_config('geoip_asn_db = "/home/op/ASN.mmdb"\n')
    with pytest.raises(ConfigError, match="sets geoip_asn_db, locked by"):
        load_config()
