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


# The demo data's addresses (authcore.demo.people.PUBLIC_NETS and alice's documentation ranges)
# in one file holding country and ASN (GeoIP2 Enterprise / IPinfo style), with made-up owners
# from the documentation AS range (RFC 5398): the snapshots' location column.
_DEMO_NETS = {
    "203.0.113.0/24": ("DE", 64500, "Example Telecom AG"),
    "198.51.100.0/24": ("FR", 64501, "Exemple Reseau SA"),
    "192.0.2.0/24": ("US", 64502, "Documentation Networks Inc"),
    "81.0.0.0/8": ("GB", 64503, "Example Broadband plc"),
    "88.0.0.0/8": ("DE", 64504, "Beispiel Kabel GmbH"),
    "93.0.0.0/8": ("ES", 64505, "Ejemplo Fibra SL"),
    "145.0.0.0/8": ("NL", 64506, "Voorbeeld Net BV"),
    "176.0.0.0/8": ("PL", 64507, "Przyklad Sp. z o.o."),
    "185.0.0.0/8": ("SE", 64508, "Exempel Bredband AB"),
    "203.0.0.0/8": ("JP", 64509, "Rei Mobile KK"),
}


def demo_records() -> dict[str, Any]:
    return {
        net: {
            "country": {"iso_code": cc},
            "autonomous_system_number": asn,
            "autonomous_system_organization": org,
        }
        for net, (cc, asn, org) in _DEMO_NETS.items()
    }


def write_mmdb(path: Path, records: dict[str, Any], database_type: str = "GeoLite2-City") -> Path:
    """An MMDB file at ``path`` mapping each network to its record (IPv4 in an IPv6 tree, as
    MaxMind's own files are)."""
    w = MMDBWriter(ip_version=6, database_type=database_type, ipv4_compatible=True)
    nets = {net: IPSet([net]) for net in records}
    for net, rec in records.items():  # a network holds what no more specific one in the dict does
        inner = [other for other in nets if other != net and nets[other].issubset(nets[net])]
        w.insert_network(nets[net] - IPSet(inner), rec)
    w.to_db_file(str(path))
    return path


def city_db(tmp_path: Path) -> Path:
    return write_mmdb(tmp_path / "GeoLite2-City.mmdb", CITY)


def asn_db(tmp_path: Path) -> Path:
    return write_mmdb(tmp_path / "GeoLite2-ASN.mmdb", ASN, "GeoLite2-ASN")


def demo_db(tmp_path: Path) -> Path:
    return write_mmdb(tmp_path / "demo-geo.mmdb", demo_records(), "GeoIP2-Enterprise")
