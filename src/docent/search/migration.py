"""`docent index migrate`: a new embedding model's vectors built beside the live ones, then swapped in.

How the service stays searchable throughout (the design, in one place):

* The live model is recorded in `index_meta` (`embedding_model`); its vectors are `chunks.embedding`,
  which the HNSW index and the in-memory matrix read. Each process embeds queries with its own configured
  model (DOCENT_EMBEDDER) and searches the vectors of that model, wherever they are: in `chunks` when it
  is the live model, else in `chunk_vectors` (an exact scan; see the vector indexes).
* `start` records the pending model; `run` embeds, in bounded batches and short transactions, every chunk
  that has no vector of it yet, so a killed run continues where it stopped, and chunks ingested meanwhile
  (with live vectors only) are caught up by the next batch. Searches keep using the live vectors.
* `switch` refuses while any chunk lacks a pending vector, and otherwise swaps in one transaction: the
  pending vectors into `chunks`, the live ones out to `chunk_vectors` as the previous model's. A server
  still running with the old DOCENT_EMBEDDER keeps answering from those until it is restarted with the
  new one; a restarted server reads `chunks`. Ingestion holds the live-model row while it writes, so its
  chunks are either counted before the switch (and refused as missing) or written after it (and retried
  by a worker of the old model until it is restarted), never written with the wrong model.
* `abort` drops the pending vectors; `drop_previous` the previous model's, once every server runs the
  new model.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import delete, text, update
from sqlalchemy.exc import IntegrityError

from docent.config import ConfigurationError, Settings
from docent.db.repositories import chunk_vectors
from docent.db.repositories.index_meta import (
    EMBEDDING_DIMENSION_KEY,
    EMBEDDING_MODEL_KEY,
    MIGRATION_DIMENSION_KEY,
    MIGRATION_MODEL_KEY,
    MIGRATION_SPEC_KEY,
    PREVIOUS_MODEL_KEY,
)
from docent.db.tables import IndexMeta
from docent.db.uow import Database, UnitOfWork
from docent.llm.ports import Embedder
from docent.search.backends.postgres import HNSW_INDEX, rebuild_vector_index

MAX_BATCH = 1024

Progress = Callable[[int, int], None]  # (chunks with a pending vector, chunks)


class MigrationRefusedError(ConfigurationError):
    """What the operator asked cannot be done now; the message says why and what to do."""


@dataclass(frozen=True)
class EmbedderSpec:
    """The new model as the operator named it, in DOCENT_EMBEDDER's terms (kept for `--switch`'s catch-up
    and `--status`; the API key is never stored, it comes from DOCENT_EMBEDDER_API_KEY)."""

    embedder: str
    backend: str = "onnx"
    base_url: str | None = None
    dimension: int | None = None

    def settings(self, base: Settings) -> Settings:
        update_: dict[str, Any] = {"embedder": self.embedder, "embedder_backend": self.backend}
        if self.base_url is not None:
            update_["embedder_base_url"] = self.base_url
        if self.dimension is not None:
            update_["embedder_dimension"] = self.dimension
        return base.model_copy(update=update_)

    def dumps(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def loads(cls, value: str) -> EmbedderSpec:
        return cls(**json.loads(value))


@dataclass(frozen=True)
class MigrationStatus:
    live_model: str | None
    pending_model: str | None
    spec: EmbedderSpec | None
    done: int  # chunks with a vector of the pending model
    missing: int  # chunks without one
    previous_model: str | None

    @property
    def complete(self) -> bool:
        return self.pending_model is not None and self.missing == 0


def status(database: Database) -> MigrationStatus:
    with database.unit_of_work(write=False) as uow:
        meta = uow.index_meta
        pending, spec = meta.get(MIGRATION_MODEL_KEY), meta.get(MIGRATION_SPEC_KEY)
        done = chunk_vectors.count_of(uow.session, pending) if pending else 0
        missing = chunk_vectors.count_missing(uow.session, pending) if pending else 0
        return MigrationStatus(
            live_model=chunk_vectors.live_model(uow.session),
            pending_model=pending,
            spec=EmbedderSpec.loads(spec) if spec else None,
            done=done,
            missing=missing,
            previous_model=meta.get(PREVIOUS_MODEL_KEY),
        )


def start(database: Database, embedder: Embedder, spec: EmbedderSpec) -> MigrationStatus:
    """Record `embedder`'s model as pending (or continue the migration to it that is already recorded)."""
    model = embedder.model_id
    with database.unit_of_work() as uow:
        live = chunk_vectors.live_model(uow.session)
        pending = uow.index_meta.get(MIGRATION_MODEL_KEY)
        if live is None:
            raise MigrationRefusedError(
                "the index is empty: set DOCENT_EMBEDDER instead, nothing needs migrating"
            )
        if model == live:
            raise MigrationRefusedError(f"{model} is already the live embedding model")
        if pending is not None and pending != model:
            raise MigrationRefusedError(
                f"a migration to {pending} is in progress: finish it (`--switch`) or drop it (`--abort`)"
            )
        if pending is None:
            previous = uow.index_meta.get(PREVIOUS_MODEL_KEY)
            if previous is not None and previous != model:
                chunk_vectors.drop(uow.session, previous)  # one model beside the live one, not a pile
            _forget(uow, PREVIOUS_MODEL_KEY)
            uow.index_meta.set(MIGRATION_MODEL_KEY, model)
            uow.index_meta.set(MIGRATION_DIMENSION_KEY, str(embedder.dimension))
            uow.index_meta.set(MIGRATION_SPEC_KEY, spec.dumps())
            uow.commit()
    return status(database)


