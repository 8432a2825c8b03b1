"""Ingesting a web page or PDF by its address: fetched safely, then accepted like an upload."""

from __future__ import annotations

import io

from docent.auth.audit import RequestContext
from docent.auth.policy import Principal
from docent.db.uow import UnitOfWork
from docent.errors import DocentError
from docent.ingest.fetch import FetchError, UrlFetcher
from docent.ingest.service import Accepted, DocumentService, IncomingFile, UploadOptions
from docent.storage.blobs import BlobStore


class UrlIngestService:
    def __init__(
        self, fetcher: UrlFetcher, blobs: BlobStore, documents: DocumentService, max_bytes: int
    ) -> None:
        self._fetcher = fetcher
        self._blobs = blobs
        self._documents = documents
        self._max_bytes = max_bytes

    def ingest(
        self, uow: UnitOfWork, principal: Principal, url: str, options: UploadOptions, context: RequestContext
    ) -> Accepted:
        try:
            fetched = self._fetcher.fetch(url)
        except FetchError as exc:
            raise DocentError(exc.code, exc.message) from None
        staged = self._blobs.stage(io.BytesIO(fetched.data), self._max_bytes)
        incoming = IncomingFile(fetched.filename, fetched.content_type.value, staged)
        try:
            return self._documents.accept_fetched(uow, principal, incoming, fetched.url, options, context)
        except BaseException:
            self._blobs.discard(staged)
            raise
