"""The scaled profile's keyword index: BM25 over the `english` tsvector with the organisation's statistics,
and the top k exactly as scoring every readable chunk would give it, although only the chunks whose score
bound reaches the k-th best are scored (`postgres_bm25._bm25`).

The reference here reads each chunk's terms and counts straight from its tsvector and scores every chunk in
Python; readability comes from the generated world, not from the code under test."""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, text

from docent.container import Container, build_container
from docent.db.tables import Organization, User
from docent.search.backends import postgres_bm25
from docent.search.backends.postgres_bm25 import PostgresKeywordIndex
from docent.search.ports import BM25_B, BM25_K1
from docent.types import ReaderScope, SearchFilters
from tests.conftest import TEST_HASHER, make_settings
from tests.integration.test_memory_indexes import add_document

# Made-up words, so that no stop word or stemming collision shapes the counts; Zipf-like weights give
# a few very common terms (bounds far above any score) and a long tail of rare ones.
VOCABULARY = [f"{consonant}{vowel}r{vowel}x" for consonant in "bdfgklmnpst" for vowel in "aeiou"]
WEIGHTS = [1 / (rank + 1) for rank in range(len(VOCABULARY))]


@pytest.fixture
def container(postgres_database_url: str, tmp_path: Path, embedder: Any) -> Iterator[Container]:
    built = build_container(
        make_settings(postgres_database_url, tmp_path, embedded_worker=False),
        embedder=embedder,
        hasher=TEST_HASHER,
    )
    yield built
    built.close()


def make_world(
    container: Container, chunks: int, readable_share: float, seed: int
) -> tuple[ReaderScope, set[int]]:
    """One organisation: a member (the reader) and a colleague; `chunks` documents of one chunk each, of
    random length and words; a document is the organisation's (readable) with `readable_share`, else the
    colleague's private one. Returns the reader's scope and the ids of the chunks the reader may read."""
    rng = random.Random(seed)
    org, reader, colleague, now = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), datetime.now(UTC)
    readable: set[int] = set()
    with container.database.unit_of_work() as uow:
        session = uow.session
        session.execute(insert(Organization), [{"id": org, "name": "O", "slug": org.hex, "created_at": now}])
        session.execute(
            insert(User),
            [
                {
                    "id": user,
                    "org_id": org,
                    "email": f"{user.hex}@example.com",
                    "password_hash": "x",
                    "role": "member",
                    "is_active": True,
                    "created_at": now,
                    "updated_at": now,
                }
                for user in (reader, colleague)
            ],
        )
        for _ in range(chunks):
            words = rng.choices(VOCABULARY, WEIGHTS, k=rng.randint(3, 60))
            is_readable = rng.random() < readable_share
            chunk_id = add_document(
                session,
                org,
                colleague,
                uuid.uuid4(),
                " ".join(words),
                now,
                visibility="org" if is_readable else "private",
                token_count=len(words),
            )
            if is_readable:
                readable.add(chunk_id)
        uow.commit()
    return ReaderScope(org, reader, frozenset(), False), readable


def reference_top_k(
    container: Container, scope: ReaderScope, readable: set[int], query: str, k: int
) -> list[tuple[int, float]]:
    """Every chunk of the organisation scored plainly from its tsvector; the readable best k."""
    with container.database.engine.connect() as connection:
        lexemes = set(
            connection.scalars(text("SELECT lexeme FROM unnest(to_tsvector('english', :q))"), {"q": query})
        )
        lengths = dict(
            connection.execute(
                text("SELECT id, token_count FROM chunks WHERE org_id = :o"), {"o": scope.org_id}
            ).all()
        )
        counts: dict[int, dict[str, int]] = {chunk_id: {} for chunk_id in lengths}
        for chunk_id, lexeme, tf in connection.execute(
            text(
                "SELECT c.id, e.lexeme, cardinality(e.positions) "
                "FROM chunks c, unnest(c.text_search) e WHERE c.org_id = :o"
            ),
            {"o": scope.org_id},
        ):
            counts[chunk_id][lexeme] = tf
    total, mean = len(lengths), sum(lengths.values()) / len(lengths)
    df = {lexeme: sum(1 for terms in counts.values() if lexeme in terms) for lexeme in lexemes}
    scores = []
    for chunk_id, terms in counts.items():
        matched = [lexeme for lexeme in lexemes if lexeme in terms]
        if not matched or chunk_id not in readable:
            continue
        norm = BM25_K1 * (1 - BM25_B + BM25_B * lengths[chunk_id] / mean)
        score = sum(
            math.log(1 + (total - df[t] + 0.5) / (df[t] + 0.5)) * terms[t] * (BM25_K1 + 1) / (terms[t] + norm)
            for t in matched
        )
        scores.append((chunk_id, score))
    return sorted(scores, key=lambda pair: (-pair[1], pair[0]))[:k]


