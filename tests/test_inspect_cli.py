"""``authconsole tokens decode``: input, keys, output, exit codes and import hygiene."""

from __future__ import annotations

import base64
import io
import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from authcore.config import TokenSettings
from authcore.core import AuthCore
from authcore.keys import Key, KeyRing, key_from_secret
from authcore.timeutil import utcnow
from authcore.tokens import TokenService
from console.cli import main
from console.commands import MODULES
from tests.conftest import modules_loaded

SECRET = "cli-inspector-secret-" + "c" * 32
ROOT = Path(__file__).resolve().parent.parent
VECTORS = json.loads((Path(__file__).parent / "data" / "jwt-rfc-vectors.json").read_text())


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def mint(key: Key | None = None, **kw: Any) -> Any:
    key = key or key_from_secret(SECRET)
    svc = TokenService(None, TokenSettings(), KeyRing(signing=key, keys=[key]))
    kw.setdefault("token_version", 0)
    return svc.issue_pair(kw.pop("uid", 7), **kw)


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("INSPECT_SECRET", SECRET)
    return "INSPECT_SECRET"


def stdin(monkeypatch: pytest.MonkeyPatch, data: bytes, tty: bool = False) -> None:
    stream = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8")
    monkeypatch.setattr(stream, "isatty", lambda: tty)
    monkeypatch.setattr(sys, "stdin", stream)


# -- exit codes -------------------------------------------------------------------------------
def test_valid_exit_0_and_token_never_printed(capsys: Any, secret_env: str) -> None:
    tok = mint().access_token
    code, out, err = run(capsys, "tokens", "decode", "--no-db", "--secret-env", secret_env, tok)
    assert code == 0, out + err
    assert out.startswith("status       VALID: verified with HS256")
    assert "sub: 7" in out and "typ: access" in out
    assert tok not in out + err and tok.split(".")[2] not in out + err
    code, out, err = run(capsys, "tokens", "decode", "--no-db", "--secret-env", secret_env, "--json", tok)
    data = json.loads(out)
    assert code == 0 and data["status"] == "valid" and data["signature"]["verified"] is True
    assert tok not in out + err


