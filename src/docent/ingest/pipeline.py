"""The ingest job: parse a stored file, chunk it, embed what is new, and index it in one transaction.

Jobs arrive in batches so that the embedder sees full batches across small documents. Every step can run
again after a crash: the write replaces whatever an earlier attempt left, and a version already indexed
is not redone.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from docent.db.repositories.chunk_vectors import live_model
from docent.db.tables import Chunk, Job
from docent.db.uow import Database, UnitOfWork
from docent.errors import ErrorCode
from docent.ingest.chunk import chunk_sections
from docent.ingest.sandbox import ParseInterrupted, ParseSandbox
from docent.ingest.service import INGEST_JOB
from docent.ingest.types import ChunkDraft, ContentType, ParseFailure
from docent.jobs.runner import ClaimedJob, JobOutcome, ProgressReporter
from docent.llm.errors import EmbedderError, EmbedderUnavailable
from docent.llm.ports import Embedder, Vectors
from docent.observability.logs import get_logger
from docent.search.index_check import index_model_mismatch, record_index_model
from docent.search.migration import serves_previous_model
from docent.storage.blobs import BlobStore
from docent.types import VersionStatus, display_text

_log = get_logger(__name__)


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class _Work:
    """One version on its way through the batch."""

    job_id: uuid.UUID
    version_id: uuid.UUID
    document_id: uuid.UUID
    org_id: uuid.UUID
    title: str | None
    page_count: int | None
    drafts: list[ChunkDraft]
    vectors: dict[int, Any] = field(default_factory=dict)  # ordinal -> vector
    reused: int = 0


class IngestHandler:
    kind = INGEST_JOB

    def __init__(
        self,
        database: Database,
        blobs: BlobStore,
        embedder: Embedder,
        parser: ParseSandbox,
        *,
        batch_size: int,
        embed_batch_size: int,
        overlap_tokens: int,
        contextual_chunks: bool = False,
    ) -> None:
        self._database = database
        self._blobs = blobs
        self._embedder = embedder
        self._parser = parser
        self.batch_size = batch_size
        self._embed_batch_size = embed_batch_size
        self._overlap_tokens = overlap_tokens
        self._contextual_chunks = contextual_chunks

    def process(self, jobs: list[ClaimedJob], progress: ProgressReporter) -> dict[uuid.UUID, JobOutcome]:
        outcomes: dict[uuid.UUID, JobOutcome] = {}
        mismatch = index_model_mismatch(self._database, self._embedder.model_id)
        if mismatch:
            return {job.id: JobOutcome.failed(mismatch) for job in jobs}
        if serves_previous_model(self._database, self._embedder.model_id):
            return {job.id: _AFTER_SWITCH for job in jobs}
        batch: list[_Work] = []
        for job in jobs:
            try:
                work = self._prepare(job)
            except ParseFailure as failure:
                # Final, limits included: a bomb or a timeout would do the same again.
                outcomes[job.id] = JobOutcome.failed(failure.message, failure.code)
                continue
            except ParseInterrupted:
                # The worker is stopping: what is not finished runs again later, nothing waits for it.
                stopped = JobOutcome.retry("the worker stopped before the document was indexed")
                return outcomes | {j.id: stopped for j in jobs if j.id not in outcomes}
            if work is None:
                outcomes[job.id] = JobOutcome.completed()
            else:
                batch.append(work)
        try:
            self._embed(batch, progress)
        except EmbedderUnavailable as exc:
            return outcomes | {
                work.job_id: JobOutcome.retry(f"embedder unavailable: {exc}") for work in batch
            }
        except EmbedderError as exc:
            return outcomes | {work.job_id: JobOutcome.failed(f"embedding failed: {exc}") for work in batch}
        for work in batch:
            outcomes[work.job_id] = JobOutcome.completed() if self._write(work) else _AFTER_SWITCH
        return outcomes

    def interrupt(self) -> None:
        """Kill the parse in flight and parse nothing more (the worker is stopping)."""
        self._parser.interrupt()

    def on_failed(self, uow: UnitOfWork, job: Job, error: str, code: ErrorCode | None) -> None:
        version = uow.documents.version(job.version_id) if job.version_id else None
        if version is not None:
            version.status, version.error, version.error_code = VersionStatus.FAILED, error[:2000], code
            version.processed_at = datetime.now(UTC)

    def on_retry(self, uow: UnitOfWork, job: Job, error: str) -> None:
        version = uow.documents.version(job.version_id) if job.version_id else None
        if version is not None:
            version.status, version.error = VersionStatus.QUEUED, f"retrying: {error}"[:2000]

    # ---------- stages ----------

    def _prepare(self, job: ClaimedJob) -> _Work | None:
        """Parse and chunk; None when there is nothing to do (document gone, version already indexed)."""
        with self._database.unit_of_work() as uow:
            version = uow.documents.version(job.version_id) if job.version_id else None
            document = uow.documents.get(version.document_id) if version else None
            if version is None or document is None:
                return None
            if version.status == VersionStatus.COMPLETED and document.indexed_version_id == version.id:
                return None
            version.status, version.error, version.error_code = VersionStatus.PROCESSING, None, None
            key, content_type = version.sha256, ContentType(version.content_type)
            ids = (job.id, version.id, document.id, document.org_id)
            named_by_file = document.title == version.filename
            title = document.title
            uow.commit()
        path = self._blobs.path_of(key)
        if not path.is_file():  # the store's fault, not the document's: retried
            raise FileNotFoundError(f"the stored file of version {job.version_id} is missing")
        parsed = self._parser.parse(content_type, path)
        drafts = chunk_sections(
            parsed.sections,
            self._embedder.count_tokens,
            max_tokens=self._embedder.max_tokens,
            overlap_tokens=self._overlap_tokens,
            # the title the document will have once written (`_write`): the parsed one replaces a file name
            title=(parsed.title or title) if named_by_file else title,
            contextual=self._contextual_chunks,
        )
        if not drafts:
            raise ParseFailure(ErrorCode.NO_TEXT, ErrorCode.NO_TEXT.default_message)
        work = _Work(*ids, parsed.title, parsed.page_count, drafts)
        self._reuse_vectors(work)
        return work

    def _reuse_vectors(self, work: _Work) -> None:
        """Chunks whose text did not change since an earlier version keep the vectors they have."""
        hashes = {text_hash(draft.indexed_text): draft.ordinal for draft in work.drafts}
        with self._database.unit_of_work(write=False) as uow:
            known = uow.chunks.reusable_vectors(work.document_id, self._embedder.model_id, set(hashes))
        for digest, vector in known.items():
            work.vectors[hashes[digest]] = vector
        work.reused = len(work.vectors)

    def _embed(self, batch: list[_Work], progress: ProgressReporter) -> None:
        pending = [(work, d) for work in batch for d in work.drafts if d.ordinal not in work.vectors]
        pending.sort(key=lambda item: item[1].token_count)  # similar lengths per batch: little padding
        done = {work.job_id: len(work.vectors) for work in batch}
        for work in batch:
            progress(work.job_id, done[work.job_id], len(work.drafts))
        size = self._embed_batch_size
        for start in range(0, len(pending), size):
            group = pending[start : start + size]
            vectors: Vectors = self._embedder.embed([draft.indexed_text for _, draft in group])
            touched: dict[uuid.UUID, _Work] = {}
            for (work, draft), vector in zip(group, vectors, strict=True):
                work.vectors[draft.ordinal] = vector
                done[work.job_id] += 1
                touched[work.job_id] = work
            for job_id, work in touched.items():
                progress(job_id, done[job_id], len(work.drafts))

    def _write(self, work: _Work) -> bool:
        """Chunks, vectors and keyword rows of the version, and its status, in one transaction. False when
        an embedding-model switch made this worker's model no longer the live one (nothing is written)."""
        model_id = self._embedder.model_id
        with self._database.unit_of_work() as uow:
            document = uow.documents.lock(work.document_id)
            version = uow.documents.version(work.version_id)
            if document is None or version is None or document.deleted_at is not None:
                return True
            # Held until commit: a switch (`docent index migrate --switch`) is wholly before or after this.
            live = live_model(uow.session, lock=True)
            if live is None:
                record_index_model(uow, model_id, self._embedder.dimension)
            elif live != model_id:
                return False
            current = (
                uow.documents.version(document.indexed_version_id) if document.indexed_version_id else None
            )
            if current is None or current.number <= version.number:
                uow.chunks.replace_for_document(document.id, [_row(work, d, model_id) for d in work.drafts])
                document.indexed_version_id = version.id
            parsed_title = display_text(work.title or "")
            if parsed_title and document.title == display_text(version.filename):
                document.title = parsed_title[:500]
            version.status, version.error, version.error_code = VersionStatus.COMPLETED, None, None
            version.page_count, version.chunk_count = work.page_count, len(work.drafts)
            version.chunks_reused, version.chunks_embedded = work.reused, len(work.drafts) - work.reused
            version.processed_at = datetime.now(UTC)
            uow.commit()
        _log.info(
            "document_indexed", document_id=str(work.document_id), chunks=len(work.drafts), reused=work.reused
        )
        return True


# A worker still running the model a switch replaced: the job waits, without spending its attempts, for a
# worker restarted with the new DOCENT_EMBEDDER; its document's current version stays searchable meanwhile.
_AFTER_SWITCH = JobOutcome.defer(
    "the embedding model was switched: restart this worker with the new DOCENT_EMBEDDER"
)


def _row(work: _Work, draft: ChunkDraft, model_id: str) -> Chunk:
    return Chunk(
        version_id=work.version_id,
        document_id=work.document_id,
        org_id=work.org_id,
        ordinal=draft.ordinal,
        text=draft.text,
        context=draft.context,
        text_hash=text_hash(draft.indexed_text),  # of what was embedded: a vector is reused for the same
        token_count=draft.token_count,
        page=draft.page,
        section_path=list(draft.section_path),
        embedding_model=model_id,
        embedding=np.asarray(work.vectors[draft.ordinal], dtype=np.float32),
    )
