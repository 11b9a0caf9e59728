"""authcore: tokens, sessions and revocation on SQLite and PostgreSQL.

The package root stays light: importing ``authcore`` pulls in neither SQLAlchemy nor PyJWT.
Import the submodules (``authcore.core``, ``authcore.tokens``...) or use the lazy names below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    "AuthCore": "authcore.core",
    "Config": "authcore.config",
    "load_config": "authcore.config",
}

if TYPE_CHECKING:  # pragma: no cover
    from authcore.config import Config, load_config
    from authcore.core import AuthCore


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(name)
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = ["AuthCore", "Config", "__version__", "load_config"]
