"""Exact cosine search over an in-memory float32 matrix derived from the chunks (the embedded profile).

The matrix is a cache of the database and never its own truth:

* every query first reads the chunks' version (a generation counter that every chunk write bumps in its
  own transaction, with the chunk count and the highest id) in the query's transaction; when it moved,
  the matrix is brought up to date before the query runs: only the rows whose chunk id, document or
  text changed are re-read, the rest are kept;
* the permission filter becomes a row mask (the document ids the reader may search, read in the same
  transaction) applied before the top k are taken;
* the rows a query returns are fetched again with the permission filter by the retriever, so even a
  row the matrix still held could not come back once the database dropped it.

Unit vectors make the cosine a plain dot product: one matrix-vector product per query.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from docent.db.repositories.search import ChunkStamp, SearchFilters
from docent.db.uow import Database, UnitOfWork
from docent.llm.ports import Embedder
from docent.search.ports import Scored
from docent.types import ReaderScope


@dataclass(frozen=True)
class _Snapshot:
    """One consistent state of the matrix; replaced whole, never changed, so readers need no lock."""

    version: tuple[int, int, int]
    ids: npt.NDArray[np.int64]
    documents: npt.NDArray[np.int32]  # row -> index into document_keys
    stamps: tuple[str, ...]  # row -> text hash
    document_keys: tuple[str, ...]
    matrix: npt.NDArray[np.float32]
    document_index: dict[str, int] = field(default_factory=dict)
    document_orgs: tuple[str, ...] = ()  # document index -> its organisation
    org_masks: dict[str, npt.NDArray[np.bool_]] = field(default_factory=dict)  # rows of each org, cached

    @property
    def rows(self) -> int:
        return int(self.ids.shape[0])


def _empty(dimension: int = 0) -> _Snapshot:
    return _Snapshot(
        version=(-1, -1, -1),
        ids=np.zeros(0, dtype=np.int64),
        documents=np.zeros(0, dtype=np.int32),
        stamps=(),
        document_keys=(),
        matrix=np.zeros((0, dimension), dtype=np.float32),
    )


class MemoryMatrixIndex:
    """`VectorIndex` holding every vector of `model_id` in one matrix; exact top k by dot product."""

    def __init__(self, embedder: Embedder) -> None:
        self._embedder = embedder  # the matrix holds the vectors this embedder's model made
        self._snapshot: _Snapshot | None = None
        self._refresh_lock = threading.Lock()

    @property
    def _model_id(self) -> str:
        return self._embedder.model_id

    # ---------- VectorIndex ----------

    def search(
        self,
        uow: UnitOfWork,
        scope: ReaderScope,
        vector: npt.NDArray[np.float32],
        k: int,
        filters: SearchFilters,
    ) -> list[Scored]:
        snapshot = self.current(uow)
        if snapshot.rows == 0 or k <= 0:
            return []
        if filters == SearchFilters():  # the reader's organisation, less what the reader may not see
            allowed = self._org_mask(snapshot, scope.org_id.hex)
            allowed &= ~self._row_mask(snapshot, uow.search.unsearchable_document_keys(scope))
        else:
            allowed = self._row_mask(snapshot, uow.search.searchable_document_keys(scope, filters))
        candidates = np.flatnonzero(allowed)
        if candidates.size == 0:
            return []
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        if candidates.size < snapshot.rows // 4:  # few readable rows: multiply only those
            scores = snapshot.matrix[candidates] @ query
        else:
            scores = (snapshot.matrix @ query)[candidates]
        top = _top_k(scores, k)
        return [Scored(int(snapshot.ids[candidates[i]]), float(scores[i])) for i in top]

    def check(self, uow: UnitOfWork) -> dict[str, int]:
        """Compare the matrix, as the next query would use it, with the chunks row by row."""
        snapshot = self.current(uow)
        stamps = {s.chunk_id: s for s in uow.search.chunk_stamps(self._model_id)}
        held = {int(i): row for row, i in enumerate(snapshot.ids)}
        missing = [cid for cid in stamps if cid not in held]
        extra = [cid for cid in held if cid not in stamps]
        stale = 0
        common = [cid for cid in stamps if cid in held]
        for start in range(0, len(common), 2000):
            part = common[start : start + 2000]
            stored = uow.search.vectors(part)
            for cid in part:
                row = held[cid]
                same_document = snapshot.document_keys[snapshot.documents[row]] == stamps[cid].document_key
                same_vector = np.array_equal(_as_array(stored[cid]), snapshot.matrix[row])
                stale += not (same_document and same_vector)
        return {
            "matrix_rows_missing": len(missing),
            "matrix_rows_without_chunk": len(extra),
            "matrix_rows_stale": stale,
        }

    def rebuild(self, database: Database) -> None:
        """Read the whole matrix again; queries keep using the old one until the new one is ready."""
        with database.unit_of_work(write=False) as uow:
            version = uow.search.chunks_version()
            fresh = self._refreshed(uow, _empty(), version)
        with self._refresh_lock:
            self._snapshot = fresh

    # ---------- keeping up with the database ----------

    def current(self, uow: UnitOfWork) -> _Snapshot:
        """The matrix as of the chunks this transaction sees (refreshed first when they changed)."""
        version = uow.search.chunks_version()
        snapshot = self._snapshot
        if snapshot is not None and not _is_behind(snapshot.version, version):
            return snapshot
        with self._refresh_lock:
            snapshot = self._snapshot or _empty()
            if _is_behind(snapshot.version, version):
                snapshot = self._refreshed(uow, snapshot, version)
                self._snapshot = snapshot
        return snapshot

    def _refreshed(self, uow: UnitOfWork, old: _Snapshot, version: tuple[int, int, int]) -> _Snapshot:
        stamps = uow.search.chunk_stamps(self._model_id)
        old_rows = {int(cid): row for row, cid in enumerate(old.ids)}
        keep: list[int] = []  # rows of the old matrix still right
        load: list[ChunkStamp] = []
        for stamp in stamps:
            row = old_rows.get(stamp.chunk_id)
            if (
                row is not None
                and old.stamps[row] == stamp.text_hash
                and old.document_keys[old.documents[row]] == stamp.document_key
            ):
                keep.append(row)
            else:
                load.append(stamp)
        loaded = uow.search.vectors(s.chunk_id for s in load)
        load = [s for s in load if s.chunk_id in loaded]  # deleted since the stamps were read
        vectors = [_as_array(loaded[stamp.chunk_id]) for stamp in load]
        dimension = old.matrix.shape[1] if keep else (vectors[0].shape[0] if vectors else 0)
        fresh = np.zeros((len(vectors), dimension), dtype=np.float32)
        for i, vector in enumerate(vectors):
            fresh[i] = vector
        keep_rows = np.asarray(keep, dtype=np.int64)
        keys = [old.document_keys[old.documents[row]] for row in keep] + [s.document_key for s in load]
        document_keys = tuple(dict.fromkeys(keys))
        document_index = {key: i for i, key in enumerate(document_keys)}
        org_of = {key: old.document_orgs[i] for key, i in old.document_index.items()}
        org_of.update((s.document_key, s.org_key) for s in load)
        return _Snapshot(
            version=version,
            ids=np.concatenate([old.ids[keep_rows], np.asarray([s.chunk_id for s in load], dtype=np.int64)]),
            documents=np.asarray([document_index[key] for key in keys], dtype=np.int32),
            stamps=tuple(old.stamps[row] for row in keep) + tuple(s.text_hash for s in load),
            document_keys=document_keys,
            matrix=np.concatenate([old.matrix[keep_rows], fresh]) if keep else fresh,
            document_index=document_index,
            document_orgs=tuple(org_of[key] for key in document_keys),
        )

    @staticmethod
    def _org_mask(snapshot: _Snapshot, org_key: str) -> npt.NDArray[np.bool_]:
        """A fresh copy of the rows of one organisation (computed once per snapshot)."""
        mask = snapshot.org_masks.get(org_key)
        if mask is None:
            in_org = np.fromiter((org == org_key for org in snapshot.document_orgs), dtype=bool)
            mask = np.append(in_org, False)[snapshot.documents]
            snapshot.org_masks[org_key] = mask
        return mask.copy()

    @staticmethod
    def _row_mask(snapshot: _Snapshot, document_keys: list[str]) -> npt.NDArray[np.bool_]:
        wanted = np.zeros(len(snapshot.document_keys) + 1, dtype=bool)
        index = snapshot.document_index
        positions = [index[key] for key in document_keys if key in index]
        if positions:
            wanted[np.asarray(positions, dtype=np.int64)] = True
        return wanted[snapshot.documents]


def _is_behind(held: tuple[int, int, int], seen: tuple[int, int, int]) -> bool:
    """Whether the matrix is older than what the query's transaction sees. Generations only grow, so a
    query that began before a write never rolls a newer matrix back; at one generation, a different
    count or highest id means chunks went by cascade, without the counter."""
    if seen[0] != held[0]:
        return seen[0] > held[0]
    return seen != held


def _top_k(scores: npt.NDArray[np.float32], k: int) -> npt.NDArray[np.intp]:
    part = np.argpartition(-scores, k - 1)[:k] if scores.shape[0] > k else np.arange(scores.shape[0])
    return part[np.argsort(-scores[part], kind="stable")]


def _as_array(value: Any) -> npt.NDArray[np.float32]:
    if isinstance(value, bytes | memoryview):
        return np.frombuffer(bytes(value), dtype=np.float32)
    return np.asarray(value, dtype=np.float32)
