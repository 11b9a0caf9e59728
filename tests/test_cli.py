"""The command line: JSON output, exit codes, one-line errors, no tracebacks."""

from __future__ import annotations

import json
import os
import stat

import pytest

from console.cli import main


def run(capsys, *argv: str) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def demo_db(db_url, capsys):  # type: ignore[no-untyped-def]
    code, out, err = run(capsys, "--db", db_url, "demo", "--users", "20")
    assert code == 0, err
    return db_url


def test_demo_writes_secret_0600(demo_db, hermetic_env, capsys) -> None:  # type: ignore[no-untyped-def]
    cfg = hermetic_env / "config.toml"
    assert stat.S_IMODE(os.stat(cfg).st_mode) == 0o600
    assert "secret" in cfg.read_text()
    code, out, _ = run(capsys, "--db", demo_db, "users", "show", "alice", "--json")
    data = json.loads(out)
    assert code == 0 and data["user"]["active_sessions"] == 3
    assert sum(1 for s in data["sessions"] if not s["active"]) == 1
    assert {
        "id",
        "email",
        "username",
        "display_name",
        "token_version",
        "disabled",
        "created_at",
        "last_login_at",
        "active_sessions",
    } <= set(data["user"])
    code, out, _ = run(capsys, "--db", demo_db, "users", "show", "carol", "--json")
    assert json.loads(out)["user"]["disabled"] is True


