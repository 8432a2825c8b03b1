"""An embedder for any server that speaks OpenAI's `/v1/embeddings` (OpenAI, vLLM, Ollama, llama.cpp…).

The `openai` SDK is imported on first use. The SDK never retries (`max_retries=0`): retrying is the job
system's business, and it decides from the error type (see `docent.llm.errors`).
"""

from __future__ import annotations

import math
import string
import threading
from typing import TYPE_CHECKING, NoReturn
from urllib.parse import urlsplit

import numpy as np

from docent.llm.errors import EmbedderError, EmbedderUnavailable
from docent.llm.openai_sdk import make_client, server_detail
from docent.llm.ports import Vectors

if TYPE_CHECKING:
    import openai

_ASCII_LETTERS = string.ascii_letters.encode()
_ASCII_SPACE = string.whitespace.encode()
_DIMENSION_PROBE = "dimension probe"
_TRANSIENT_STATUSES = frozenset({408, 425, 429})  # timeout, too early, rate limited


def estimate_tokens(text: str) -> int:
    """A deliberate over-estimate of any common tokenizer's count (no remote tokenizer exists offline).

    An ASCII letter counts 1/3 (English words average about four letters a token), whitespace 1/4,
    and everything else one token per UTF-8 byte: digits (several tokenizers split them one by one),
    punctuation, and non-ASCII text, where byte-level BPE falls back to a token per byte at worst.
    Prose comes out about 1.5x its true count; number tables and code, which a plain bytes/3
    rule would under-count, stay covered. It is a heuristic, not a proven bound.
    """
    data = text.encode("utf-8")
    letters = len(data) - len(data.translate(None, _ASCII_LETTERS))
    spaces = len(data) - len(data.translate(None, _ASCII_SPACE))
    others = len(data) - letters - spaces
    return others + math.ceil(letters / 3 + spaces / 4)


class OpenAIEmbedder:
    """`Embedder` for an OpenAI-compatible embeddings endpoint.

    `count_tokens` is `estimate_tokens`, an over-estimate, so chunks cut to `max_tokens` stay under the
    server's limit. `dimension` is the configured one, else learnt by embedding one short text. Errors:
    connection failures, timeouts, 408/425/429 and 5xx raise `EmbedderUnavailable`; other refusals
    and malformed replies raise `EmbedderError`. No message ever contains the API key.
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None,
        api_key: str | None,
        dimension: int | None = None,
        max_tokens: int = 8191,
        timeout_seconds: float = 30.0,
        batch_size: int = 128,
    ) -> None:
        if batch_size < 1 or max_tokens < 1:
            raise ValueError("batch_size and max_tokens must be at least 1")
        self._model = model
        self._base_url = base_url
        self._api_key = api_key
        self._dimension = dimension
        self._max_tokens = max_tokens
        self._timeout = timeout_seconds
        self._batch_size = batch_size
        self._host = (urlsplit(base_url).hostname if base_url else None) or "api.openai.com"
        self._lock = threading.Lock()
        self._sdk_client: openai.OpenAI | None = None

    @property
    def model_id(self) -> str:
        return f"openai:{self._model}"

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            self.embed([_DIMENSION_PROBE])  # records the dimension of the reply
        assert self._dimension is not None
        return self._dimension

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    def count_tokens(self, text: str) -> int:
        return estimate_tokens(text)

    def embed(self, texts: list[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        rows: list[list[float]] = []
        for start in range(0, len(texts), self._batch_size):
            rows.extend(self._embed_batch(texts[start : start + self._batch_size]))
        lengths = {len(row) for row in rows}
        if len(lengths) != 1 or 0 in lengths:
            raise EmbedderError(f"{self._where()} returned vectors of uneven or zero length")
        matrix = np.asarray(rows, dtype=np.float32)
        if self._dimension is None:
            self._dimension = int(matrix.shape[1])
        elif matrix.shape[1] != self._dimension:
            raise EmbedderError(
                f"{self._where()} returned {matrix.shape[1]} dimensions, expected {self._dimension}"
            )
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        if not np.all(norms > 0):
            raise EmbedderError(f"{self._where()} returned a zero vector")
        return np.ascontiguousarray(matrix / norms, dtype=np.float32)

    def close(self) -> None:
        """Release the HTTP connection pool (the embedder can still be used; it reconnects)."""
        with self._lock:
            client, self._sdk_client = self._sdk_client, None
        if client is not None:
            client.close()

    def _embed_batch(self, batch: list[str]) -> list[list[float]]:
        import openai

        try:
            # "float" rather than the SDK's default base64: not every compatible server supports base64.
            response = self._client().embeddings.create(
                model=self._model, input=batch, encoding_format="float"
            )
        except openai.APIStatusError as exc:
            self._raise_for_status(exc)
        except openai.APITimeoutError as exc:
            raise EmbedderUnavailable(f"{self._where()} did not answer within {self._timeout:g}s") from exc
        except openai.APIConnectionError as exc:
            raise EmbedderUnavailable(f"cannot connect to {self._where()}") from exc
        except openai.APIError:
            self._raise_malformed()
        try:
            # The SDK does not validate replies strictly, so a foreign server's JSON arrives unchecked.
            items = sorted(response.data, key=lambda item: int(item.index))
            indices = [int(item.index) for item in items]
            rows = [[float(x) for x in item.embedding] for item in items]
        except (AttributeError, TypeError, ValueError):
            self._raise_malformed()
        if indices != list(range(len(batch))):
            raise EmbedderError(f"{self._where()} returned {len(items)} vectors for {len(batch)} texts")
        return rows

    def _raise_malformed(self) -> NoReturn:
        raise EmbedderError(f"{self._where()} sent a reply that is not an embeddings response") from None

    def _raise_for_status(self, exc: openai.APIStatusError) -> NoReturn:
        # `from None`: the SDK's exception carries the server's body verbatim, which may echo secrets.
        status = exc.status_code
        detail = self._detail(exc.body)
        message = f"{self._where()} answered {status}{': ' + detail if detail else ''}"
        if status >= 500 or status in _TRANSIENT_STATUSES:
            raise EmbedderUnavailable(message) from None
        raise EmbedderError(message) from None

    def _detail(self, body: object) -> str:
        return server_detail(body, self._api_key)

    def _where(self) -> str:
        return f"embedding server {self._host} (model {self._model})"

    def _client(self) -> openai.OpenAI:
        with self._lock:
            if self._sdk_client is None:
                self._sdk_client = make_client(self._api_key, self._base_url, self._timeout)
            return self._sdk_client
