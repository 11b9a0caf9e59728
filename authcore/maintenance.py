"""``core.maintenance``: schema migrations, PostgreSQL roles and demo data through ``AuthCore``.

What ``authconsole db`` and ``authconsole demo`` run: the console builds no engine of its own and
calls no authcore module function on ``core.engine`` (one door). These calls act for no operator
(a DBA's, run before any operator exists), so the operator guard does not apply; the commands
refuse ``--read-only`` themselves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from authcore.errors import ValidationError

if TYPE_CHECKING:  # pragma: no cover
    from sqlalchemy import Engine

    from authcore.demo import DemoSummary
    from authcore.migrate import Status


class Maintenance:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def status(self) -> Status:
        """The schema revision against the shipped head."""
        from authcore import migrate

        return migrate.status(self.engine)

    def upgrade(self) -> Status:
        """Create or upgrade the schema to the shipped head."""
        from authcore import migrate

        return migrate.upgrade(self.engine)

    def apply_roles(self, prefix: str = "") -> list[str]:
        """PostgreSQL only: create and grant the three roles (``authcore.pgroles``)."""
        from authcore import pgroles

        if self.engine.dialect.name != "postgresql":
            raise ValidationError("roles need PostgreSQL")
        return pgroles.apply(self.engine, prefix)

    def demo_present(self) -> tuple[tuple[str, ...], int]:
        """The named demo users already there, and how many users there are."""
        from authcore import demo

        return demo.present(self.engine)

    def seed_demo(self, n_users: int, **kw: Any) -> DemoSummary:
        """Add the named demo users (once) and ``n_users`` generated ones (``demo.seed``)."""
        from authcore import demo

        return demo.seed(self.engine, n_users, **kw)
