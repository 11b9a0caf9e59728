"""``[attention]`` in the config: the burst threshold and window, each bad value refused with one
line naming the key (value never echoed) and exit code 3; a system file may lock the table."""

from __future__ import annotations

from datetime import timedelta

import pytest

from authcore import config as config_mod
from authcore.config import AttentionSettings, load_config
from console.cli import main
from console.exitcodes import Exit


def test_defaults_and_values(write_config) -> None:  # type: ignore[no-untyped-def]
    write_config("")
    assert load_config().attention == AttentionSettings(5, timedelta(minutes=10))
    write_config("[attention]\nburst_sessions = 8\nburst_window = '1h'\n")
    assert load_config().attention == AttentionSettings(8, timedelta(hours=1))
    write_config("[attention]\nburst_window = 90\n")
    assert load_config().attention == AttentionSettings(5, timedelta(seconds=90))
    assert "attention" in config_mod.LOCKABLE  # a bastion's system file may fix the thresholds


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("attention = 31337\n", "[attention] must be a table"),
        ("[attention]\nburst_sessions = 1\n", "attention.burst_sessions must be a whole number from 2"),
        ("[attention]\nburst_sessions = 31337\n", "attention.burst_sessions must be a whole number from 2"),
        ("[attention]\nburst_sessions = true\n", "attention.burst_sessions must be a whole number"),
        ("[attention]\nburst_sessions = 'SECRETVALUE'\n", "attention.burst_sessions must be a whole number"),
        ("[attention]\nburst_window = 'SECRETVALUE'\n", "attention.burst_window is not a positive duration"),
        ("[attention]\nburst_window = -7777777\n", "attention.burst_window is not a positive duration"),
        ("[attention]\nburst_window = '2d'\n", "attention.burst_window must be at most 1 day"),
        ("[attention]\nSECRETVALUE = 1\n", "unknown [attention] setting"),
    ],
)
def test_bad_values_one_line_exit_3_never_echoed(body, fragment, capsys, write_config) -> None:  # type: ignore[no-untyped-def]
    write_config(body)
    code = main(["attention"])
    err = capsys.readouterr().err
    assert code == Exit.CONFIG and fragment in err, err
    assert err.count("\n") == 1 and "Traceback" not in err
    if "unknown" not in fragment:
        for value in ("SECRETVALUE", "7777777", "31337"):
            assert value not in err
