"""A real `docent serve` process, for the tests whose subject is the command itself (how it sets uvicorn up,
how much memory it takes): on a copy of the migrated SQLite template, ready (`/readyz` 200) when the block
starts, stopped when it ends (SIGTERM, then SIGKILL if it does not go within a minute)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, SECRET_KEY

READY_SECONDS = 180  # only stops a hang: a busy machine starts the server slowly


@dataclass
class ServeProcess:
    process: subprocess.Popen[bytes]
    url: str
    log: Path  # the server's stdout and stderr


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def docent_serve(sqlite_template: Path, tmp_path: Path, **settings: str) -> Iterator[ServeProcess]:
    """`docent serve` with the tests' admin and secret key, and `settings` (DOCENT_* and other variables)
    on top; no DOCENT_ variable of the calling environment leaks in."""
    database = tmp_path / "docent.db"
    shutil.copy(sqlite_template, database)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCENT_")}
    env.update(
        {
            "DOCENT_DATABASE_URL": f"sqlite:///{database}",
            "DOCENT_DATA_DIR": str(tmp_path / "data"),
            "DOCENT_SECRET_KEY": SECRET_KEY,
            "DOCENT_ADMIN_EMAIL": ADMIN_EMAIL,
            "DOCENT_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "DOCENT_EMBED_THREADS": "1",
            "HF_HUB_OFFLINE": "1",
            **settings,
        }
    )
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "docent", "serve", "--port", str(port)], env=env, stdout=out, stderr=out
        )
    served = ServeProcess(process, f"http://127.0.0.1:{port}", log)
    try:
        _wait_until_ready(served)
        yield served
    finally:
        process.terminate()
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_ready(served: ServeProcess) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if served.process.poll() is not None:
            raise AssertionError(f"the server exited: {served.log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{served.url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise AssertionError("the server did not become ready")
