"""Reading a small file the operator named (config, key, JWKS): never hang, never fill memory.

``open`` blocks on a FIFO until a writer appears and ``read`` never ends on ``/dev/zero``. This
opens non-blocking, checks it is a regular file and caps the size before reading. Refusals are
``OSError`` (EINVAL, EFBIG) so every caller's existing ``except OSError`` reports them in one line.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

MAX_BYTES = 1 << 20  # configs and keys are a few KiB; anything bigger is a mistake


def read_regular(path: str | os.PathLike[str], limit: int = MAX_BYTES) -> bytes:
    """The content of ``path``, if it is a regular file of at most ``limit`` bytes."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", os.fspath(path))
        if st.st_size > limit:
            raise OSError(errno.EFBIG, f"larger than {limit:,} bytes", os.fspath(path))
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > limit:  # grew while reading
        raise OSError(errno.EFBIG, f"larger than {limit:,} bytes", os.fspath(Path(path)))
    return b"".join(chunks)
