"""Paint first: what the console shows while its ``AuthCore`` is still being built.

Building the core imports the database stack (SQLAlchemy, PyJWT, cryptography: most of the
start-up time). ``run_tui`` hands the app a ``Connect`` instead of a core: the header (database,
operator, role, READ-ONLY) comes from the config and the environment, which are cheap; the app
builds the core in a thread worker after its first frame (``AuthConsoleApp``, group
``connect``). A core that cannot be built (a URL authcore refuses, a bad key file) ends the app,
and ``run_tui`` reports it as the same one-line error as before the TUI existed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from authcore.urls import mask_password

if TYPE_CHECKING:  # pragma: no cover
    from authcore.core import AuthCore
    from console.cli import Ctx


@dataclass(frozen=True)
class Connect:
    """How to build the core, and what to show meanwhile."""

    build: Callable[[], AuthCore]
    url: str  # password already masked
    actor: str
    role: str
    read_only: bool
    located: bool = False  # a GeoIP file is configured: session tables get a location column

    @classmethod
    def from_ctx(cls, ctx: Ctx) -> Connect:
        """From the command line and the config (a bad config file fails here, before the TUI)."""
        from authcore.core import is_read_only, operator_for
        from authcore.devices import configured

        config = ctx.config
        operator = operator_for(config)
        read_only = is_read_only(ctx.args.read_only, config, operator.role)
        return cls(
            build=functools.partial(_build, ctx),
            url=mask_password(ctx.database_url()),
            actor=operator.actor,
            role=operator.role or "admin",
            read_only=read_only,
            located=configured(config),
        )


def _build(ctx: Ctx) -> AuthCore:
    """The TUI's core. Its session tables need ``core.devices``: a bad ``geoip_db`` ends the
    console at start with its one line (as a bad key file does), not on every refresh."""
    core = ctx.core(interactive=True)
    core.devices  # noqa: B018 - the property opens the GeoIP file(s)
    return core
