"""Issue 12.3: a database password never reaches a message, however it is written."""

from __future__ import annotations

import pytest

from authcore.db import mask_url
from authcore.urls import mask_password
from console.cli import main

PW = "S3cretPW"


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql+psycopg://127.0.0.1:1/db?user=u&password={PW}",
        f"postgresql+psycopg://127.0.0.1:1/db?password={PW}&user=u",
        f"postgresql+psycopg://127.0.0.1:1/db?user=u&PASSWORD={PW}#frag",
        f"postgresql+psycopg://u:{PW}@127.0.0.1:1/db",
        f"postgresql+psycopg://u:{PW[:3]}@{PW[3:]}@127.0.0.1:1/db",  # unencoded '@'
        f"postgresql+psycopg://u:{PW[:3]}@{PW[3:]}@no-such-host.invalid/db",
        f"postgresql+psycopg://u@127.0.0.1:99999/db?password={PW}",
        f"postgresql+psycopg://u@127.0.0.1:abc/db?password={PW}",
        f"postgres://u:{PW}@127.0.0.1:1/db?sslmode=disable",
    ],
)
def test_no_message_holds_the_password(url: str, capsys) -> None:  # type: ignore[no-untyped-def]
    for argv in (["users", "search", "a"], ["db", "status"], ["--json", "db", "upgrade"]):
        code = main(["--db", url, *argv])
        out, err = capsys.readouterr()
        assert code in (1, 5), err
        assert err.count("\n") == 1
        for part in (PW, PW[3:], PW[:3] + "@"):
            assert part not in out + err, (url, err)


def test_the_one_mask() -> None:
    assert (
        mask_password(f"postgresql://h/db?user=u&password={PW}&sslmode=require")
        == "postgresql://h/db?user=u&password=***&sslmode=require"
    )
    assert (
        mask_password(f"connection to server failed: password={PW} host=x")
        == "connection to server failed: password=*** host=x"
    )
    assert mask_password(f"dbname=x password='{PW} with spaces' host=y") == "dbname=x password=*** host=y"
    assert PW not in mask_url(f"postgresql+psycopg://h/db?password={PW}")
    assert mask_url(f"postgresql+psycopg://u:{PW[:3]}@{PW[3:]}@h/db") == "postgresql+psycopg://u:***@h/db"


def test_every_mask_is_the_one_mask() -> None:
    """The verifier's log line and the inspector's outage line mask through ``mask_password``:
    quoted conninfo values, URL userinfo with an ``@`` inside, and ``password=`` parameters."""
    from authcore.inspect.live import _one_line
    from authcore.verifier.updates import first_line

    for message in (
        f"connection failed: dbname=x password='{PW} with spaces' host=y",
        f"could not connect to postgresql://u:{PW[:3]}@{PW[3:]}@h/db",
        f"bad url postgresql://h/db?user=u&password={PW}&sslmode=require",
    ):
        for masked in (first_line(RuntimeError(message)), _one_line(RuntimeError(message))):
            assert mask_password(message) in masked
            for part in (PW, PW[3:], PW[:3] + "@"):
                assert part not in masked, (message, masked)
