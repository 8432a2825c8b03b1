"""`docent serve` does not let a client pick its own address: uvicorn's default trust of X-Forwarded-For
from 127.0.0.1 is off, so forged addresses do not escape the per-address login limit (issue 11, point 4)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, SECRET_KEY
from tests.integration.test_hostile_files import _free_port, _wait_until_ready


def test_forged_forwarded_for_does_not_escape_the_per_address_limit(
    sqlite_template: Path, tmp_path: Path
) -> None:
    database = tmp_path / "docent.db"
    shutil.copy(sqlite_template, database)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCENT_")}
    env.update(
        {
            "DOCENT_DATABASE_URL": f"sqlite:///{database}",
            "DOCENT_DATA_DIR": str(tmp_path / "data"),
            "DOCENT_SECRET_KEY": SECRET_KEY,
            "DOCENT_ADMIN_EMAIL": ADMIN_EMAIL,
            "DOCENT_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "DOCENT_LOGIN_FAILURES_PER_ADDRESS": "3",
            "DOCENT_EMBED_THREADS": "1",
            "HF_HUB_OFFLINE": "1",
        }
    )
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "docent", "serve", "--port", str(port)], env=env, stdout=out, stderr=out
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_ready(url, process, log)
        codes = []
        with httpx.Client(base_url=url, timeout=30) as client:
            for i in range(5):
                response = client.post(
                    "/api/v1/auth/login",
                    data={"username": f"user{i}@example.com", "password": "wrong-password"},
                    headers={"X-Forwarded-For": f"198.51.100.{i}"},
                )
                codes.append(response.status_code)
        assert codes == [401, 401, 401, 429, 429]
    finally:
        process.terminate()
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
