"""Timing primitives and the one results table.

Every figure is measured side by side with its baseline in the same process: samples alternate
between the two (A B B A ...) so drift, turbo and noisy neighbours hit both alike, after a
warm-up of each. A sample times ``inner`` calls back to back (so microsecond paths are not
drowned by the timer), and the statistic is the median (or p95) of the per-call times.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

Fn = Callable[[], object]


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of ``values``."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, round(p / 100 * len(s) + 0.5) - 1))
    return s[k]


@dataclass
class Samples:
    a: list[float]
    b: list[float]

    def stat(self, which: str, kind: str = "median") -> float:
        xs = self.a if which == "a" else self.b
        return statistics.median(xs) if kind == "median" else percentile(xs, 95)


def interleave(
    a: Fn,
    b: Fn,
    *,
    samples: int = 30,
    inner: int = 1,
    warmup: int = 3,
    budget_s: float | None = None,
    after: Callable[[str | None], object] | None = None,
) -> Samples:
    """Per-call seconds of ``a`` and ``b``, ``samples`` each, alternating ABBA.

    ``budget_s`` stops early (but never under 5 samples each) when a slow path would take too
    long; both sides always get the same number of samples. ``after(side)`` runs once at the
    end of every sample (``side`` "a" or "b"), inside that sample's time: work a side defers and
    someone pays later (a SQLite WAL checkpoint of the pages the sample wrote), charged to the
    side that caused it rather than to whichever call happens to cross the threshold (a sample
    then holds a checkpoint or not, and the median flipped between the two); ``after(None)``
    once after the warm-up.
    """
    for _ in range(warmup):
        for _ in range(inner):
            a()
        for _ in range(inner):
            b()
    if after is not None:
        after(None)  # the warm-up's deferred work is nobody's sample
    out_a: list[float] = []
    out_b: list[float] = []
    gc_was = gc.isenabled()
    gc.collect()
    gc.disable()  # a collection landing in one side's sample is noise, not cost
    start = time.perf_counter()
    try:
        for i in range(samples):
            order = (a, b) if i % 2 == 0 else (b, a)
            for fn in order:
                t0 = time.perf_counter()
                for _ in range(inner):
                    fn()
                if after is not None:
                    after("a" if fn is a else "b")
                dt = (time.perf_counter() - t0) / inner
                (out_a if fn is a else out_b).append(dt)
            if budget_s is not None and i >= 4 and time.perf_counter() - start > budget_s:
                break
    finally:
        if gc_was:
            gc.enable()
    return Samples(out_a, out_b)


def calibrate(fn: Fn, target_s: float = 0.002, cap: int = 2000) -> int:
    """How many calls of ``fn`` make a sample of about ``target_s``."""
    t0 = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 1e-7)
    return max(1, min(cap, int(target_s / one)))


@dataclass
class Row:
    """One line of the table: ``value`` against ``baseline``; PASS when ratio <= target (and the
    absolute ``limit`` holds, if any)."""

    section: str
    figure: str
    value: float
    baseline_name: str
    baseline: float
    target: float
    unit: str = "ms"
    limit: float | None = None  # absolute bound on value, same unit
    note: str = ""
    error: str | None = None
    info: bool = False  # reported, not judged

    @property
    def ratio(self) -> float:
        if self.baseline <= 0:
            return float("inf")
        return self.value / self.baseline

    @property
    def passed(self) -> bool:
        if self.error is not None:
            return False
        if self.info:
            return True
        ok = self.ratio <= self.target
        if self.limit is not None:
            ok = ok and self.value < self.limit
        return ok

    @property
    def verdict(self) -> str:
        if self.error is not None:
            return "ERROR"
        if self.info:
            return "info"
        return "PASS" if self.passed else "FAIL"


def fmt(value: float, unit: str) -> str:
    if value != value:  # nan
        return "-"
    if unit == "ms":
        ms = value * 1000
        if ms < 1:
            return f"{ms * 1000:.1f} µs"
        return f"{ms:.2f} ms" if ms < 100 else f"{ms:.0f} ms"
    if unit == "MB":
        return f"{value / 1e6:.1f} MB"
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "count":
        return f"{value:.0f}"
    return f"{value:.3g} {unit}"


@dataclass
class Table:
    rows: list[Row] = field(default_factory=list)

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        return row

    def render(self) -> str:
        head = ["figure", "value", "baseline", "ratio", "target", "result"]
        lines: list[list[str]] = []
        for r in self.rows:
            target = f"≤{r.target:g}x"
            if r.limit is not None:
                target += f", <{fmt(r.limit, r.unit)}"
            if r.info:
                target = "-"
            base = f"{fmt(r.baseline, r.unit)} ({r.baseline_name})" if r.baseline_name else "-"
            value = fmt(r.value, r.unit) if r.error is None else r.error[:60]
            ratio = f"{r.ratio:.2f}x" if r.error is None and r.baseline > 0 else "-"
            lines.append([f"{r.section}: {r.figure}", value, base, ratio, target, r.verdict])
        widths = [max(len(h), *(len(x[i]) for x in lines)) if lines else len(h) for i, h in enumerate(head)]
        out = [
            " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)),
            "-+-".join("-" * w for w in widths),
        ]
        for x in lines:
            out.append(" | ".join(c.ljust(w) for c, w in zip(x, widths, strict=True)))
        notes = [f"  [{i + 1}] {r.section}: {r.figure}: {r.note}" for i, r in enumerate(self.rows) if r.note]
        if notes:
            out.append("")
            out.append("notes:")
            out.extend(notes)
        return "\n".join(out)

    @property
    def failed(self) -> list[Row]:
        return [r for r in self.rows if not r.passed]
