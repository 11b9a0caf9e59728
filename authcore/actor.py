"""Who is acting: the OS user, plus the SSH client address when there is one."""

from __future__ import annotations

import getpass
import os


def os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry (containers)
        return f"uid{os.getuid()}"


def operator_identity() -> str:
    """``alice`` or ``alice via ssh 10.1.2.3`` (from ``SSH_CONNECTION``)."""
    user = os_user()
    ssh = os.environ.get("SSH_CONNECTION", "").split()
    return f"{user} via ssh {ssh[0]}" if ssh else user
