"""Uploading, ingesting, reading, versioning and deleting documents over HTTP, on both databases."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, event, text

from docent.config import Settings
from tests.conftest import Api, assert_error
from tests.samples import CORPUS, make_blank_pdf, make_encrypted_pdf, make_pdf, sample_files

DOCS = "/api/v1/documents"


def _by_name(documents: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["filename"]: d for d in documents}


def _chunks(client: TestClient, headers: dict[str, str], document_id: str) -> list[dict[str, Any]]:
    response = client.get(f"{DOCS}/{document_id}/chunks", headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def _stored_files(settings: Settings) -> list[Path]:
    root = settings.storage_dir
    assert root is not None
    return [p for p in root.glob("??/*") if p.is_file()]


def test_five_formats_ingest_with_pages_and_sections(
    api: Api, client: TestClient, admin: dict[str, str]
) -> None:
    uploaded = api.upload(admin, sample_files(), visibility="org", tags="handbook, HR")
    assert len(uploaded) == 5
    assert all(d["status"] in ("queued", "processing", "completed") for d in uploaded)
    assert all(d["duplicate"] is False and d["job_id"] for d in uploaded)
    done = {d["filename"]: api.wait_for(admin, d["id"]) for d in uploaded}
    assert {name: d["status"] for name, d in done.items()} == dict.fromkeys(done, "completed")
    assert all(d["tags"] == ["handbook", "hr"] for d in done.values())
    assert done["onboarding.pdf"]["content_type"] == "application/pdf"
    assert done["onboarding.pdf"]["page_count"] == 2

    pdf_chunks = _chunks(client, admin, done["onboarding.pdf"]["id"])
    assert {c["page"] for c in pdf_chunks} == {1, 2}
    assert any("Tunnelbear" in c["text"] and c["page"] == 2 for c in pdf_chunks)
    md_chunks = _chunks(client, admin, done["expenses.md"]["id"])
    assert any(c["section"] == ["Expenses", "Deadlines"] and "30 days" in c["text"] for c in md_chunks)
    docx_chunks = _chunks(client, admin, done["leave.docx"]["id"])
    assert any(c["section"] == ["Parental leave"] and "sixteen weeks" in c["text"] for c in docx_chunks)
    html = done["security.html"]
    assert html["title"] == "Security handbook"
    html_text = " ".join(c["text"] for c in _chunks(client, admin, html["id"]))
    assert "rotated every 90 days" in html_text and "Home | About" not in html_text
    assert done["travel.txt"]["progress"]["done"] == done["travel.txt"]["progress"]["total"] >= 1

    original = client.get(f"{DOCS}/{done['travel.txt']['id']}/file", headers=admin)
    assert original.status_code == 200
    assert original.content == CORPUS["travel.txt"][0]
    assert "attachment" in original.headers["content-disposition"]


def test_bad_uploads_are_refused_and_change_nothing(
    api: Api, client: TestClient, admin: dict[str, str], settings: Settings
) -> None:
    def post(files: Any, **kwargs: Any) -> Any:
        return client.post(DOCS, files=files, headers=admin, **kwargs)

    good = ("files", ("ok.txt", b"A perfectly good file.", "text/plain"))
    assert_error(post([("files", ("empty.txt", b"", "text/plain"))]), 400, "empty_file")
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
    assert_error(post([good, ("files", ("notes.txt", png, "text/plain"))]), 415, "unsupported_media_type")
    assert_error(
        post([("files", ("report.pdf", b"plain words " * 20, "application/pdf"))]),
        415,
        "content_type_mismatch",
    )
    assert_error(post([good], data={"visibility": "everyone"}), 422, "validation_error")
    assert_error(post([good], data={"visibility": "group"}), 400, "bad_request")
    assert_error(post([good], data={"visibility": "group", "group_ids": "not-a-uuid"}), 422)
    assert_error(post([("other", ("ok.txt", b"text", "text/plain"))]), 400, "bad_request")
    assert_error(client.post(DOCS, data={"tags": "x"}, headers=admin), 415, "unsupported_media_type")
    assert_error(client.post(DOCS, json={"files": []}, headers=admin), 415, "unsupported_media_type")
    broken = b'--XYZ\r\nContent-Disposition: form-data; name="files"; filename="a.txt"\r\n\r\nhalf a file'
    response = client.post(
        DOCS, content=broken, headers={**admin, "Content-Type": "multipart/form-data; boundary=XYZ"}
    )
    assert_error(response, 400, "bad_request")

    listing = client.get(DOCS, headers=admin).json()
    assert listing["total"] == 0
    assert _stored_files(settings) == []
    staging = (settings.storage_dir or Path()) / "staging"
    assert not staging.exists() or list(staging.iterdir()) == []


def test_upload_over_the_limit_gets_413(tmp_path: Path, database_url: str, embedder: Any) -> None:
    from tests.conftest import make_settings, start_client

    settings = make_settings(database_url, tmp_path, max_upload_mb=1)
    with start_client(settings, embedder) as client:
        headers = Api(client).headers()
        big = b"a " * (700 * 1024)  # 1.4 MB
        response = client.post(DOCS, files=[("files", ("big.txt", big, "text/plain"))], headers=headers)
        assert_error(response, 413, "document_too_large")
        assert client.get(DOCS, headers=headers).json()["total"] == 0
        assert _stored_files(settings) == []


def test_same_content_is_stored_once_and_never_reveals_unreadable_documents(
    api: Api, client: TestClient, admin: dict[str, str], member: dict[str, str], settings: Settings
) -> None:
    content = b"The cafeteria opens at eight and closes at three."
    (first,) = api.upload(member, [("files", ("menu.txt", content, "text/plain"))], visibility="private")
    (again,) = api.upload(member, [("files", ("menu-copy.txt", content, "text/plain"))])
    assert again["duplicate"] is True and again["id"] == first["id"] and again["job_id"] is None

    api.create_user(admin, "other@example.com")
    other = api.headers("other@example.com")
    (theirs,) = api.upload(other, [("files", ("menu.txt", content, "text/plain"))])
    assert theirs["duplicate"] is False and theirs["id"] != first["id"]
    assert len(_stored_files(settings)) == 1  # one file on disk for both records


def test_failed_parses_end_failed_and_the_worker_goes_on(api: Api, admin: dict[str, str]) -> None:
    files = [
        ("files", ("corrupt.pdf", b"%PDF-1.4\n garbage \n%%EOF", "application/pdf")),
        ("files", ("locked.pdf", make_encrypted_pdf("Top secret numbers"), "application/pdf")),
        ("files", ("scan.pdf", make_blank_pdf(), "application/pdf")),
        ("files", ("fine.txt", b"This one is perfectly readable.", "text/plain")),
    ]
    uploaded = _by_name(api.upload(admin, files))
    done = {name: api.wait_for(admin, d["id"]) for name, d in uploaded.items()}
    assert done["fine.txt"]["status"] == "completed"
    for name in ("corrupt.pdf", "locked.pdf", "scan.pdf"):
        assert done[name]["status"] == "failed", done[name]
        assert done[name]["error"]
    assert "password" in done["locked.pdf"]["error"].lower()  # its code is apart: see the next test
    assert "scanned" in done["scan.pdf"]["error"].lower() or "text layer" in done["scan.pdf"]["error"].lower()


def test_a_failed_parse_keeps_its_code_apart_from_its_message(
    api: Api, client: TestClient, admin: dict[str, str]
) -> None:
    files = [
        ("files", ("corrupt.pdf", b"%PDF-1.4\n garbage \n%%EOF", "application/pdf")),
        ("files", ("locked.pdf", make_encrypted_pdf("Top secret numbers"), "application/pdf")),
        ("files", ("scan.pdf", make_blank_pdf(), "application/pdf")),
    ]
    codes = {"corrupt.pdf": "pdf_corrupt", "locked.pdf": "pdf_encrypted", "scan.pdf": "pdf_no_text"}
    for name, uploaded in _by_name(api.upload(admin, files)).items():
        document = api.wait_for(admin, uploaded["id"])
        assert document["status"] == "failed", document
        (version,) = document["versions"]
        assert version["error_code"] == codes[name], version
        assert version["error"] == document["error"] and "[" not in version["error"], version
        job = client.get(f"/api/v1/jobs/{uploaded['job_id']}", headers=admin).json()
        assert (job["status"], job["error_code"], job["error"]) == ("failed", codes[name], version["error"])


def test_versions_reuse_unchanged_vectors_and_search_reads_the_latest(
    api: Api, client: TestClient, admin: dict[str, str]
) -> None:
    paragraphs = [
        f"Paragraph {i} explains rule number {i} of the handbook in plain words." for i in range(40)
    ]
    first = "\n\n".join(paragraphs).encode()
    (document,) = api.upload(admin, [("files", ("handbook.txt", first, "text/plain"))])
    v1 = api.wait_for(admin, document["id"])
    assert v1["status"] == "completed" and v1["version"] == 1

    second = "\n\n".join([*paragraphs, "A new closing paragraph about the holiday schedule."]).encode()
    response = client.put(
        f"{DOCS}/{document['id']}",
        files=[("files", ("handbook-v2.txt", second, "text/plain"))],
        headers=admin,
    )
    assert response.status_code == 202, response.text
    assert response.json()["version"] == 2
    v2 = api.wait_for(admin, document["id"])
    assert v2["status"] == "completed" and v2["indexed_version"] == 2
    assert v2["chunks_reused"] >= 1
    assert [v["number"] for v in v2["versions"]] == [1, 2]
    assert v2["versions"][1]["chunks_reused"] + v2["versions"][1]["chunks_embedded"] == v2["chunk_count"]
    texts = " ".join(c["text"] for c in _chunks(client, admin, document["id"]))
    assert "holiday schedule" in texts

    same = client.put(
        f"{DOCS}/{document['id']}", files=[("files", ("again.txt", second, "text/plain"))], headers=admin
    )
    assert same.status_code == 202 and same.json()["duplicate"] is True and same.json()["version"] == 2


def test_delete_hides_at_once_and_purge_removes_everything(
    api: Api, client: TestClient, admin: dict[str, str], member: dict[str, str], settings: Settings
) -> None:
    uploaded = api.upload(
        member,
        [
            ("files", ("a.txt", b"Alpha document text.", "text/plain")),
            ("files", ("b.txt", b"Beta document text.", "text/plain")),
        ],
        visibility="org",
    )
    a, b = (api.wait_for(member, d["id"]) for d in uploaded)
    assert len(_stored_files(settings)) == 2

    assert_error(client.delete(f"{DOCS}/{a['id']}?purge=true", headers=member), 403, "forbidden")
    assert client.delete(f"{DOCS}/{a['id']}", headers=member).status_code == 204
    assert_error(client.get(f"{DOCS}/{a['id']}", headers=member), 404, "document_not_found")
    assert_error(client.get(f"{DOCS}/{a['id']}/chunks", headers=admin), 404)
    assert [d["id"] for d in client.get(DOCS, headers=admin).json()["items"]] == [b["id"]]

    assert client.delete(f"{DOCS}/{a['id']}?purge=true", headers=admin).status_code == 204
    assert client.delete(f"{DOCS}/{b['id']}?purge=true", headers=admin).status_code == 204
    assert _stored_files(settings) == []
    assert_error(client.delete(f"{DOCS}/{b['id']}?purge=true", headers=admin), 404)
    actions = [
        e["action"] for e in client.get("/api/v1/admin/audit?page_size=100", headers=admin).json()["items"]
    ]
    assert {"document.upload", "document.delete", "document.purge"} <= set(actions)


def test_readers_see_only_what_they_may(api: Api, client: TestClient, admin: dict[str, str]) -> None:
    api.create_user(admin, "ann@example.com")
    api.create_user(admin, "bob@example.com")
    ann = api.headers("ann@example.com")
    bob = api.headers("bob@example.com")
    group = client.post("/api/v1/groups", json={"name": "finance"}, headers=admin).json()
    bob_id = client.get("/api/v1/auth/me", headers=bob).json()["id"]

    (private,) = api.upload(ann, [("files", ("diary.txt", b"Ann's private notes.", "text/plain"))])
    (shared,) = api.upload(
        ann,
        [("files", ("budget.txt", b"Finance budget.", "text/plain"))],
        visibility="group",
        group_ids=group["id"],
    )
    (public,) = api.upload(ann, [("files", ("news.txt", b"Company news.", "text/plain"))], visibility="org")

    def visible(headers: dict[str, str]) -> set[str]:
        return {d["id"] for d in client.get(DOCS, headers=headers).json()["items"]}

    assert visible(ann) == {private["id"], shared["id"], public["id"]}
    assert visible(bob) == {public["id"]}
    assert visible(admin) == {private["id"], shared["id"], public["id"]}
    for path in ("", "/chunks", "/file"):
        assert_error(client.get(f"{DOCS}/{private['id']}{path}", headers=bob), 404)
    assert_error(client.delete(f"{DOCS}/{public['id']}", headers=bob), 403, "forbidden")

    client.post(f"/api/v1/groups/{group['id']}/members", json={"user_id": bob_id}, headers=admin)
    assert visible(bob) == {shared["id"], public["id"]}


def test_listing_pages_filters_and_sorts(api: Api, client: TestClient, admin: dict[str, str]) -> None:
    files = [("files", (f"doc-{i}.txt", f"Document number {i}.".encode(), "text/plain")) for i in range(5)]
    uploaded = api.upload(admin, files, tags="reports")
    api.upload(admin, [("files", ("zeta.txt", b"Something else entirely.", "text/plain"))], tags="misc")
    for document in uploaded:
        api.wait_for(admin, document["id"])

    page = client.get(f"{DOCS}?page=1&page_size=2", headers=admin).json()
    assert page["total"] == 6 and len(page["items"]) == 2 and page["page_size"] == 2
    tagged = client.get(f"{DOCS}?tag=reports", headers=admin).json()
    assert tagged["total"] == 5
    by_title = client.get(f"{DOCS}?q=ZETA", headers=admin).json()
    assert [d["title"] for d in by_title["items"]] == ["zeta.txt"]
    titles = [d["title"] for d in client.get(f"{DOCS}?sort=title", headers=admin).json()["items"]]
    assert titles == sorted(titles)
    assert client.get(f"{DOCS}?status=completed&tag=reports", headers=admin).json()["total"] == 5
    assert_error(client.get(f"{DOCS}?sort=nonsense", headers=admin), 422)
    assert_error(client.get(f"{DOCS}?page_size=0", headers=admin), 422)


def test_jobs_show_batches_and_reprocess_runs_again(
    api: Api, client: TestClient, admin: dict[str, str], member: dict[str, str]
) -> None:
    files = [("files", (f"n{i}.txt", f"Note {i} about things.".encode(), "text/plain")) for i in range(3)]
    uploaded = api.upload(member, files, batch_id="batch-42")
    for document in uploaded:
        api.wait_for(member, document["id"])
    jobs = client.get("/api/v1/jobs?batch=batch-42", headers=member).json()
    assert jobs["total"] == 3 and {j["status"] for j in jobs["items"]} == {"completed"}
    assert client.get("/api/v1/jobs", headers=admin).json()["total"] == 3
    api.create_user(admin, "nosy@example.com")
    nosy = api.headers("nosy@example.com")
    assert client.get("/api/v1/jobs", headers=nosy).json()["total"] == 0
    assert_error(client.get(f"/api/v1/jobs/{jobs['items'][0]['id']}", headers=nosy), 404, "job_not_found")

    again = client.post(f"{DOCS}/{uploaded[0]['id']}/reprocess", headers=member)
    assert again.status_code == 202 and again.json()["job_id"]
    assert api.wait_for(member, uploaded[0]["id"])["status"] == "completed"
    assert client.get("/api/v1/jobs", headers=member).json()["total"] == 4


def test_pdf_pages_survive_into_chunks(api: Api, client: TestClient, admin: dict[str, str]) -> None:
    pdf = make_pdf([f"Page {n} talks about topic {n}." for n in range(1, 4)])
    (document,) = api.upload(admin, [("files", ("three.pdf", pdf, "application/pdf"))])
    assert api.wait_for(admin, document["id"])["status"] == "completed"
    pages = {c["page"]: c["text"] for c in _chunks(client, admin, document["id"])}
    assert pages == {
        1: "Page 1 talks about topic 1.",
        2: "Page 2 talks about topic 2.",
        3: "Page 3 talks about topic 3.",
    }


@pytest.mark.parametrize("listed", [False, True], ids=["one", "list"])
def test_a_document_read_while_its_ingestion_commits_shows_one_state_of_it(
    api: Api, client: TestClient, admin: dict[str, str], settings: Settings, listed: bool
) -> None:
    """A commit that lands between the statements of one GET (here made to, from another connection, just
    after the document's row is read) must not show half of it: on PostgreSQL's read committed, versions
    read by a second statement showed the new state beside the document's old one. The list (which the
    web app polls) reads the same way, after counting the documents."""
    (document,) = api.upload(admin, [("files", ("menu.txt", b"Lasagna on Fridays.", "text/plain"))])
    assert api.wait_for(admin, document["id"])["indexed_version"] == 1
    engine = client.app.state.container.database.engine  # type: ignore[attr-defined]
    other = create_engine(settings.database_url)
    document_read, committed = False, False

    def commit_after_the_document_row(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        nonlocal document_read, committed
        if document_read and not committed:
            committed = True
            with other.begin() as connection:  # what a failed reprocessing would commit
                connection.execute(text("UPDATE document_versions SET status = 'failed'"))
                connection.execute(text("UPDATE documents SET indexed_version_id = NULL"))
        rows_read = "documents.indexed_version_id" in statement and "count(" not in statement
        document_read = document_read or rows_read

    event.listen(engine, "before_cursor_execute", commit_after_the_document_row)
    try:
        if listed:
            (shown,) = client.get(DOCS, headers=admin).json()["items"]
        else:
            shown = client.get(f"{DOCS}/{document['id']}", headers=admin).json()
    finally:
        event.remove(engine, "before_cursor_execute", commit_after_the_document_row)
        other.dispose()
    assert committed
    assert (shown["status"], shown["indexed_version"]) in {("completed", 1), ("failed", None)}