def run(
    database: Database,
    embedder: Embedder,
    *,
    batch_size: int = 256,
    progress: Progress | None = None,
    max_batches: int | None = None,
) -> MigrationStatus:
    """Embed the chunks lacking a pending vector, `batch_size` at a time, each batch in its own short
    transaction; until none is missing (or `max_batches` are done). Safe to run again at any moment."""
    batch_size = max(1, min(batch_size, MAX_BATCH))
    model = embedder.model_id
    batches, after = 0, 0  # chunk ids only grow mostly: go on from the last one, then look again from 0
    while max_batches is None or batches < max_batches:
        with database.unit_of_work(write=False) as uow:
            _ensure_pending(uow, model)
            todo = chunk_vectors.missing(uow.session, model, batch_size, after=after)
        if not todo and after == 0:
            break
        if not todo:
            after = 0
            continue
        after = todo[-1][0]
        vectors = embedder.embed([indexed for _, indexed in todo])
        try:
            with database.unit_of_work() as uow:
                _ensure_pending(uow, model)  # an `--abort` meanwhile stops the run
                chunk_vectors.add(
                    uow.session, model, dict(zip([cid for cid, _ in todo], vectors, strict=True))
                )
                uow.commit()
        except IntegrityError:
            continue  # a chunk deleted, or a second run stored it, meanwhile: read the batch again
        batches += 1
        if progress is not None:
            now = status(database)
            progress(now.done, now.done + now.missing)
    return status(database)


def switch(database: Database) -> MigrationStatus:
    """Make the pending model live, in one transaction; refused unless every chunk has its vector."""
    dimension_changed = False
    with database.unit_of_work() as uow:
        session = uow.session
        live = chunk_vectors.live_model(session)
        pending = uow.index_meta.get(MIGRATION_MODEL_KEY)
        if pending is None or live is None:
            raise MigrationRefusedError(
                "no migration is in progress: start one with `docent index migrate --embedder`"
            )
        # Written first, so that (on PostgreSQL) ingestion waits on this row until the switch is decided.
        session.execute(update(IndexMeta).where(IndexMeta.key == EMBEDDING_MODEL_KEY).values(value=pending))
        missing = chunk_vectors.count_missing(session, pending)
        if missing:
            raise MigrationRefusedError(
                f"{missing} chunks have no vector of {pending} yet: run `docent index migrate` to finish"
            )
        dimension = uow.index_meta.get(MIGRATION_DIMENSION_KEY) or ""
        dimension_changed = dimension != uow.index_meta.get(EMBEDDING_DIMENSION_KEY)
        if dimension_changed and session.get_bind().dialect.name == "postgresql":
            # The HNSW index casts every vector to the old dimension: it cannot hold the new ones. Searches
            # wait for this transaction, then scan exactly until the new index is built (below).
            session.execute(text(f"DROP INDEX IF EXISTS {HNSW_INDEX}"))
        chunk_vectors.swap(session, live, pending)
        uow.index_meta.set(EMBEDDING_DIMENSION_KEY, dimension)
        uow.index_meta.set(PREVIOUS_MODEL_KEY, live)
        _forget(uow, MIGRATION_MODEL_KEY, MIGRATION_DIMENSION_KEY, MIGRATION_SPEC_KEY)
        uow.commit()
    rebuild_vector_index(database.engine, int(dimension))  # PostgreSQL: concurrently, beside any old one
    return status(database)


def abort(database: Database) -> MigrationStatus:
    """Drop the pending model's vectors; the live ones were never touched."""
    with database.unit_of_work() as uow:
        pending = uow.index_meta.get(MIGRATION_MODEL_KEY)
        if pending is None:
            raise MigrationRefusedError("no migration is in progress")
        chunk_vectors.drop(uow.session, pending)
        _forget(uow, MIGRATION_MODEL_KEY, MIGRATION_DIMENSION_KEY, MIGRATION_SPEC_KEY)
        uow.commit()
    return status(database)


def drop_previous(database: Database) -> int:
    """Drop the previous model's vectors (once no server runs with it); how many were dropped."""
    with database.unit_of_work() as uow:
        previous = uow.index_meta.get(PREVIOUS_MODEL_KEY)
        dropped = chunk_vectors.drop(uow.session, previous) if previous else 0
        _forget(uow, PREVIOUS_MODEL_KEY)
        uow.commit()
    return dropped


def serves_previous_model(database: Database, model_id: str) -> bool:
    """Whether `model_id` is the model a switch replaced, whose vectors are still kept."""
    with database.unit_of_work(write=False) as uow:
        return uow.index_meta.get(PREVIOUS_MODEL_KEY) == model_id


def _ensure_pending(uow: UnitOfWork, model: str) -> None:
    pending = uow.index_meta.get(MIGRATION_MODEL_KEY)
    if pending != model:
        raise MigrationRefusedError(
            f"no migration to {model} is in progress"
            + (f" (the pending model is {pending})" if pending else " (it was switched or aborted)")
        )


def _forget(uow: UnitOfWork, *keys: str) -> None:
    uow.session.execute(delete(IndexMeta).where(IndexMeta.key.in_(keys)))
    uow.session.expire_all()  # the identity map must not keep the rows just deleted
