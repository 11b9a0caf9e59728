"""bench/propagation.py: the measuring tools' own arithmetic (the probes themselves run against
real verifiers in test_verifier.py, test_verifier_node.py and test_verifier_twonode.py)."""

from __future__ import annotations

import math

from bench.propagation import NODE_SCRIPT, PropagationStats


def test_nearest_rank_percentiles() -> None:
    s = PropagationStats(tuple(float(x) for x in range(1, 101)), timeouts=2)
    assert (s.n, s.p50, s.p95, s.p99, s.max) == (100, 50.0, 95.0, 99.0, 100.0)
    assert s.percentile(0) == 1.0 and s.percentile(100) == 100.0
    assert s.to_dict()["timeouts"] == 2
    assert s.summary().startswith("n=100 p50=50.0 ms p95=95.0 ms")


def test_no_samples_is_nan_not_zero() -> None:
    s = PropagationStats(())
    assert s.n == 0 and math.isnan(s.p95) and math.isnan(s.max)


def test_the_child_script_is_shipped_with_the_tools() -> None:
    assert NODE_SCRIPT.is_file() and NODE_SCRIPT.parent.name == "bench"
