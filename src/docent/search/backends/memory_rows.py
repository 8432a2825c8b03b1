"""What the in-memory indexes of the embedded profile share: rows derived from the chunks, kept in step
with the database, and the reader's permission filter as a row mask.

These indexes are caches of the database and never its own truth:

* every query first reads the generation counters (kept by SQLite triggers, migration 0004) in the
  query's own transaction; when the chunks' counter moved, the index is brought up to date before the
  query runs: only the rows whose chunk, document or text changed are derived again, the rest are kept;
* the permission filter becomes a row mask (the documents the reader may search, read in SQL with the
  same filter every other search uses) applied before the top k are taken. A reader's mask is kept
  until the permissions counter or the rows change, so most queries do not read it again;
* the rows a query returns are fetched again with the permission filter by the retriever, so even a row
  the index still held could not come back once the database dropped it.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import numpy as np
import numpy.typing as npt
from cachetools import LRUCache
from sqlalchemy import Select, String, false, func, not_, select, true, type_coerce
from sqlalchemy.orm import Session

from docent.db.repositories.search import Generations, document_key, searchable
from docent.db.tables import Chunk, Document
from docent.db.uow import Database, UnitOfWork
from docent.types import ReaderScope, SearchFilters

MASKS_KEPT = 64  # readers whose permission masks are kept (100k rows: 100 kB each)
_SERIALS = itertools.count(1)  # tells apart two derivations at one generation (e.g. after a rebuild)


@dataclass(frozen=True)
class ChunkStamp:
    """What a chunk's row depends on: if these are unchanged, the row derived from it is right."""

    chunk_id: int
    document_key: str  # the document id as 32 hex digits
    text_hash: str
    org_key: str  # the organisation id as 32 hex digits


def chunk_stamps(session: Session, model_id: str | None = None) -> list[ChunkStamp]:
    """Every chunk (of one embedding model, if given), by id; read through Core, no ORM rows."""
    query = (
        select(
            Chunk.id,
            type_coerce(Chunk.document_id, String),
            Chunk.text_hash,
            type_coerce(Chunk.org_id, String),
        )
        .where(Chunk.embedding_model == model_id if model_id is not None else true())
        .order_by(Chunk.id)
    )
    rows = session.connection().execute(query)
    return [ChunkStamp(int(r[0]), document_key(r[1]), str(r[2]), document_key(r[3])) for r in rows]


def searchable_document_keys(session: Session, scope: ReaderScope, filters: SearchFilters) -> list[str]:
    """Ids (32 hex digits) of the documents the reader may search."""
    return _keys(session, select(type_coerce(Document.id, String)).where(searchable(scope, filters)))


def unsearchable_document_keys(session: Session, scope: ReaderScope) -> list[str]:
    """Ids of the documents of the reader's organisation that the reader may not search: usually far
    fewer than those it may. NULL is read as "may not" (e.g. a document whose owner was removed)."""
    query = select(type_coerce(Document.id, String)).where(
        Document.org_id == scope.org_id, not_(func.coalesce(searchable(scope, SearchFilters()), false()))
    )
    return _keys(session, query)


def _keys(session: Session, query: Select[Any]) -> list[str]:
    values = session.connection().execute(query).scalars().all()
    if session.get_bind().dialect.name == "sqlite":  # stored as 32 hex digits already
        return list(values)
    return [document_key(value) for value in values]


@dataclass(frozen=True)
class Rows:
    """Which chunk each row holds, of which document and organisation, with which text (its hash)."""

    generation: int
    serial: int
    ids: npt.NDArray[np.int64]
    documents: npt.NDArray[np.int32]  # row -> index into document_keys
    text_hashes: tuple[str, ...]
    document_keys: tuple[str, ...]
    document_index: dict[str, int] = field(default_factory=dict)
    document_orgs: tuple[str, ...] = ()  # document index -> its organisation
    org_masks: dict[str, npt.NDArray[np.bool_]] = field(default_factory=dict)  # filled on first use

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def org_mask(self, org_key: str) -> npt.NDArray[np.bool_]:
        """A fresh copy of the rows of one organisation (computed once per `Rows`)."""
        mask = self.org_masks.get(org_key)
        if mask is None:
            in_org = np.fromiter((org == org_key for org in self.document_orgs), dtype=bool)
            mask = np.append(in_org, False)[self.documents]
            self.org_masks[org_key] = mask
        return mask.copy()

    def document_mask(self, document_keys: list[str]) -> npt.NDArray[np.bool_]:
        wanted = np.zeros(len(self.document_keys) + 1, dtype=bool)
        positions = [self.document_index[key] for key in document_keys if key in self.document_index]
        if positions:
            wanted[np.asarray(positions, dtype=np.int64)] = True
        return wanted[self.documents]


NO_ROWS = Rows(
    generation=-1,
    serial=0,
    ids=np.zeros(0, dtype=np.int64),
    documents=np.zeros(0, dtype=np.int32),
    text_hashes=(),
    document_keys=(),
)


@dataclass(frozen=True)
class RowChanges:
    """How new chunk stamps differ from held rows: old rows still right, and stamps to derive anew."""

    keep: list[int]
    load: list[ChunkStamp]


