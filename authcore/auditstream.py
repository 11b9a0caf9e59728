"""The audit log as a stream: one JSON line per event, a follower that never skips one, and a
chain check of a shipped copy from the file alone.

A line (schema ``authcore/schemas/audit-event-v1.json``, docs/audit-stream.md) carries every
hashed field of the event plus ``seq``, ``prev_hash`` and ``hash``, so a copy kept elsewhere
can be re-hashed with ``authcore.audit.event_hash`` (the one hash function) without the
database.

Why a follower can read ``seq > last`` in order: events are appended under ``audit_head``'s
row lock (PostgreSQL ``FOR UPDATE``, SQLite ``BEGIN IMMEDIATE``), which is held until commit,
so seq N+1 is allocated only after N committed (a rolled-back append leaves no hole: the next
writer reuses its seq). ``Tail`` still emits only a contiguous run after the last seq and
waits ``gap_wait`` seconds on a hole before reporting it (a deleted event, or a writer that
does not take the lock), so an in-flight seq is never stepped over.
"""

from __future__ import annotations

import json
import os
import re
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import IO, TYPE_CHECKING, Any

from sqlalchemy import Engine, select

from authcore.audit import AuditRecord, ExpectedHead, _record, event_hash
from authcore.db import read_conn
from authcore.errors import ValidationError
from authcore.models import GENESIS_HASH, audit_events
from authcore.timeutil import parse_duration, utcnow

if TYPE_CHECKING:  # pragma: no cover
    import psycopg

SCHEMA_VERSION = 1
SCHEMA_FILE = "audit-event-v1.json"
#: PostgreSQL: the trigger of migration 0010 NOTIFYs this channel once per appending statement.
CHANNEL = "authcore_audit"
#: The keys of a line, in the order written.
FIELDS = (
    "v",
    "seq",
    "at",
    "actor",
    "action",
    "target_user_id",
    "target_session",
    "reason",
    "details",
    "client",
    "db_role",
    "prev_hash",
    "hash",
)
LINE_MAX = 1 << 20  # a longer line is not an event this authcore wrote


def schema() -> dict[str, Any]:
    """The JSON Schema of a line (shipped in the package)."""
    text = resources.files("authcore").joinpath("schemas", SCHEMA_FILE).read_text("utf-8")
    got: dict[str, Any] = json.loads(text)
    return got


def event_dict(e: AuditRecord) -> dict[str, Any]:
    """An event as a version-1 line's object. ``at`` is written as the hash reads it
    (ISO 8601, microseconds, UTC offset)."""
    return {
        "v": SCHEMA_VERSION,
        "seq": e.seq,
        "at": e.at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor": e.actor,
        "action": e.action,
        "target_user_id": e.target_user_id,
        "target_session": e.target_session,
        "reason": e.reason,
        "details": e.details,
        "client": e.client,
        "db_role": e.db_role,
        "prev_hash": e.prev_hash,
        "hash": e.hash,
    }


def encode(e: AuditRecord) -> str:
    """One line, without its newline. ASCII only (every other character a ``\\u`` escape), so
    a terminal shows it inertly and the decoded strings are exactly the stored ones."""
    return json.dumps(event_dict(e), ensure_ascii=True, separators=(",", ":"))


# -- filters -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bound:
    """One end of a range: an event seq, or a time (UTC)."""

    seq: int | None = None
    at: datetime | None = None

    def __str__(self) -> str:
        return f"seq {self.seq}" if self.seq is not None else f"{self.at:%Y-%m-%d %H:%M:%S} UTC"


_SEQ = re.compile(r"[0-9]{1,18}")
_AGO = re.compile(r"[0-9]+\s*[smhdw]")


