"""A verifier process for the multi-process tests: ``python tests/support/verifier_node.py --db URL``.

It runs ``authcore.verifier.node_main``: one JSON command per stdin line, one JSON reply per stdout
line (``verify``, ``watch``, ``stats``, ``quit``). The HS secret comes from ``AUTHCORE_SECRET``.
Drive it with ``authcore.verifier.VerifierNode(db_url, script=<this file>)``.
"""

from __future__ import annotations

import sys

from authcore.verifier import node_main

if __name__ == "__main__":
    sys.exit(node_main())
