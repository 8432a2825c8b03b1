"""POST /api/v1/search over the sample corpus, on both databases: the three modes, filters, validation,
and permissions that take effect on the next query."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from docent.types import Role
from tests.conftest import MEMBER_PASSWORD, Api, assert_error
from tests.samples import sample_files

SEARCH = "/api/v1/search"
QUESTIONS = {
    "How many weeks of parental leave do parents get?": "leave.docx",
    "How often must passwords be rotated?": "security.html",
    "What is the VPN client called?": "onboarding.pdf",
    "When are expense reports due?": "expenses.md",
}


def _search(client: TestClient, headers: dict[str, str], query: str, **body: Any) -> list[dict[str, Any]]:
    response = client.post(SEARCH, json={"query": query, **body}, headers=headers)
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    return results


def _documents_found(client: TestClient, headers: dict[str, str], query: str, **body: Any) -> set[str]:
    return {r["document_id"] for r in _search(client, headers, query, **body)}


@pytest.fixture
def corpus(api: Api, admin: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The five sample documents, visible to the whole organisation, indexed; by file name."""
    uploaded = api.upload(admin, sample_files(), visibility="org", tags="handbook")
    done = {d["filename"]: api.wait_for(admin, d["id"]) for d in uploaded}
    assert {d["status"] for d in done.values()} == {"completed"}
    return done


@pytest.mark.parametrize("mode", ["hybrid", "vector", "keyword"])
def test_each_mode_puts_the_right_document_first(
    client: TestClient, admin: dict[str, str], corpus: dict[str, dict[str, Any]], mode: str
) -> None:
    for question, filename in QUESTIONS.items():
        response = client.post(SEARCH, json={"query": question, "top_k": 3, "mode": mode}, headers=admin)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["mode"] == mode and body["took_ms"] >= 0
        assert body["results"], question
        assert body["results"][0]["document_id"] == corpus[filename]["id"], (question, body["results"][0])
        scores = [r["score"] for r in body["results"]]
        assert scores == sorted(scores, reverse=True)


def test_results_carry_document_page_section_and_marked_snippet(
    client: TestClient, admin: dict[str, str], corpus: dict[str, dict[str, Any]]
) -> None:
    (vpn, *_) = _search(client, admin, "Which VPN client needs hardware tokens?", mode="keyword")
    assert vpn["document_id"] == corpus["onboarding.pdf"]["id"]
    assert vpn["title"] == corpus["onboarding.pdf"]["title"]
    assert vpn["version"] == 1 and vpn["page"] == 2 and vpn["content_type"] == "application/pdf"
    assert "Tunnelbear" in vpn["text"]
    assert "«VPN»" in vpn["snippet"] and "«hardware»" in vpn["snippet"] and "«tokens»" in vpn["snippet"]
    assert isinstance(vpn["chunk_id"], int)

    (expenses, *_) = _search(client, admin, "expense report deadline", mode="hybrid")
    assert expenses["section"] == ["Expenses", "Deadlines"]
    assert "«Expense»" in expenses["snippet"] and "«reports»" in expenses["snippet"]


def test_filters_narrow_every_mode(
    api: Api, client: TestClient, admin: dict[str, str], corpus: dict[str, dict[str, Any]]
) -> None:
    (other,) = api.upload(
        admin, [("files", ("vpn-faq.txt", b"The VPN client is installed by IT.", "text/plain"))], tags="it"
    )
    api.wait_for(admin, other["id"])
    pdf, faq = corpus["onboarding.pdf"]["id"], other["id"]
    for mode in ("hybrid", "vector", "keyword"):
        query = "VPN client"
        assert {pdf, faq} <= _documents_found(client, admin, query, mode=mode, top_k=20)
        assert _documents_found(client, admin, query, mode=mode, filters={"tags": ["IT"]}) == {faq}
        assert _documents_found(client, admin, query, mode=mode, filters={"document_ids": [pdf]}) == {pdf}
        only_pdf = {"content_types": ["application/pdf"]}
        assert _documents_found(client, admin, query, mode=mode, filters=only_pdf) == {pdf}
        future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
        assert _documents_found(client, admin, query, mode=mode, filters={"created_after": future}) == set()
        assert {pdf, faq} <= _documents_found(
            client, admin, query, mode=mode, top_k=20, filters={"created_before": future}
        )
        assert (
            _documents_found(client, admin, query, mode=mode, filters={"tags": ["nothing-tagged"]}) == set()
        )


def test_bad_requests_get_422_in_the_error_shape(client: TestClient, admin: dict[str, str]) -> None:
    bad_bodies: list[Any] = [
        {"query": ""},
        {"query": "   \n\t "},
        {"query": "x" * 1001},
        {"query": "ok", "top_k": 0},
        {"query": "ok", "top_k": 101},
        {"query": "ok", "top_k": "many"},
        {"query": "ok", "mode": "fuzzy"},
        {"query": "ok", "filters": {"colour": ["red"]}},
        {"query": "ok", "filters": {"document_ids": ["not-a-uuid"]}},
        {"top_k": 5},
        {"query": 42},
    ]
    for body in bad_bodies:
        assert_error(client.post(SEARCH, json=body, headers=admin), 422, "validation_error")
    assert client.post(SEARCH, json={"query": "x" * 1000}, headers=admin).status_code == 200


