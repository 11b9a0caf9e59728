"""authcore.geoip: country and ASN from the operator's MMDB file(s), opened once and bounded;
every bad file is one ConfigError line, every bad address a None."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from authcore.errors import ConfigError
from authcore.geoip import ORG_MAX, GeoIP, Location
from tests.support.mmdb import IPINFO, asn_db, city_db, write_mmdb


def test_city_and_asn_files_merge(tmp_path: Path) -> None:
    g = GeoIP.open(city_db(tmp_path), asn_db(tmp_path))
    assert g.lookup("203.0.113.9") == Location("DE", 64500, "Example Telecom AG")
    assert g.lookup("2001:db8::5") == Location("JP", 64501, "Doc Net KK")
    # in the city file only, under registered_country: no ASN
    assert g.lookup("198.51.100.1") == Location("FR", None, None)
    # an IPv4 address as a dual-stack socket reports it
    assert g.lookup("::ffff:203.0.113.9") == Location("DE", 64500, "Example Telecom AG")
    assert g.paths == [str(tmp_path / "GeoLite2-City.mmdb"), str(tmp_path / "GeoLite2-ASN.mmdb")]


def test_one_file_gives_what_it_has(tmp_path: Path) -> None:
    city = GeoIP.open(city_db(tmp_path))
    assert city.lookup("203.0.113.9") == Location("DE", None, None)
    asn = GeoIP.open(asn_db(tmp_path))
    assert asn.lookup("203.0.113.9") == Location(None, 64500, "Example Telecom AG")
    ipinfo = GeoIP.open(write_mmdb(tmp_path / "ipinfo_lite.mmdb", IPINFO, "ipinfo lite"))
    assert ipinfo.lookup("203.0.113.200") == Location("DE", 64500, "Example Telecom AG")


@pytest.mark.parametrize(
    "ip",
    [None, "", "not an ip", "203.0.113", "999.1.1.1", "203.0.113.9 OR 1=1", "1" * 5000, "8.8.8.8", "::1"],
)
def test_unknown_or_malformed_address_is_none(tmp_path: Path, ip: str | None) -> None:
    g = GeoIP.open(city_db(tmp_path), asn_db(tmp_path))
    assert g.lookup(ip) is None


def test_ipv6_address_in_an_ipv4_only_file_is_none(tmp_path: Path) -> None:
    w = MMDBWriter(ip_version=4, database_type="v4-only")
    w.insert_network(IPSet(["203.0.113.0/24"]), {"country": {"iso_code": "NL"}})
    path = tmp_path / "v4.mmdb"
    w.to_db_file(str(path))
    g = GeoIP.open(path)
    assert g.lookup("203.0.113.1") == Location("NL", None, None)
    assert g.lookup("2001:db8::1") is None


def test_hostile_records_are_typed_and_cut(tmp_path: Path) -> None:
    """The file is untrusted: wrong types are unknown, long text is cut (cleaning for the
    terminal is console.safe's job, so control characters are still there)."""
    records = {
        "192.0.2.0/28": {"country": {"iso_code": "DEU"}, "autonomous_system_number": -5, "as_name": 7},
        "192.0.2.16/28": {"country": "de", "asn": "AS99999999999", "as_name": "x" * 5000},
        "192.0.2.32/28": {
            "country": {"iso_code": "[b]"},
            "asn": True,
            "autonomous_system_organization": "  ",
        },
        "192.0.2.48/28": {"country_code": "us", "asn": "as64496", "as_name": "\x1b]0;pwn\x07Evil [red]Org"},
        "192.0.2.64/28": ["not", "a", "map"],
    }
    g = GeoIP.open(write_mmdb(tmp_path / "hostile.mmdb", records))
    assert g.lookup("192.0.2.1") == Location(None, None, None)
    loc = g.lookup("192.0.2.17")
    assert loc is not None and loc.country == "DE" and loc.asn is None and loc.asn_org == "x" * ORG_MAX
    assert g.lookup("192.0.2.33") == Location(None, None, None)
    assert g.lookup("192.0.2.49") == Location("US", 64496, "\x1b]0;pwn\x07Evil [red]Org")
    assert g.lookup("192.0.2.65") == Location(None, None, None)


def test_lookups_are_cached(tmp_path: Path) -> None:
    g = GeoIP.open(city_db(tmp_path))
    for _ in range(5):
        g.lookup("203.0.113.9")
    info = g._cached.cache_info()
    assert (info.hits, info.misses) == (4, 1)


def _one_line(exc: pytest.ExceptionInfo[ConfigError]) -> str:
    msg = str(exc.value)
    assert "\n" not in msg and "Traceback" not in msg
    return msg


def test_missing_file_is_one_config_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        GeoIP.open(tmp_path / "nope.mmdb")
    assert _one_line(exc) == f"config: geoip_db {tmp_path / 'nope.mmdb'}: No such file or directory"


@pytest.mark.parametrize(
    ("content", "what"),
    [
        (b"", "empty"),
        (b"not an mmdb file at all\n" * 100, "text"),
        (os.urandom(4096), "random bytes"),
        (None, "a truncated real file"),
    ],
)
def test_corrupt_file_is_one_config_line(tmp_path: Path, content: bytes | None, what: str) -> None:
    path = tmp_path / "bad.mmdb"
    if content is None:
        real = city_db(tmp_path).read_bytes()
        content = real[: len(real) // 2]
    path.write_bytes(content)
    with pytest.raises(ConfigError) as exc:
        GeoIP.open(path)
    assert _one_line(exc) == f"config: geoip_db {path} is not a MaxMind DB (mmdb) file", what


def test_directory_and_fifo_refused_without_hanging(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is not a regular file"):
        GeoIP.open(tmp_path)
    fifo = tmp_path / "fifo.mmdb"
    os.mkfifo(fifo)
    box: list[BaseException] = []

    def opening() -> None:
        try:
            GeoIP.open(fifo)
        except BaseException as e:  # noqa: BLE001 - kept for the assertion
            box.append(e)

    t0 = time.monotonic()
    th = threading.Thread(target=opening, daemon=True)
    th.start()
    th.join(5)
    assert not th.is_alive(), "opening a FIFO hung"
    assert time.monotonic() - t0 < 5
    assert isinstance(box[0], ConfigError) and "is not a regular file" in str(box[0])


def test_a_bad_second_file_names_its_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        GeoIP.open(city_db(tmp_path), tmp_path / "missing-asn.mmdb")
    assert _one_line(exc).startswith("config: geoip_asn_db ")


def test_close_then_lookup_is_none(tmp_path: Path) -> None:
    g = GeoIP.open(city_db(tmp_path))
    assert g.lookup("203.0.113.9") is not None
    g.close()
    assert g.lookup("203.0.113.9") is None
    g.close()  # twice: nothing to do
