"""Every `docent` failure a new user meets is one line on stderr and a non-zero exit, never a traceback.
Each case runs docent as a real process, in its own folder."""

from __future__ import annotations

import re
import socket
import subprocess
from pathlib import Path

import pytest

from docent.auth.audit import RequestContext
from docent.container import build_container
from tests.conftest import TEST_HASHER, make_settings
from tests.integration.test_cli import _env, _run, _run_in_terminal

PASSWORD = "Operator-Passw0rd!"


def _one_line(result: subprocess.CompletedProcess[str], code: int = 2) -> str:
    """The single `error: …` line the command printed on stderr."""
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    assert result.returncode == code, (result.returncode, result.stderr)
    return lines[0]


def _closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _migrated(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = _env(tmp_path, HF_HUB_OFFLINE="1", **extra)
    upgraded = _run("db", "upgrade", env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    return env


@pytest.mark.parametrize(
    "command",
    [
        ["search", "vpn"],
        ["ask", "what is the vpn called?"],
        ["ingest", "note.txt"],
        ["index", "check"],
        ["index", "rebuild"],
        ["index", "migrate", "--status"],
        ["users", "create", "--email", "ops@example.com", "--password", PASSWORD],
        ["worker"],
        ["serve", "--port", "1"],
    ],
    ids=lambda command: "-".join(command[:2]),
)
def test_a_database_never_migrated_asks_for_db_upgrade(tmp_path: Path, command: list[str]) -> None:
    (tmp_path / "note.txt").write_text("The VPN client is called Tunnelbear.")
    line = _one_line(_run(*command, env=_env(tmp_path, HF_HUB_OFFLINE="1")))
    assert "run `docent db upgrade`" in line


def test_an_empty_database_on_either_profile_asks_for_db_upgrade(
    tmp_path: Path, empty_database_url: str
) -> None:
    env = _env(tmp_path, HF_HUB_OFFLINE="1", DOCENT_DATABASE_URL=empty_database_url)
    assert "run `docent db upgrade`" in _one_line(_run("search", "vpn", env=env))


def test_an_unknown_revision_is_named(tmp_path: Path) -> None:
    env = _env(tmp_path)
    assert "'9999'" in _one_line(_run("db", "upgrade", "9999", env=env))
    assert _run("db", "upgrade", env=env).returncode == 0
    line = _one_line(_run("db", "downgrade", "9999", env=env))
    assert "'9999'" in line and "0004" in line


def test_an_unknown_user_is_not_told_to_name_an_organisation(tmp_path: Path) -> None:
    env = _migrated(tmp_path)
    for email, org in (
        ("ops@example.com", "default"),
        ("twin@example.com", "north"),
        ("twin@example.com", "south"),
    ):
        created = _run("users", "create", "--email", email, "--password", PASSWORD, "--org", org, env=env)
        assert created.returncode == 0, created.stderr
    line = _one_line(_run("ask", "anything", "--as", "nobody@example.com", env=env))
    assert "no active user 'nobody@example.com'" in line and "--org" not in line
    line = _one_line(_run("ask", "anything", "--as", "nobody@example.com", "--org", "default", env=env))
    assert "no active user 'nobody@example.com' in organisation 'default'" in line
    line = _one_line(_run("ask", "anything", "--as", "twin@example.com", env=env))
    assert "several organisations" in line and "--org" in line


def test_users_create_without_a_terminal_makes_a_strong_password_and_shows_it_once(tmp_path: Path) -> None:
    env = _migrated(tmp_path)
    created = _run("users", "create", "--email", "ops@example.com", "--role", "admin", env=env, stdin="")
    assert created.returncode == 0, created.stderr
    found = re.search(r"^password: (\S+)", created.stdout, re.MULTILINE)
    assert found, created.stdout
    password = found.group(1)
    assert len(password) >= 20
    assert created.stdout.count(password) == 1 and password not in created.stderr
    log = (tmp_path / "logs" / "docent-cli.log").read_text()
    assert password not in log

    settings = make_settings(env["DOCENT_DATABASE_URL"], tmp_path, embedded_worker=False)
    with build_container(settings, hasher=TEST_HASHER) as container, container.database.unit_of_work() as uow:
        tokens = container.auth.login(uow, "ops@example.com", password, RequestContext(ip="127.0.0.1"))
    assert tokens.access_token


def test_users_create_on_a_terminal_asks_twice(tmp_path: Path) -> None:
    env = _migrated(tmp_path)
    code, shown = _run_in_terminal(
        "users",
        "create",
        "--email",
        "a@example.com",
        env=env,
        answers=(("Password: ", PASSWORD), ("again: ", PASSWORD + "x")),
    )
    assert code == 2 and "the two passwords differ" in shown and "Traceback" not in shown
    code, shown = _run_in_terminal(
        "users",
        "create",
        "--email",
        "a@example.com",
        env=env,
        answers=(("Password: ", PASSWORD), ("again: ", PASSWORD)),
    )
    assert code == 0, shown
    assert "created member a@example.com" in shown and PASSWORD not in shown


@pytest.mark.parametrize(
    ("variable", "value", "command"),
    [
        ("DOCENT_PORT", "abc", ["search", "vpn"]),
        ("DOCENT_RRF_K", "-1", ["ingest", "note.txt"]),
        ("DOCENT_LLM_PROVIDERS", "gpt-4o-mini", ["ask", "anything"]),
        ("DOCENT_LOG_LEVEL", "loud", ["index", "check"]),
    ],
)
def test_a_bad_setting_is_named(tmp_path: Path, variable: str, value: str, command: list[str]) -> None:
    (tmp_path / "note.txt").write_text("text")
    env = _migrated(tmp_path)
    line = _one_line(_run(*command, env={**env, variable: value}))
    assert variable in line and "Traceback" not in line


@pytest.mark.parametrize(
    "command",
    [["search", "vpn"], ["db", "upgrade"], ["users", "create", "--email", "a@e.com", "--password", PASSWORD]],
)
def test_an_unreachable_postgresql_is_one_line(tmp_path: Path, command: list[str]) -> None:
    url = f"postgresql+psycopg://docent:secret-pw@127.0.0.1:{_closed_port()}/docent"
    env = _env(tmp_path, HF_HUB_OFFLINE="1", DOCENT_DATABASE_URL=url)
    line = _one_line(_run(*command, env=env))
    assert "DOCENT_DATABASE_URL" in line and "secret-pw" not in line


@pytest.mark.parametrize("command", [["ingest", "note.txt"], ["worker"]])
def test_an_unreachable_redis_is_one_line(tmp_path: Path, command: list[str]) -> None:
    (tmp_path / "note.txt").write_text("text")
    env = _migrated(tmp_path, DOCENT_REDIS_URL=f"redis://127.0.0.1:{_closed_port()}/15")
    created = _run("users", "create", "--email", "admin@example.com", "--password", PASSWORD, env=env)
    assert created.returncode == 0, created.stderr
    line = _one_line(_run(*command, env=env))
    assert "DOCENT_REDIS_URL" in line


def test_a_bad_argument_is_one_line(tmp_path: Path) -> None:
    env = _env(tmp_path)
    assert "--top-k" in _one_line(_run("search", "vpn", "--top-k", "many", env=env))
    assert "does not exist" in _one_line(_run("ingest", "missing-folder", env=env))
