"""authcore.files: a file the operator named is read only if it is a regular file of bounded
size; a FIFO, a device or a directory is refused at once (never a hang, never a flood), with an
``OSError`` every caller already reports in one line."""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

import pytest

from authcore.files import MAX_BYTES, read_regular


def _read_in_thread(path: Path | str, **kw: int) -> BaseException | bytes:
    """Run ``read_regular`` with a watchdog: a hang fails the test instead of freezing it."""
    out: list[BaseException | bytes] = []

    def run() -> None:
        try:
            out.append(read_regular(path, **kw))
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            out.append(exc)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(5)
    assert not t.is_alive(), f"read_regular({path}) did not return within 5 s"
    return out[0]


def test_reads_a_regular_file_whole(tmp_path: Path) -> None:
    data = os.urandom(70_000)  # more than one os.read chunk on some systems
    path = tmp_path / "key.pem"
    path.write_bytes(data)
    assert read_regular(path) == data
    assert read_regular(str(path)) == data
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert read_regular(empty) == b""


def test_the_limit_is_inclusive(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_bytes(b"x" * 100)
    assert read_regular(path, limit=100) == b"x" * 100
    with pytest.raises(OSError, match="larger than 99 bytes") as info:
        read_regular(path, limit=99)
    assert info.value.errno == errno.EFBIG
    assert info.value.filename == str(path)
    assert "larger than 99 bytes" in str(info.value)


def test_the_default_limit_refuses_a_big_file(tmp_path: Path) -> None:
    path = tmp_path / "big.toml"
    with path.open("wb") as f:
        f.truncate(MAX_BYTES + 1)  # sparse: no megabyte written
    with pytest.raises(OSError, match="larger than") as info:
        read_regular(path)
    assert info.value.errno == errno.EFBIG


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "config.toml"
    os.mkfifo(fifo)
    result = _read_in_thread(fifo)
    assert isinstance(result, OSError) and result.errno == errno.EINVAL
    assert "not a regular file" in str(result)


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null", "/dev/urandom"])
def test_a_device_is_refused(device: str) -> None:
    if not os.path.exists(device):
        pytest.skip(f"{device} is absent here")
    result = _read_in_thread(device)
    assert isinstance(result, OSError) and result.errno == errno.EINVAL


def test_a_directory_is_refused(tmp_path: Path) -> None:
    result = _read_in_thread(tmp_path)
    assert isinstance(result, OSError) and result.errno in (errno.EINVAL, errno.EISDIR)


def test_a_missing_file_is_the_ordinary_oserror(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_regular(tmp_path / "nope.toml")


def test_a_symlink_to_a_regular_file_is_followed_but_one_to_a_device_is_not(tmp_path: Path) -> None:
    target = tmp_path / "real.toml"
    target.write_text("a = 1\n", encoding="utf-8")
    (tmp_path / "link.toml").symlink_to(target)
    assert read_regular(tmp_path / "link.toml") == b"a = 1\n"
    (tmp_path / "zero.toml").symlink_to("/dev/zero")
    result = _read_in_thread(tmp_path / "zero.toml")
    assert isinstance(result, OSError) and result.errno == errno.EINVAL


def test_descriptors_are_closed_whatever_happens(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_bytes(b"x" * 10)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    before = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    if before is None:
        pytest.skip("no /proc/self/fd")
    for _ in range(50):
        read_regular(path)
        for bad, limit in ((path, 5), (fifo, MAX_BYTES)):
            with pytest.raises(OSError, match=r"larger than|not a regular file"):
                read_regular(bad, limit=limit)
    assert len(os.listdir("/proc/self/fd")) == before