def parse_bound(text: str, now: datetime | None = None) -> Bound:
    """``--since``/``--until``: a seq (``1234``), a UTC time (``2026-12-03``,
    ``2026-12-03T10:00``, ``2026-12-03 10:00:05+01:00``; without an offset it is UTC) or a
    time ago (``15m``, ``2h``, ``7d``: ``authcore.timeutil.parse_duration``)."""
    raw = text.strip()
    shown = raw[:40].encode("ascii", "backslashreplace").decode()
    if _SEQ.fullmatch(raw):
        return Bound(seq=int(raw))
    if _AGO.fullmatch(raw):
        try:
            return Bound(at=(now or utcnow()) - parse_duration(raw))
        except (ValueError, OverflowError):
            raise ValidationError(f"not a time or seq: {shown!r}") from None
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        raise ValidationError(
            f"not a time or seq: {shown!r} (use a seq, 2026-12-03T10:00[Z], or 15m / 2h / 7d ago)"
        ) from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return Bound(at=at.astimezone(UTC))


# -- following -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Gap:
    """Seq ``missing`` .. ``resumed - 1`` never appeared within ``gap_wait``: deleted (or a
    retention run removed them when the reader starts before the first kept event)."""

    missing: int
    resumed: int


class ChainMismatch(ValidationError):
    """The next event does not link to the hash the reader saw last: the chain was rewritten
    since, or the state file belongs to another database."""


