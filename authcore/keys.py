"""Signing and verification keys, loaded once.

A ``Key`` pins exactly one algorithm: verification never takes the algorithm from a token header.
``KeyRing`` holds the signing key and every verification key, matched by ``kid``.

Loading is strict for one key and lenient for a set: a PEM or JWK that cannot be used raises
``ConfigError`` (one line naming the key and why; every library error is turned into one in
``_loading``), while a JWK Set skips the members it cannot use and says so (RFC 7517 section 5),
when the caller gives a list to report them in. A JWK whose ``use``/``key_ops`` say it is not
for verifying signatures loads, but carries ``refusal`` and never verifies (RFC 7517 4.2/4.3).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from authcore.errors import ConfigError
from authcore.files import read_regular

HMAC_ALGS = {"HS256": 32, "HS384": 48, "HS512": 64}
RSA_ALGS = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
EC_ALGS = {"ES256": "secp256r1", "ES384": "secp384r1", "ES512": "secp521r1"}
ALL_ALGS = set(HMAC_ALGS) | RSA_ALGS | set(EC_ALGS) | {"EdDSA"}
JWK_KTYS = {"oct", "RSA", "EC", "OKP"}
SIG_OKP_CURVES = {"Ed25519", "Ed448"}
KTY_MEMBERS = {"oct": ("k",), "RSA": ("n", "e"), "EC": ("crv", "x", "y"), "OKP": ("crv", "x")}
# RFC 7518 key management and content encryption algorithms: keys for JWE, not for JWS
ENC_ALGS = {
    "RSA1_5",
    "RSA-OAEP",
    "RSA-OAEP-256",
    "RSA-OAEP-384",
    "RSA-OAEP-512",
    "A128KW",
    "A192KW",
    "A256KW",
    "dir",
    "ECDH-ES",
    "ECDH-ES+A128KW",
    "ECDH-ES+A192KW",
    "ECDH-ES+A256KW",
    "A128GCMKW",
    "A192GCMKW",
    "A256GCMKW",
    "PBES2-HS256+A128KW",
    "PBES2-HS384+A192KW",
    "PBES2-HS512+A256KW",
    "A128GCM",
    "A192GCM",
    "A256GCM",
    "A128CBC-HS256",
    "A192CBC-HS384",
    "A256CBC-HS512",
}


@dataclass(frozen=True)
class Key:
    """One key with the one algorithm it may be used with.

    ``refusal``: why this key may not verify signatures (its JWK ``use`` or ``key_ops``), or None.
    """

    alg: str
    verify_key: Any = field(repr=False)
    sign_key: Any = field(default=None, repr=False)
    kid: str | None = None
    source: str = ""
    refusal: str | None = None

    @property
    def is_hmac(self) -> bool:
        return self.alg in HMAC_ALGS

    @property
    def hmac_too_short(self) -> bool:
        """An HMAC key shorter than its hash output (RFC 7518 3.2)."""
        return self.is_hmac and len(self.verify_key) < HMAC_ALGS[self.alg]

    def describe(self) -> str:
        kid = f" kid={_name(self.kid)}" if self.kid else ""
        return f"{self.alg}{kid} ({self.source})"


def _name(value: Any, limit: int = 60) -> str:
    """An untrusted name (kid, file member) fit for a one-line message."""
    from authcore.text import clean

    return clean(value if isinstance(value, str) else repr(value), max_len=limit)


def _why(exc: BaseException) -> str:
    """A library's error as a short reason, without the key material some messages embed."""
    text = str(exc).strip() or type(exc).__name__
    text = text.split(": {", 1)[0].split("{", 1)[0].strip().rstrip(":").strip()
    text = text.removeprefix("Unable to construct key from JWK: ")
    return _name(text or type(exc).__name__, 160)


