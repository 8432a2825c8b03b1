"""`docent serve` does not let a client pick its own address: uvicorn's default trust of X-Forwarded-For
from 127.0.0.1 is off, so forged addresses do not escape the per-address login limit (issue 11, point 4)."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.serve_process import docent_serve


def test_forged_forwarded_for_does_not_escape_the_per_address_limit(
    sqlite_template: Path, tmp_path: Path
) -> None:
    with (
        docent_serve(sqlite_template, tmp_path, DOCENT_LOGIN_FAILURES_PER_ADDRESS="3") as served,
        httpx.Client(base_url=served.url, timeout=30) as client,
    ):
        codes = []
        for i in range(5):
            response = client.post(
                "/api/v1/auth/login",
                data={"username": f"user{i}@example.com", "password": "wrong-password"},
                headers={"X-Forwarded-For": f"198.51.100.{i}"},
            )
            codes.append(response.status_code)
    assert codes == [401, 401, 401, 429, 429]