def test_search_json_and_pages(demo_db, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run(capsys, "--db", demo_db, "users", "search", "ali", "--json")
    assert code == 0 and json.loads(out)["users"][0]["email"] == "alice@example.com"
    code, out, _ = run(capsys, "--db", demo_db, "users", "search", "", "--limit", "5", "--json")
    page = json.loads(out)
    assert len(page["users"]) == 5 and page["next"]
    code, out, _ = run(
        capsys, "--db", demo_db, "users", "search", "", "--limit", "5", "--after", page["next"], "--json"
    )
    ids2 = {u["id"] for u in json.loads(out)["users"]}
    assert ids2 and not ids2 & {u["id"] for u in page["users"]}


def test_revoke_flow(demo_db, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run(capsys, "--db", demo_db, "revoke", "alice", "--all-tokens", "--reason", "test")
    assert code == 1 and "--yes" in err and err.count("\n") == 1
    code, out, _ = run(
        capsys, "--db", demo_db, "revoke", "alice", "--all-tokens", "--reason", "test", "--dry-run", "--json"
    )
    assert json.loads(out)["token_version"] == 1 and json.loads(out)["dry_run"]
    code, out, _ = run(
        capsys,
        "--db",
        demo_db,
        "revoke",
        "alice",
        "--all-tokens",
        "--reason",
        "stolen laptop",
        "--yes",
        "--json",
    )
    assert code == 0 and json.loads(out)["token_version"] == 1
    code, out, _ = run(capsys, "--db", demo_db, "sessions", "list", "alice", "--active", "--json")
    sid = json.loads(out)["sessions"][0]["public_id"]
    code, out, _ = run(
        capsys, "--db", demo_db, "revoke", "alice", "--session", sid, "--reason", "lost", "--yes", "--json"
    )
    assert code == 0 and json.loads(out)["sessions_deleted"] == 1
    code, out, _ = run(
        capsys, "--db", demo_db, "revoke", "alice", "--sessions", "--reason", "all", "--yes", "--json"
    )
    assert json.loads(out)["sessions_deleted"] == 3  # 2 active + 1 expired
    code, out, _ = run(capsys, "--db", demo_db, "audit", "list", "--user", "alice", "--json")
    actions = [e["action"] for e in json.loads(out)["events"]]
    assert actions == ["delete_sessions", "delete_session", "revoke_tokens"]
    code, out, _ = run(capsys, "--db", demo_db, "audit", "verify")
    assert code == 0 and "intact" in out


def test_disable_enable_and_read_only(demo_db, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run(
        capsys, "--db", demo_db, "--read-only", "users", "disable", "bob", "--reason", "x", "--yes"
    )
    assert code == 4 and "read-only" in err  # Exit.REFUSED
    code, out, _ = run(capsys, "--db", demo_db, "users", "disable", "bob", "--reason", "x", "--yes", "--json")
    assert code == 0 and json.loads(out)["disabled"] is True


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["users", "show", "nobody"], "no user matches"),
        (["revoke", "alice", "--all-tokens", "--yes"], "--reason"),
        (["revoke", "alice", "--all-tokens", "--reason", "  ", "--yes"], "reason is required"),
        (["revoke", "alice", "--session", "ses_nope", "--reason", "x", "--yes"], "no session"),
        (["users", "search", "a", "--limit", "0"], "--limit"),
    ],
)
def test_errors_are_one_line(demo_db, capsys, argv, fragment) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run(capsys, "--db", demo_db, *argv)
    assert code in (1, 2) and fragment in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_database_errors_are_one_line(capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    for url, want in (
        ("postgresql+psycopg://postgres:hunter2@127.0.0.1:1/nope", 5),
        ("mysql://x/y", 1),
        ("not a url", 1),
        (f"sqlite:///{tmp_path}/empty.db", 5),
    ):
        code, out, err = run(capsys, "--db", url, "users", "search", "a")
        assert code == want, (url, err)
        assert err.count("\n") == 1 and "Traceback" not in err and "hunter2" not in err
    assert not (tmp_path / "empty.db").exists()


def test_url_precedence(monkeypatch, tmp_path, capsys, write_config) -> None:  # type: ignore[no-untyped-def]
    from authcore.config import load_config, resolve_database_url

    write_config('database_url = "sqlite:///from-config.db"\n')
    cfg = load_config()
    assert resolve_database_url(None, cfg) == "sqlite:///from-config.db"
    monkeypatch.setenv("DATABASE_URL", "sqlite:///from-database-url.db")
    assert resolve_database_url(None, cfg) == "sqlite:///from-database-url.db"
    monkeypatch.setenv("AUTHCONSOLE_DATABASE_URL", "sqlite:///from-authconsole.db")
    assert resolve_database_url(None, cfg) == "sqlite:///from-authconsole.db"
    assert resolve_database_url("sqlite:///cli.db", cfg) == "sqlite:///cli.db"


def test_world_readable_secret_config_refused(capsys, write_config) -> None:  # type: ignore[no-untyped-def]
    path = write_config('[tokens]\nsecret = "s3cr3t-value-that-is-long-enough-123"\n', mode=0o644)
    code, out, err = run(capsys, "users", "search", "a")
    assert code == 3 and "chmod 600" in err and str(path) in err  # Exit.CONFIG
    assert "s3cr3t" not in err


def test_ssh_client_is_claimed_context_not_the_actor(demo_db, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from authcore.actor import os_user

    monkeypatch.setenv("SSH_CONNECTION", "10.9.8.7 5555 10.0.0.1 22")
    run(capsys, "--db", demo_db, "revoke", "bob", "--all-tokens", "--reason", "x", "--yes")
    code, out, _ = run(capsys, "--db", demo_db, "audit", "list", "--json")
    ev = json.loads(out)["events"][0]
    assert ev["actor"] == os_user() and ev["client"] == "ssh 10.9.8.7"


def test_db_upgrade_and_status(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path}/fresh.db"
    code, out, err = run(capsys, "--db", url, "db", "status", "--json")
    assert code == 5 and out == "" and json.loads(err)["code"] == "database"
    assert not (tmp_path / "fresh.db").exists()  # only demo and db upgrade create a database
    code, out, _ = run(capsys, "--db", url, "db", "upgrade")
    assert code == 0
    code, out, _ = run(capsys, "--db", url, "db", "status", "--json")
    assert code == 0 and json.loads(out)["up_to_date"]


def test_python_m_console_works(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import subprocess
    import sys

    r = subprocess.run(
        [sys.executable, "-m", "console", "--help"], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0 and "authconsole" in r.stdout


def test_demo_runs_again_and_says_so(db_url, capsys) -> None:  # type: ignore[no-untyped-def]
    """Issue 11: a second demo failed (SQLite: UNIQUE sessions.token_hash; PostgreSQL:
    UniqueViolation, exit 70). It says plainly the demo users exist and adds nothing."""
    for _ in range(2):
        code, out, err = run(capsys, "--db", db_url, "demo", "--users", "20", "--json")
        assert code == 0, err
    again = json.loads(out)
    assert again["already_present"] and again["users_added"] == 0 and again["users_total"] == 23
    code, out, err = run(capsys, "--db", db_url, "demo", "--users", "5")
    assert code == 0 and "already exist" in out and "nothing added" in out


def test_demo_library_seed_twice_adds_fresh_rows(engine) -> None:  # type: ignore[no-untyped-def]
    """The library's seed on a database that has users (same seed): new rows, no collision,
    and a named user deleted in between comes back."""
    from sqlalchemy import delete, func, select

    from authcore import demo
    from authcore.models import sessions, users

    first = demo.seed(engine, 30, rng_seed=42)
    with engine.begin() as conn:
        conn.execute(
            delete(sessions).where(
                sessions.c.user_id.in_(select(users.c.id).where(users.c.username == "alice"))
            )
        )
        conn.execute(delete(users).where(users.c.username == "alice"))
    second = demo.seed(engine, 30, rng_seed=42)
    assert second.named == ("alice@example.com",) and second.users == 31
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(users)).scalar_one() == 63
        n = conn.execute(select(func.count()).select_from(sessions)).scalar_one()
    assert n == first.sessions - 4 + second.sessions


def test_demo_as_viewer_is_refused_not_internal_error(db_url, capsys, write_config) -> None:  # type: ignore[no-untyped-def]
    """Issue 11: a viewer running demo got 'internal error: PermissionError ... config.toml'."""
    write_config('[operators]\nsomeone_else = "admin"\n', mode=0o444)
    code, out, err = run(capsys, "--db", db_url, "demo", "--users", "0")
    assert code == 4 and "viewer role" in err and err.count("\n") == 1


def test_unwritable_config_is_a_file_error_not_70(db_url, capsys, hermetic_env, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The OS refusing the config file is exit 6 with the reason, not 'internal error'."""
    import authcore.config

    def refuse(path, secret):  # type: ignore[no-untyped-def]
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(authcore.config, "write_secret", refuse)
    code, out, err = run(capsys, "--db", db_url, "demo", "--users", "0")
    assert code == 6 and "Permission denied" in err and "config.toml" in err
    assert err.count("\n") == 1 and "internal" not in err


def test_unwritable_config_as_another_user() -> None:
    """The same, for real: demo run as 'nobody' with a config it may not write."""
    import pwd
    import shutil
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    from tests.conftest import ROOT

    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to run as another user")
    nobody = pwd.getpwnam("nobody")
    with tempfile.TemporaryDirectory(prefix="authconsole-nobody-") as d:
        top = Path(d)
        top.chmod(0o755)
        cfg = top / "config.toml"
        cfg.write_text("# root's\n")
        cfg.chmod(0o644)
        data = top / "data"
        data.mkdir()
        os.chown(data, nobody.pw_uid, nobody.pw_gid)
        env = {
            "PATH": os.environ["PATH"],
            "HOME": str(top),
            "AUTHCONSOLE_CONFIG": str(cfg),
            "PYTHONPATH": str(ROOT),
        }
        as_nobody = [
            "setpriv",
            f"--reuid={nobody.pw_uid}",
            f"--regid={nobody.pw_gid}",
            "--clear-groups",
            sys.executable,
        ]
        probe = subprocess.run(
            [*as_nobody, "-c", "import console.cli, sqlalchemy"],
            cwd="/",
            env=env,
            capture_output=True,
            timeout=60,
        )
        if probe.returncode != 0:
            pytest.skip("the checkout or its venv is not readable by other users")
        r = subprocess.run(
            [
                "setpriv",
                f"--reuid={nobody.pw_uid}",
                f"--regid={nobody.pw_gid}",
                "--clear-groups",
                sys.executable,
                "-m",
                "console",
                "--db",
                f"sqlite:///{data}/x.db",
                "demo",
                "--users",
                "0",
            ],
            cwd="/",
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 6, r.stderr
        assert r.stderr.count("\n") == 1 and "Permission denied" in r.stderr
        assert str(cfg) in r.stderr
        assert "internal" not in r.stderr and "Traceback" not in r.stderr


def test_sessions_list_filter_ip_prefix_or_text(demo_db, capsys) -> None:  # type: ignore[no-untyped-def]
    """``sessions list --filter``: an IP prefix lists the sessions whose first or last address
    starts with it (not the user agents holding it); other text also matches user agents."""
    code, out, _ = run(capsys, "--db", demo_db, "sessions", "list", "--json", "--limit", "1000")
    every = json.loads(out)["sessions"]
    ip = next(s["first_ip"] for s in every if s["first_ip"] and "." in s["first_ip"])
    prefix = ".".join(ip.split(".")[:2]) + "."

    def listed(text: str) -> set[str]:
        code, out, err = run(
            capsys, "--db", demo_db, "sessions", "list", "--json", "--limit", "1000", "--filter", text
        )
        assert code == 0, err
        return {s["public_id"] for s in json.loads(out)["sessions"]}

    starts = {
        s["public_id"] for s in every if any((s[k] or "").startswith(prefix) for k in ("first_ip", "last_ip"))
    }
    assert listed(prefix) == starts and starts
    agent = every[0]["user_agent"].split("/")[0]  # e.g. "Mozilla"
    assert listed(agent) == {
        s["public_id"] for s in every if agent.lower() in (s["user_agent"] or "").lower()
    }


def test_sessions_list_of_a_user_takes_the_filter(demo_db, capsys) -> None:  # type: ignore[no-untyped-def]
    """``sessions list USER --filter TEXT``: the user's sessions that the all-users list's filter
    matches (once the filter was ignored there and every session of the user listed)."""

    def listed(*argv: str) -> list[dict[str, str]]:
        code, out, err = run(capsys, "--db", demo_db, "sessions", "list", "--json", "--limit", "1000", *argv)
        assert code == 0, err
        sessions: list[dict[str, str]] = json.loads(out)["sessions"]
        return sessions

    mine = listed("alice")
    assert len(mine) >= 2
    ip = mine[0]["first_ip"] or mine[0]["last_ip"]
    for text in (ip, ip[: ip.index(".") + 1] if "." in ip else ip[: ip.index(":") + 1], mine[0]["public_id"]):
        everyone = {s["public_id"] for s in listed("--filter", text)}
        got = [s["public_id"] for s in listed("alice", "--filter", text)]
        assert got == [s["public_id"] for s in mine if s["public_id"] in everyone], text
        assert mine[0]["public_id"] in got
    assert [s["public_id"] for s in listed("alice", "--filter", mine[0]["public_id"])] == [
        mine[0]["public_id"]
    ]
    assert listed("alice", "--filter", "no-such-agent-text") == []


def test_demo_hint_names_the_database_it_seeded(db_url, capsys, monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """demo's ``next:`` line opens what it seeded: with ``--db URL`` (a bare ``authconsole``
    opens the default SQLite file) and ``--config``, a password in the URL masked."""
    import shlex

    from sqlalchemy.engine import make_url

    from authcore.urls import mask_password

    secret = "hunter2-s3cret"
    url = db_url
    if db_url.startswith("postgresql"):  # the test server trusts local connections: any password
        url = make_url(db_url).set(password=secret).render_as_string(hide_password=False)
    cfg = tmp_path / "demo-config.toml"
    cfg.write_text("")
    cfg.chmod(0o600)
    code, out, err = run(capsys, "--config", str(cfg), "--db", url, "demo", "--users", "3")
    assert code == 0, err
    assert secret not in out + err
    hint = next(ln for ln in out.splitlines() if ln.startswith("next: "))
    words = shlex.split(hint.removeprefix("next: ").split("   (")[0])
    assert words == ["authconsole", "--config", str(cfg), "--db", mask_password(url)]
    assert ("***" in words[-1]) == (url != db_url)
    # the named database is the seeded one (the password put back where the mask is)
    code, out, err = run(
        capsys, *words[1:4], words[4].replace("***", secret), "users", "show", "alice", "--json"
    )
    assert code == 0 and json.loads(out)["user"]["email"] == "alice@example.com", err


def test_demo_hint_without_db_option(db_url, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A database from the environment is what a bare ``authconsole`` opens too."""
    monkeypatch.setenv("AUTHCONSOLE_DATABASE_URL", db_url)
    code, out, err = run(capsys, "demo", "--users", "0")
    assert code == 0, err
    assert "next: authconsole   (opens the console" in out