@contextmanager
def _loading(source: str, what: str = "cannot be loaded") -> Iterator[None]:
    """The one place where a key library's errors become ``ConfigError``: PyJWT raises
    ``InvalidKeyError`` and ``PyJWKError`` (siblings), cryptography ``ValueError``,
    ``TypeError`` or ``UnsupportedAlgorithm``, the base64/JSON layers ``ValueError``/``KeyError``."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from jwt.exceptions import PyJWTError

    try:
        yield
    except ConfigError:
        raise
    except (
        PyJWTError,
        UnsupportedAlgorithm,
        ValueError,
        TypeError,
        KeyError,
        IndexError,
        OverflowError,
        AttributeError,
    ) as exc:
        raise ConfigError(f"{source}: {what} ({_why(exc)})") from None


def key_from_secret(
    secret: str | bytes, alg: str = "HS256", kid: str | None = None, source: str = "secret"
) -> Key:
    if alg not in HMAC_ALGS:
        raise ConfigError(f"{source}: a shared secret needs an HS* algorithm, not {_name(alg)}")
    raw = secret.encode() if isinstance(secret, str) else bytes(secret)
    if not raw:
        raise ConfigError(f"{source}: the HMAC key is empty")
    return Key(alg=alg, verify_key=raw, sign_key=raw, kid=kid, source=source)


def _alg_for_key(obj: Any, wanted: str | None) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

    if isinstance(obj, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        alg = wanted or "RS256"
        if alg not in RSA_ALGS:
            raise ConfigError(f"an RSA key cannot be used with {_name(alg)}")
        return alg
    if isinstance(obj, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        by_curve = {v: k for k, v in EC_ALGS.items()}
        curve_alg = by_curve.get(obj.curve.name)
        if curve_alg is None:
            raise ConfigError(f"unsupported EC curve {obj.curve.name}")
        if wanted and wanted != curve_alg:
            raise ConfigError(f"an EC {obj.curve.name} key is for {curve_alg}, not {_name(wanted)}")
        return curve_alg
    if isinstance(
        obj,
        ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey | ed448.Ed448PrivateKey | ed448.Ed448PublicKey,
    ):
        if wanted and wanted != "EdDSA":
            raise ConfigError(f"an Ed25519/Ed448 key is for EdDSA, not {_name(wanted)}")
        return "EdDSA"
    raise ConfigError(f"unsupported key type {type(obj).__name__}")


def key_from_pem(data: bytes, alg: str | None = None, kid: str | None = None, source: str = "PEM") -> Key:
    """Load a PEM private or public key (or certificate); the algorithm follows the key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    with _loading(source, "not a usable PEM key"):
        if b"PRIVATE KEY" in data:
            priv = serialization.load_pem_private_key(data, password=None)
            pub = priv.public_key()
        elif b"CERTIFICATE" in data:
            priv, pub = None, x509.load_pem_x509_certificate(data).public_key()
        else:
            priv, pub = None, serialization.load_pem_public_key(data)
    try:
        pinned = _alg_for_key(pub, alg)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    return Key(alg=pinned, verify_key=pub, sign_key=priv, kid=kid, source=source)


def _jwk_refusal(jwk: dict[str, Any], source: str) -> str | None:
    """Why ``use``/``key_ops`` forbid verifying signatures with this JWK (RFC 7517 4.2, 4.3)."""
    use, ops = jwk.get("use"), jwk.get("key_ops")
    if "use" in jwk and not isinstance(use, str):
        raise ConfigError(f"{source}: use must be a string")
    if "key_ops" in jwk and (not isinstance(ops, list) or not all(isinstance(o, str) for o in ops)):
        raise ConfigError(f"{source}: key_ops must be a list of strings")
    if use is not None and use != "sig":
        return f"JWK use {_name(use)!r} is not for signatures (RFC 7517 4.2)"
    if ops is not None and "verify" not in ops:
        shown = ", ".join(_name(o, 20) for o in ops[:6]) or "none"
        return f"JWK key_ops [{shown}] do not include verify (RFC 7517 4.3)"
    return None


