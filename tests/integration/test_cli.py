"""The `docent` command line, run as a real process."""

from __future__ import annotations

import io
import os
import pty
import select
import signal
import subprocess
import sys
import time
from contextlib import redirect_stderr
from pathlib import Path

from docent.api.app import prepare
from docent.auth.audit import RequestContext
from docent.config import Settings
from docent.container import build_container
from tests.conftest import SECRET_KEY, TEST_HASHER, make_settings

DOCENT = [sys.executable, "-m", "docent"]


def _run(*args: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    # Run in the test's own folder: a `.env` in the project root (`make run` writes one) must not leak in.
    return subprocess.run(
        [*DOCENT, *args],
        env=env,
        cwd=env["DOCENT_DATA_DIR"],
        capture_output=True,
        text=True,
        timeout=300,
        input=stdin,
        check=False,
    )


def _run_in_terminal(
    *args: str, env: dict[str, str], answers: tuple[tuple[str, str], ...] = ()
) -> tuple[int, str]:
    """Run docent on a pseudo-terminal (its stdin, stdout and stderr, and /dev/tty), typing each answer
    once its prompt appears; the exit code and everything the terminal showed."""
    pid, terminal = pty.fork()
    if pid == 0:  # the child becomes docent at once
        os.chdir(env["DOCENT_DATA_DIR"])
        os.execve(sys.executable, [*DOCENT, *args], env)  # noqa: S606 (our own interpreter, no shell)
    shown, answered_at, pending = b"", 0, list(answers)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if pending and pending[0][0].encode() in shown[answered_at:]:
            os.write(terminal, pending.pop(0)[1].encode() + b"\n")
            answered_at = len(shown)
        if select.select([terminal], [], [], 0.2)[0]:
            try:
                chunk = os.read(terminal, 65536)
            except OSError:  # EIO: the child closed the terminal
                chunk = b""
            if not chunk:
                break
            shown += chunk
    else:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    os.close(terminal)
    return os.waitstatus_to_exitcode(status), shown.decode("utf-8", "replace")


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCENT_")}
    env.update(
        DOCENT_DATABASE_URL=f"sqlite:///{tmp_path}/cli.db",
        DOCENT_DATA_DIR=str(tmp_path),
        DOCENT_SECRET_KEY=SECRET_KEY,
    )
    env.update(extra)
    return env


def test_db_upgrade_and_users_create(tmp_path: Path) -> None:
    env = _env(tmp_path)
    upgraded = _run("db", "upgrade", env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "revision 0013_narrow_chunk_rows" in upgraded.stdout

    created = _run(
        "users",
        "create",
        "--email",
        "ops@example.com",
        "--role",
        "admin",
        "--password-stdin",
        env=env,
        stdin="Operator-Passw0rd!\n",
    )
    assert created.returncode == 0, created.stderr
    assert "created admin ops@example.com" in created.stdout
    assert "Operator-Passw0rd!" not in created.stdout + created.stderr

    again = _run("users", "create", "--email", "ops@example.com", "--password", "Operator-Passw0rd!", env=env)
    assert again.returncode == 2
    assert "already exists" in again.stderr

    bad = _run("users", "create", "--email", "nope", "--password", "Operator-Passw0rd!", env=env)
    assert bad.returncode == 2
    assert "not a valid email" in bad.stderr

    down = _run("db", "downgrade", env=env)
    assert down.returncode == 0, down.stderr
    assert "revision 0012_budget_reservations" in down.stdout  # the revision before the head


def test_serve_refuses_a_missing_or_weak_secret_key(tmp_path: Path) -> None:
    env = _env(tmp_path)
    assert _run("db", "upgrade", env=env).returncode == 0
    del env["DOCENT_SECRET_KEY"]
    missing = _run("serve", "--port", "1", env=env)
    assert missing.returncode == 2
    assert "DOCENT_SECRET_KEY is not set" in missing.stderr
    weak = _run("serve", "--port", "1", env={**env, "DOCENT_SECRET_KEY": "changeme"})
    assert weak.returncode == 2
    assert "too weak" in weak.stderr


def test_serve_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    result = _run("serve", "--port", "1", env=_env(tmp_path))
    assert result.returncode == 2
    assert "docent db upgrade" in result.stderr


def test_settings_come_from_the_environment_and_dotenv(tmp_path: Path, monkeypatch: object) -> None:
    (tmp_path / ".env").write_text("DOCENT_PORT=9123\nDOCENT_LOG_LEVEL=DEBUG\n")
    settings = Settings(_env_file=tmp_path / ".env")  # type: ignore[call-arg]
    assert settings.port == 9123
    assert settings.log_level == "DEBUG"


def test_first_admin_gets_a_random_password_printed_once(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(database_url, tmp_path, admin_password=None, admin_email="first@example.com")
    container = build_container(settings, hasher=TEST_HASHER)
    first, second = io.StringIO(), io.StringIO()
    try:
        with redirect_stderr(first):
            prepare(container)
        with redirect_stderr(second):
            prepare(container)
        password = first.getvalue().split("password:")[1].split()[0]
        with container.database.unit_of_work() as uow:
            tokens = container.auth.login(uow, "first@example.com", password, RequestContext(ip="127.0.0.1"))
    finally:
        container.close()
    assert "first@example.com" in first.getvalue()
    assert len(password) >= 16
    assert tokens.access_token
    assert second.getvalue() == "", "the password is shown on the first start only"
