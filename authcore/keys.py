"""Signing and verification keys, loaded once.

A ``Key`` pins exactly one algorithm: verification never takes the algorithm from a token header.
``KeyRing`` holds the signing key and every verification key, matched by ``kid``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from authcore.errors import ConfigError

HMAC_ALGS = {"HS256": 32, "HS384": 48, "HS512": 64}
RSA_ALGS = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
EC_ALGS = {"ES256": "secp256r1", "ES384": "secp384r1", "ES512": "secp521r1"}
ALL_ALGS = set(HMAC_ALGS) | RSA_ALGS | set(EC_ALGS) | {"EdDSA"}


@dataclass(frozen=True)
class Key:
    """One key with the one algorithm it may be used with."""

    alg: str
    verify_key: Any = field(repr=False)
    sign_key: Any = field(default=None, repr=False)
    kid: str | None = None
    source: str = ""

    @property
    def is_hmac(self) -> bool:
        return self.alg in HMAC_ALGS

    @property
    def hmac_too_short(self) -> bool:
        """An HMAC key shorter than its hash output (RFC 7518 3.2)."""
        return self.is_hmac and len(self.verify_key) < HMAC_ALGS[self.alg]

    def describe(self) -> str:
        kid = f" kid={self.kid}" if self.kid else ""
        return f"{self.alg}{kid} ({self.source})"


def key_from_secret(secret: str | bytes, alg: str = "HS256", kid: str | None = None,
                    source: str = "secret") -> Key:
    if alg not in HMAC_ALGS:
        raise ConfigError(f"a shared secret needs an HS* algorithm, not {alg}")
    raw = secret.encode() if isinstance(secret, str) else bytes(secret)
    if not raw:
        raise ConfigError("the HMAC secret is empty")
    return Key(alg=alg, verify_key=raw, sign_key=raw, kid=kid, source=source)


def _alg_for_key(obj: Any, wanted: str | None) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

    if isinstance(obj, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        alg = wanted or "RS256"
        if alg not in RSA_ALGS:
            raise ConfigError(f"an RSA key cannot be used with {alg}")
        return alg
    if isinstance(obj, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        by_curve = {v: k for k, v in EC_ALGS.items()}
        alg = by_curve.get(obj.curve.name)
        if alg is None:
            raise ConfigError(f"unsupported EC curve {obj.curve.name}")
        if wanted and wanted != alg:
            raise ConfigError(f"an EC {obj.curve.name} key is for {alg}, not {wanted}")
        return alg
    if isinstance(obj, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey
                  | ed448.Ed448PrivateKey | ed448.Ed448PublicKey):
        if wanted and wanted != "EdDSA":
            raise ConfigError(f"an Ed25519/Ed448 key is for EdDSA, not {wanted}")
        return "EdDSA"
    raise ConfigError(f"unsupported key type {type(obj).__name__}")


def key_from_pem(data: bytes, alg: str | None = None, kid: str | None = None,
                 source: str = "PEM") -> Key:
    """Load a PEM private or public key (or certificate); the algorithm follows the key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        if b"PRIVATE KEY" in data:
            priv = serialization.load_pem_private_key(data, password=None)
            return Key(alg=_alg_for_key(priv, alg), verify_key=priv.public_key(), sign_key=priv,
                       kid=kid, source=source)
        if b"CERTIFICATE" in data:
            pub = x509.load_pem_x509_certificate(data).public_key()
        else:
            pub = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{source}: not a usable PEM key ({exc.__class__.__name__})") from None
    return Key(alg=_alg_for_key(pub, alg), verify_key=pub, kid=kid, source=source)


def key_from_jwk(jwk: dict[str, Any], alg: str | None = None, source: str = "JWK") -> Key:
    """Load one JWK (public members are used for verification; private ones for signing)."""
    import jwt
    from jwt.exceptions import PyJWKError

    if not isinstance(jwk, dict):
        raise ConfigError(f"{source}: a JWK must be a JSON object")
    kid = jwk.get("kid") if isinstance(jwk.get("kid"), str) else None
    want = alg or (jwk.get("alg") if isinstance(jwk.get("alg"), str) else None)
    try:
        pj = jwt.PyJWK(jwk, algorithm=want)
    except (PyJWKError, ValueError, TypeError, KeyError) as exc:
        raise ConfigError(f"{source}: unusable JWK ({exc})") from None
    key_obj = pj.key
    kty = jwk.get("kty")
    if kty == "oct":
        return key_from_secret(key_obj, pj.algorithm_name, kid, source)
    public = key_obj.public_key() if hasattr(key_obj, "private_bytes") else key_obj
    sign = key_obj if hasattr(key_obj, "private_bytes") else None
    return Key(alg=_alg_for_key(public, pj.algorithm_name), verify_key=public, sign_key=sign,
               kid=kid, source=source)


def keys_from_jwks(jwks: dict[str, Any], source: str = "JWKS") -> list[Key]:
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise ConfigError(f"{source}: a JWKS needs a 'keys' list")
    return [key_from_jwk(k, source=f"{source}[{i}]") for i, k in enumerate(jwks["keys"])]


def keys_from_file(path: Path, alg: str | None = None, kid: str | None = None) -> list[Key]:
    """PEM, JWK or JWKS, by content."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read key file {path}: {exc.strerror or exc}") from None
    src = Path(path).name
    if data.lstrip().startswith(b"{"):
        try:
            doc = json.loads(data)
        except ValueError:
            raise ConfigError(f"{src}: not valid JSON") from None
        if isinstance(doc, dict) and "keys" in doc:
            return keys_from_jwks(doc, source=src)
        k = key_from_jwk(doc, alg=alg, source=src)
        if kid and k.kid is None:
            k = Key(k.alg, k.verify_key, k.sign_key, kid, k.source)
        return [k]
    return [key_from_pem(data, alg=alg, kid=kid, source=src)]


@dataclass
class KeyRing:
    """The signing key plus all verification keys."""

    signing: Key | None
    keys: list[Key]

    def candidates(self, kid: str | None) -> list[Key]:
        """Keys to try for a token: the ones whose kid matches, else the ones without kid."""
        if kid is not None:
            matched = [k for k in self.keys if k.kid == kid]
            if matched:
                return matched
        return [k for k in self.keys if k.kid is None] or ([] if kid is not None else self.keys)

    @classmethod
    def from_settings(cls, settings: Any, secret: str | None) -> KeyRing:
        """Build from ``TokenSettings`` and the resolved HS secret."""
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
            if spec.file:
                keys.extend(keys_from_file(spec.file, alg=spec.alg, kid=spec.kid))
            else:
                value = spec.secret or (os.environ.get(spec.secret_env) if spec.secret_env else None)
                if not value:
                    raise ConfigError(f"verify key {spec.kid or '?'} has no secret, secret_env or file")
                keys.append(key_from_secret(value, spec.alg or "HS256", spec.kid,
                                            source=f"secret {spec.secret_env or 'from config'}"))
        return cls(signing=signing, keys=keys)
