"""The token inspector: decode, verify and explain any pasted token, and link it to live state.

``inspect_token`` never raises. It normalises the input (whitespace, quotes, ``Bearer`` and
``Authorization:`` prefixes), caps its size, decodes with the project's own base64url/JSON code
(``authcore.jose``) so that it can show what PyJWT refuses, verifies the signature with configured
keys only (the algorithm always comes from the key), checks the claims against ``TokenSettings``
and, when a live-state callable is given and the signature verified, compares the token with the
user and session rows. The result is one ``InspectionReport`` with a single status.

The raw token is never stored in the report: ``fingerprint`` (SHA-256 of the normalised token) is
the reference. Header and payload values are untrusted data: render them through
``authcore.text.clean`` (and neutralise markup in a UI). Messages the report writes itself
(``reason``, ``warnings``, ``notes``, details) already have untrusted parts cleaned.

The package imports neither SQLAlchemy nor Textual at import time (``live_lookup`` imports
SQLAlchemy when it is called) and PyJWT only when a signature is checked.

Modules, in the order an inspection runs: ``normalise`` (size cap, pasted-text clean-up),
``structure`` (segments, header, payload), ``signature`` (configured keys only), ``claims``
(times, lifetime, issuer/audience, typ), ``live`` (user and session rows), ``inspector`` (the
run and its verdict). ``report`` holds the result types and the state the checks share,
``livestate`` what a live lookup returns.
"""

from typing import TYPE_CHECKING, Any

from authcore.inspect.inspector import inspect_token
from authcore.inspect.live import live_lookup
from authcore.inspect.normalise import MAX_SIZE, normalise
from authcore.inspect.report import STATUSES, InspectionReport, SignatureResult, TimeInfo

if TYPE_CHECKING:
    from authcore.inspect.livestate import LiveState

__all__ = [
    "MAX_SIZE",
    "STATUSES",
    "InspectionReport",
    "LiveState",
    "SignatureResult",
    "TimeInfo",
    "inspect_token",
    "live_lookup",
    "normalise",
]


def __getattr__(name: str) -> Any:
    """``LiveState`` on first use: an inspection without a live lookup never needs it."""
    if name == "LiveState":
        from authcore.inspect.livestate import LiveState

        return LiveState
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
