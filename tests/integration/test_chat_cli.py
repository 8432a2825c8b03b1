"""`docent ask` as a real process: the answer, its numbered sources, and a follow-up in the same session."""

from __future__ import annotations

import re
from pathlib import Path

from tests.integration.test_cli import _env, _run


def test_docent_ask_prints_the_answer_and_its_sources(tmp_path: Path) -> None:
    env = _env(tmp_path, HF_HUB_OFFLINE="1")
    assert _run("db", "upgrade", env=env).returncode == 0
    created = _run(
        "users", "create", "--email", "admin@example.com", "--role", "admin", "--password", "A" * 16, env=env
    )
    assert created.returncode == 0, created.stderr
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "leave.md").write_text(
        "# Parental leave\n\nParents receive sixteen weeks of paid parental leave, "
        "taken within the first year.\n"
    )
    (folder / "menu.txt").write_text("The cafeteria serves lasagna on Fridays.")
    ingested = _run("ingest", str(folder), env=env)
    assert ingested.returncode == 0, ingested.stderr

    asked = _run("ask", "How many weeks of paid parental leave do parents get?", env=env)
    assert asked.returncode == 0, asked.stderr
    assert "sixteen" in asked.stdout and "[1]" in asked.stdout
    assert re.search(r"^\[1\] Parental leave \(v1", asked.stdout, re.MULTILINE), asked.stdout
    session = re.search(r"session ([0-9a-f-]{36})", asked.stderr)
    assert session, asked.stderr

    follow = _run("ask", "Within what period must it be taken?", "--session", session.group(1), env=env)
    assert follow.returncode == 0, follow.stderr
    assert "year" in follow.stdout

    bad = _run("ask", "anything", "--session", "not-a-uuid", env=env)
    assert bad.returncode == 2 and "--session" in bad.stderr
    nobody = _run("ask", "anything", "--as", "nobody@example.com", env=env)
    assert nobody.returncode == 2 and "nobody@example.com" in nobody.stderr
