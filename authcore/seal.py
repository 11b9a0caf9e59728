"""Sealed checkpoints of the audit chain, as Certificate Transparency signs its tree heads.

Whoever can write every row of the audit (the table owner, a superuser, anyone holding the
database's files) can rewrite the chain consistently: every hash and the anchor recomputed, and
``audit verify`` passes. A seal is the chain's head ``(seq, hash)`` and the time, signed with an
Ed25519 key kept *outside* the database (a file on the bastion, never on the database host).
``verify_seals`` checks each seal's signature and then that the chain still holds that exact
event: a rewrite of anything up to a sealed seq is found, whoever did it.

A seals file holds one JSON object per line (append-only, like the log it pins)::

    {"v": 1, "seq": 42, "hash": "<64 hex>", "time": "2026-12-02T17:00:00Z", "key": "<16 hex>",
     "sig": "<base64 Ed25519 signature of MESSAGE>"}

``MESSAGE`` = ``authcore-audit-seal/v1\\n{seq}\\n{hash}\\n{time}\\n`` (ASCII).
"""

from __future__ import annotations

import base64
import json
import os
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from hashlib import sha256
from pathlib import Path
from typing import Any

from authcore.errors import ValidationError

DOMAIN = "authcore-audit-seal/v1"
SEALS_FILE_MAX = 16 << 20
KEY_FILE_MAX = 64 << 10


@dataclass(frozen=True)
class Seal:
    seq: int
    hash: str
    time: str
    key: str  # fingerprint of the public key (first 16 hex of sha256 of its raw bytes)
    sig: str

    def message(self) -> bytes:
        return message(self.seq, self.hash, self.time)

    def to_line(self) -> str:
        return json.dumps(
            {"v": 1, "seq": self.seq, "hash": self.hash, "time": self.time, "key": self.key, "sig": self.sig},
            separators=(", ", ": "),
        )


def message(seq: int, hash_: str, time: str) -> bytes:
    return f"{DOMAIN}\n{seq}\n{hash_}\n{time}\n".encode("ascii")


def _read_small(path: str | os.PathLike[str], limit: int, what: str) -> bytes:
    """``authcore.files.read_regular`` (never blocks on a FIFO or device), one-line errors."""
    from authcore.files import read_regular

    try:
        return read_regular(path, limit)
    except OSError as e:
        raise ValidationError(f"cannot read {what} {path}: {e.strerror}") from None


def fingerprint(public_key: Any) -> str:
    from cryptography.hazmat.primitives import serialization

    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return sha256(raw).hexdigest()[:16]


def load_private_key(path: str | os.PathLike[str]) -> Any:
    """An Ed25519 private key (PEM, unencrypted) from a file only its owner can read."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    data = _read_small(path, KEY_FILE_MAX, "seal key")
    mode = os.stat(path).st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ValidationError(
            f"seal key {path} is accessible by other users "
            f"(mode {stat.S_IMODE(mode):04o}); run: chmod 600 {path}"
        )
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise ValidationError(f"seal key {path} is not an unencrypted PEM private key") from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise ValidationError(f"seal key {path} is not an Ed25519 key")
    return key


def load_public_key(path: str | os.PathLike[str]) -> Any:
    """An Ed25519 public key (PEM ``PUBLIC KEY``) from a file."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    data = _read_small(path, KEY_FILE_MAX, "public key")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        raise ValidationError(f"public key {path} is not a PEM public key") from None
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise ValidationError(f"public key {path} is not an Ed25519 key")
    return key


