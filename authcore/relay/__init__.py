"""The revocation relay: PostgreSQL notices onto a NATS JetStream stream, for fleets whose
verifiers should not each hold a LISTEN connection (``Verifier(core, bus="nats://...")``).

Modules: ``service`` (``Relay``: the loop, resume from the stream, bounds), ``scan`` (which
``revocations`` rows are new, none skipped when ids commit out of order), ``bus`` (what the relay
and the bus verifier agree on: connection, names, headers, beats). docs/verifier.md, "Deployment
shapes", says when to run one.
"""

from authcore.relay.bus import DEFAULT_STREAM, DEFAULT_SUBJECT, BusTarget
from authcore.relay.service import DEFAULT_APP_NAME, Relay, RelayStats

__all__ = ["DEFAULT_APP_NAME", "DEFAULT_STREAM", "DEFAULT_SUBJECT", "BusTarget", "Relay", "RelayStats"]
