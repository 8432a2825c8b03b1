"""One analyser: the words a snippet marks are exactly the words the in-memory keyword index matched, for
plural and verb forms (Porter2), diacritics and stop words alike."""

from __future__ import annotations

import re

import pytest

from docent.container import Container
from docent.search.backends.memory_bm25 import MemoryBm25Index
from docent.search.retrieve import SearchMode
from docent.search.snippet import MARK_CLOSE, MARK_OPEN, make_snippet
from docent.search.terms import analyze
from tests.integration.test_memory_indexes import add_org, chunk_ids, container  # noqa: F401

TEXTS = [
    "Our policies changed in spring.",
    "The policy is new.",
    "Policing is hard work.",
    "Running late again.",
    "He runs every morning.",
    "The café is closed on Sunday.",
    "A cafe opened nearby.",
    "Naïve approaches fail.",
    "What is it, and how?",
]
# query -> the texts it must find (and mark); the analyser's terms decide, nothing else.
EXPECTED = {
    "policies": {0, 1},  # polici; "policing" is polic
    "What is the policing policy?": {0, 1, 2},  # stop words find nothing
    "running": {3, 4},
    "cafe": {5, 6},
    "CAFÉ": {5, 6},
    "naive": {7},
    "what is how": set(),  # stop words only
}
_MARKED = re.compile(f"{MARK_OPEN}(.*?){MARK_CLOSE}")


@pytest.mark.parametrize(("query", "expected"), EXPECTED.items())
def test_snippets_mark_exactly_what_the_keyword_index_matched(
    container: Container,  # noqa: F811
    query: str,
    expected: set[int],
) -> None:
    assert isinstance(container.retriever.keywords, MemoryBm25Index)
    scope, documents = add_org(container, TEXTS)
    ids = chunk_ids(container, documents)
    with container.database.unit_of_work(write=False) as uow:
        response = container.retriever.search(uow, scope, query, mode=SearchMode.KEYWORD, top_k=20)
    found = {ids.index(result.chunk_id): result.snippet for result in response.results}
    assert set(found) == expected
    wanted = set(analyze(query))
    for number, text in enumerate(TEXTS):
        snippet = found.get(number, make_snippet(text, query))
        marked = _MARKED.findall(snippet)
        assert bool(marked) == (number in expected), (text, snippet)
        assert all(set(analyze(word)) <= wanted and analyze(word) for word in marked)
        # every word of the text whose term the query has is marked, and no other
        assert sorted(marked) == sorted(w for w in re.findall(r"[^\W_]+", text) if set(analyze(w)) & wanted)