def generate_key(path: str | os.PathLike[str]) -> Path:
    """Write a new Ed25519 private key (mode 0600, never overwriting) and its public key next
    to it (``PATH.pub``). Returns the public key's path."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    pub = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    p = Path(path)
    try:
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ValidationError(f"{p} exists; a seal key is never overwritten") from None
    except OSError as e:
        raise ValidationError(f"cannot write {p}: {e.strerror}") from None
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    pub_path = p.with_name(p.name + ".pub")
    pub_path.write_bytes(pub)
    return pub_path


def sign_head(private_key: Any, seq: int, hash_: str, now: datetime | None = None) -> Seal:
    t = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    sig = private_key.sign(message(seq, hash_, t))
    return Seal(seq, hash_, t, fingerprint(private_key.public_key()), base64.b64encode(sig).decode("ascii"))


def seal_chain(engine: Any, private_key: Any) -> Seal:
    """Verify the chain, then sign its head. A broken chain is never sealed."""
    from authcore import audit

    rep = audit.verify_chain(engine)
    if not rep.ok:
        raise ValidationError(f"the audit chain is broken, not sealing it: {rep.problem}")
    if rep.head_seq < 1:
        raise ValidationError("the audit chain is empty: nothing to seal")
    return sign_head(private_key, rep.head_seq, rep.head_hash)


def append_seal(path: str | os.PathLike[str], seal: Seal) -> None:
    """Append one line (the file is created mode 0644: seals are public, their key is not)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    with os.fdopen(fd, "a", encoding="ascii") as f:
        f.write(seal.to_line() + "\n")


def parse_seals(text: str) -> list[Seal]:
    seals = []
    for n, raw in enumerate(text.splitlines(), 1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        try:
            d = json.loads(raw)
            s = Seal(int(d["seq"]), str(d["hash"]), str(d["time"]), str(d["key"]), str(d["sig"]))
            if d.get("v") != 1 or s.seq < 1 or len(s.hash) != 64:
                raise ValueError
            s.message()  # ASCII only
        except (ValueError, KeyError, TypeError, UnicodeEncodeError):
            raise ValidationError(f"seals file line {n} is not a seal") from None
        seals.append(s)
    if not seals:
        raise ValidationError("the seals file holds no seal")
    return seals


def read_seals(path: str | os.PathLike[str]) -> list[Seal]:
    data = _read_small(path, SEALS_FILE_MAX, "seals file")
    try:
        return parse_seals(data.decode("ascii"))
    except UnicodeDecodeError:
        raise ValidationError("the seals file is not ASCII text") from None


@dataclass(frozen=True)
class SealReport:
    ok: bool
    seals: int
    newest: Seal | None  # the newest seal whose signature verified and whose head is present
    problem: str = ""


def check_signatures(seals: list[Seal], public_key: Any) -> str:
    """ "" when every seal is signed by ``public_key``; else the first problem."""
    from cryptography.exceptions import InvalidSignature

    fp = fingerprint(public_key)
    for s in seals:
        if s.key != fp:
            return f"seal of seq {s.seq} names key {s.key}, not this public key ({fp})"
        try:
            public_key.verify(base64.b64decode(s.sig, validate=True), s.message())
        except (InvalidSignature, ValueError):
            return f"seal of seq {s.seq} has a bad signature (forged or edited seal)"
    return ""


def check_configured(engine: Any, seals_file: Any, pubkey_file: Any) -> tuple[Any, SealReport | None]:
    """What the console's audit screen shows: the chain walk, and -- when ``[audit] seals`` and
    ``seals_pubkey`` are configured -- the seals checked against it (the newest seal that
    verified, or why they fail). Returns ``(ChainReport, SealReport | None)``."""
    from authcore import audit

    if seals_file is None or pubkey_file is None:
        return audit.verify_chain(engine), None
    try:
        seals, pub = read_seals(seals_file), load_public_key(pubkey_file)
    except ValidationError as e:
        return audit.verify_chain(engine), SealReport(False, 0, None, str(e))
    srep, rep = verify_seals(engine, seals, pub)
    return (rep if rep is not None else audit.verify_chain(engine)), srep


def verify_seals(
    engine: Any, seals: list[Seal], public_key: Any, also_expect: Any = ()
) -> tuple[SealReport, Any]:
    """Signatures first, then the chain walk with every sealed head (and ``also_expect``)
    expected in it (``audit.verify_chain(expect=...)``, the head-containment check of
    ``audit verify --expect-head``). Returns the seal report and the chain report (None when a
    signature failed). Seals older than the first event kept by retention are not walked."""
    from authcore import audit

    bad = check_signatures(seals, public_key)
    if bad:
        return SealReport(False, len(seals), None, bad), None
    rep = audit.verify_chain(
        engine, expect=[*also_expect, *(audit.ExpectedHead(s.seq, s.hash) for s in seals)]
    )
    if not rep.ok:
        return SealReport(False, len(seals), None, rep.problem), rep
    newest = max(seals, key=lambda s: s.seq)
    return SealReport(True, len(seals), newest), rep