def key_from_jwk(jwk: dict[str, Any], alg: str | None = None, source: str = "JWK") -> Key:
    """Load one JWK (public members are used for verification; private ones for signing).

    The algorithm is ``alg`` (``--alg``), else the JWK's ``alg``, else its type's default
    (RS256, the curve's ES*, EdDSA, HS256): never a token header's.
    """
    import jwt

    if not isinstance(jwk, dict):
        raise ConfigError(f"{source}: a JWK must be a JSON object")
    kid = jwk.get("kid") if isinstance(jwk.get("kid"), str) else None
    kty, crv = jwk.get("kty"), jwk.get("crv")
    if "kty" not in jwk:
        raise ConfigError(f"{source}: no kty member")
    for name in ("kty", "crv", "alg", "kid"):
        if name in jwk and not isinstance(jwk[name], str):
            raise ConfigError(f"{source}: {name} must be a string")
    if kty not in JWK_KTYS:
        raise ConfigError(
            f"{source}: kty {_name(kty)!r} is not a key type for signatures (oct, RSA, EC, OKP)"
        )
    missing = [m for m in KTY_MEMBERS[kty] if m not in jwk]
    if missing:
        raise ConfigError(
            f"{source}: kty {kty!r} needs member(s) {', '.join(missing)} "
            f"(the members do not match the key type)"
        )
    if kty == "OKP" and crv not in SIG_OKP_CURVES:
        raise ConfigError(
            f"{source}: OKP curve {_name(crv)!r} is not a signature curve (X25519/X448 are for key agreement)"
        )
    jwk_alg = jwk.get("alg")
    want = alg or jwk_alg
    if want in ENC_ALGS:
        raise ConfigError(f"{source}: alg {_name(want)!r} is for encryption, not signatures")
    if want is not None and want not in ALL_ALGS:
        raise ConfigError(f"{source}: alg {_name(want)!r} is not a supported signature algorithm")
    refusal = _jwk_refusal(jwk, source)
    with _loading(source):
        pj = jwt.PyJWK(jwk, algorithm=want)
        key_obj = pj.key
        if kty == "oct":
            return replace(key_from_secret(key_obj, pj.algorithm_name, kid, source), refusal=refusal)
        private = hasattr(key_obj, "private_bytes")
        public = key_obj.public_key() if private else key_obj
    try:
        pinned = _alg_for_key(public, pj.algorithm_name)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    return Key(
        alg=pinned,
        verify_key=public,
        sign_key=key_obj if private else None,
        kid=kid,
        source=source,
        refusal=refusal,
    )


def keys_from_jwks(jwks: dict[str, Any], source: str = "JWKS", skipped: list[str] | None = None) -> list[Key]:
    """The usable keys of a JWK Set.

    With ``skipped`` (a list), members that cannot be used are left out and described there
    (RFC 7517 section 5: ignore what cannot be used); without it the first one raises. A set
    with no usable member at all raises either way.
    """
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise ConfigError(f"{source}: a JWKS needs a 'keys' list")
    keys: list[Key] = []
    problems: list[str] = []
    for i, member in enumerate(jwks["keys"]):
        kid = member.get("kid") if isinstance(member, dict) else None
        name = f"{source}[{i}]" + (f" kid={_name(kid)}" if isinstance(kid, str) else "")
        try:
            keys.append(replace(key_from_jwk(member, source=name), source=f"{source}[{i}]"))
        except ConfigError as exc:
            if skipped is None:
                raise
            problems.append(f"{exc}: skipped")
    if not keys:
        first = f" ({problems[0]})" if problems else ""
        raise ConfigError(f"{source}: no usable signature key in the set{first}")
    if skipped is not None:
        skipped.extend(problems)
    return keys


