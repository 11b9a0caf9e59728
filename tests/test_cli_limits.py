"""Every list command's ``--limit`` (``console.args.limit_arg``): a value outside its range, or
not an integer, is argparse's one line and exit 2 before the database is opened (once
``sessions list`` and ``attention`` clamped it silently: 5000 read as 1000, 0 or -3 as 1)."""

from __future__ import annotations

import pytest

from authcore.users import PAGE_MAX
from console.cli import main
from console.commands.users import SEARCH_MAX
from console.exitcodes import Exit

LISTS = [
    (["sessions", "list"], 1000),
    (["sessions", "list", "alice"], 1000),
    (["audit", "list"], 1000),
    (["attention"], 1000),
    (["users", "search", "a"], 500),
]


@pytest.mark.parametrize(("argv", "top"), LISTS)
@pytest.mark.parametrize("bad", ["0", "-3", "+1001x", "abc", "", "1.5", "top"])
def test_a_bad_limit_is_a_usage_error(capsys, tmp_path, argv, top, bad) -> None:  # type: ignore[no-untyped-def]
    missing = tmp_path / "none.db"  # never opened: a database error would be exit 5
    code = main(["--db", f"sqlite:///{missing}", *argv, "--limit", bad])
    out, err = capsys.readouterr()
    assert code == Exit.USAGE, err
    assert out == "" and err.count("\n") == 1 and "Traceback" not in err
    assert "--limit" in err and f"1..{top}" in err
    assert not missing.exists()


@pytest.mark.parametrize(("argv", "top"), LISTS)
def test_one_past_the_top_is_refused(capsys, tmp_path, argv, top) -> None:  # type: ignore[no-untyped-def]
    for n in (top + 1, 5000):
        code = main(["--db", f"sqlite:///{tmp_path}/none.db", *argv, "--limit", str(n)])
        assert code == Exit.USAGE
        assert f"the limit must be an integer 1..{top}" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "top"), LISTS)
def test_help_says_the_range(capsys, argv, top) -> None:  # type: ignore[no-untyped-def]
    assert main([*argv, "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert f"--limit LIMIT 1..{top}" in help_text


def test_the_search_top_is_authcores() -> None:
    """``users search``'s top, written in the console so that its parser needs no SQLAlchemy."""
    assert SEARCH_MAX == PAGE_MAX


@pytest.fixture
def demo_db(db_url, capsys):  # type: ignore[no-untyped-def]
    assert main(["--db", db_url, "demo", "--users", "20"]) == 0, capsys.readouterr().err
    capsys.readouterr()
    return db_url


def test_the_tops_are_accepted(demo_db, capsys) -> None:  # type: ignore[no-untyped-def]
    for argv, top in LISTS:
        for n in ("1", str(top)):
            code = main(["--db", demo_db, *argv, "--limit", n, "--json"])
            err = capsys.readouterr().err
            assert code == 0, (argv, n, err)


# Every other integer option: the same one line and exit 2 before the database is opened
# (``sessions prune --batch 0`` ran with 1, ``demo --users -5`` exited 1).
COUNTS = [
    (["sessions", "prune", "--reason", "r", "--yes", "--batch"], "the batch must be an integer 1..100000"),
    (["revoke", "alice", "--reason", "r", "--yes", "--batch"], "the batch must be an integer 1..100000"),
    (["revoke", "--reason", "r", "--confirm-count"], "the confirmed count must be an integer 0..10000000000"),
    (["demo", "--users"], "the user count must be an integer 0..100000000"),
    (["demo", "--seed"], "the seed must be an integer 0..9223372036854775807"),
]


@pytest.mark.parametrize(("argv", "message"), COUNTS)
@pytest.mark.parametrize("bad", ["-5", "abc", "", "1.5", "99999999999999999999999"])
def test_a_bad_count_is_a_usage_error(capsys, tmp_path, argv, message, bad) -> None:  # type: ignore[no-untyped-def]
    missing = tmp_path / "none.db"
    code = main(["--db", f"sqlite:///{missing}", *argv, bad])
    out, err = capsys.readouterr()
    assert code == Exit.USAGE, err
    assert out == "" and err.count("\n") == 1 and "Traceback" not in err
    assert message in err
    assert not missing.exists()


def test_batch_zero_is_refused_not_read_as_one(capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    argv = ["sessions", "prune", "--reason", "r", "--batch", "0"]
    code = main(["--db", f"sqlite:///{tmp_path}/none.db", *argv])
    assert code == Exit.USAGE
    assert "the batch must be an integer 1..100000" in capsys.readouterr().err
