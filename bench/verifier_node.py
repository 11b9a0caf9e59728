"""The child side of ``bench.propagation.VerifierNode``: a ``Verifier`` driven by JSON lines.

Run as a script (``python bench/verifier_node.py --setup-stdin``; ``VerifierNode`` does) or as
``python -m bench.verifier_node``. One JSON command per stdin line, one JSON reply per line.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from authcore.errors import DatabaseUnavailable, TokenError
from authcore.verifier import DEFAULT_APP_NAME, Verifier

if TYPE_CHECKING:  # pragma: no cover
    from authcore.core import AuthCore


def _node_core(setup: dict[str, Any], config_path: str | None) -> AuthCore:
    """The child's core: the parent's keys and token settings when it sent them."""
    import base64

    from authcore.config import Config, TokenSettings, load_config
    from authcore.core import AuthCore
    from authcore.keys import KeyRing, key_from_pem, key_from_secret

    config = load_config(config_path) if config_path else Config()
    if "keys" not in setup:
        return AuthCore.from_config(config, setup["db"])
    src = "the parent core"
    keys = [
        key_from_secret(base64.b64decode(k["hmac"]), k["alg"], k["kid"], source=src)
        if "hmac" in k
        else key_from_pem(k["pem"].encode("ascii"), k["alg"], k["kid"], src)
        for k in setup["keys"]
    ]
    t = setup["tokens"]
    config.tokens = TokenSettings(
        issuer=t["issuer"],
        audience=t["audience"],
        algorithm=t["algorithm"],
        leeway=timedelta(seconds=t["leeway"]),
        access_ttl=timedelta(seconds=t["access_ttl"]),
    )
    from authcore.db import make_engine

    return AuthCore(make_engine(setup["db"], create=False), config, keyring=KeyRing(signing=None, keys=keys))


def node_main(argv: Sequence[str] | None = None) -> int:
    """Child side of ``VerifierNode``: one JSON command per stdin line, one reply per line.

    With ``--setup-stdin`` the first line is ``{"db": URL, "keys": [...], "tokens": {...}}``
    (what ``VerifierNode`` sends: the URL and keys stay off the command line). Commands:
    ``verify`` {token}; ``watch`` {token, timeout} (replies ``armed`` at once, then
    ``refused_at`` (``time.time()``) or null on timeout); ``stats``; ``quit``.
    """
    ap = argparse.ArgumentParser(prog="python bench/verifier_node.py")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--db", help="database URL (visible in ps: prefer --setup-stdin)")
    src.add_argument(
        "--setup-stdin", action="store_true", help="read the URL (and keys) as one JSON line on stdin"
    )
    ap.add_argument("--config")
    ap.add_argument("--staleness", type=float)
    ap.add_argument("--app-name", default=DEFAULT_APP_NAME)
    ap.add_argument("--on-stale", choices=("db", "refuse"), default="db")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    setup = json.loads(sys.stdin.readline()) if args.setup_stdin else {"db": args.db}
    core = _node_core(setup, args.config)
    out = sys.stdout

    def reply(obj: dict[str, Any]) -> None:
        out.write(json.dumps(obj) + "\n")
        out.flush()

    with Verifier(
        core,
        staleness=args.staleness,
        application_name=args.app_name,
        on_stale=args.on_stale,
        ready_timeout=30,
    ) as v:
        reply({"ready": v.is_fresh(), "pid": os.getpid(), "mode": v.mode})
        for line in sys.stdin:
            try:
                cmd = json.loads(line)
                op = cmd.get("op")
            except ValueError:
                reply({"error": "bad json"})
                continue
            if op == "quit":
                break
            if op == "stats":
                reply(v.stats().to_dict())
            elif op == "verify":
                try:
                    c = v.verify_access(cmd["token"])
                    reply({"ok": True, "user_id": c.user_id, "token_version": c.token_version})
                except TokenError as exc:
                    reply(
                        {"ok": False, "error": exc.__class__.__name__, "code": exc.code, "message": str(exc)}
                    )
                except DatabaseUnavailable as exc:
                    reply(
                        {
                            "ok": False,
                            "error": exc.__class__.__name__,
                            "code": "unavailable",
                            "message": str(exc),
                        }
                    )
            elif op == "watch":
                try:
                    v.verify_access(cmd["token"])
                except TokenError as exc:
                    reply({"armed": False, "code": exc.code, "message": str(exc)})
                    continue
                reply({"armed": True})
                t = v.wait_refused(cmd["token"], float(cmd.get("timeout", 10.0)))
                reply({"refused_at": t})
            else:
                reply({"error": f"unknown op {op!r}"})
    core.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(node_main())
