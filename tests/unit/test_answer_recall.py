"""The answer cache's pure parts: question normalisation, the key and what it covers, the readable-state
digest, the cached value's JSON form, the in-process cache's eviction and expiry (with a fake clock), and
`AnswerRecall`'s two guards over a stand-in for its repository reads."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from docent.answer.cache import CachedAnswer, InProcessAnswerCache
from docent.answer.recall import AnswerRecall, answer_key, normalise_question, readable_state
from docent.answer.types import Citation, Turn
from docent.types import ReaderScope, SearchFilters
from tests.fakes import Clock

ORG = uuid.UUID("00000000-0000-0000-0000-000000000001")
DOC = uuid.UUID("00000000-0000-0000-0000-0000000000d1")
VERSION = "f1" * 16
T0, T1 = "2026-12-01 10:00:00.000001", "2026-12-01 10:05:00.000002"  # documents' `updated_at`


def answer(text: str = "Sixteen weeks [1].") -> CachedAnswer:
    citation = Citation(1, 42, DOC, "Leave", 2, 3, ("HR", "Leave"), "Sixteen weeks.", 0.81)
    return CachedAnswer(text, (citation,), "openai", "gpt-x", False, "How long is leave?")


def key(**changes: object) -> str:
    values: dict[str, object] = {
        "org_id": ORG,
        "question": "How long is parental leave?",
        "history": (),
        "filters": None,
        "setup": "extractive",
        "readable": readable_state([(DOC.hex, VERSION, 1, T0)]),
    }
    values.update(changes)
    return answer_key(**values)  # type: ignore[arg-type]


# ---------- normalisation ----------


@pytest.mark.parametrize(
    ("variant", "expected"),
    [
        ("  What is X? ", "what is x"),
        ("what is x", "what is x"),
        ("WHAT\tis \n X?!.", "what is x"),
        ("Ｗｈａｔ is X？", "what is x"),  # noqa: RUF001  full-width letters and question mark (NFKC)
        ("Straße?", "strasse"),  # case-folded, not only lower-cased
        ("Is v2.1 out?", "is v2.1 out"),  # punctuation inside is kept
        ("Why?? ...", "why"),
    ],
)
def test_questions_are_normalised(variant: str, expected: str) -> None:
    assert normalise_question(variant) == expected


@given(st.text(max_size=60))
def test_normalising_is_idempotent(text: str) -> None:
    once = normalise_question(text)
    assert normalise_question(once) == once


def test_words_still_matter() -> None:
    assert normalise_question("What is X?") != normalise_question("What is Y?")
    assert normalise_question("Is it on?") != normalise_question("Is it not on?")


# ---------- the key ----------


def test_normalised_variants_share_a_key() -> None:
    assert key(question="  HOW long is parental   leave?? ") == key()


@pytest.mark.parametrize(
    "change",
    [
        {"org_id": uuid.UUID("00000000-0000-0000-0000-000000000002")},
        {"question": "How long is sick leave?"},
        {"history": (Turn("user", "Hi"), Turn("assistant", "Hello"))},
        {"filters": SearchFilters(tags=("hr",))},
        {"filters": SearchFilters(created_after=datetime(2024, 1, 1, tzinfo=UTC))},
        {"setup": "openai:gpt-x,extractive"},
        {"readable": readable_state([(DOC.hex, VERSION, 2, T0)])},  # a new version uploaded
        {"readable": readable_state([(DOC.hex, uuid.uuid4().hex, 1, T0)])},  # another version indexed
        {
            "readable": readable_state([(DOC.hex, VERSION, 1, T0), (uuid.uuid4().hex, None, 1, T0)])
        },  # an upload
        {"readable": readable_state([])},  # deleted, or no longer readable
        {"readable": readable_state([(DOC.hex, VERSION, 1, T1)])},  # a new title or tags
    ],
)
def test_anything_an_answer_depends_on_changes_the_key(change: dict[str, object]) -> None:
    assert key(**change) != key()


def test_filters_in_another_order_share_a_key() -> None:
    assert key(filters=SearchFilters(tags=("a", "b"))) == key(filters=SearchFilters(tags=("b", "a")))
    assert key(filters=SearchFilters()) == key(filters=None)


def test_the_readable_state_ignores_row_order() -> None:
    rows: list[tuple[str, str | None, int, str]] = [
        (uuid.uuid4().hex, uuid.uuid4().hex, n, T0) for n in range(1, 6)
    ]
    assert readable_state(rows) == readable_state(list(reversed(rows)))
    assert readable_state(rows) != readable_state(rows[:-1])
    assert readable_state([(DOC.hex, None, 1, T0)]) != readable_state([(DOC.hex, VERSION, 1, T0)])


# ---------- the value ----------


def test_a_cached_answer_survives_json() -> None:
    value = answer()
    assert CachedAnswer.from_json(value.to_json()) == value
    assert CachedAnswer.from_json(value.to_json().encode()) == value


def test_a_cached_answer_is_served_with_no_tokens_and_no_cost() -> None:
    served = answer().as_answer()
    assert served.cached and served.usage.total_tokens == 0 and served.cost_usd == Decimal(0)
    assert (served.provider, served.model) == ("openai", "gpt-x")
    assert served.citations == answer().citations


# ---------- in-process: least recently used, and expiry ----------


def test_the_least_recently_used_entry_goes_first() -> None:
    cache = InProcessAnswerCache(2)
    cache.put("a", answer("A"), 60)
    cache.put("b", answer("B"), 60)
    assert cache.get("a") is not None  # now "b" is the least recently used
    cache.put("c", answer("C"), 60)
    assert cache.get("b") is None
    assert [cache.get(k).text for k in ("a", "c")] == ["A", "C"]  # type: ignore[union-attr]
    assert cache.held() == 2


def test_an_entry_expires_after_its_time() -> None:
    clock = Clock()
    cache = InProcessAnswerCache(10, clock=clock)
    cache.put("a", answer(), 30)
    clock.now += 29.9
    assert cache.get("a") is not None
    clock.now += 0.1
    assert cache.get("a") is None
    assert cache.held() == 0  # an expired entry is dropped, not kept


def test_putting_again_replaces_and_renews() -> None:
    clock = Clock()
    cache = InProcessAnswerCache(10, clock=clock)
    cache.put("a", answer("old"), 10)
    clock.now += 8
    cache.put("a", answer("new"), 10)
    clock.now += 8
    assert cache.get("a") == answer("new")


def test_a_cache_needs_room() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        InProcessAnswerCache(0)


# ---------- AnswerRecall, over a stand-in for the two repository reads it makes ----------


class Documents:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str | None, int, str]] = [(DOC.hex, VERSION, 1, T0)]

    def readable_versions(self, scope: object) -> list[tuple[str, str | None, int, str]]:
        return list(self.rows)


class Search:
    def __init__(self) -> None:
        self.live: set[int] = {42}
        self.asked: list[list[int]] = []

    def hits(self, scope: object, filters: object, chunk_ids: list[int]) -> dict[int, object]:
        self.asked.append(chunk_ids)
        return {i: object() for i in chunk_ids if i in self.live}


class Uow:
    def __init__(self) -> None:
        self.documents = Documents()
        self.search = Search()


SCOPE = ReaderScope(ORG, uuid.uuid4(), frozenset(), False)


def recall() -> tuple[AnswerRecall, InProcessAnswerCache]:
    cache = InProcessAnswerCache(10)
    return AnswerRecall(cache, ttl_seconds=60, setup="s"), cache


def test_an_answer_is_remembered_and_found_again() -> None:
    memory, _ = recall()
    uow: Any = Uow()
    lookup = memory.look_up(uow, SCOPE, "How long?", (), None)
    assert lookup.hit is None
    assert memory.remember(uow, SCOPE, lookup, answer())
    assert memory.look_up(uow, SCOPE, "how long", (), None).hit == answer()


def test_an_answer_is_not_remembered_when_the_documents_changed_while_it_was_made() -> None:
    """Retrieval ran after the lookup: an answer made from a changed set must not be filed under the old."""
    memory, cache = recall()
    uow: Any = Uow()
    lookup = memory.look_up(uow, SCOPE, "How long?", (), None)
    uow.documents.rows.append((uuid.uuid4().hex, None, 1, T0))  # an upload lands meanwhile
    assert not memory.remember(uow, SCOPE, lookup, answer())
    assert cache.held() == 0


def test_a_hit_citing_a_chunk_that_is_gone_is_a_miss() -> None:
    memory, _ = recall()
    uow: Any = Uow()
    memory.remember(uow, SCOPE, memory.look_up(uow, SCOPE, "How long?", (), None), answer())
    uow.search.live = set()  # the version was processed again: its chunks have new ids
    assert memory.look_up(uow, SCOPE, "How long?", (), None).hit is None


def test_a_hit_without_citations_needs_no_check() -> None:
    memory, _ = recall()
    uow: Any = Uow()
    abstention = CachedAnswer("The documents do not cover this.", (), "none", "none", True, "q")
    memory.remember(uow, SCOPE, memory.look_up(uow, SCOPE, "q", (), None), abstention)
    assert memory.look_up(uow, SCOPE, "q", (), None).hit == abstention
    assert uow.search.asked == []
