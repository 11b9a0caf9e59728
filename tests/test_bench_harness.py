"""bench.harness.interleave: the ``after`` hook is charged to the sample that ran before it."""

from __future__ import annotations

import time

from bench.harness import interleave


def test_after_runs_once_per_sample_inside_its_time() -> None:
    calls: list[str] = []
    pending = {"a": 0, "b": 0}
    charged: list[tuple[str, int]] = []

    def a() -> None:
        calls.append("a")
        pending["a"] += 1

    def b() -> None:
        calls.append("b")
        pending["b"] += 1

    def after() -> None:
        # what the sample left behind, paid now: a side's deferred work, like a checkpoint
        side = "a" if pending["a"] else "b"
        charged.append((side, pending[side]))
        if pending["a"] and pending["b"]:  # the warm-up ran both
            charged[-1] = ("warm-up", pending["a"] + pending["b"])
            pending["a"] = pending["b"] = 0
        pending[side] = 0
        time.sleep(0.02)

    s = interleave(a, b, samples=4, inner=2, warmup=1, after=after)
    assert charged[0] == ("warm-up", 4)  # before timing starts: nobody's sample
    assert charged[1:] == [("a", 2), ("b", 2), ("b", 2), ("a", 2), ("a", 2), ("b", 2), ("b", 2), ("a", 2)]
    # each sample holds its own after(): 20 ms over 2 calls, at least 10 ms per call
    assert min(s.a + s.b) >= 0.01
    assert len(s.a) == len(s.b) == 4


def test_without_after_samples_hold_only_the_calls() -> None:
    s = interleave(lambda: None, lambda: None, samples=3, inner=5, warmup=0)
    assert max(s.a + s.b) < 0.01
