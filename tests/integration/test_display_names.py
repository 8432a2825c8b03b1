"""Hostile file names (NUL, terminal escapes, right-to-left overrides) are stored as given, but titles and
names are shown without them and downloads carry an RFC 6266 `Content-Disposition`; on both databases."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from docent.api.downloads import content_disposition
from docent.config import Settings
from docent.container import build_container
from docent.db.tables import DocumentVersion
from tests.conftest import Api

DOCS = "/api/v1/documents"
# Shown raw, the override reverses what follows it ("invoice" + "txt.exe..." read right to left).
HOSTILE = "invoice\u202etxt.exe.txt\x00\x1b[31m\u2066.txt"
SHOWN = "invoicetxt.exe.txt\u2400[31m.txt"  # NUL, which PostgreSQL cannot store, as U+2400


def _raw_upload(client: TestClient, headers: dict[str, str], filename: str, body: bytes) -> Any:
    """A multipart upload written by hand: HTTP clients escape control characters in file names, a
    hostile client need not."""
    boundary = "hostile-boundary-0042"
    payload = (
        f"--{boundary}\r\n".encode()
        + b'Content-Disposition: form-data; name="files"; filename="'
        + filename.encode("utf-8")
        + b'"\r\nContent-Type: text/plain\r\n\r\n'
        + body
        + f"\r\n--{boundary}--\r\n".encode()
    )
    content_type = f"multipart/form-data; boundary={boundary}"
    return client.post(DOCS, content=payload, headers=headers | {"Content-Type": content_type})


def _stored_filenames(settings: Settings, embedder: Any, document_id: str) -> list[str]:
    query = select(DocumentVersion.filename).where(DocumentVersion.document_id == uuid.UUID(document_id))
    with (
        build_container(settings, embedder=embedder) as container,
        container.database.unit_of_work(write=False) as uow,
    ):
        return list(uow.session.scalars(query))


def test_hostile_file_names_are_stored_as_given_and_shown_safely(
    client: TestClient, api: Api, admin: dict[str, str], settings: Settings, embedder: Any
) -> None:
    response = _raw_upload(client, admin, HOSTILE, b"The quarterly invoice lists forty office chairs.")
    assert response.status_code == 202, response.text
    (accepted,) = response.json()["documents"]
    assert (accepted["title"], accepted["filename"]) == (SHOWN, SHOWN)
    document = api.wait_for(admin, accepted["id"])
    assert document["status"] == "completed"
    assert (document["title"], document["versions"][0]["filename"]) == (SHOWN, SHOWN)

    found = client.post("/api/v1/search", json={"query": "office chairs invoice"}, headers=admin).json()
    assert [r["title"] for r in found["results"]] == [SHOWN]
    listed = client.get(DOCS, headers=admin).json()["items"]
    assert [d["title"] for d in listed] == [SHOWN]

    download = client.get(f"{DOCS}/{accepted['id']}/file", headers=admin)
    assert download.status_code == 200
    assert download.headers["content-disposition"] == (
        'attachment; filename="invoicetxt.exe.txt_31m.txt"; '
        "filename*=UTF-8''invoicetxt.exe.txt%E2%90%80%5B31m.txt"
    )
    assert _stored_filenames(settings, embedder, accepted["id"]) == [HOSTILE.replace("\x00", "\u2400")]


def test_a_given_title_loses_control_and_bidi_characters(api: Api, admin: dict[str, str]) -> None:
    files = [("files", ("notes.txt", b"Parking is behind building B.", "text/plain"))]
    (document,) = api.upload(admin, files, title="Pay\u202eroll\r\nsummary\x07\x00", tags="ok")
    assert document["title"] == "Payroll summary"


def test_content_disposition_has_an_ascii_fallback_and_the_utf8_name() -> None:
    assert content_disposition("Résumé 報告.pdf", inline=True) == (
        "inline; filename=\"Resume _.pdf\"; filename*=UTF-8''R%C3%A9sum%C3%A9%20%E5%A0%B1%E5%91%8A.pdf"
    )
    assert content_disposition('a"b\\c;d.txt') == (
        "attachment; filename=\"a_b_c_d.txt\"; filename*=UTF-8''a%22b%5Cc%3Bd.txt"
    )
    assert content_disposition("\u202e\x00") == "attachment; filename=\"download\"; filename*=UTF-8''download"
    assert (
        content_disposition("報告")
        == "attachment; filename=\"download\"; filename*=UTF-8''%E5%A0%B1%E5%91%8A"
    )