def test_queries_with_only_punctuation_or_operators_answer_safely(
    client: TestClient, admin: dict[str, str], corpus: dict[str, dict[str, Any]]
) -> None:
    for query in ['"', "AND OR NOT", "*", "NEAR(a b)", "-- ; DROP TABLE chunks", "()", "ü日本", "^x:y"]:
        for mode in ("hybrid", "vector", "keyword"):
            response = client.post(SEARCH, json={"query": query, "mode": mode}, headers=admin)
            assert response.status_code == 200, (query, mode, response.text)
    (hit, *_) = _search(client, admin, 'passwords" OR "rotated', mode="keyword")
    assert hit["document_id"] == corpus["security.html"]["id"]


def test_another_organisation_never_sees_anything(
    client: TestClient, api: Api, admin: dict[str, str], corpus: dict[str, dict[str, Any]]
) -> None:
    container = client.app.state.container  # type: ignore[attr-defined]
    with container.database.unit_of_work() as uow:
        container.users.create_in_org(uow, "globex", "boss@globex.example", MEMBER_PASSWORD, Role.ADMIN)
        uow.commit()
    theirs = api.headers("boss@globex.example")
    for mode in ("hybrid", "vector", "keyword"):
        for question in QUESTIONS:
            assert _search(client, theirs, question, mode=mode, top_k=100) == []
    (own,) = api.upload(
        theirs, [("files", ("p.txt", b"Globex parental leave is twenty weeks.", "text/plain"))]
    )
    api.wait_for(theirs, own["id"])
    for mode in ("hybrid", "vector", "keyword"):
        assert _documents_found(client, theirs, "parental leave", mode=mode, top_k=100) == {own["id"]}
        assert own["id"] not in _documents_found(client, admin, "parental leave", mode=mode, top_k=100)


def test_private_and_group_documents_follow_membership_on_the_next_query(
    client: TestClient, api: Api, admin: dict[str, str]
) -> None:
    alice = api.create_user(admin, "alice@example.com")
    api.create_user(admin, "bob@example.com")
    alice_h = api.headers("alice@example.com")
    bob_h = api.headers("bob@example.com")
    group = client.post("/api/v1/groups", json={"name": "Launch"}, headers=admin).json()
    (private,) = api.upload(
        alice_h,
        [("files", ("secret.txt", b"The launch codename is Marmalade Falcon.", "text/plain"))],
        visibility="private",
    )
    (shared,) = api.upload(
        alice_h,
        [("files", ("plan.txt", b"The launch date for Marmalade is the first of June.", "text/plain"))],
        visibility="group",
        group_ids=group["id"],
    )
    api.wait_for(alice_h, private["id"])
    api.wait_for(alice_h, shared["id"])
    query = "Marmalade launch"
    for mode in ("hybrid", "vector", "keyword"):
        assert _documents_found(client, alice_h, query, mode=mode) == {private["id"], shared["id"]}
        assert _documents_found(client, bob_h, query, mode=mode) == set()
        assert _documents_found(client, admin, query, mode=mode) == {private["id"], shared["id"]}

    added = client.post(f"/api/v1/groups/{group['id']}/members", json={"user_id": alice["id"]}, headers=admin)
    assert added.status_code == 200, added.text
    bob = client.get("/api/v1/auth/me", headers=bob_h).json()
    added = client.post(f"/api/v1/groups/{group['id']}/members", json={"user_id": bob["id"]}, headers=admin)
    assert added.status_code == 200, added.text
    for mode in ("hybrid", "vector", "keyword"):
        assert _documents_found(client, bob_h, query, mode=mode) == {shared["id"]}

    removed = client.delete(f"/api/v1/groups/{group['id']}/members/{bob['id']}", headers=admin)
    assert removed.status_code == 204
    for mode in ("hybrid", "vector", "keyword"):
        assert _documents_found(client, bob_h, query, mode=mode) == set()


def test_a_deleted_document_disappears_on_the_next_query(
    client: TestClient, admin: dict[str, str], corpus: dict[str, dict[str, Any]]
) -> None:
    leave = corpus["leave.docx"]["id"]
    question = "How many weeks of parental leave do parents get?"
    for mode in ("hybrid", "vector", "keyword"):
        assert leave in _documents_found(client, admin, question, mode=mode)
    assert client.delete(f"/api/v1/documents/{leave}", headers=admin).status_code == 204
    for mode in ("hybrid", "vector", "keyword"):
        assert leave not in _documents_found(client, admin, question, mode=mode, top_k=100)


def test_a_new_version_replaces_the_old_one_in_results(
    api: Api, client: TestClient, admin: dict[str, str]
) -> None:
    (doc,) = api.upload(
        admin, [("files", ("menu.txt", b"The cafeteria serves lasagna on Fridays.", "text/plain"))]
    )
    api.wait_for(admin, doc["id"])
    response = client.put(
        f"/api/v1/documents/{doc['id']}",
        files=[("files", ("menu.txt", b"The cafeteria serves risotto on Fridays.", "text/plain"))],
        headers=admin,
    )
    assert response.status_code == 202, response.text
    assert api.wait_for(admin, doc["id"])["indexed_version"] == 2
    for mode in ("hybrid", "vector", "keyword"):
        results = _search(client, admin, "cafeteria Fridays lasagna risotto", mode=mode, top_k=10)
        assert [r["version"] for r in results] == [2]
        assert "risotto" in results[0]["text"] and "lasagna" not in results[0]["text"]
