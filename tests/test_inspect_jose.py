"""The inspector against the rest of the JOSE world (issue 14): keys and tokens made at test time
by two other implementations (jwcrypto, joserfc), the published RFC JWS vectors and the RFC JWK
examples (tests/data/jwk-rfc-examples.json), all through ``authconsole tokens decode``.

Four classes: a JWK whose ``use``/``key_ops`` forbid verifying is refused and listed in ``tried``;
a key that cannot be loaded is a usage error (exit 2, one line); a JWK Set (or a configured key)
with unusable members skips them with a warning; a token without ``kid`` tries every key whose
pinned algorithm fits. Every case ends in exit 0, 1 or 2, never 70.
"""

from __future__ import annotations

import base64
import json
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import x25519
from joserfc import jwk as fjwk
from joserfc import jwt as fjwt
from jwcrypto import jwk as cjwk
from jwcrypto import jws as cjws
from jwcrypto import jwt as cjwt

from authcore.errors import ConfigError
from authcore.inspect import STATUSES, inspect_token
from authcore.keys import ALL_ALGS, key_from_jwk, keys_from_jwks
from console.cli import main

DATA = Path(__file__).parent / "data"
VECTORS = json.loads((DATA / "jwt-rfc-vectors.json").read_text())
BY_NAME = {v["name"]: v for v in VECTORS}
JWK_EXAMPLES = json.loads((DATA / "jwk-rfc-examples.json").read_text())
DEFAULT_ALG = {
    "RSA": "RS256",
    "P-256": "ES256",
    "P-384": "ES384",
    "P-521": "ES512",
    "Ed25519": "EdDSA",
    "oct": "HS256",
}
PRIVATE = {"d", "p", "q", "dp", "dq", "qi", "oth"}
ALG_OF = {"rsa": "RS256", "p256": "ES256", "p384": "ES384", "p521": "ES512", "ed": "EdDSA", "hs": "HS256"}