def test_configured_secret_is_used(capsys: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHCORE_SECRET", SECRET)
    code, out, _ = run(capsys, "tokens", "decode", "--no-db", "--json", mint().refresh_token)
    assert code == 0 and "configured secret" in json.loads(out)["signature"]["key"]


def test_configured_verify_keys_from_config_file(capsys: Any, write_config: Any, tmp_path: Path) -> None:
    priv = ed25519.Ed25519PrivateKey.generate()
    pem = priv.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (tmp_path / "home" / "ed.pem").write_bytes(pem)
    write_config(
        '[tokens]\nissuer = "acme"\naudience = "api"\n[[tokens.verify_keys]]\nkid = "ed1"\nfile = "ed.pem"\n'
    )
    key = Key("EdDSA", priv.public_key(), priv, kid="ed1")
    svc = TokenService(None, TokenSettings(issuer="acme", audience="api"), KeyRing(signing=key, keys=[key]))
    tok = svc.issue_pair(3, token_version=0).access_token
    code, out, _ = run(capsys, "tokens", "decode", "--no-db", "--json", tok)
    data = json.loads(out)
    assert code == 0, data["reason"]
    assert data["signature"]["key"].startswith("EdDSA kid=ed1")
    # an HS256 token meets only the EdDSA key: the key's algorithm wins, nothing fits it
    other = mint().access_token
    code, out, _ = run(capsys, "tokens", "decode", "--no-db", "--json", other)
    assert code == 1 and json.loads(out)["status"] == "unverified"


def test_other_verdicts_exit_1(capsys: Any, secret_env: str) -> None:
    expired = mint(now=utcnow() - timedelta(hours=2)).access_token
    cases = {
        expired: "expired",
        mint(now=utcnow() + timedelta(hours=2)).access_token: "not_yet_valid",
        mint(key=key_from_secret("other-" + "o" * 40)).access_token: "invalid_signature",
        "not a token": "malformed",
        VECTORS[7]["token"]: "unsupported",
    }
    for tok, status in cases.items():
        code, out, _ = run(capsys, "tokens", "decode", "--no-db", "--secret-env", secret_env, "--json", tok)
        assert code == 1 and json.loads(out)["status"] == status, tok[:20]
    code, out, _ = run(capsys, "tokens", "decode", "--no-db", "--json", expired)
    assert code == 1 and json.loads(out)["status"] == "unverified"


@pytest.mark.parametrize(
    "argv",
    [
        ["tokens", "decode", "--no-db", "--key", "/nonexistent/key.pem", "x.y.z"],
        ["tokens", "decode", "--no-db", "--jwks", "/nonexistent/jwks.json", "x.y.z"],
        ["tokens", "decode", "--no-db", "--secret-env", "UNSET_INSPECT_VAR", "x.y.z"],
        ["tokens", "decode", "--no-db", "--alg", "RS256", "--secret-env", "INSPECT_SECRET", "x.y.z"],
        ["tokens", "decode", "--no-db", "--bogus", "x.y.z"],
        ["tokens", "decode", "--no-db", "a", "b"],
        ["tokens"],
    ],
)
def test_bad_usage_exit_2(capsys: Any, secret_env: str, argv: list[str]) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "" and err.startswith("authconsole: ")
    assert len(err.strip().splitlines()) == 1


def test_no_token_and_terminal_stdin_is_usage(capsys: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    stdin(monkeypatch, b"", tty=True)
    code, _out, err = run(capsys, "tokens", "decode", "--no-db")
    assert code == 2 and "give a TOKEN" in err


def test_bad_key_file_content_is_usage(capsys: Any, tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")
    code, _out, err = run(capsys, "tokens", "decode", "--no-db", "--key", str(bad), "x.y.z")
    assert code == 2 and "not a usable PEM key" in err


# -- input --------------------------------------------------------------------------------------
def test_reads_stdin_with_dash_and_when_piped(
    capsys: Any, secret_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    tok = mint().access_token
    stdin(monkeypatch, f"Authorization: Bearer {tok}\n".encode())
    code, out, _ = run(capsys, "tokens", "decode", "--no-db", "--secret-env", secret_env, "-")
    assert code == 0 and tok not in out
    stdin(monkeypatch, f'"{tok}"'.encode())
    code, out, _ = run(capsys, "tokens", "decode", "--no-db", "--secret-env", secret_env)
    assert code == 0
    assert "input normalised: removed quotes" in out


def test_stdin_over_64_kib_reported_not_read_whole(capsys: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    stdin(monkeypatch, b"A" * (10 * 1024 * 1024))
    code, out, _ = run(capsys, "tokens", "decode", "--no-db", "--json", "-")
    data = json.loads(out)
    assert code == 1 and data["status"] == "malformed" and "too large" in data["reason"]
    assert sys.stdin.buffer.tell() <= 64 * 1024 + 1  # type: ignore[attr-defined]


# -- keys -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def rsa_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Key, Path, Path, Path]:
    d = tmp_path_factory.mktemp("keys")
    priv = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pub = priv.public_key()
    pem = d / "pub.pem"
    pem.write_bytes(
        pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    nums = pub.public_numbers()

    def u(n: int) -> str:
        return base64.urlsafe_b64encode(n.to_bytes((n.bit_length() + 7) // 8, "big")).rstrip(b"=").decode()

    jwk = {"kty": "RSA", "kid": "r1", "alg": "RS256", "n": u(nums.n), "e": u(nums.e)}
    (d / "key.jwk").write_text(json.dumps(jwk))
    (d / "jwks.json").write_text(json.dumps({"keys": [jwk]}))
    return Key("RS256", pub, priv, kid="r1"), pem, d / "key.jwk", d / "jwks.json"


def test_key_pem_jwk_and_jwks(capsys: Any, rsa_files: Any) -> None:
    signer, pem, jwk, jwks = rsa_files
    tok = mint(key=signer).access_token
    for opt, path in (("--key", pem), ("--key", jwk), ("--jwks", jwks)):
        code, out, err = run(capsys, "tokens", "decode", "--no-db", opt, str(path), "--json", tok)
        data = json.loads(out)
        assert code == 0, (opt, data["reason"], err)
        assert data["signature"]["alg"] == "RS256"
    code, out, _ = run(capsys, "tokens", "decode", "--no-db", "--jwks", str(pem), tok)
    assert code == 2


def test_alg_confusion_via_cli(capsys: Any, rsa_files: Any) -> None:
    _signer, pem, _jwk, _jwks = rsa_files
    head = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=").decode()
    import hashlib
    import hmac

    body = (
        base64.urlsafe_b64encode(json.dumps({"sub": "1", "exp": 4102444800}).encode()).rstrip(b"=").decode()
    )
    sig = hmac.new(pem.read_bytes(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    forged = f"{head}.{body}.{base64.urlsafe_b64encode(sig).rstrip(b'=').decode()}"
    code, out, _ = run(capsys, "tokens", "decode", "--no-db", "--key", str(pem), "--json", forged)
    data = json.loads(out)
    assert code == 1 and data["status"] == "unverified"
    assert data["signature"]["verified"] is None and "never the header" in data["reason"]


# -- output ---------------------------------------------------------------------------------------
def test_json_shape(capsys: Any, secret_env: str) -> None:
    code, out, _ = run(
        capsys, "tokens", "decode", "--no-db", "--secret-env", secret_env, "--json", mint().access_token
    )
    data = json.loads(out)
    assert {"status", "reason", "header", "payload", "signature", "warnings", "times", "user"} <= set(data)
    assert {"verified", "kid"} <= set(data["signature"])
    assert isinstance(data["warnings"], list) and data["user"] is None
    assert set(data["times"]) == {"exp", "iat"} and data["live"]["state"] == "off"


def test_hostile_claims_are_cleaned_in_text_and_escaped_in_json(capsys: Any, secret_env: str) -> None:
    evil = "\x1b[2J\x1b]0;pwned\x07[red]x[/red]\u202egnp.exe\u200b"
    head = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "kid": evil}).encode()).rstrip(b"=").decode()
    body = (
        base64.urlsafe_b64encode(json.dumps({evil: evil, "sub": evil, "exp": 1}).encode())
        .rstrip(b"=")
        .decode()
    )
    tok = f"{head}.{body}.c2ln"
    code, out, err = run(capsys, "tokens", "decode", "--no-db", "--secret-env", secret_env, tok)
    assert code == 1
    for bad in ("\x1b", "\x07", "\u202e", "\u200b"):
        assert bad not in out and bad not in err
    assert "[red]x[/red]" in out  # plain text: markup is shown, not interpreted
    code, out, err = run(capsys, "tokens", "decode", "--no-db", "--json", tok)
    assert out.isascii() and "\x1b" not in out
    assert json.loads(out)["header"]["kid"] == evil


def test_vectors_through_the_cli(capsys: Any, tmp_path: Path) -> None:
    v = next(v for v in VECTORS if v["name"] == "rfc7797-4.2-HS256-b64false-detached")
    (tmp_path / "k.jwk").write_text(json.dumps(v["jwk"]))
    (tmp_path / "payload").write_bytes(v["expected_payload"].encode())
    code, out, _ = run(
        capsys,
        "tokens",
        "decode",
        "--no-db",
        "--key",
        str(tmp_path / "k.jwk"),
        "--detached-payload",
        str(tmp_path / "payload"),
        "--json",
        v["token"],
    )
    data = json.loads(out)
    assert code == 1 and data["status"] == "unsupported" and data["b64"] is False
    assert data["signature"]["verified"] is True and data["detached"] is True
    jwe = next(v for v in VECTORS if v["name"] == "rfc7519-A.1-encrypted-JWE")
    code, out, _ = run(capsys, "tokens", "decode", "--no-db", jwe["token"])
    assert code == 1 and "JWE (encrypted)" in out and "alg: RSA1_5" in out


# -- database -------------------------------------------------------------------------------------
def test_live_state_through_the_cli(
    capsys: Any, core: AuthCore, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTHCORE_SECRET", core.config.secret() or "")
    user = core.users.create("carol@example.com", "carol")
    s, _ = core.sessions.create(user.id)
    pair = core.tokens.issue_pair(user.id, sid=s.public_id)
    code, out, err = run(capsys, "--db", db_url, "tokens", "decode", pair.access_token)
    assert code == 0, out + err
    assert "checked: user and session looked up" in out and "carol@example.com" in out
    core.admin.revoke_tokens(user.id, "test")
    code, out, _ = run(capsys, "--db", db_url, "tokens", "decode", "--json", pair.access_token)
    data = json.loads(out)
    assert code == 1 and data["status"] == "revoked"
    assert data["reason"] == "revoked: token version 0, user is at 1"
    assert "strict verifiers refuse it now" in data["user"]["consequence"]
    code, out, _ = run(capsys, "--db", db_url, "tokens", "decode", pair.refresh_token)
    assert code == 1 and "consequence: refresh will be refused" in out
    # --no-db: same token, no live state
    code, out, _ = run(capsys, "--db", db_url, "tokens", "decode", "--no-db", "--json", pair.refresh_token)
    assert code == 0 and json.loads(out)["user"] is None


def test_unreachable_database_is_reported_not_fatal(capsys: Any, secret_env: str, tmp_path: Path) -> None:
    tok = mint().access_token
    url = "postgresql+psycopg://inspector:hunter2@127.0.0.1:1/nowhere"
    code, out, err = run(capsys, "--db", url, "tokens", "decode", "--secret-env", secret_env, "--json", tok)
    data = json.loads(out)
    assert code == 0 and data["live"]["state"] == "unavailable"
    assert "live state unavailable" in data["reason"] and "hunter2" not in out + err
    missing = tmp_path / "missing" / "db.sqlite"
    code, out, _ = run(
        capsys, "--db", f"sqlite:///{missing}", "tokens", "decode", "--secret-env", secret_env, "--json", tok
    )
    assert json.loads(out)["live"]["state"] == "unavailable"
    assert not missing.parent.exists()  # no database file was created


def test_no_db_imports_neither_sqlalchemy_nor_textual(secret_env: str) -> None:
    tok = mint().access_token
    code = (
        "from console.cli import main\n"
        f"rc = main(['tokens', 'decode', '--no-db', '--secret-env', 'INSPECT_SECRET', {tok!r}])\n"
        "if rc != 0:\n    raise SystemExit(f'exit {rc}')\n"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "INSPECT_SECRET": SECRET,
        "HOME": "/nonexistent",
        "AUTHCONSOLE_CONFIG": "/nonexistent/config.toml",
    }
    assert modules_loaded(code, ("sqlalchemy", "textual"), env=env) == []
    # nor what it does not use: the other commands' modules (console.cli registers only the
    # command named), logging (console.notes), csv (emit_csv), tomllib (no config file), the
    # revocation model, URL masking and LiveState (a live lookup only): each was imported at
    # start once
    lazy = (
        "logging",
        "csv",
        "tomllib",
        "secrets",
        "authcore.revocation",
        "authcore.urls",
        "authcore.inspect.livestate",
        "console.notes",
        *(f"console.commands.{name}" for name in MODULES if name != "tokens"),
    )
    assert modules_loaded(code, lazy, env=env) == []
    # nor does importing the inspector itself
    unused = ("sqlalchemy", "textual", "jwt", "authcore.inspect.livestate")
    assert modules_loaded("import authcore.inspect", unused, env=env) == []
