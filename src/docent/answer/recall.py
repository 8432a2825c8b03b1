"""Recall of earlier answers: when the answer cache may answer a question, and under which key.

The key is a hash of everything an answer depends on:

* the organisation, and the question normalised (`normalise_question`);
* the conversation shown to the answerer (a language model reads it, so an answer given inside one
  conversation is never served inside another, and never to another person who did not send it);
* the search filters, and `setup` (`answer_setup`): the answerers in order, the embedding model, and every
  setting that shapes an answer (`docent.answer_settings.ANSWER_SHAPING_SETTINGS`);
* the state of every document the asker may read (`readable_state`): each one's id, indexed version,
  latest version and last change (a new title or tags), read through the same permission filter retrieval
  uses.

So "over the same readable documents" is literal: an upload, a new version, its indexing, a deletion, a
change of visibility, shares (group or user) or group membership that changes what the asker may read, and
a new title or tags, changes the key, and
the old entries become unreachable at once, with nothing to invalidate (they expire). Two people share an
entry only when they may read exactly the same documents, ask the same question with the same filters and
the same conversation: then retrieval would have handed both the same passages, so the answer is the one
the second would have received; two people with different permissions never share one.

Two guards close what the key leaves open: a hit whose cited chunks are not all still live and readable
is a miss (reprocessing writes a version's chunks again under new ids), and an answer is stored only if
the asker's state is unchanged once it is made (retrieval ran after the lookup).
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
import uuid
from collections.abc import Generator, Iterable
from dataclasses import dataclass

from docent.answer.cache import AnswerCache, CachedAnswer
from docent.answer.chain import ChainEvent
from docent.answer.events import Citations, Done, Token
from docent.answer.extractive import pieces
from docent.answer.types import Answer, Turn
from docent.answer_settings import answer_shaping_values
from docent.config import Settings
from docent.db.uow import UnitOfWork
from docent.types import ReaderScope, SearchFilters

_KEY_VERSION = "answer-cache/1"  # bump when the key's material changes meaning
_SPACE = re.compile(r"\s+")
_TRAILING = re.compile(r"[\s?!.]+$")  # after NFKC, which maps the full-width forms to these


def normalise_question(question: str) -> str:
    """NFKC, case-folded, whitespace collapsed, trailing ?!. dropped: "  What is X? " and "what is x" are
    one question; punctuation inside the question is kept."""
    text = unicodedata.normalize("NFKC", question).casefold()
    return _TRAILING.sub("", _SPACE.sub(" ", text).strip())


def readable_state(rows: Iterable[tuple[str, str | None, int, str]]) -> str:
    """A digest of (document id, indexed version id, latest version number, last change) rows, whatever
    their order."""
    lines = sorted(
        f"{document}:{indexed or '-'}:{latest}:{changed}" for document, indexed, latest, changed in rows
    )
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def answer_setup(settings: Settings, answerers: Iterable[str], embedder_id: str) -> str:
    """What shapes an answer besides the question and the documents: the answerers (`provider:model`, in
    the order they are tried), the embedding model, and the answer-shaping settings, which are derived from
    the settings' own classification so that a new one cannot be left out."""
    return json.dumps(
        {"answerers": list(answerers), "embedder": embedder_id, "settings": answer_shaping_values(settings)},
        sort_keys=True,
    )


def answer_key(
    *,
    org_id: uuid.UUID,
    question: str,
    history: tuple[Turn, ...],
    filters: SearchFilters | None,
    setup: str,
    readable: str,
    answerer: str | None = None,
) -> str:
    filters = filters or SearchFilters()
    material = [
        _KEY_VERSION,
        str(org_id),
        normalise_question(question),
        [[turn.role, turn.text] for turn in history],
        {
            "tags": sorted(filters.tags),
            "document_ids": sorted(str(d) for d in filters.document_ids),
            "content_types": sorted(filters.content_types),
            "created_after": filters.created_after.isoformat() if filters.created_after else None,
            "created_before": filters.created_before.isoformat() if filters.created_before else None,
        },
        setup,
        readable,
        answerer,
    ]
    encoded = json.dumps(material, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return hashlib.sha256(encoded.encode()).hexdigest()


@dataclass(frozen=True)
class Lookup:
    """A question looked up: its key, the asker's readable state when it was asked, and the answer found."""

    key: str
    readable: str
    hit: CachedAnswer | None


class AnswerRecall:
    """The answer cache as the chat service uses it: `look_up` before any model or retrieval runs,
    `remember` once an answer is finished. `setup` names what else shapes an answer (the answerers and the
    retrieval settings), so a changed configuration never serves answers made under the old one."""

    def __init__(self, cache: AnswerCache, *, ttl_seconds: int, setup: str) -> None:
        self._cache = cache
        self._ttl = ttl_seconds
        self._setup = setup

    def look_up(
        self,
        uow: UnitOfWork,
        scope: ReaderScope,
        question: str,
        history: tuple[Turn, ...],
        filters: SearchFilters | None,
        answerer: str | None = None,
    ) -> Lookup:
        readable = readable_state(uow.documents.readable_versions(scope))
        key = answer_key(
            org_id=scope.org_id,
            question=question,
            history=history,
            filters=filters,
            setup=self._setup,
            readable=readable,
            answerer=answerer,
        )
        hit = self._cache.get(key)
        if hit is not None and not _citations_live(uow, scope, filters, hit):
            hit = None
        return Lookup(key, readable, hit)

    def remember(self, uow: UnitOfWork, scope: ReaderScope, lookup: Lookup, answer: CachedAnswer) -> bool:
        """Store `answer` under the key it was looked up with, if the asker's documents are still in the
        state they were in when the question was asked. The answer was retrieved after the lookup: had a
        document changed in between, it could hold text of a document that others with the old state may
        not read, so it is not stored (the next asker misses and gets a fresh answer)."""
        if readable_state(uow.documents.readable_versions(scope)) != lookup.readable:
            return False
        self._cache.put(lookup.key, answer, self._ttl)
        return True


def _citations_live(
    uow: UnitOfWork, scope: ReaderScope, filters: SearchFilters | None, hit: CachedAnswer
) -> bool:
    """Every chunk the cached answer cites still exists in an indexed version the asker may read.

    The readable state in the key covers each document's indexed version, so when the key matches, the
    versions cited are still the indexed ones and their chunks are still there. But reprocessing a version
    (or rebuilding the index) writes its chunks again under new ids without changing the version: this
    check, one query by primary key, keeps a cached answer from ever citing a chunk the database no longer
    has (principle 1) or one the asker may not read (principle 2)."""
    cited = {citation.chunk_id for citation in hit.citations}
    if not cited:
        return True
    return set(uow.search.hits(scope, filters or SearchFilters(), sorted(cited))) == cited


def replay(answer: Answer) -> Generator[ChainEvent, None, Answer]:
    """A cached answer as the provider chain would stream it: its text in word-sized tokens, its
    citations, and `done` with no tokens used and `cached` set."""
    yield from (Token(piece) for piece in pieces(answer.text))
    yield Citations(answer.citations)
    yield Done.of(answer)
    return answer
