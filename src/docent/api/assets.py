"""The web app's static files, read once at start-up and served from memory under content-hashed names.

`app.js` is served as `/static/app.<hash>.js` with a year-long immutable cache: a new release has new
names, so no browser keeps a stale file. ES module imports between our files (`from "./api.js"`) are
rewritten to the hashed names, so a change in one module renames it and every module that imports it.
The plain names answer too, with an ETag and `Cache-Control: no-cache` (revalidated on each use).
Every file is also kept gzipped, and sent so to browsers that accept it.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import re
from dataclasses import dataclass
from pathlib import Path

STATIC_PREFIX = "/static/"
_HASH_CHARS = 10
_IMPORT = re.compile(r"""((?:\bfrom|\bimport)\s*\(?\s*)(["'])\./([\w.-]+\.js)\2""")
_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".png": "image/png",
}
_COMPRESSIBLE = (".js", ".css", ".svg", ".json", ".html", ".map")


@dataclass
class Asset:
    body: bytes
    content_type: str
    etag: str
    immutable: bool
    compressible: bool
    _gzipped: bytes | None = None

    def gzipped(self) -> bytes | None:
        """The body gzipped, made on first use (start-up stays fast; two threads racing make it twice)."""
        if self.compressible and self._gzipped is None:
            self._gzipped = gzip.compress(self.body, 9, mtime=0)
        return self._gzipped


class StaticAssets:
    """Files of one or more folders, by URL name. `url(name)` is the hashed URL to put in a page."""

    def __init__(
        self,
        folders: dict[str, Path],
        files: dict[str, Path] | None = None,
        replacements: dict[str, list[tuple[bytes, bytes]]] | None = None,
    ) -> None:
        """`replacements`: byte strings to replace in a file as it is loaded (the file on disk stays as its
        package shipped it)."""
        self._sources: dict[str, bytes] = {}
        self._modules: set[str] = set()  # our own ES modules, whose imports are rewritten
        for prefix, folder in folders.items():
            for path in sorted(folder.rglob("*")):
                if path.is_file() and not path.name.startswith(".") and path.suffix in _TYPES:
                    name = prefix + path.relative_to(folder).as_posix()
                    self._sources[name] = path.read_bytes()
                    if path.suffix == ".js":
                        self._modules.add(name)
        for name, path in (files or {}).items():
            self._sources[name] = path.read_bytes()
        for name, pairs in (replacements or {}).items():
            for old, new in pairs:
                if old not in self._sources[name]:
                    raise ValueError(f"{name} no longer holds {old!r}: check the replacement")
                self._sources[name] = self._sources[name].replace(old, new)
        self._hashed: dict[str, str] = {}
        self._assets: dict[str, Asset] = {}
        for name in self._sources:
            self._hashed_name(name, ())

    def url(self, name: str) -> str:
        return STATIC_PREFIX + self._hashed[name]

    def get(self, name: str) -> Asset | None:
        return self._assets.get(name)

    def total_bytes(self, names: list[str]) -> int:
        return sum(len(self._sources[n]) for n in names)

    def _hashed_name(self, name: str, visiting: tuple[str, ...]) -> str:
        if name in self._hashed:
            return self._hashed[name]
        if name in visiting:
            raise ValueError(f"import cycle through {name}")
        body = self._sources[name]
        if name in self._modules:
            folder = name.rsplit("/", 1)[0] + "/" if "/" in name else ""

            def hashed_import(match: re.Match[str]) -> str:
                target = folder + match.group(3)
                if target not in self._sources:
                    return match.group(0)
                renamed = self._hashed_name(target, (*visiting, name)).rsplit("/", 1)[-1]
                return f"{match.group(1)}{match.group(2)}./{renamed}{match.group(2)}"

            body = _IMPORT.sub(hashed_import, body.decode()).encode()
        digest = hashlib.sha256(body).hexdigest()
        stem, dot, suffix = name.rpartition(".")
        hashed = f"{stem}.{digest[:_HASH_CHARS]}.{suffix}" if dot else f"{name}.{digest[:_HASH_CHARS]}"
        self._hashed[name] = hashed
        extension = "." + suffix
        content_type = _TYPES.get(extension) or mimetypes.guess_type(name)[0] or "application/octet-stream"
        compressible = extension in _COMPRESSIBLE
        etag = f'"{digest[:32]}"'
        self._assets[hashed] = Asset(body, content_type, etag, immutable=True, compressible=compressible)
        self._assets[name] = Asset(body, content_type, etag, immutable=False, compressible=compressible)
        return hashed
