"""``core.audit``: the audit log through ``AuthCore`` (list, verify, seal).

The console and apps read and check the log here rather than calling ``authcore.audit``,
``authcore.userevents`` and ``authcore.seal`` on ``core.engine``: one object knows the engine and
the configured seals, and every error leaving it is an ``AuthCoreError`` (``authcore.db``).
The module functions stay the implementation (and what tests of the chain itself call).
"""

from __future__ import annotations

import builtins  # the class's own `list` method hides the type in its body
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from sqlalchemy import Engine

    from authcore.audit import AuditRecord, ChainReport, ExpectedHead
    from authcore.auditstream import Bound, Tail, Waiter
    from authcore.config import Config
    from authcore.reads import Reads
    from authcore.seal import Seal, SealReport
    from authcore.userevents import UserEvent


class AuditLog:
    """The hash-chained audit log (``authcore.audit``), the users' own events
    (``authcore.userevents``) and the chain's signed seals (``authcore.seal``).

    ``reads``: the listings (``list``, ``user_events``, ``activity``) are browsing reads, on the
    read replica when there is one (``authcore.reads``); verifying and sealing read the primary
    (a head recorded elsewhere a moment ago must be found)."""

    def __init__(self, engine: Engine, config: Config, reads: Reads | None = None) -> None:
        from authcore.reads import Reads

        self.engine = engine
        self.config = config
        self.reads = reads or Reads(engine)

    # -- reading ---------------------------------------------------------------------------
    def list(
        self,
        *,
        user_id: int | None = None,
        action: str | None = None,
        actor: str | None = None,
        limit: int = 50,
        before_seq: int | None = None,
        since: Bound | None = None,
        until: Bound | None = None,
    ) -> list[AuditRecord]:
        """Audit events, newest first, keyset-paged by ``seq`` (``limit`` 1..1000).
        ``since``/``until``: a seq (both inclusive) or a time (``since`` inclusive, ``until``
        exclusive), from ``authcore.auditstream.parse_bound``."""
        from authcore import audit
        from authcore.reads import Read

        return self.reads.run(
            Read.BROWSE,
            lambda e: audit.list_events(
                e,
                user_id=user_id,
                action=action,
                actor=actor,
                limit=limit,
                before_seq=before_seq,
                since_seq=since.seq if since else None,
                until_seq=until.seq if until else None,
                since_at=since.at if since else None,
                until_at=until.at if until else None,
            ),
        )

    def tail(self, after: int = 0, after_hash: str | None = None, *, batch: int = 500) -> Tail:
        """A reader of the events after seq ``after``, in seq order, never skipping one
        (``authcore.auditstream.Tail``); ``after_hash``: the hash of event ``after`` as the
        reader last saw it, checked against the next event's ``prev_hash``. It reads the
        primary, where the NOTIFY that wakes it comes from."""
        from authcore.auditstream import Tail

        return Tail(self.engine, after, after_hash, batch=batch)

    def waiter(self, poll_s: float = 0.5, notify_interval: float = 5.0) -> Waiter:
        """How a follower waits for new events: NOTIFY on PostgreSQL (and a re-read at least
        every ``notify_interval``), a poll timer on SQLite (``auditstream.waiter_for``)."""
        from authcore.auditstream import waiter_for

        return waiter_for(self.engine, poll_s, notify_interval)

    def user_events(
        self,
        *,
        user_id: int | None = None,
        action: str | None = None,
        limit: int = 50,
        before_id: int | None = None,
    ) -> builtins.list[UserEvent]:
        """The users' own events (logout, refresh replay/reuse), newest first."""
        from authcore import userevents
        from authcore.reads import Read

        return self.reads.run(
            Read.BROWSE,
            lambda e: userevents.list_events(
                e, user_id=user_id, action=action, limit=limit, before_id=before_id
            ),
        )

    def activity(self, user_id: int, limit: int = 50) -> builtins.list[Any]:
        """A user's audit events and own events merged, newest first (``userevents.row_key``)."""
        from authcore import userevents
        from authcore.reads import Read

        return self.reads.run(Read.BROWSE, lambda e: userevents.activity(e, user_id, limit=limit))

    # -- checking --------------------------------------------------------------------------
    def verify(self, *, expect: Sequence[ExpectedHead] = (), batch: int = 5000) -> ChainReport:
        """Walk the chain; ``expect``: heads recorded elsewhere that must be in it."""
        from authcore import audit

        return audit.verify_chain(self.engine, batch=batch, expect=expect)

    def verify_seals(
        self, seals: builtins.list[Seal], public_key: Any, also_expect: Sequence[ExpectedHead] = ()
    ) -> tuple[SealReport, ChainReport | None]:
        """Signatures first, then the walk with every sealed head expected (``seal.verify_seals``)."""
        from authcore import seal

        return seal.verify_seals(self.engine, seals, public_key, also_expect=also_expect)

    def check_configured(self) -> tuple[ChainReport, SealReport | None]:
        """The walk, plus the configured seals (``[audit] seals``/``seals_pubkey``) if any."""
        from authcore import seal

        return seal.check_configured(self.engine, self.config.seals_file, self.config.seals_pubkey)

    def seal(self, private_key: Any) -> Seal:
        """Verify the chain, then sign its head (a broken or empty chain is never sealed)."""
        from authcore import seal

        return seal.seal_chain(self.engine, private_key)
