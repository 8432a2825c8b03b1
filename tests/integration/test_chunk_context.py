"""Contextual chunks on both databases: what is embedded and keyword-indexed for a chunk starts with its
document's title and section path, while the chunk text that is stored and shown stays the original."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Api, make_settings, start_client

GUIDE = b"""# Zanzibar travel policy

Read this before you book anything.

## Hotels

The nightly cap is 250 USD in North America and 200 EUR in Europe.
"""


def _keyword_hits(api: Api, admin: dict[str, str], query: str) -> list[dict[str, Any]]:
    response = api.client.post(
        "/api/v1/search", json={"query": query, "mode": "keyword", "top_k": 10}, headers=admin
    )
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    return results


@pytest.mark.parametrize("contextual", [True, False])
def test_a_chunk_is_found_by_its_title_and_headings_but_shows_its_own_text(
    database_url: str, tmp_path: Path, embedder: Any, contextual: bool
) -> None:
    settings = make_settings(database_url, tmp_path, chunk_context=contextual)
    with start_client(settings, embedder) as client:
        api = Api(client)
        admin = api.headers()
        (document,) = api.upload(admin, [("files", ("guide.md", GUIDE, "text/markdown"))])
        assert api.wait_for(admin, document["id"])["status"] == "completed"
        hits = _keyword_hits(api, admin, "Zanzibar")
        sections = sorted(tuple(hit["section"]) for hit in hits)
        hotels = ("Zanzibar travel policy", "Hotels")
        if contextual:
            # "Zanzibar" is only in the title: the Hotels chunk is found through its context
            assert sections == [("Zanzibar travel policy",), hotels]
        else:
            assert sections == [("Zanzibar travel policy",)]
        (cap,) = [hit for hit in _keyword_hits(api, admin, "nightly cap") if tuple(hit["section"]) == hotels]
        assert cap["text"] == "Hotels The nightly cap is 250 USD in North America and 200 EUR in Europe."
        chunks = client.get(f"/api/v1/documents/{document['id']}/chunks", headers=admin).json()["items"]
        assert all("Zanzibar" not in chunk["text"] for chunk in chunks if chunk["section"][-1] == "Hotels")
