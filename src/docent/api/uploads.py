"""Streams a multipart upload straight to the blob store's staging area, hashing on the way.

Starlette's form parser would spool every file first and let us look only afterwards; reading the stream
ourselves lets a file over the limit be refused as soon as it passes it, without holding it anywhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from fastapi import Request
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from docent.errors import DocentError, ErrorCode
from docent.storage.blobs import BlobStore, BlobTooLargeError, StagedFile, StagingWriter

MAX_FIELD_BYTES = 64 * 1024
# After a file passes the limit, the rest of the body is read and thrown away (up to this much more), so the
# client, which is still sending, gets the 413 instead of a reset connection.
DRAIN_BYTES = 256 * 1024 * 1024


@dataclass
class UploadedFile:
    field_name: str
    filename: str
    declared_type: str | None
    staged: StagedFile


@dataclass
class UploadForm:
    files: list[UploadedFile] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)

    def discard(self, blobs: BlobStore) -> None:
        for upload in self.files:
            blobs.discard(upload.staged)

    @contextmanager
    def discarded_on_error(self, blobs: BlobStore) -> Iterator[None]:
        """Staged files not taken by the block (which moves them into the store) go if it fails."""
        try:
            yield
        except BaseException:
            self.discard(blobs)
            raise


class _Part:
    def __init__(self) -> None:
        self.headers: dict[str, bytes] = {}
        self.header_field = b""
        self.header_value = b""
        self.name = ""
        self.filename: str | None = None
        self.content_type: str | None = None
        self.writer: StagingWriter | None = None
        self.value = bytearray()


class _MultipartSink:
    """Callbacks for python-multipart's push parser: files go to staging, fields to memory."""

    def __init__(self, blobs: BlobStore, file_field: str, max_file_bytes: int, max_files: int) -> None:
        self.blobs = blobs
        self.file_field = file_field
        self.max_file_bytes = max_file_bytes
        self.max_files = max_files
        self.form = UploadForm()
        self.part = _Part()
        self.pending: list[StagingWriter] = []

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self._begin,
            "on_header_field": lambda data, start, end: self._header_field(data[start:end]),
            "on_header_value": lambda data, start, end: self._header_value(data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": lambda data, start, end: self._data(data[start:end]),
            "on_part_end": self._end,
        }

    def _begin(self) -> None:
        self.part = _Part()

    def _header_field(self, data: bytes) -> None:
        self.part.header_field += data

    def _header_value(self, data: bytes) -> None:
        self.part.header_value += data

    def _header_end(self) -> None:
        self.part.headers[self.part.header_field.lower().decode("latin-1")] = self.part.header_value
        self.part.header_field = self.part.header_value = b""

    def _headers_finished(self) -> None:
        part = self.part
        _, options = parse_options_header(part.headers.get("content-disposition", b""))
        part.name = options.get(b"name", b"").decode("utf-8", "replace")
        raw_filename = options.get(b"filename")
        if raw_filename is None:
            return
        part.filename = raw_filename.decode("utf-8", "replace")
        declared = part.headers.get("content-type")
        part.content_type = declared.decode("latin-1").strip() if declared else None
        if part.name != self.file_field:
            raise DocentError(ErrorCode.BAD_REQUEST, f"Files go in the field {self.file_field!r}.")
        if len(self.form.files) + 1 > self.max_files:
            raise DocentError(ErrorCode.BAD_REQUEST, f"At most {self.max_files} files per request.")
        part.writer = self.blobs.open_staging(self.max_file_bytes)
        self.pending.append(part.writer)

    def _data(self, data: bytes) -> None:
        part = self.part
        if part.writer is not None:
            part.writer.write(data)
            return
        part.value += data
        if len(part.value) > MAX_FIELD_BYTES:
            raise DocentError(ErrorCode.BAD_REQUEST, f"The form field {part.name!r} is too long.")

    def _end(self) -> None:
        part = self.part
        if part.writer is None:
            self.form.fields[part.name] = part.value.decode("utf-8", "replace")
            return
        staged = part.writer.finish()
        self.pending.remove(part.writer)
        self.form.files.append(UploadedFile(part.name, part.filename or "", part.content_type, staged))

    def abort(self) -> None:
        for writer in self.pending:
            writer.abort()
        self.form.discard(self.blobs)


async def read_upload(
    request: Request, blobs: BlobStore, *, file_field: str, max_file_bytes: int, max_files: int
) -> UploadForm:
    """Parse a multipart body; every file ends up staged on disk. On any error nothing staged remains."""
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise DocentError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, "Send the files as multipart/form-data.")
    sink = _MultipartSink(blobs, file_field, max_file_bytes, max_files)
    try:
        parser = MultipartParser(boundary, sink.callbacks())  # type: ignore[arg-type]
    except FormParserError as exc:  # a boundary over 256 characters, for one
        raise DocentError(ErrorCode.BAD_REQUEST, f"The multipart body is malformed: {exc}.") from None
    stream = request.stream()
    try:
        async for chunk in stream:
            parser.write(chunk)
        parser.finalize()
    except BlobTooLargeError as exc:
        sink.abort()
        await _drain(stream)
        limit_mb = exc.limit // (1024 * 1024)
        raise DocentError(
            ErrorCode.DOCUMENT_TOO_LARGE, f"A file is larger than the limit of {limit_mb} MB."
        ) from None
    except FormParserError:
        sink.abort()
        await _drain(stream)
        raise DocentError(ErrorCode.BAD_REQUEST, "The multipart body is malformed.") from None
    except DocentError:
        sink.abort()
        await _drain(stream)
        raise
    except BaseException:
        sink.abort()
        raise
    if sink.pending:  # the body ended inside a part
        sink.abort()
        raise DocentError(ErrorCode.BAD_REQUEST, "The multipart body ended early.")
    return sink.form


async def _drain(stream: object) -> None:
    drained = 0
    async for chunk in stream:  # type: ignore[attr-defined]
        drained += len(chunk)
        if drained > DRAIN_BYTES:
            return