def keys_from_file(
    path: Path, alg: str | None = None, kid: str | None = None, skipped: list[str] | None = None
) -> list[Key]:
    """PEM, JWK or JWKS, by content (``skipped``: see ``keys_from_jwks``)."""
    try:
        data = read_regular(path)  # a FIFO or /dev/zero is refused, never read forever
    except OSError as exc:
        raise ConfigError(f"cannot read key file {path}: {exc.strerror or exc}") from None
    src = Path(path).name
    if data.lstrip().startswith(b"{"):
        try:
            doc = json.loads(data)
        except (ValueError, RecursionError):
            raise ConfigError(f"{src}: not valid JSON") from None
        if isinstance(doc, dict) and "keys" in doc:
            return keys_from_jwks(doc, source=src, skipped=skipped)
        k = key_from_jwk(doc, alg=alg, source=src)
        if kid and k.kid is None:
            k = replace(k, kid=kid)
        return [k]
    return [key_from_pem(data, alg=alg, kid=kid, source=src)]


@dataclass
class KeyRing:
    """The signing key plus all verification keys.

    ``refused``: configured keys whose JWK ``use``/``key_ops`` forbid verifying (kept apart so
    that no verifier uses them; the inspector shows them as refused).
    ``signing_refusal``: why the signing key may not sign (an HS secret shorter than its hash,
    RFC 7518 3.2: guessed, it forges any user's token). It still verifies, so a verify-only
    process (the operators' console, a resource server) runs and the inspector can say so.
    """

    signing: Key | None
    keys: list[Key]
    refused: list[Key] = field(default_factory=list)
    signing_refusal: str | None = None

    def candidates(self, kid: str | None) -> list[Key]:
        """Keys to try for a token: the ones whose kid matches, else the ones without kid."""
        if kid is not None:
            matched = [k for k in self.keys if k.kid == kid]
            if matched:
                return matched
        return [k for k in self.keys if k.kid is None] or ([] if kid is not None else self.keys)

    @classmethod
    def from_settings(cls, settings: Any, secret: str | None, skipped: list[str] | None = None) -> KeyRing:
        """Build from ``TokenSettings`` and the resolved HS secret.

        With ``skipped`` (a list), a ``verify_keys`` entry that cannot be loaded (and an unusable
        JWK Set member) is left out and described there instead of failing the whole ring.
        """
        signing: Key | None = None
        alg = settings.algorithm
        if alg in HMAC_ALGS:
            if secret:
                signing = key_from_secret(secret, alg, settings.kid, source="configured secret")
        elif alg in ALL_ALGS:
            if settings.private_key_file:
                loaded = keys_from_file(settings.private_key_file, alg=alg, kid=settings.kid)
                signing = loaded[0]
                if signing.sign_key is None:
                    raise ConfigError(f"{settings.private_key_file} holds no private key")
        else:
            raise ConfigError(f"unsupported algorithm {alg}")
        keys: list[Key] = [signing] if signing else []
        for spec in settings.verify_keys:
            try:
                keys.extend(_spec_keys(spec, skipped))
            except ConfigError as exc:
                if skipped is None:
                    raise
                skipped.append(f"configured key skipped: {exc}")
        too_short = signing is not None and signing.hmac_too_short
        return cls(
            signing=signing,
            keys=[k for k in keys if k.refusal is None],
            refused=[k for k in keys if k.refusal is not None],
            signing_refusal=(
                f"configured secret: an {alg} signing secret needs at least {HMAC_ALGS[alg]} bytes "
                "(RFC 7518 3.2); make one with: python -c 'import secrets; print(secrets.token_urlsafe(48))'"
                if too_short
                else None
            ),
        )


def _spec_keys(spec: Any, skipped: list[str] | None) -> list[Key]:
    """The key(s) of one ``verify_keys`` entry."""
    if spec.file:
        return keys_from_file(spec.file, alg=spec.alg, kid=spec.kid, skipped=skipped)
    value = spec.secret or (os.environ.get(spec.secret_env) if spec.secret_env else None)
    if not value:
        raise ConfigError(f"verify key {spec.kid or '?'} has no secret, secret_env or file")
    return [
        key_from_secret(
            value, spec.alg or "HS256", spec.kid, source=f"secret {spec.secret_env or 'from config'}"
        )
    ]
