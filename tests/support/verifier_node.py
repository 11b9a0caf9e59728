"""A verifier process for the multi-process tests: ``python tests/support/verifier_node.py --db URL``.

It runs ``bench.verifier_node.node_main``: one JSON command per stdin line, one JSON reply per stdout
line (``verify``, ``watch``, ``stats``, ``quit``). The HS secret comes from ``AUTHCORE_SECRET``.
Drive it with ``bench.propagation.VerifierNode(db_url, script=<this file>)``.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from bench.verifier_node import node_main

if __name__ == "__main__":
    sys.exit(node_main())
