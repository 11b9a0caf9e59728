"""Lenient, observant decoding of JOSE pieces: base64url segments and JSON objects.

PyJWT refuses what it does not like (unknown ``crit``, ``alg: none``, non-JSON payloads) before an
operator can see it. The token inspector decodes with this module instead: it accepts what can be
read and *reports* what is irregular (padding, the standard ``+``/``/`` alphabet, non-zero unused
bits, duplicate JSON keys, NaN, huge numbers, trailing data, deep nesting).

Nothing here verifies anything, and nothing here imports PyJWT, SQLAlchemy or Textual.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from typing import Any

from authcore.text import clean, replace_surrogates

MAX_DEPTH = 64
MAX_INT_DIGITS = 1000
_B64_CHARS = re.compile(r"^[A-Za-z0-9_\-+/]*=*$")
_STD_B64 = re.compile(r"[+/]")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"?', re.DOTALL)


class JoseDecodeError(ValueError):
    """A segment cannot be decoded at all (the message is one line, safe to show)."""


class Decoded:
    """Bytes from one base64url segment plus what was irregular about its encoding.

    This and ``JsonResult`` are plain classes, not dataclasses: each dataclass costs every
    process that imports it 2-3M instructions to create (``tokens decode`` cold start)."""

    __slots__ = ("data", "notes")

    def __init__(self, data: bytes, notes: list[str] | None = None) -> None:
        self.data = data
        self.notes = notes if notes is not None else []

    @property
    def canonical(self) -> bool:
        return not self.notes


def b64url_decode(segment: str, what: str = "segment") -> Decoded:
    """Decode base64url leniently; note padding, ``+``/``/`` and non-zero unused bits."""
    if not _B64_CHARS.match(segment):
        bad = next((c for c in segment if not (c.isascii() and (c.isalnum() or c in "-_+/="))), None)
        if bad is None:  # every character is allowed: an '=' before the end
            raise JoseDecodeError(f"{what}: '=' before the end (padding only ends a segment)")
        raise JoseDecodeError(f"{what}: character {bad!r} is not base64url")
    notes: list[str] = []
    body = segment.rstrip("=")
    pad = len(segment) - len(body)
    if pad:
        notes.append(f"{what}: base64 padding '=' present (base64url in JOSE has none)")
    if _STD_B64.search(body):
        notes.append(f"{what}: standard base64 alphabet ('+' or '/') instead of base64url")
    if len(body) % 4 == 1:
        raise JoseDecodeError(f"{what}: impossible base64 length ({len(body)} characters)")
    if pad and (len(body) + pad) % 4:
        notes.append(f"{what}: wrong amount of base64 padding")
    std = body.replace("-", "+").replace("_", "/")
    try:
        data = base64.b64decode(std + "=" * (-len(std) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise JoseDecodeError(f"{what}: not valid base64url") from None
    # Non-canonical: the unused low bits of the last character are not zero (two encodings of
    # the same bytes exist, so the token text is malleable).
    if body:
        rem = len(body) % 4
        if rem in (2, 3):
            last = std[-1]
            alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
            bits = alphabet.index(last)
            unused = 4 if rem == 2 else 2
            if bits & ((1 << unused) - 1):
                notes.append(f"{what}: non-canonical base64url (unused bits set in the last character)")
    return Decoded(data, notes)


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class JsonResult:
    """A parsed JSON value (or None) and what was irregular about it."""

    __slots__ = ("duplicates", "error", "notes", "ok", "trailing", "value")

    def __init__(self) -> None:
        self.value: Any = None
        self.ok = False
        self.error: str | None = None
        self.duplicates: list[str] = []
        self.notes: list[str] = []
        self.trailing = 0  # characters after the JSON value (trailing garbage)


def nesting_depth(text: str) -> int:
    """Deepest ``[``/``{`` nesting, ignoring brackets inside strings (no recursion)."""
    stripped = _STRING.sub("", text)
    depth = best = 0
    for ch in stripped:
        if ch in "[{":
            depth += 1
            if depth > best:
                best = depth
        elif ch in "]}":
            depth -= 1
    return best


def parse_json(data: bytes, what: str = "JSON", max_depth: int = MAX_DEPTH) -> JsonResult:
    """Parse UTF-8 JSON without trusting it: never raises.

    Duplicate keys are recorded (the last value is kept, as most parsers do); NaN/Infinity and
    integers too long to use are noted; trailing data after the value is counted, not fatal.
    """
    res = JsonResult()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        res.error = f"{what} is not UTF-8"
        return res
    if text.startswith("\ufeff"):
        res.notes.append(f"{what}: starts with a byte-order mark")
        text = text[1:]
    depth = nesting_depth(text)
    if depth > max_depth:
        res.error = f"{what} is nested {depth} levels deep (limit {max_depth}): not parsed"
        return res
    seen_dups: list[str] = []
    constants: list[str] = []
    big: list[int] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in items:
            if k in out and k not in seen_dups:
                seen_dups.append(k)
            out[k] = v
        return out

    def constant(name: str) -> float:
        constants.append(name)
        return float("nan") if name == "NaN" else (float("inf") if name == "Infinity" else float("-inf"))

    def parse_int(s: str) -> int | float:
        if len(s) > MAX_INT_DIGITS:
            big.append(len(s))
            return float("-inf") if s.startswith("-") else float("inf")
        return int(s)

    decoder = json.JSONDecoder(object_pairs_hook=pairs, parse_constant=constant, parse_int=parse_int)
    start = len(text) - len(text.lstrip(" \t\r\n"))
    try:
        value, end = decoder.raw_decode(text, start)
    except json.JSONDecodeError as exc:
        res.error = f"{what} is not valid JSON ({exc.msg} at position {exc.pos})"
        return res
    except (RecursionError, ValueError, OverflowError, MemoryError) as exc:
        res.error = f"{what} could not be parsed ({type(exc).__name__})"
        return res
    rest = text[end:].strip(" \t\r\n")
    res.value, res.ok = value, True
    res.duplicates = seen_dups
    for k in seen_dups:
        res.notes.append(
            f"{what}: duplicate key {_short(k)} (the last value is shown; other parsers may use the first)"
        )
    for name in sorted(set(constants)):
        res.notes.append(f"{what}: non-standard JSON constant {name}")
    if big:
        res.notes.append(f"{what}: integer with {max(big)} digits (treated as infinite)")
    if rest:
        res.trailing = len(rest)
        res.notes.append(f"{what}: {len(rest)} character(s) of trailing data after the JSON value")
    return res


def _short(value: str, limit: int = 60) -> str:
    return repr(clean(value, max_len=limit))


def json_safe(value: Any, depth: int = 0, max_depth: int = MAX_DEPTH) -> Any:
    """A copy fit for ``json.dumps`` and any terminal layer: NaN/inf become strings, lone
    surrogates become U+FFFD, nesting is cut (``"…"``) beyond ``max_depth``."""
    if depth > max_depth:
        return "…"
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, str):
        return replace_surrogates(value)
    if isinstance(value, dict):
        return {json_safe(str(k), depth + 1): json_safe(v, depth + 1, max_depth) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v, depth + 1, max_depth) for v in value]
    return replace_surrogates(str(value))