def b64d(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def public(jwk: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in jwk.items() if k not in PRIVATE}


# -- keys and tokens from jwcrypto and joserfc ------------------------------------------------
@dataclass
class World:
    """Private JWKs by name (who made them in ``made_by``) and a token minter."""

    jwks: dict[str, dict[str, Any]]
    made_by: dict[str, str]
    extra: dict[str, dict[str, Any]] = field(default_factory=dict)

    def pub(self, name: str, **over: Any) -> dict[str, Any]:
        """The public JWK (an ``oct`` key is its own public form), with members changed."""
        j = self.jwks[name]
        out = dict(j) if j["kty"] == "oct" else public(j)
        out.update(over)
        return {k: v for k, v in out.items() if v is not None}

    def token(self, name: str, kid: str | bool | None = True, lib: str | None = None, **claims: Any) -> str:
        """A token signed with key ``name`` by jwcrypto or joserfc (alternating by key unless
        ``lib`` says). ``kid``: True = the key's kid in the header, a string = that kid, None/False
        = no kid."""
        alg = ALG_OF[name]
        header: dict[str, Any] = {"alg": alg, "typ": "JWT"}
        if kid is True:
            header["kid"] = self.jwks[name]["kid"]
        elif isinstance(kid, str):
            header["kid"] = kid
        now = int(time.time())
        body = {
            "iss": "authconsole",
            "aud": "authconsole",
            "sub": "7",
            "typ": "access",
            "iat": now - 10,
            "exp": now + 600,
            "jti": "j-" + name,
        }
        body.update(claims)
        lib = lib or self.made_by[name]
        if lib == "jwcrypto":
            t = cjwt.JWT(header=header, claims=body)
            t.make_signed_token(cjwk.JWK(**self.jwks[name]))
            return t.serialize()
        with warnings.catch_warnings():  # joserfc: "EdDSA is deprecated via RFC 9864"
            warnings.simplefilter("ignore")
            return fjwt.encode(header, body, fjwk.import_key(self.jwks[name]), algorithms=[alg])


@pytest.fixture(scope="module")
def world() -> World:
    jwks: dict[str, dict[str, Any]] = {}
    made_by: dict[str, str] = {}

    def cj(name: str, **kw: Any) -> None:
        key = cjwk.JWK.generate(kid=f"{name}-key", **kw)
        jwks[name] = json.loads(key.export_symmetric() if kw["kty"] == "oct" else key.export_private())
        made_by[name] = "jwcrypto"

    def fj(name: str, key: Any) -> None:
        jwks[name] = key.as_dict(private=True)
        made_by[name] = "joserfc"

    cj("rsa", kty="RSA", size=2048)
    cj("p256", kty="EC", crv="P-256")
    cj("hs", kty="oct", size=256)
    fj("p384", fjwk.ECKey.generate_key("P-384", parameters={"kid": "p384-key"}))
    fj("p521", fjwk.ECKey.generate_key("P-521", parameters={"kid": "p521-key"}))
    fj("ed", fjwk.OKPKey.generate_key("Ed25519", parameters={"kid": "ed-key"}))
    extra = {
        # a second P-256 key (joserfc), for "a fitting key that is not the signer"
        "p256b": fjwk.ECKey.generate_key("P-256", parameters={"kid": "p256b-key"}).as_dict(private=False),
        "oaep": json.loads(
            cjwk.JWK.generate(kty="RSA", size=2048, alg="RSA-OAEP", use="enc", kid="oaep-key").export_public()
        ),
        "x25519": fjwk.OKPKey.generate_key("X25519", parameters={"kid": "x-key"}).as_dict(private=False),
        "a128kw": json.loads(
            cjwk.JWK.generate(kty="oct", size=128, alg="A128KW", kid="kw-key").export_symmetric()
        ),
    }
    return World(jwks, made_by, extra)


def bad_keys(w: World) -> dict[str, tuple[dict[str, Any], str]]:
    """Keys that cannot be loaded, each made from a generated one: (JWK, words of the reason)."""
    p256, p384 = w.pub("p256"), w.pub("p384")
    off = dict(p256, y=p256["x"])  # (x, x) is not on P-256 for these keys (checked below)
    return {
        "rsa-e-1": (w.pub("rsa", e="AQ"), "e must be >= 3"),
        "hmac-empty": (w.pub("hs", k=""), "empty"),
        "ec-point-off-curve": (off, "not on the curve"),
        "ec-p384-point-as-p256": (dict(p384, crv="P-256"), "32 bytes for curve P-256"),
        "ec-p256-point-as-p384": (dict(p256, crv="P-384"), "48 bytes for curve P-384"),
        "kty-ec-rsa-members": (w.pub("rsa", kty="EC"), "kty 'EC' needs member(s) crv, x, y"),
        "kty-rsa-ec-members": (w.pub("p256", kty="RSA"), "kty 'RSA' needs member(s) n, e"),
        "kty-oct-okp-members": (w.pub("ed", kty="oct"), "kty 'oct' needs member(s) k"),
        "kty-okp-as-ec": (w.pub("ed", kty="EC"), "kty 'EC' needs member(s) y"),
        "unknown-kty": ({"kty": "QUX", "kid": "q", "k": "AAAA"}, "kty 'QUX' is not a key type"),
        "x25519": (w.extra["x25519"], "OKP curve 'X25519' is not a signature curve"),
        "rsa-oaep": (w.extra["oaep"], "alg 'RSA-OAEP' is for encryption"),
        "oct-a128kw": (w.extra["a128kw"], "alg 'A128KW' is for encryption"),
        "key-ops-not-a-list": (w.pub("p256", key_ops="verify"), "key_ops must be a list"),
        "ec-crv-unknown": (dict(p256, crv="P-257"), "cannot be loaded"),
    }


# -- running the command ----------------------------------------------------------------------
@dataclass
class Run:
    code: int
    data: dict[str, Any] | None
    err: str


def decode(capsys: pytest.CaptureFixture[str], *args: str) -> Run:
    """``authconsole tokens decode --no-db --json ARGS`` in this process, exit code captured."""
    code = main(["tokens", "decode", "--no-db", "--json", *args])
    out, err = capsys.readouterr()
    assert code in (0, 1, 2), (code, err)  # never 70: nothing here is unexpected
    if code == 2:
        assert out == "" and len(err.strip().splitlines()) == 1, err
        assert "Traceback" not in err and "internal error" not in err
        return Run(code, None, err)
    data = json.loads(out)
    assert data["status"] in STATUSES and code == (0 if data["status"] == "valid" else 1)
    return Run(code, data, err)


def put(d: Path, name: str, obj: Any) -> str:
    p = d / name
    p.write_text(json.dumps(obj) if not isinstance(obj, str) else obj)
    return str(p)


# A case: (world, tmp dir, monkeypatch, write_config) -> (args for tokens decode, expected exit,
# expected status or None, a check on the Run or None)
Case = tuple[list[str], int, str | None, Callable[[Run], None] | None]
CASES: dict[str, Callable[..., Case]] = {}


def case(name: str) -> Callable[[Callable[..., Case]], Callable[..., Case]]:
    def reg(fn: Callable[..., Case]) -> Callable[..., Case]:
        CASES[name] = fn
        return fn

    return reg


# 1. use / key_ops ------------------------------------------------------------------------------
MARKS = {  # members added to the public JWK -> may it verify?
    "use-enc": ({"use": "enc"}, False),
    "key_ops-encrypt": ({"key_ops": ["encrypt", "decrypt"]}, False),
    "key_ops-sign-only": ({"key_ops": ["sign"]}, False),
    "use-sig-key_ops-verify-but-use-enc": ({"use": "enc", "key_ops": ["verify"]}, False),
    "use-sig": ({"use": "sig"}, True),
    "key_ops-verify": ({"key_ops": ["verify"]}, True),
    "use-sig-key_ops-sign-verify": ({"use": "sig", "key_ops": ["sign", "verify"]}, True),
}


def _refusal_check(members: dict[str, Any], ok: bool) -> Callable[[Run], None]:
    def check(r: Run) -> None:
        assert r.data is not None
        sig = r.data["signature"]
        if ok:
            assert sig["verified"] is True
            return
        assert sig["verified"] is None and r.data["status"] == "unverified"
        want = "JWK use 'enc'" if members.get("use") == "enc" else "do not include verify"
        assert any(": refused: " in t and want in t for t in sig["tried"]), sig["tried"]
        assert "may not verify signatures" in r.data["reason"]

    return check


for _kind in ("rsa", "p256", "hs", "ed"):
    for _mark, (_members, _ok) in MARKS.items():
        for _src in ("jwks", "key"):

            def _mk(
                w: World,
                d: Path,
                mp: Any,
                wc: Any,
                kind: str = _kind,
                members: dict[str, Any] = _members,
                ok: bool = _ok,
                src: str = _src,
            ) -> Case:
                jwk = w.pub(kind, **members)
                tok = w.token(kind, kid=True)
                arg = (
                    ["--jwks", put(d, "set.json", {"keys": [jwk]})]
                    if src == "jwks"
                    else ["--key", put(d, "key.json", jwk)]
                )
                return (
                    [*arg, tok],
                    0 if ok else 1,
                    "valid" if ok else "unverified",
                    _refusal_check(members, ok),
                )

            case(f"1-{_mark}-{_kind}-via-{_src}")(_mk)


@case("1-use-enc-configured-verify-key")
def _(w: World, d: Path, mp: Any, write_config: Any) -> Case:
    (d / "home" / "enc.json").write_text(json.dumps(w.pub("p384", use="enc")))
    (d / "home" / "sig.json").write_text(json.dumps(w.pub("ed", use="sig")))
    write_config('[[tokens.verify_keys]]\nfile = "enc.json"\n[[tokens.verify_keys]]\nfile = "sig.json"\n')

    def check(r: Run) -> None:
        assert r.data is not None
        assert any("p384-key" in t and "refused: JWK use 'enc'" in t for t in r.data["signature"]["tried"])

    return [w.token("p384")], 1, "unverified", check


@case("1-use-enc-configured-sig-key-still-works")
def _(w: World, d: Path, mp: Any, write_config: Any) -> Case:
    (d / "home" / "enc.json").write_text(json.dumps(w.pub("p384", use="enc")))
    (d / "home" / "sig.json").write_text(json.dumps(w.pub("ed", use="sig")))
    write_config('[[tokens.verify_keys]]\nfile = "enc.json"\n[[tokens.verify_keys]]\nfile = "sig.json"\n')
    return [w.token("ed")], 0, "valid", None


# 2. keys that cannot be loaded: usage error ------------------------------------------------
for _bad in (
    "rsa-e-1",
    "hmac-empty",
    "ec-point-off-curve",
    "ec-p384-point-as-p256",
    "ec-p256-point-as-p384",
    "kty-ec-rsa-members",
    "kty-rsa-ec-members",
    "kty-oct-okp-members",
    "kty-okp-as-ec",
    "unknown-kty",
    "x25519",
    "rsa-oaep",
    "oct-a128kw",
    "key-ops-not-a-list",
    "ec-crv-unknown",
):

    def _mkbad(w: World, d: Path, mp: Any, wc: Any, bad: str = _bad) -> Case:
        jwk, words = bad_keys(w)[bad]
        path = put(d, f"{bad}.jwk", jwk)

        def check(r: Run) -> None:
            err = json.loads(r.err)  # --json: the error is one JSON object on stderr
            assert err["code"] == "usage" and err["exit"] == 2, err
            assert err["error"].startswith("tokens decode: ") and f"{bad}.jwk" in err["error"]
            assert words in r.err, r.err
            for secret in ("d", "k", "p", "q"):  # never a private member in the message
                v = jwk.get(secret)
                assert not v or v not in r.err

        return ["--key", path, w.token("p256")], 2, None, check

    case(f"2-bad-key-{_bad}")(_mkbad)


@case("2-bad-pem-key")
def _(w: World, d: Path, mp: Any, wc: Any) -> Case:
    pem = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"

    def check(r: Run) -> None:
        assert "bad.pem: not a usable PEM key" in r.err

    return ["--key", put(d, "bad.pem", pem), w.token("p256")], 2, None, check


@case("2-x25519-pem-key")
def _(w: World, d: Path, mp: Any, wc: Any) -> Case:
    priv = fjwk.OKPKey.generate_key("X25519", private=True)
    pem = priv.as_pem(private=False).decode()

    def check(r: Run) -> None:
        assert "x.pem: unsupported key type X25519PublicKey" in r.err

    return ["--key", put(d, "x.pem", pem), w.token("p256")], 2, None, check


@case("1-unregistered-use-value-refused")
def _(w: World, d: Path, mp: Any, wc: Any) -> Case:
    def check(r: Run) -> None:
        assert r.data is not None
        assert any("refused: JWK use 'tls' is not for signatures" in t for t in r.data["signature"]["tried"])

    return ["--key", put(d, "k.json", w.pub("ed", use="tls")), w.token("ed")], 1, "unverified", check


@case("2-alg-not-for-the-key")
def _(w: World, d: Path, mp: Any, wc: Any) -> Case:
    def check(r: Run) -> None:
        assert "ec.jwk" in r.err and "ES256" in r.err

    return (["--alg", "ES384", "--key", put(d, "ec.jwk", w.pub("p256")), w.token("p256")], 2, None, check)


# 3. unusable members of a set (and configured keys): skipped with a warning ---------------------
def _mixed_set(w: World, signer: str) -> dict[str, Any]:
    bad = bad_keys(w)
    members = [
        w.extra["oaep"],
        bad["unknown-kty"][0],
        w.extra["x25519"],
        w.extra["a128kw"],
        dict(bad["ec-point-off-curve"][0], kid="off-curve"),
        bad["rsa-e-1"][0],
        w.pub(signer),
    ]
    return {"keys": members}


def _skipped_check(n: int) -> Callable[[Run], None]:
    def check(r: Run) -> None:
        assert r.data is not None
        skipped = [x for x in r.data["warnings"] if x.endswith(": skipped")]
        assert len(skipped) == n, r.data["warnings"]
        joined = " | ".join(skipped)
        for words in (
            "'RSA-OAEP' is for encryption",
            "kty 'QUX'",
            "'X25519'",
            "'A128KW'",
            "not on the curve",
            "e must be >= 3",
        ):
            assert words in joined, (words, joined)

    return check


for _signer in ("p256", "ed", "rsa"):
    for _with_kid in (True, False):

        def _mkset(
            w: World, d: Path, mp: Any, wc: Any, signer: str = _signer, with_kid: bool = _with_kid
        ) -> Case:
            path = put(d, "mixed.json", _mixed_set(w, signer))
            return (["--jwks", path, w.token(signer, kid=with_kid)], 0, "valid", _skipped_check(6))

        case(f"3-mixed-jwks-{_signer}-{'kid' if _with_kid else 'no-kid'}")(_mkset)


@case("3-mixed-jwks-as-key-file")
def _(w: World, d: Path, mp: Any, wc: Any) -> Case:
    return (
        ["--key", put(d, "mixed.json", _mixed_set(w, "p521")), w.token("p521")],
        0,
        "valid",
        _skipped_check(6),
    )


@case("3-jwks-with-nothing-usable")
def _(w: World, d: Path, mp: Any, wc: Any) -> Case:
    doc = {"keys": [w.extra["oaep"], w.extra["x25519"]]}

    def check(r: Run) -> None:
        assert "none.json: no usable signature key in the set" in r.err

    return ["--jwks", put(d, "none.json", doc), w.token("p256")], 2, None, check


@case("3-configured-key-off-curve-skipped")
def _(w: World, d: Path, mp: Any, write_config: Any) -> Case:
    bad = bad_keys(w)["ec-point-off-curve"][0]
    (d / "home" / "off.json").write_text(json.dumps(bad))
    (d / "home" / "good.json").write_text(json.dumps(w.pub("p384")))
    write_config('[[tokens.verify_keys]]\nfile = "off.json"\n[[tokens.verify_keys]]\nfile = "good.json"\n')

    def check(r: Run) -> None:
        assert r.data is not None
        assert any(
            x.startswith("configured key skipped: off.json: cannot be loaded") and "not on the curve" in x
            for x in r.data["warnings"]
        ), r.data["warnings"]

    return [w.token("p384")], 0, "valid", check


@case("3-configured-jwks-mixed")
def _(w: World, d: Path, mp: Any, write_config: Any) -> Case:
    (d / "home" / "set.json").write_text(json.dumps(_mixed_set(w, "rsa")))
    write_config('[[tokens.verify_keys]]\nfile = "set.json"\n')
    return [w.token("rsa", kid=False)], 0, "valid", _skipped_check(6)


@case("3-configured-bad-key-explicit-key-used")
def _(w: World, d: Path, mp: Any, write_config: Any) -> Case:
    (d / "home" / "e1.json").write_text(json.dumps(bad_keys(w)["rsa-e-1"][0]))
    write_config('[[tokens.verify_keys]]\nfile = "e1.json"\n')

    def check(r: Run) -> None:
        assert r.data is not None
        assert any(x.startswith("configured key skipped: e1.json") for x in r.data["warnings"])

    return ["--key", put(d, "ed.json", w.pub("ed")), w.token("ed")], 0, "valid", check


# 4. tokens without kid, unknown kids -----------------------------------------------------------
def _five(w: World) -> dict[str, Any]:
    return {"keys": [w.pub(n) for n in ("rsa", "p384", "ed", "hs", "p256")]}


@case("4-no-kid-es256-five-key-set-and-secret")
def _(w: World, d: Path, mp: Any, wc: Any) -> Case:
    mp.setenv("AUTHCORE_SECRET", "an-unrelated-configured-secret-" + "z" * 20)

    def check(r: Run) -> None:
        assert r.data is not None
        assert r.data["signature"]["key"].startswith("ES256 kid=p256-key")

    return ["--jwks", put(d, "five.json", _five(w)), w.token("p256", kid=False)], 0, "valid", check


@case("4-no-kid-each-alg-in-the-set")
def _(w: World, d: Path, mp: Any, wc: Any) -> Case:
    # p521 is not in the five-key set, and nothing else fits ES512: unverified
    def check(r: Run) -> None:
        assert r.data is not None and "no configured key is for 'ES512'" in r.data["reason"]

    return ["--jwks", put(d, "five.json", _five(w)), w.token("p521", kid=False)], 1, "unverified", check


@case("4-no-kid-fitting-key-fails")
def _(w: World, d: Path, mp: Any, wc: Any) -> Case:
    def check(r: Run) -> None:
        assert r.data is not None
        assert r.data["signature"]["verified"] is False
        assert r.data["reason"] == "signature does not match the 1 ES256 key tried"

    doc = {"keys": [w.extra["p256b"], w.pub("rsa")]}
    return ["--jwks", put(d, "s.json", doc), w.token("p256", kid=False)], 1, "invalid_signature", check


@case("4-no-kid-second-fitting-key-verifies")
def _(w: World, d: Path, mp: Any, wc: Any) -> Case:
    def check(r: Run) -> None:
        assert r.data is not None
        tried = r.data["signature"]["tried"]
        assert tried[0].endswith("signature does not match") and tried[-1].endswith("verified")

    doc = {"keys": [w.extra["p256b"], w.pub("p256")]}
    return ["--jwks", put(d, "s.json", doc), w.token("p256", kid=False)], 0, "valid", check


@case("4-unknown-kid-is-unverified")
def _(w: World, d: Path, mp: Any, wc: Any) -> Case:
    mp.setenv("AUTHCORE_SECRET", "an-unrelated-configured-secret-" + "z" * 20)

    def check(r: Run) -> None:
        assert r.data is not None and "kid 'nope' matches no configured key" in r.data["warnings"]

    return ["--jwks", put(d, "five.json", _five(w)), w.token("p256", kid="nope")], 1, "unverified", check


@case("4-unknown-kid-kidless-fitting-key-fails")
def _(w: World, d: Path, mp: Any, wc: Any) -> Case:
    other = dict(w.extra["p256b"])
    other.pop("kid")
    doc = {"keys": [w.pub("rsa"), other]}
    return ["--jwks", put(d, "s.json", doc), w.token("p256", kid="nope")], 1, "invalid_signature", None


@case("4-no-kid-hs256-explicit-secret-and-set")
def _(w: World, d: Path, mp: Any, wc: Any) -> Case:
    mp.setenv("OTHER_SECRET", "not-the-signing-secret-" + "y" * 30)
    return (
        ["--secret-env", "OTHER_SECRET", "--jwks", put(d, "five.json", _five(w)), w.token("hs", kid=False)],
        0,
        "valid",
        None,
    )


@case("4-no-kid-only-other-types")
def _(w: World, d: Path, mp: Any, wc: Any) -> Case:
    doc = {"keys": [w.pub("rsa"), w.pub("hs")]}

    def check(r: Run) -> None:
        assert r.data is not None and "never the header" in r.data["reason"]
        assert r.data["signature"]["verified"] is None

    return ["--jwks", put(d, "s.json", doc), w.token("ed", kid=False)], 1, "unverified", check


@case("4-kid-matches-but-pinned-elsewhere")
def _(w: World, d: Path, mp: Any, wc: Any) -> Case:
    # the JWK says PS256: an RS256 token named by its kid does not fit (alg from the key)
    doc = {"keys": [w.pub("rsa", alg="PS256"), w.pub("p256")]}
    return ["--jwks", put(d, "s.json", doc), w.token("rsa")], 1, "unverified", None


@pytest.mark.parametrize("name", sorted(CASES))
def test_case(
    name: str,
    world: World,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    write_config: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args, code, status, check = CASES[name](world, tmp_path, monkeypatch, write_config)
    r = decode(capsys, *args)
    assert r.code == code, (r.err, r.data and (r.data["status"], r.data["reason"]))
    if status is not None:
        assert r.data is not None and r.data["status"] == status, r.data["reason"]
    if check is not None:
        check(r)


# -- the other implementations agree ----------------------------------------------------------
@pytest.mark.parametrize("mark", sorted(MARKS))
def test_jwcrypto_and_joserfc_agree_on_use_and_key_ops(world: World, mark: str) -> None:
    """What we refuse, jwcrypto refuses too (and joserfc for ``use``); what we accept, they do."""
    members, ok = MARKS[mark]
    tok = world.token("p256", lib="joserfc")
    jwk = world.pub("p256", **members)
    s = cjws.JWS()
    s.deserialize(tok)
    try:
        s.verify(cjwk.JWK(**jwk))
        theirs = True
    except (cjws.InvalidJWSSignature, cjwk.InvalidJWKValue):  # (use and key_ops disagree)
        theirs = False
    assert theirs is ok
    if "use" in members:
        try:
            fjwt.decode(tok, fjwk.import_key(jwk), algorithms=["ES256"])
            theirs = True
        except Exception:  # noqa: BLE001 - joserfc raises its own error classes
            theirs = False
        assert theirs is ok
    r = inspect_token(tok, keys=[key_from_jwk(jwk)])
    assert (r.signature.verified is True) is ok


@pytest.mark.parametrize(
    "bad", ["rsa-e-1", "ec-point-off-curve", "ec-p384-point-as-p256", "kty-ec-rsa-members"]
)
def test_jwcrypto_also_refuses_the_bad_keys(world: World, bad: str) -> None:
    jwk, _ = bad_keys(world)[bad]
    with pytest.raises(Exception):  # noqa: B017,PT011,PT012 - any refusal by jwcrypto
        k = cjwk.JWK(**jwk)
        k.get_op_key("verify")
    with pytest.raises(ConfigError):
        key_from_jwk(jwk)


def test_off_curve_point_really_is_off_the_curve(world: World) -> None:
    """The off-curve case is off the curve for the generated key, not by accident valid."""
    jwk, _ = bad_keys(world)["ec-point-off-curve"]
    x, y = (int.from_bytes(b64d(jwk[c]), "big") for c in ("x", "y"))
    p = 2**256 - 2**224 + 2**192 + 2**96 - 1
    b = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
    assert (y * y - (x**3 - 3 * x + b)) % p != 0


# -- the published JWS vectors through the command ---------------------------------------------
@pytest.mark.parametrize("v", VECTORS, ids=[v["name"] for v in VECTORS])
@pytest.mark.parametrize("how", ["jwk", "jwks", "none"])
def test_rfc_vectors_exit_codes(
    v: dict[str, Any], how: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every RFC vector (provenance in its ``source``) through ``tokens decode``: never valid
    today (expired, unsigned, encrypted or not a claim set), so exit 1; with its key it verifies."""
    assert v["source"]
    args: list[str] = []
    if how != "none" and v.get("jwk"):
        jwk = public(v["jwk"])
        args = (
            ["--key", put(tmp_path, "k.json", jwk)]
            if how == "jwk"
            else ["--jwks", put(tmp_path, "s.json", {"keys": [jwk]})]
        )
    if how == "jwk" and v["alg"] in ALL_ALGS:
        args[:0] = ["--alg", v["alg"]]  # what the RFC says the key is for
    r = decode(capsys, *args, v["token"])
    assert r.code == 1 and r.data is not None
    segs = len(v["token"].split("."))
    if args and v["alg"] != "none" and segs == 3 and "detached" not in v["name"]:
        if how == "jwks" and DEFAULT_ALG.get(v["jwk"].get("crv") or v["jwk"]["kty"]) != v["alg"]:
            # a JWK without alg is pinned to its type's default (RS256), never the header's
            sig = r.data["signature"]
            assert sig["verified"] is None and "never the header" in sig["detail"]
        else:
            assert r.data["signature"]["verified"] is True, r.data["signature"]


# -- the published JWK examples ---------------------------------------------------------------
SETS = JWK_EXAMPLES["sets"]


@pytest.mark.parametrize("s", SETS, ids=[s["name"] for s in SETS])
def test_rfc_jwk_examples_transcription(s: dict[str, Any]) -> None:
    """The transcribed values are the RFC's: the checks the RFCs themselves give (RFC 7638
    thumbprints, X25519 public from private and the shared secret of RFC 8037 A.6, the x5c
    certificate's key, keys equal to those of the JWS vectors)."""
    assert s["source"].startswith("RFC ")
    members = s["jwks"]["keys"]
    checks = s["checks"]
    for i, tp in checks.get("rfc7638_thumbprint", {}).items():
        assert cjwk.JWK(**members[int(i)]).thumbprint() == tp
    for i, vec in checks.get("same_k_as_vector", {}).items():
        assert members[int(i)]["k"] == BY_NAME[vec]["jwk"]["k"]
    for i in checks.get("x5c_matches_n", {}):
        m = members[int(i)]
        cert = x509.load_der_x509_certificate(base64.b64decode(m["x5c"][0]))
        n = cert.public_key().public_numbers().n  # type: ignore[union-attr]
        assert n == int.from_bytes(b64d(m["n"]), "big")
    for i in checks.get("x25519_public_from_d", {}):
        m = members[int(i)]
        priv = x25519.X25519PrivateKey.from_private_bytes(b64d(m["d"]))
        raw = priv.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        assert raw == b64d(m["x"])
    for i, (j, z) in checks.get("x25519_shared_secret_hex", {}).items():
        priv = x25519.X25519PrivateKey.from_private_bytes(b64d(members[int(i)]["d"]))
        peer = x25519.X25519PublicKey.from_public_bytes(b64d(members[int(j)]["x"]))
        assert priv.exchange(peer).hex() == z


@pytest.mark.parametrize("s", SETS, ids=[s["name"] for s in SETS])
def test_rfc_jwk_examples_loaded_as_sets(s: dict[str, Any]) -> None:
    expect = s["expect"]
    skipped: list[str] = []
    keys = keys_from_jwks(s["jwks"], source=s["name"], skipped=skipped)
    got = []
    for i in range(len(s["jwks"]["keys"])):
        tag = f"{s['name']}[{i}]"
        k = next((k for k in keys if k.source.split(" ")[0] == tag), None)
        got.append("skipped" if k is None else ("refused" if k.refusal else "usable"))
    assert got == expect["members"]
    assert len(skipped) == got.count("skipped")
    if "skipped" in got:  # strict loading (no list to report in) refuses the set
        with pytest.raises(ConfigError):
            keys_from_jwks(s["jwks"], source=s["name"])
    now = datetime.fromisoformat(expect["now"]) if "now" in expect else datetime(2026, 12, 1, tzinfo=UTC)
    for name, status in expect["tokens"].items():
        r = inspect_token(BY_NAME[name]["token"], keys=keys, now=now)
        assert r.status == status, (name, r.reason, r.signature.tried)


@pytest.mark.parametrize("s", SETS, ids=[s["name"] for s in SETS])
def test_rfc_jwk_examples_exit_codes(
    s: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each RFC example set through the command, with every JWS vector: 0/1 only, the
    skipped members as warnings; each member alone as --key: 0/1, or 2 when it is unusable."""
    path = put(tmp_path, "set.json", s["jwks"])
    n_skipped = s["expect"]["members"].count("skipped")
    for v in VECTORS:
        r = decode(capsys, "--jwks", path, v["token"])
        assert r.code in (0, 1) and r.data is not None
        assert len([w for w in r.data["warnings"] if w.endswith(": skipped")]) == n_skipped
    for i, (m, what) in enumerate(zip(s["jwks"]["keys"], s["expect"]["members"], strict=True)):
        r = decode(capsys, "--key", put(tmp_path, f"m{i}.json", m), VECTORS[0]["token"])
        assert r.code == (2 if what == "skipped" else 1)


# -- property: whatever a JWK holds, loading ends in a Key or one ConfigError line ---------------
_VOCAB = [
    "RSA",
    "EC",
    "OKP",
    "oct",
    "P-256",
    "P-384",
    "P-521",
    "Ed25519",
    "X25519",
    "secp256k1",
    "RS256",
    "PS512",
    "ES256",
    "ES384",
    "EdDSA",
    "HS256",
    "none",
    "RSA-OAEP",
    "A128KW",
    "sig",
    "enc",
    "verify",
    "sign",
    "",
    "AQ",
    "AQAB",
    "AA",
    "_-_",
]


@pytest.fixture(scope="module")
def seed_jwks(world: World) -> list[dict[str, Any]]:
    return [world.pub(n) for n in ("rsa", "p256", "p384", "p521", "ed", "hs")] + [
        world.jwks["p256"],
        world.jwks["ed"],
        world.extra["x25519"],
        world.extra["oaep"],
    ]


def test_property_any_mutated_jwk_loads_or_is_one_config_error(seed_jwks: list[dict[str, Any]]) -> None:
    """Random mutations of real JWKs (members dropped, swapped between keys, set to odd JSON
    values or to words of the JOSE vocabulary): ``key_from_jwk`` returns a Key or raises
    ``ConfigError`` with a one-line message, and a set of them never raises anything else."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from authcore.keys import Key

    members = ["kty", "crv", "x", "y", "n", "e", "k", "d", "alg", "use", "key_ops", "kid"]
    donors = {m: [j[m] for j in seed_jwks if m in j] for m in members}
    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=3), c, max_size=3),
        max_leaves=4,
    )
    mutation = st.tuples(
        st.sampled_from(members),
        st.one_of(st.just("drop"), st.just("donor"), st.just("vocab"), st.just("json")),
        st.integers(0, 20),
        json_values,
        st.sampled_from(_VOCAB),
    )

    @settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.integers(0, len(seed_jwks) - 1), st.lists(mutation, min_size=1, max_size=4))
    def check(i: int, muts: list[tuple[str, str, int, Any, str]]) -> None:
        jwk = dict(seed_jwks[i])
        for member, how, n, value, word in muts:
            if how == "drop":
                jwk.pop(member, None)
            elif how == "donor" and donors[member]:
                jwk[member] = donors[member][n % len(donors[member])]
            elif how == "vocab":
                jwk[member] = [word] if member == "key_ops" and n % 2 else word
            else:
                jwk[member] = value
        try:
            key = key_from_jwk(jwk, source="m.jwk")
            assert isinstance(key, Key) and key.alg in ALL_ALGS
        except ConfigError as exc:  # either outcome is right; a refusal must read as one line
            assert str(exc).startswith("m.jwk") and "\n" not in str(exc)  # noqa: PT017
        skipped: list[str] = []
        try:
            keys_from_jwks({"keys": [jwk, seed_jwks[0]]}, source="s", skipped=skipped)
        except ConfigError as exc:  # pragma: no cover - seed_jwks[0] is always usable
            raise AssertionError(exc) from None

    check()
