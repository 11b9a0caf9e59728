"""Who is acting: the OS account of the process's real uid, never an environment variable.

``USER``, ``LOGNAME`` and ``SSH_CONNECTION`` are set by the operator's own environment, so none of
them can name the actor (``getpass.getuser()`` reads ``LOGNAME``/``USER`` first: not used). The
SSH client address is kept, but only as *claimed* context (``ssh_client``), recorded in the audit
event's separate ``client`` field. On PostgreSQL the database itself records the role the
connection authenticated as (``audit_events.db_role``, default ``session_user``).
"""

from __future__ import annotations

import os
import pwd


def os_user() -> str:
    """The account name of the real uid (``uid1234`` when it has no passwd entry)."""
    uid = os.getuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:  # no passwd entry (containers)
        return f"uid{uid}"


def ssh_client() -> str | None:
    """``ssh 10.1.2.3`` from ``SSH_CONNECTION``: claimed by the environment, never an identity."""
    parts = os.environ.get("SSH_CONNECTION", "").split()
    if not parts:
        return None
    return "ssh " + "".join(ch for ch in parts[0][:64] if ch.isprintable())


def operator_identity() -> str:
    """The actor recorded for an operator: the OS account only."""
    return os_user()
