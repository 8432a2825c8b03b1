"""`docent search` as a real process: ranked results for a user, and errors that name the problem."""

from __future__ import annotations

from pathlib import Path

from tests.integration.test_cli import _env, _run


def test_docent_search_prints_ranked_results(tmp_path: Path) -> None:
    env = _env(tmp_path, HF_HUB_OFFLINE="1")
    assert _run("db", "upgrade", env=env).returncode == 0
    created = _run(
        "users", "create", "--email", "admin@example.com", "--role", "admin", "--password", "A" * 16, env=env
    )
    assert created.returncode == 0, created.stderr
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "vpn.txt").write_text(
        "The VPN client is called Tunnelbear Enterprise and needs hardware tokens."
    )
    (folder / "menu.txt").write_text("The cafeteria serves lasagna on Fridays.")
    ingested = _run("ingest", str(folder), env=env)
    assert ingested.returncode == 0, ingested.stderr

    found = _run("search", "What is the VPN client called?", "--mode", "keyword", "--top-k", "1", env=env)
    assert found.returncode == 0, found.stderr
    assert "vpn.txt" in found.stdout and "«VPN»" in found.stdout and "menu.txt" not in found.stdout
    assert "1 results, keyword mode" in found.stderr

    hybrid = _run("search", "lunch on Friday", env=env)
    assert hybrid.returncode == 0, hybrid.stderr
    assert hybrid.stdout.index("menu.txt") < hybrid.stdout.index("vpn.txt")

    bad_mode = _run("search", "vpn", "--mode", "fuzzy", env=env)
    assert bad_mode.returncode == 2 and "--mode" in bad_mode.stderr
    empty = _run("search", "   ", env=env)
    assert empty.returncode == 2 and "empty" in empty.stderr
    nobody = _run("search", "vpn", "--as", "nobody@example.com", env=env)
    assert nobody.returncode == 2 and "nobody@example.com" in nobody.stderr
