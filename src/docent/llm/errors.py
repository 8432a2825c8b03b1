"""Failures of an embedder, already translated from the vendor's exceptions by the adapter.

The caller decides from the type alone whether to retry:

- `EmbedderUnavailable`: try again later (the server is down, slow, overloaded or rate-limiting).
- `EmbedderError` (any other): will not succeed as is (bad credentials, a rejected request, a model that
  is not installed, a malformed reply); retrying the same call is pointless.

Messages are meant for people and logs, and never contain an API key.
"""

from __future__ import annotations


class EmbedderError(Exception):
    """The embedder cannot serve this call, and retrying it unchanged will not help."""


class EmbedderUnavailable(EmbedderError):  # noqa: N818 - the name says what the caller should do
    """The embedder is temporarily unable to serve the call; the same call may succeed later."""
