"""Limits hold before any work: a body over the cap is refused whatever its content type, before
authentication or a form parser reads it; an unauthenticated upload never reaches the disk; a malformed
multipart body is a 4xx in the error shape, never a 500."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import assert_error, make_settings, start_client

MULTIPART = "multipart/form-data; boundary=x"


@pytest.fixture
def small(database_url: str, tmp_path: Path, embedder: Any) -> Iterator[TestClient]:
    settings = make_settings(
        database_url, tmp_path, max_json_body_kb=4, max_upload_mb=1, max_files_per_upload=2
    )
    with start_client(settings, embedder) as client:
        yield client


def _part(name: str, size: int) -> bytes:
    head = f'--x\r\nContent-Disposition: form-data; name="{name}"; filename="a.txt"\r\n\r\n'.encode()
    return head + b"a" * size + b"\r\n--x--\r\n"


def _staged(tmp_path: Path) -> list[Path]:
    return [p for p in (tmp_path / "files").rglob("*") if p.is_file()]


def test_a_multipart_body_to_a_json_route_meets_the_cap_before_authentication(small: TestClient) -> None:
    body = _part("file", 64 * 1024)
    response = small.post("/api/v1/search", content=body, headers={"Content-Type": MULTIPART})
    assert_error(response, 413, "payload_too_large")


def test_a_login_with_a_file_part_is_refused_before_it_is_spooled(small: TestClient) -> None:
    body = _part("username", 64 * 1024)
    response = small.post("/api/v1/auth/login", content=body, headers={"Content-Type": MULTIPART})
    assert_error(response, 413, "payload_too_large")


def test_a_body_without_a_declared_length_is_cut_off_too(small: TestClient) -> None:
    chunks = iter([b"--x\r\n", b"a" * 3000, b"a" * 3000])
    response = small.post("/api/v1/auth/login", content=chunks, headers={"Content-Type": MULTIPART})
    assert_error(response, 413, "payload_too_large")


def test_an_unauthenticated_upload_writes_nothing(small: TestClient, tmp_path: Path) -> None:
    response = small.post(
        "/api/v1/documents", content=_part("files", 512 * 1024), headers={"Content-Type": MULTIPART}
    )
    assert_error(response, 401, "not_authenticated")
    assert _staged(tmp_path) == []


def test_an_upload_body_is_bounded_as_a_whole(small: TestClient, admin_of_small: dict[str, str]) -> None:
    too_much = 2 * 1024 * 1024 + 1024 * 1024 + 1  # two files at their largest, plus the form's room
    response = small.post(
        "/api/v1/documents",
        content=b"a" * too_much,
        headers={"Content-Type": MULTIPART, **admin_of_small},
    )
    assert_error(response, 413, "payload_too_large")


@pytest.fixture
def admin_of_small(small: TestClient) -> dict[str, str]:
    from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD

    tokens = small.post("/api/v1/auth/login", data={"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    return {"Authorization": f"Bearer {tokens.json()['access_token']}"}


@pytest.mark.parametrize("route", ["/api/v1/documents", "/api/v1/auth/login"])
def test_a_boundary_over_256_characters_is_a_4xx(
    small: TestClient, admin_of_small: dict[str, str], route: str
) -> None:
    boundary = "b" * 300
    part = 'Content-Disposition: form-data; name="files"; filename="a.txt"\r\n\r\nhi'
    body = f"--{boundary}\r\n{part}\r\n--{boundary}--\r\n"
    response = small.post(
        route,
        content=body.encode(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}", **admin_of_small},
    )
    assert 400 <= response.status_code < 500, response.text
    assert_error(response, response.status_code)


def test_an_upload_streamed_without_a_length_is_cut_off_at_the_whole_body_cap(
    small: TestClient, admin_of_small: dict[str, str], tmp_path: Path
) -> None:
    def body() -> Iterator[bytes]:
        for i in range(80):  # form fields under their own 64 KiB limit, 4.8 MB in all
            yield (
                f'--x\r\nContent-Disposition: form-data; name="f{i}"\r\n\r\n'.encode()
                + b"v" * 60_000
                + b"\r\n"
            )
        yield b"--x--\r\n"

    response = small.post(
        "/api/v1/documents", content=body(), headers={"Content-Type": MULTIPART, **admin_of_small}
    )
    assert_error(response, 413, "payload_too_large")
    assert [p for p in _staged(tmp_path) if "staging" in p.parts] == []
