"""bench/__main__.py ``--size``: the 10M run's sizes (``10m``, ``200k``, ``50000``) and, for
anything else, one usage line and exit 2 with nothing seeded (the bench's bad-input rule)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.__main__ import main, parse_size


@pytest.mark.parametrize(
    ("text", "users"),
    [
        ("10m", 10_000_000),
        ("10M", 10_000_000),
        ("1m", 1_000_000),
        ("200k", 200_000),
        ("50000", 50_000),
        ("1k", 1_000),
    ],
)
def test_sizes(text: str, users: int) -> None:
    assert parse_size(text) == users


# "\uff11k": a full-width 1, which int() takes and a size does not
@pytest.mark.parametrize(
    "text", ["", "m", "10x", "1.5m", "-5", "0", "999", "12345", "10 m", "1e6", "\uff11k"]
)
def test_not_sizes(text: str) -> None:
    assert parse_size(text) is None


@pytest.mark.parametrize("argv", [["--size", "10x"], ["--size", "0"], ["--size", "10m", "--users", "5000"]])
def test_bad_size_is_one_usage_line_and_exit_2(
    argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = tmp_path / "bench-cache"
    monkeypatch.setenv("AUTHCONSOLE_BENCH_CACHE", str(cache))
    assert main([*argv, "--engines", "sqlite"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("usage: python -m bench --size N[k|m]"), err
    assert not cache.exists()  # nothing seeded (datasets.cache_dir makes it on first use)
