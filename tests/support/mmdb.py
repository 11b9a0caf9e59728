"""Small MaxMind DB files for the geoip tests, written with ``mmdb-writer`` (no real GeoLite2
file is shipped or downloaded). Each builder takes ``{network: record}`` in the layout of the
format it imitates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmdb_writer import MMDBWriter
from netaddr import IPSet

# Documentation ranges (RFC 5737, RFC 3849): never a real user's address.
CITY = {
    "203.0.113.0/24": {
        "country": {"iso_code": "DE", "names": {"en": "Germany"}},
        "city": {"names": {"en": "Berlin"}},
    },
    "198.51.100.0/24": {"registered_country": {"iso_code": "FR"}},
    "2001:db8::/32": {"country": {"iso_code": "JP"}},
}
ASN = {
    "203.0.113.0/24": {
        "autonomous_system_number": 64500,
        "autonomous_system_organization": "Example Telecom AG",
    },
    "2001:db8::/32": {"autonomous_system_number": 64501, "autonomous_system_organization": "Doc Net KK"},
}
# IPinfo's lite layout: country and ASN in one file, the ASN as "AS<n>"
IPINFO = {
    "203.0.113.0/24": {
        "country_code": "DE",
        "country": "Germany",
        "asn": "AS64500",
        "as_name": "Example Telecom AG",
    },
}


def write_mmdb(path: Path, records: dict[str, Any], database_type: str = "GeoLite2-City") -> Path:
    """An MMDB file at ``path`` mapping each network to its record (IPv4 in an IPv6 tree, as
    MaxMind's own files are)."""
    w = MMDBWriter(ip_version=6, database_type=database_type, ipv4_compatible=True)
    for net, rec in records.items():
        w.insert_network(IPSet([net]), rec)
    w.to_db_file(str(path))
    return path


def city_db(tmp_path: Path) -> Path:
    return write_mmdb(tmp_path / "GeoLite2-City.mmdb", CITY)


def asn_db(tmp_path: Path) -> Path:
    return write_mmdb(tmp_path / "GeoLite2-ASN.mmdb", ASN, "GeoLite2-ASN")
