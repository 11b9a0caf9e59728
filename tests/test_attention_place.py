"""The ``new_place`` signal of authcore.attention with a real MMDB file (written by
``tests/support/mmdb.py``): a session from a country or network (ASN) the user's sessions of the
30 days before never came from is flagged, with the session to end; the same place, no history,
history older than 30 days, an address the file does not know, or a session before the window
is not. Without the file, or with a broken one, the signal says why it did not run. Both engines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from authcore.attention import Signal
from authcore.config import Config, TokenSettings
from authcore.core import AuthCore
from tests.conftest import TEST_SECRET
from tests.support.attention import add_session
from tests.support.mmdb import write_mmdb

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
PLACES = {  # IPinfo lite layout: country and ASN in one file
    "203.0.113.0/25": {"country_code": "DE", "asn": "AS64500", "as_name": "Example Telecom AG"},
    "203.0.113.128/25": {"country_code": "DE", "asn": "AS64501", "as_name": "Other Mobile GmbH"},
    "198.51.100.0/24": {"country_code": "FR", "asn": "AS64502", "as_name": "Exemple SA"},
}
HOME, SAME_HOME, MOBILE, ABROAD, UNKNOWN = (
    "203.0.113.5",
    "203.0.113.9",
    "203.0.113.200",
    "198.51.100.9",
    "192.0.2.1",
)


@pytest.fixture
def located(engine: Engine, tmp_path: Path) -> AuthCore:
    db = write_mmdb(tmp_path / "ipinfo_lite.mmdb", PLACES, "ipinfo_lite")
    return AuthCore(engine, Config(tokens=TokenSettings(secret=TEST_SECRET), geoip_db=db), actor="t")


def test_new_country_and_new_network_are_flagged_and_nothing_else(located: AuthCore) -> None:
    core = located
    u = {
        n: core.users.create(f"{n}@example.com", n).id
        for n in ("abroad", "mobile", "home", "first", "away", "lastip", "unknown", "early")
    }
    for name in ("abroad", "mobile", "home", "unknown", "early"):
        add_session(core, u[name], NOW - 10 * DAY, ip=HOME)
    abroad = add_session(core, u["abroad"], NOW - timedelta(hours=2), ip=ABROAD)
    mobile = add_session(core, u["mobile"], NOW - timedelta(hours=3), ip=MOBILE)
    add_session(core, u["home"], NOW - timedelta(hours=1), ip=SAME_HOME)  # same country and network
    add_session(core, u["first"], NOW - timedelta(hours=1), ip=ABROAD)  # no history: nothing to compare
    add_session(core, u["away"], NOW - 32 * DAY, ip=HOME)  # history older than 30 days before it
    add_session(core, u["away"], NOW - timedelta(hours=1), ip=ABROAD)
    add_session(core, u["unknown"], NOW - timedelta(hours=1), ip=UNKNOWN)  # the file does not know it
    add_session(core, u["early"], NOW - 2 * DAY, ip=ABROAD)  # before the window
    from sqlalchemy import update

    from authcore.db import write_tx
    from authcore.models import sessions

    old = add_session(core, u["lastip"], NOW - 5 * DAY, ip=HOME)
    with write_tx(core.engine) as conn:  # it was last seen from France: France is known
        conn.execute(update(sessions).where(sessions.c.public_id == old).values(last_ip=ABROAD))
    add_session(core, u["lastip"], NOW - timedelta(hours=1), ip=ABROAD)

    report = core.attention(now=NOW)
    assert report.status(Signal.NEW_PLACE).available
    found = {f.user_id: f for f in report.findings if f.signal == Signal.NEW_PLACE}
    assert set(found) == {u["abroad"], u["mobile"]}
    f = found[u["abroad"]]
    assert (f.session_id, f.action, f.count, f.at) == (abroad, "delete_session", 1, NOW - timedelta(hours=2))
    assert "new country FR (before: DE)" in f.why and "network AS64502 new too" in f.why
    m = found[u["mobile"]]
    assert m.session_id == mobile and "new network AS64501 Other Mobile GmbH (before: AS64500)" in m.why
    assert "country" not in m.why
    wider = {f.user_id for f in core.attention(3 * DAY, now=NOW).findings if f.signal == Signal.NEW_PLACE}
    assert u["early"] in wider


def test_without_a_file_or_with_a_broken_one_it_says_why(engine: Engine, tmp_path: Path) -> None:
    plain = AuthCore(engine, Config(tokens=TokenSettings(secret=TEST_SECRET)))
    st = plain.attention(now=NOW).status(Signal.NEW_PLACE)
    assert not st.available and st.note == "no GeoIP database configured (geoip_db)"
    junk = tmp_path / "junk.mmdb"
    junk.write_bytes(b"not an mmdb file at all")
    broken = AuthCore(engine, Config(tokens=TokenSettings(secret=TEST_SECRET), geoip_db=junk))
    report = broken.attention(now=NOW)
    st = report.status(Signal.NEW_PLACE)
    assert not st.available and "geoip_db" in st.note and "not a MaxMind DB" in st.note
    assert all(s.available for s in report.signals if s.signal != Signal.NEW_PLACE)
