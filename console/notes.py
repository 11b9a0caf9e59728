"""``authcore.reads``' warnings (a read replica that is down: reads went to the primary) as the
command's notes on stderr: ``authconsole: note: ...``, or with ``--json`` one ``{"note": ...}``
object per line, like the database-role note.

Its own module so that ``console.cli`` does not import ``logging`` (and ``traceback`` with it):
only a command whose core has a read replica routes the notes.
"""

from __future__ import annotations

import logging

from authcore.text import clean
from console.output import err, err_json


class _Notes(logging.Handler):
    as_json = False

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = clean(record.getMessage(), max_len=400)
            if self.as_json:
                err_json({"note": text})
            else:
                err(f"note: {text}")
        except Exception:  # noqa: BLE001 - a note must not stop the command
            pass


_READS_NOTES = _Notes(logging.WARNING)


def route_reads_notes(as_json: bool) -> None:
    """Send ``authcore.reads``' warnings to stderr as notes (once, however often called)."""
    _READS_NOTES.as_json = as_json
    reads_log = logging.getLogger("authcore.reads")
    if _READS_NOTES not in reads_log.handlers:
        reads_log.addHandler(_READS_NOTES)
    reads_log.propagate = False