def search(container: Container, scope: ReaderScope, query: str, k: int) -> list[tuple[int, float]]:
    with container.database.unit_of_work(write=False) as uow:
        found = PostgresKeywordIndex().search(uow, scope, query, k, SearchFilters())
    return [(hit.chunk_id, hit.score) for hit in found]


def assert_same_ranking(found: list[tuple[int, float]], expected: list[tuple[int, float]]) -> None:
    assert len(found) == len(expected)
    assert [score for _, score in found] == pytest.approx([score for _, score in expected], rel=1e-9)
    # Equal scores may come in either order; beyond ties the chunks must be the same.
    for (found_id, found_score), (expected_id, expected_score) in zip(found, expected, strict=True):
        if not math.isclose(found_score, expected_score, rel_tol=1e-9) or found_id != expected_id:
            ties = {cid for cid, score in expected if math.isclose(score, expected_score, rel_tol=1e-9)}
            assert found_id in ties


@pytest.mark.parametrize("bounded", [1000, 3], ids=["default", "few-bounds-looked-at"])
def test_top_k_is_exact_bm25_over_readable_chunks(
    container: Container, monkeypatch: pytest.MonkeyPatch, bounded: int
) -> None:
    """With 3, the best lower bounds looked at for a threshold are mostly unreadable: the fallback that
    scores every readable chunk must give the same answer."""
    monkeypatch.setattr(postgres_bm25, "_BOUNDED", bounded)
    scope, readable = make_world(container, chunks=400, readable_share=0.5, seed=7)
    rng = random.Random(11)
    for _ in range(12):
        query = " ".join(rng.sample(VOCABULARY, rng.randint(1, 6))) + " zzunknownzz"
        for k in (1, 5, 30, 1000):
            assert_same_ranking(
                search(container, scope, query, k), reference_top_k(container, scope, readable, query, k)
            )


def test_a_reader_of_few_documents_gets_exactly_those_that_match(container: Container) -> None:
    scope, readable = make_world(container, chunks=300, readable_share=0.02, seed=3)
    query = " ".join(VOCABULARY[:8])  # the common words: nearly every chunk matches
    expected = reference_top_k(container, scope, readable, query, 10)
    assert 0 < len(expected) < 10
    assert_same_ranking(search(container, scope, query, 10), expected)


def test_chunk_rows_keep_their_wide_values_out_of_line(container: Container) -> None:
    """A chunk's text, vector and tsvector live in the TOAST table, so the scan of which chunks hold a
    term reads narrow rows (migration 0013); inline, a row of this size took more than 2 kB."""
    scope, _ = make_world(container, chunks=0, readable_share=1.0, seed=1)
    body = " ".join(random.Random(5).choices(VOCABULARY, k=300))  # about 1.8 kB of text
    with container.database.unit_of_work() as uow:
        for _ in range(200):
            add_document(uow.session, scope.org_id, scope.user_id, uuid.uuid4(), body, datetime.now(UTC))
        uow.commit()
    with container.database.engine.connect() as connection:
        heap = connection.scalar(text("SELECT pg_relation_size('chunks')"))
    assert heap / 200 < 400