def changes(old: Rows, stamps: list[ChunkStamp]) -> RowChanges:
    old_rows = {int(cid): row for row, cid in enumerate(old.ids)}
    keep: list[int] = []
    load: list[ChunkStamp] = []
    for stamp in stamps:
        row = old_rows.get(stamp.chunk_id)
        if (
            row is not None
            and old.text_hashes[row] == stamp.text_hash
            and old.document_keys[old.documents[row]] == stamp.document_key
        ):
            keep.append(row)
        else:
            load.append(stamp)
    return RowChanges(keep, load)


def merged(old: Rows, keep: list[int], loaded: list[ChunkStamp], generation: int) -> Rows:
    """The kept rows of `old` followed by `loaded`, in that order."""
    keep_rows = np.asarray(keep, dtype=np.int64)
    keys = [old.document_keys[old.documents[row]] for row in keep] + [s.document_key for s in loaded]
    document_keys = tuple(dict.fromkeys(keys))
    document_index = {key: i for i, key in enumerate(document_keys)}
    org_of = {key: old.document_orgs[i] for key, i in old.document_index.items()}
    org_of.update((s.document_key, s.org_key) for s in loaded)
    return Rows(
        generation=generation,
        serial=next(_SERIALS),
        ids=np.concatenate([old.ids[keep_rows], np.asarray([s.chunk_id for s in loaded], dtype=np.int64)]),
        documents=np.asarray([document_index[key] for key in keys], dtype=np.int32),
        text_hashes=tuple(old.text_hashes[row] for row in keep) + tuple(s.text_hash for s in loaded),
        document_keys=document_keys,
        document_index=document_index,
        document_orgs=tuple(org_of[key] for key in document_keys),
    )


class Snapshot(Protocol):
    """One consistent state of an in-memory index; replaced whole, never changed, so readers need no lock."""

    @property
    def rows(self) -> Rows: ...


S = TypeVar("S", bound=Snapshot)


class MemoryIndex(Generic[S]):
    """The refresh protocol and the permission masks; subclasses say which chunks they hold (`_stamps`)
    and how a snapshot is derived from the previous one (`_refreshed`)."""

    def __init__(self) -> None:
        self._snapshot: S | None = None
        self._refresh_lock = threading.Lock()
        self._masks: LRUCache[Hashable, npt.NDArray[np.bool_]] = LRUCache(MASKS_KEPT)
        self._masks_lock = threading.Lock()

    def _empty(self) -> S:
        raise NotImplementedError

    def _stamps(self, uow: UnitOfWork) -> list[ChunkStamp]:
        raise NotImplementedError

    def _refreshed(self, uow: UnitOfWork, old: S, stamps: list[ChunkStamp], generation: int) -> S:
        raise NotImplementedError

    def current(self, uow: UnitOfWork, generations: Generations | None = None) -> S:
        """The index as of the chunks this transaction sees (refreshed first when they changed)."""
        generation = (generations or uow.search.generations()).chunks
        snapshot = self._snapshot
        if snapshot is not None and snapshot.rows.generation >= generation:
            return snapshot  # never rolled back: a query that began before a write sees a newer index
        with self._refresh_lock:
            snapshot = self._snapshot or self._empty()
            if snapshot.rows.generation < generation:
                snapshot = self._refreshed(uow, snapshot, self._stamps(uow), generation)
                self._snapshot = snapshot
        return snapshot

    def rebuild(self, database: Database) -> None:
        """Derive the whole index again; queries keep using the old one until the new one is ready."""
        with database.unit_of_work(write=False) as uow:
            generation = uow.search.generations().chunks
            fresh = self._refreshed(uow, self._empty(), self._stamps(uow), generation)
        with self._refresh_lock:
            self._snapshot = fresh

    def searchable(
        self, uow: UnitOfWork, scope: ReaderScope, filters: SearchFilters
    ) -> tuple[S, npt.NDArray[np.intp]]:
        """The current snapshot and its rows the reader may search with these filters."""
        generations = uow.search.generations()
        snapshot = self.current(uow, generations)
        rows = snapshot.rows
        key = (scope, filters, generations.permissions, rows.serial)
        with self._masks_lock:
            allowed = self._masks.get(key)
        if allowed is None:
            if filters == SearchFilters():  # the organisation less what the reader may not see: fewer rows
                allowed = rows.org_mask(scope.org_id.hex)
                allowed &= ~rows.document_mask(unsearchable_document_keys(uow.session, scope))
            else:
                allowed = rows.document_mask(searchable_document_keys(uow.session, scope, filters))
            with self._masks_lock:
                self._masks[key] = allowed
        return snapshot, np.flatnonzero(allowed)

    def row_check(self, uow: UnitOfWork) -> tuple[S, dict[int, ChunkStamp], dict[str, int]]:
        """Rows missing from or extra to the index as the next query would use it, by chunk id."""
        snapshot = self.current(uow)
        stamps = {s.chunk_id: s for s in self._stamps(uow)}
        held = {int(i) for i in snapshot.rows.ids}
        problems = {
            "rows_missing": sum(1 for cid in stamps if cid not in held),
            "rows_without_chunk": sum(1 for cid in held if cid not in stamps),
        }
        return snapshot, stamps, problems


def top_k(scores: npt.NDArray[np.float32], k: int) -> npt.NDArray[np.intp]:
    """Positions of the `k` highest scores, highest first (ties in position order)."""
    part = np.argpartition(-scores, k - 1)[:k] if scores.shape[0] > k else np.arange(scores.shape[0])
    return part[np.argsort(-scores[part], kind="stable")]
