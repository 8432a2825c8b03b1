"""Content-addressed blob store on the local filesystem: a file's name is its SHA-256.

Writes go to a temporary file under the store's root, are fsynced, then renamed into place, so a blob
either exists whole or not at all; writing the same content twice is a no-op.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

_BLOCK = 1024 * 1024


@dataclass(frozen=True)
class StagedFile:
    """An upload written to disk but not yet stored under its hash."""

    path: Path
    sha256: str
    size: int


class BlobTooLargeError(Exception):
    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"larger than {limit} bytes")


class StagingWriter:
    """Receives one file piece by piece, hashing as it goes; refuses to grow past `max_bytes`."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        handle, name = tempfile.mkstemp(dir=directory, prefix="upload-")
        self.path = Path(name)
        self._file = os.fdopen(handle, "wb")
        self._digest = hashlib.sha256()
        self._max_bytes = max_bytes
        self.size = 0

    def write(self, block: bytes) -> None:
        self.size += len(block)
        if self.size > self._max_bytes:
            raise BlobTooLargeError(self._max_bytes)
        self._digest.update(block)
        self._file.write(block)

    def finish(self) -> StagedFile:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        return StagedFile(path=self.path, sha256=self._digest.hexdigest(), size=self.size)

    def abort(self) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._staging = root / "staging"

    def open_staging(self, max_bytes: int) -> StagingWriter:
        self._staging.mkdir(parents=True, exist_ok=True)
        return StagingWriter(self._staging, max_bytes)

    def stage(self, source: BinaryIO, max_bytes: int) -> StagedFile:
        """Copy a stream to disk while hashing it; stop as soon as it passes `max_bytes`."""
        writer = self.open_staging(max_bytes)
        try:
            while block := source.read(_BLOCK):
                writer.write(block)
            return writer.finish()
        except BaseException:
            writer.abort()
            raise

    def commit(self, staged: StagedFile) -> bool:
        """Move a staged file to its content address (its hash); False when that content was already there."""
        target = self.path_of(staged.sha256)
        if target.exists():
            staged.path.unlink(missing_ok=True)
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged.path, target)
        _fsync_dir(target.parent)
        return True

    def delete_many(self, keys: set[str]) -> None:
        for key in keys:
            self.delete(key)

    def discard(self, staged: StagedFile) -> None:
        staged.path.unlink(missing_ok=True)

    def read(self, key: str) -> bytes:
        return self.path_of(key).read_bytes()

    def exists(self, key: str) -> bool:
        return self.path_of(key).is_file()

    def delete(self, key: str) -> None:
        self.path_of(key).unlink(missing_ok=True)

    def keys(self) -> Iterator[str]:
        for path in self.root.glob("??/*"):
            if path.is_file() and len(path.name) == 64:
                yield path.name

    def path_of(self, key: str) -> Path:
        if len(key) != 64 or not all(c in "0123456789abcdef" for c in key):
            raise ValueError("a blob key is a lowercase hex SHA-256")
        return self.root / key[:2] / key


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
