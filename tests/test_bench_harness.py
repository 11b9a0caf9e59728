"""bench.harness.interleave: the ``after`` hook is charged to the sample that ran before it."""

from __future__ import annotations

import time

from bench.harness import interleave


def test_after_runs_once_per_sample_inside_its_time() -> None:
    pending = {"a": 0, "b": 0}
    charged: list[tuple[str | None, int]] = []

    def a() -> None:
        pending["a"] += 1

    def b() -> None:
        pending["b"] += 1

    def after(side: str | None) -> None:
        # what was left behind, paid now (like a checkpoint): the side named is the one that ran
        charged.append((side, pending["a"] + pending["b"]))
        if side is not None:
            assert pending[side] == 2 and pending["b" if side == "a" else "a"] == 0
        pending["a"] = pending["b"] = 0
        time.sleep(0.02)

    s = interleave(a, b, samples=4, inner=2, warmup=1, after=after)
    assert charged[0] == (None, 4)  # the warm-up's, before timing starts: nobody's sample
    sides = [side for side, _ in charged[1:]]
    assert sides == ["a", "b", "b", "a", "a", "b", "b", "a"]  # ABBA, one call per sample
    # each sample holds its own after(): 20 ms over 2 calls, at least 10 ms per call
    assert min(s.a + s.b) >= 0.01
    assert len(s.a) == len(s.b) == 4


def test_without_after_samples_hold_only_the_calls() -> None:
    s = interleave(lambda: None, lambda: None, samples=3, inner=5, warmup=0)
    assert max(s.a + s.b) < 0.01
