"""Signature verification with configured keys only: the algorithm always comes from the key.

A key is tried when its kid fits the token (see ``pool``) and its pinned algorithm is the
header's. ``invalid_signature`` needs such a key to have been tried and failed; with no fitting
key the signature stays unchecked (``unverified``). PyJWT is imported only here, only when a
signature is actually checked.
"""

from __future__ import annotations

from typing import Any

from authcore.inspect.report import Findings, quote
from authcore.keys import HMAC_ALGS, Key, KeyRing


def key_list(keys: Any) -> list[Key]:
    """The keys ``inspect_token`` accepts (a ring, including its refused keys; one key; a list)
    as one list."""
    if keys is None:
        return []
    if isinstance(keys, KeyRing):
        return list(keys.keys) + list(keys.refused)
    if isinstance(keys, Key):
        return [keys]
    return [k for k in keys if isinstance(k, Key)]


class SignatureChecks(Findings):
    """Fills ``report.signature``; an unchecked signature records why in ``why_unchecked``."""

    def pool(self) -> list[Key]:
        """The keys the token names: with a kid, the keys with that kid, else those without a
        kid; without a kid, every key. A single key is always in it (like ``TokenService``)."""
        kid = self.r.signature.kid
        if len(self.keys) == 1 or kid is None:
            return list(self.keys)
        return [k for k in self.keys if k.kid == kid] or [k for k in self.keys if k.kid is None]

    def verify(self, alg: str, signing_input: bytes, sig_bytes: bytes) -> None:
        """Try every key of the pool whose pinned algorithm is the header's and whose JWK allows
        verifying. ``invalid_signature`` only when such a key was tried and failed; no such key
        leaves the signature unchecked (``unverified``)."""
        sig = self.r.signature
        if not self.keys:
            self.unchecked("no key configured")
            return
        pool = self.pool()
        if not pool:
            n = len(self.keys)
            self.unchecked(
                f"no configured key matches kid {quote(sig.kid)} ({n} key{'s' if n != 1 else ''} configured)"
            )
            return
        from jwt.algorithms import get_default_algorithms

        algs = get_default_algorithms()
        fitting: list[Key] = []
        refused: list[Key] = []
        for key in pool:
            if key.alg != alg:
                sig.tried.append(f"{key.describe()}: pinned to {key.alg}, the header says {quote(alg, 20)}")
            elif key.refusal:
                refused.append(key)
                sig.tried.append(f"{key.describe()}: refused: {key.refusal}")
            else:
                fitting.append(key)
        for key in fitting:
            if key.hmac_too_short:
                self.r.warnings.append(
                    f"HMAC key {key.describe()} is {len(key.verify_key)} bytes, shorter than "
                    f"its {HMAC_ALGS[key.alg]}-byte hash (RFC 7518 3.2)"
                )
            try:
                ok = bool(algs[key.alg].verify(signing_input, key.verify_key, sig_bytes))
                why = "signature does not match"
            except Exception as exc:  # noqa: BLE001 - a bad key or signature never escapes
                ok, why = False, f"could not verify ({type(exc).__name__})"
            if ok:
                sig.verified, sig.key, sig.alg = True, key.describe(), key.alg
                sig.detail = f"verified with {key.describe()}"
                sig.tried.append(f"{key.describe()}: verified")
                return
            sig.tried.append(f"{key.describe()}: {why}")
        if fitting:
            n = len(fitting)
            sig.verified = False
            sig.detail = (
                f"signature does not match {'the' if n == 1 else 'any of the'} "
                f"{n} {alg} key{'s' if n != 1 else ''} tried"
            )
        elif refused:
            self.unchecked(
                f"key{'s' if len(refused) != 1 else ''} "
                f"{', '.join(k.describe() for k in refused[:3])} may not verify "
                f"signatures: {refused[0].refusal}"
            )
        else:
            pinned = ", ".join(sorted({k.alg for k in pool}))
            self.unchecked(
                f"no configured key is for {quote(alg, 20)} (the keys are pinned to "
                f"{pinned}; the algorithm comes from the key, never the header)"
            )

    def unchecked(self, why: str) -> None:
        self.why_unchecked = why
        self.r.signature.detail = why

    def kid_warning(self) -> None:
        kid = self.r.signature.kid
        if kid is not None and self.keys and not any(k.kid == kid for k in self.keys):
            self.r.warnings.append(f"kid {quote(kid)} matches no configured key")
