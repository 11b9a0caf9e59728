"""Property: any text (up to 100 KiB) gives a report; the inspector never raises.

The default run keeps 300 examples per property; ``-m fuzz_long`` runs 10,000 (see
docs/inspector.md).
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from authcore.config import TokenSettings
from authcore.inspect import STATUSES, LiveState, inspect_token
from authcore.keys import key_from_secret

KEYS = [key_from_secret("fuzz-secret-" + "f" * 32, "HS256", "k1"), key_from_secret("short", "HS512", "k2")]
SETTINGS = TokenSettings()
NOW = datetime(2026, 11, 27, 14, 28, tzinfo=UTC)


def _live(uid: int, sid: str | None) -> LiveState:
    return LiveState(
        uid,
        exists=uid % 2 == 0,
        token_version=uid % 7,
        sid=sid,
        session_exists=bool(sid) and len(sid) % 2 == 0,
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=30,
)
claim_names = st.sampled_from(
    ["exp", "nbf", "iat", "auth_time", "sub", "sid", "typ", "iss", "aud", "token_version", "rc", "jti"]
)
headers = st.fixed_dictionaries(
    {},
    optional={
        "alg": st.sampled_from(["HS256", "HS512", "RS256", "none", "None", "EdDSA", "ES256K", "A128KW"])
        | json_values,
        "kid": st.sampled_from(["k1", "k2", "../../etc/passwd"]) | json_values,
        "typ": json_values,
        "crit": json_values,
        "b64": json_values,
        "jku": json_values,
        "enc": json_values,
    },
)
claim_sets = st.dictionaries(claim_names | st.text(max_size=8), json_values, max_size=12)


@st.composite
def token_like(draw: Any) -> str:
    """Strings shaped like JWS/JWE compact tokens, with odd pieces mixed in."""
    h = draw(headers)
    head = _b64(json.dumps(h).encode())
    body = draw(
        st.one_of(
            claim_sets.map(lambda c: _b64(json.dumps(c).encode())),
            st.binary(max_size=200).map(_b64),
            st.text(max_size=40),
            st.just(""),
        )
    )
    sig = draw(st.binary(max_size=80).map(_b64) | st.text(max_size=10))
    n = draw(st.sampled_from([3, 3, 3, 5, 2, 4]))
    parts = [head, body, sig] + [draw(st.binary(max_size=20).map(_b64)) for _ in range(max(0, n - 3))]
    token = ".".join(parts[:n])
    prefix = draw(st.sampled_from(["", "Bearer ", "Authorization: Bearer ", '"', " \n"]))
    suffix = draw(st.sampled_from(["", '"', " trailing", "\n", "."]))
    return prefix + token + suffix


any_text = st.one_of(
    st.text(max_size=2000),
    st.builds(lambda s, n: s * n, st.text(min_size=1, max_size=200), st.integers(0, 600)),
    token_like(),
)


def check(text: str) -> None:
    for kw in (
        {"keys": KEYS, "settings": SETTINGS, "live": _live, "now": NOW},
        {"keys": None, "settings": None},
    ):
        r = inspect_token(text, **kw)  # type: ignore[arg-type]
        assert r.status in STATUSES
        assert r.reason
        data = r.to_dict()
        json.dumps(data, allow_nan=False)
        json.dumps(data, ensure_ascii=False).encode("utf-8")
        assert "internal error" not in r.reason, r.reason
        if r.status == "valid":
            assert r.signature.verified is True


_FAST = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
_LONG = settings(
    max_examples=10_000,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@_FAST
@given(any_text)
def test_any_text_gives_a_report(text: str) -> None:
    check(text)


@_FAST
@given(st.binary(max_size=4096))
def test_any_bytes_give_a_report(data: bytes) -> None:
    r = inspect_token(data, keys=KEYS, settings=SETTINGS)
    assert r.status in STATUSES
    json.dumps(r.to_dict(), allow_nan=False)


def test_100_kib_inputs() -> None:
    for text in ("a" * 100 * 1024, "." * 100 * 1024, "\u00e9" * 40_000, "\x00" * 65_536, "eyJ" * 21_845):
        check(text)


@pytest.mark.fuzz_long
@_LONG
@given(any_text)
def test_any_text_gives_a_report_long(text: str) -> None:
    check(text)