class Tail:
    """Events after ``after`` in seq order; each ``read`` is one bounded query (``read_conn``:
    the engine's statement timeout) and returns only a contiguous run, so an event is never
    stepped over while an earlier seq might still commit."""

    def __init__(
        self,
        engine: Engine,
        after: int = 0,
        after_hash: str | None = None,
        *,
        batch: int = 500,
        gap_wait: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.last = max(0, int(after))
        self.last_hash = after_hash
        self.batch = max(1, min(int(batch), 5000))
        self.gap_wait = gap_wait
        self._clock = clock
        self._gap_since: float | None = None
        self.gaps: list[Gap] = []  # holes reported (and stepped over) so far

    def read(self) -> list[AuditRecord]:
        """The next contiguous events (possibly none). A hole right after ``last`` holds the
        read back until it has lasted ``gap_wait``; then it is recorded in ``gaps`` and the
        read goes on after it. Raises ``ChainMismatch`` when the next event does not link to
        ``last_hash``."""
        stmt = (
            select(audit_events)
            .where(audit_events.c.seq > self.last)
            .order_by(audit_events.c.seq)
            .limit(self.batch)
        )
        with read_conn(self.engine) as conn:
            rows = [_record(r) for r in conn.execute(stmt)]
        out = self.contiguous(rows)
        if out:
            nxt = out[0]
            if self.last_hash is not None and nxt.prev_hash != self.last_hash and not self.gaps_at(nxt.seq):
                raise ChainMismatch(
                    f"event seq {nxt.seq} does not link to the hash of seq {self.last} seen before "
                    f"({self.last_hash[:16]}…): the chain was rewritten, or the state is another database's"
                )
            self.last, self.last_hash = out[-1].seq, out[-1].hash
        return out

    @property
    def holding(self) -> bool:
        """A hole right after ``last`` is being waited out: read again soon."""
        return self._gap_since is not None

    def gaps_at(self, seq: int) -> bool:
        return bool(self.gaps) and self.gaps[-1].resumed == seq

    def contiguous(self, rows: list[AuditRecord]) -> list[AuditRecord]:
        """The run of ``rows`` (ascending) that starts at ``last + 1`` without a hole. From the
        very start (``last`` 0) the first event may be later than seq 1 (a retention run)."""
        if not rows:
            self._gap_since = None
            return []
        first = rows[0].seq
        if first != self.last + 1 and self.last > 0:
            now = self._clock()
            if self._gap_since is None:
                self._gap_since = now
            if now - self._gap_since < self.gap_wait:
                return []
            self.gaps.append(Gap(self.last + 1, first))
        # from the start (last 0) the chain's first kept event may be later than seq 1
        self._gap_since = None
        run = [rows[0]]
        for r in rows[1:]:
            if r.seq != run[-1].seq + 1:
                break
            run.append(r)
        return run


class Waiter:
    """Sleeps until new events may have committed, or ``interval``; ``halt`` (from any thread)
    ends a wait early (it returns False); ``close`` frees it (from the waiting thread)."""

    interval = 0.5

    def __init__(self) -> None:
        self.stopped = threading.Event()

    def wait(self, timeout: float | None = None) -> bool:
        """True if woken by a notice (rather than the timeout)."""
        self.stopped.wait(max(0.0, self.interval if timeout is None else timeout))
        return False

    def halt(self) -> None:
        self.stopped.set()

    def close(self) -> None:
        return None


class PollWaiter(Waiter):
    """SQLite: nothing announces a commit, so the follower re-reads every ``poll_s``."""

    def __init__(self, poll_s: float = 0.5) -> None:
        super().__init__()
        self.interval = poll_s


class NotifyWaiter(Waiter):
    """PostgreSQL: a connection LISTENing on ``CHANNEL`` (``verifier.listen.open_listener``,
    every wait bounded by ``beat_timeout``). Each wait starts with a ``SELECT 1`` heartbeat (a
    silent server is down, not idle), then returns on the first notice or after ``interval``:
    the follower re-reads at least that often, so a notice lost with a dropped connection costs
    one interval, never an event. A failed connection is dropped, the error raised as an
    ``AuthCoreError`` (``DatabaseUnavailable``) for the caller's backoff, and the next wait opens
    a new one."""

    TICK_S = 0.25  # longest single wait for a notice (well inside beat_timeout)

    def __init__(self, engine: Engine, url: str, interval: float = 5.0, beat_timeout: float = 5.0) -> None:
        super().__init__()
        self.engine = engine
        self.url = url
        self.interval = interval
        self.beat_timeout = beat_timeout
        self._conn: psycopg.Connection[Any] | None = None

    def wait(self, timeout: float | None = None) -> bool:
        """A fresh LISTEN returns at once (True): whatever committed before it is read next,
        everything after arrives as a notice."""
        from authcore.db import database_error

        try:
            if self._conn is None:
                from authcore.verifier.listen import open_listener

                self._conn = open_listener(
                    self.url, "authconsole-audit-tail", self.beat_timeout, channels=(CHANNEL,)
                )
                return True
            conn = self._conn
            conn.execute("SELECT 1")
            end = time.monotonic() + (self.interval if timeout is None else timeout)
            got = False
            while not got and not self.stopped.is_set():
                left = end - time.monotonic()
                if left <= 0:
                    break
                for _n in conn.notifies(timeout=min(left, self.TICK_S), stop_after=1):
                    got = True
            for _n in conn.notifies(timeout=0):  # a burst is one wake-up
                got = True
            return got
        except Exception as e:  # noqa: BLE001 - psycopg's and ours alike: translated, one line
            self.close()
            raise database_error(self.engine, e) from None

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # noqa: BLE001 - broken already
                pass
            self._conn = None


def waiter_for(engine: Engine, poll_s: float = 0.5, notify_interval: float = 5.0) -> Waiter:
    """NOTIFY where it can work (PostgreSQL, a direct connection: ``listen_target``), re-reading
    at least every ``notify_interval``; else polling every ``poll_s``."""
    from authcore.verifier.listen import listen_target

    url = listen_target(engine, None, poll_s)
    return NotifyWaiter(engine, url, interval=notify_interval) if url else PollWaiter(poll_s)


# -- reading a shipped copy ----------------------------------------------------------------


@dataclass(frozen=True)
class FileReport:
    ok: bool
    checked: int
    first_seq: int | None
    last_seq: int | None
    last_hash: str | None
    problem: str = ""
    first_bad_seq: int | None = None
    line: int | None = None
    heads_checked: int = 0
    anchored: bool = False  # the first line's prev_hash was checked (genesis, or an expected head)


def open_lines(path: str) -> IO[bytes]:
    """A regular file (never blocks on a FIFO or device), or ``-`` for stdin."""
    if path == "-":
        import io
        import sys

        buf: IO[bytes] | None = getattr(sys.stdin, "buffer", None)
        return buf if buf is not None else io.BytesIO(sys.stdin.read().encode("utf-8", "surrogateescape"))
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as e:
        raise ValidationError(f"cannot read {path}: {e.strerror}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ValidationError(f"{path} is not a regular file")
    return os.fdopen(fd, "rb")


def _lines(f: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    n = 0
    while True:
        raw = f.readline(LINE_MAX + 1)
        if not raw:
            return
        n += 1
        if len(raw) > LINE_MAX:
            raise ValidationError(f"line {n} is longer than {LINE_MAX} bytes")
        if raw.strip():
            yield n, raw


def _decode(n: int, raw: bytes) -> dict[str, Any] | str:
    """A line's object, or why it is not a version-1 event."""
    try:
        obj = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return "not a JSON line"
    if not isinstance(obj, dict):
        return "not a JSON object"
    if obj.get("v") != SCHEMA_VERSION:
        return f"schema version {str(obj.get('v'))[:8]!r}, expected {SCHEMA_VERSION}"
    for k in FIELDS:
        if k not in obj:
            return f"no {k!r}"
    ints = ("seq", "target_user_id")
    for k in ints:
        v = obj[k]
        if v is not None and (type(v) is not int or v < (1 if k == "seq" else 0)):
            return f"{k!r} is not a positive integer"
    for k in ("actor", "action", "reason", "at", "prev_hash", "hash"):
        if type(obj[k]) is not str:
            return f"{k!r} is not a string"
    for k in ("target_session", "client", "db_role"):
        if obj[k] is not None and type(obj[k]) is not str:
            return f"{k!r} is not a string or null"
    if type(obj["details"]) is not dict:
        return "'details' is not an object"
    try:
        at = datetime.fromisoformat(obj["at"])
    except ValueError:
        return "'at' is not an ISO 8601 time"
    if at.tzinfo is None:
        return "'at' has no UTC offset"
    obj["at"] = at
    return obj


def verify_lines(lines: Iterable[tuple[int, bytes]], expect: Iterable[ExpectedHead] = ()) -> FileReport:
    """Re-hash every line with ``audit.event_hash`` and check each links to the one before.
    The first line links to the genesis hash when it is seq 1; a file that starts mid-chain is
    anchored by an expected head of the seq before it (its ``prev_hash``), otherwise its first
    link is taken as given (``anchored`` False). Every other expected head must be in the file."""
    want: dict[int, set[str]] = {}
    for head in expect:
        want.setdefault(head.seq, set()).add(head.hash)
    checked = found = 0
    first = last = None
    prev: str | None = None
    anchored = False

    def bad(problem: str, seq: int | None, n: int | None) -> FileReport:
        return FileReport(False, checked, first, last, prev, problem, seq, n, found, anchored)

    for n, raw in lines:
        obj = _decode(n, raw)
        if isinstance(obj, str):
            return bad(f"line {n}: {obj}", (last + 1) if last is not None else None, n)
        seq = obj["seq"]
        if first is None:
            first = seq
            if seq == 1:
                anchored = True
                if obj["prev_hash"] != GENESIS_HASH:
                    return bad(f"event seq 1 (line {n}) does not start from the genesis hash", 1, n)
            elif seq - 1 in want:
                anchored = True
                if obj["prev_hash"] not in want[seq - 1]:
                    return bad(
                        f"event seq {seq} (line {n}) does not link to the expected head "
                        f"{seq - 1}:{min(want[seq - 1])[:16]}…",
                        seq,
                        n,
                    )
                found += 1
        elif seq != (last or 0) + 1:
            return bad(f"event seq {(last or 0) + 1} is missing (line {n} is seq {seq})", (last or 0) + 1, n)
        elif obj["prev_hash"] != prev:
            return bad(f"event seq {seq} (line {n}) does not link to its predecessor", seq, n)
        h = event_hash(
            seq,
            obj["at"],
            obj["actor"],
            obj["action"],
            obj["target_user_id"],
            obj["target_session"],
            obj["reason"],
            obj["details"],
            obj["prev_hash"],
            obj["client"],
            obj["db_role"],
        )
        if h != obj["hash"]:
            return bad(f"event seq {seq} (line {n}) was altered: its hash does not match", seq, n)
        if seq in want:
            if obj["hash"] not in want[seq]:
                return bad(
                    f"expected head {seq}:{min(want[seq])[:16]}… is not in the file: event seq "
                    f"{seq} has hash {h[:16]}…",
                    seq,
                    n,
                )
            found += 1
        last, prev = seq, h
        checked += 1
    if first is None:
        return FileReport(False, 0, None, None, None, "the file holds no event")
    outside = sorted(s for s in want if not (first - 1 <= s <= (last or 0)))
    if outside:
        return bad(
            f"expected head seq {outside[0]} is not in the file (seq {first}..{last})", outside[0], None
        )
    return FileReport(True, checked, first, last, prev, heads_checked=found, anchored=anchored)


def verify_file(path: str, expect: Iterable[ExpectedHead] = ()) -> FileReport:
    """``verify_lines`` over a file (``-``: stdin), streamed line by line."""
    f = open_lines(path)
    try:
        return verify_lines(_lines(f), expect)
    finally:
        if path != "-":
            f.close()


# -- a follower's state file ---------------------------------------------------------------

STATE_MAX = 4096


def read_state(path: str) -> ExpectedHead | None:
    """The ``SEQ:HASH`` of the last event a follower wrote, or None if ``path`` does not exist
    yet (its first run). Only a small regular file is read."""
    from authcore.audit import parse_head

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise ValidationError(f"cannot read the state file: {e.strerror}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValidationError("the state file is not a regular file")
        data = os.read(fd, STATE_MAX + 1)
    finally:
        os.close(fd)
    if len(data) > STATE_MAX:
        raise ValidationError("the state file is not a follower's state (too large)")
    try:
        return parse_head(data.decode("utf-8"))
    except (UnicodeDecodeError, ValidationError):
        raise ValidationError("the state file does not hold SEQ:HASH (the last event written)") from None


def write_state(path: str, seq: int, hash_: str) -> None:
    """Replace the state atomically (a temporary file beside it, fsync, rename): after a crash
    it holds either the previous or the new ``SEQ:HASH``, never a torn one."""
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, f"{seq}:{hash_}\n".encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


# -- a follower's own output file ----------------------------------------------------------


class LineFile:
    """JSON lines appended to a file that is also the follower's state: the last complete line
    says where to resume. A line torn by a crash (SIGKILL, power loss mid-write) is cut off at
    the next open, so across any stop the file holds every event once, in order."""

    def __init__(self, path: str) -> None:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NONBLOCK, 0o600)
        except OSError as e:
            raise ValidationError(f"cannot open {path}: {e.strerror}") from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise ValidationError(f"{path} is not a regular file")
            os.set_blocking(fd, True)
            self.last = self._resume(fd, path)
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd

    @staticmethod
    def _resume(fd: int, path: str) -> ExpectedHead | None:
        size = os.fstat(fd).st_size
        if size == 0:
            return None
        start = max(0, size - LINE_MAX - 1)
        tail = os.pread(fd, size - start, start)
        cut = tail.rfind(b"\n")
        if cut < 0 and start == 0:
            os.ftruncate(fd, 0)  # a first line that never finished
            return None
        if cut < 0:
            raise ValidationError(f"{path}: its last line is longer than {LINE_MAX} bytes")
        if cut + 1 < len(tail):  # torn by a crash mid-write: not written, as far as anyone knows
            os.ftruncate(fd, start + cut + 1)
        line_start = tail.rfind(b"\n", 0, cut) + 1
        obj = _decode(0, tail[line_start:cut])
        if isinstance(obj, str):
            raise ValidationError(f"{path}: its last line is not an audit event ({obj})")
        return ExpectedHead(obj["seq"], obj["hash"])

    def append(self, lines: Iterable[str]) -> None:
        """Write the lines (ASCII: ``encode``) and fsync before returning."""
        data = "".join(t + "\n" for t in lines).encode("ascii")
        view = memoryview(data)
        while view:
            n = os.write(self.fd, view)
            view = view[n:]
        os.fsync(self.fd)

    def close(self) -> None:
        os.close(self.fd)
