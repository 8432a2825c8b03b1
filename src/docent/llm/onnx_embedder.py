"""The default embedder: a local sentence-transformers model run by ONNX Runtime.

The graph is exported once from the model's own local weights (`docent.llm.onnx_export`) and cached;
tokenising is the model's fast tokenizer (`tokenizers`, in Rust). Per call this skips what dominates
a short text in torch: Python dispatch per layer and sentence-transformers' feature plumbing.
The float32 graph gives the torch model's vectors (within 1e-5), so it keeps the model id and an
index built by either backend serves both; `int8` (dynamic quantisation) changes the vectors a little
and is a model of its own (`#int8-channel` in the id), so switching to it asks for a rebuild.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np

from docent.llm.errors import EmbedderError
from docent.llm.local_embedder import DEFAULT_MODEL, resolve_model
from docent.llm.onnx_export import INT8_VARIANT, exported_model
from docent.llm.ports import Vectors


class OnnxEmbedder:
    """`Embedder` on ONNX Runtime (CPU). Safe to share between threads: encoding tokenizers are never
    reconfigured after loading and an ONNX Runtime session runs concurrent calls."""

    def __init__(
        self,
        model_name: str = DEFAULT_MODEL,
        *,
        cache_dir: Path,
        int8: bool = False,
        batch_size: int = 64,
        threads: int | None = None,
        query_threads: int = 2,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self._directory, short_name = resolve_model(model_name)
        self._name = short_name
        self._model_id = f"local:{short_name}" + (f"#{INT8_VARIANT}" if int8 else "")
        self._cache_dir = cache_dir
        self._int8 = int8
        self._batch_size = batch_size
        self._threads = threads or 0  # 0: ONNX Runtime's own default (the physical cores)
        self._query_threads = query_threads
        self._config = _sentence_config(self._directory)
        self._lock = threading.RLock()  # re-entrant: a session loads the model file under it
        self._loaded: dict[str, Any] = {}

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dimension(self) -> int:
        return int(self._config["dimension"])

    @property
    def max_tokens(self) -> int:
        special = len(self._counter().encode("", add_special_tokens=True).ids)
        return int(self._config["max_seq_length"]) - special

    def count_tokens(self, text: str) -> int:
        return len(self._counter().encode(text, add_special_tokens=False).ids)

    def count_tokens_batch(self, texts: list[str]) -> list[int]:
        encodings = self._counter().encode_batch_fast(texts, add_special_tokens=False)
        return [len(encoding.ids) for encoding in encodings]

    def load(self) -> None:
        """Export the model if no export is cached, and open both sessions: what the first call would do."""
        self._session("batch", self._threads)
        self._session("query", self._query_threads)
        self._encoder()

    def embed(self, texts: list[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        # Longest first, so each batch pads to lengths alike; rows go back to the input order after.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        rows = np.empty((len(texts), self.dimension), dtype=np.float32)
        session = self._session("batch", self._threads)
        for start in range(0, len(order), self._batch_size):
            picked = order[start : start + self._batch_size]
            rows[picked] = self._run(session, [texts[i] for i in picked])
        return rows

    def embed_query(self, text: str) -> Vectors:
        """One query's vector, on a session of its own with `query_threads` threads (2 by default: a claim
        of about 20 tokens took 4.1 ms p50 on two threads against 6.9 ms on one)."""
        session = self._session("query", self._query_threads)
        return np.ascontiguousarray(self._run(session, [text])[0], dtype=np.float32)

    def _run(self, session: Any, texts: list[str]) -> Vectors:
        encodings = self._encoder().encode_batch_fast(texts)
        feed = {
            "input_ids": np.asarray([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.asarray([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.asarray([e.type_ids for e in encodings], dtype=np.int64),
        }
        return np.asarray(session.run(None, feed)[0], dtype=np.float32)

    def _session(self, name: str, threads: int) -> Any:
        return self._load(name, lambda: _session(self._model_file(), threads, spin=name != "query"))

    def _model_file(self) -> Path:
        return self._load(  # type: ignore[no-any-return]
            "file", lambda: exported_model(self._directory, self._cache_dir, name=self._name, int8=self._int8)
        )

    def _encoder(self) -> Any:
        """The tokenizer as the model reads: truncated to its window, padded to the batch's longest."""

        def load() -> Any:
            tokenizer = self._tokenizer_file()
            tokenizer.enable_truncation(max_length=int(self._config["max_seq_length"]))
            tokenizer.enable_padding(pad_id=self._config["pad_id"], pad_token=self._config["pad_token"])
            return tokenizer

        return self._load("encoder", load)

    def _counter(self) -> Any:
        """The tokenizer with padding and truncation off, for exact counts (the shipped file caps at 128)."""

        def load() -> Any:
            tokenizer = self._tokenizer_file()
            tokenizer.no_padding()
            tokenizer.no_truncation()
            return tokenizer

        return self._load("counter", load)

    def _tokenizer_file(self) -> Any:
        from tokenizers import Tokenizer

        path = self._directory / "tokenizer.json"
        if not path.is_file():
            raise EmbedderError(f"{self._directory} has no tokenizer.json; use DOCENT_EMBEDDER_BACKEND=torch")
        return Tokenizer.from_file(str(path))

    def _load(self, name: str, make: Any) -> Any:
        value = self._loaded.get(name)
        if value is None:
            with self._lock:
                value = self._loaded.get(name)
                if value is None:
                    value = self._loaded[name] = make()
        return value


def _session(path: Path, threads: int, *, spin: bool = True) -> Any:
    """A session; with `spin` False its threads sleep as soon as a run ends. The query session must not
    spin: its threads would keep the cores busy while the same request goes on to the vector search (at
    100k chunks on a busy 2-core machine, `POST /search` p50 was 50-58 ms without spinning, 83-102 with)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: its notes on unused initialisers are not ours
    if not spin:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _sentence_config(directory: Path) -> dict[str, Any]:
    """The window, the output width and the padding token, from the model's own files."""
    try:
        sentence = json.loads((directory / "sentence_bert_config.json").read_text())
        model = json.loads((directory / "config.json").read_text())
        special = json.loads((directory / "tokenizer_config.json").read_text())
    except (OSError, ValueError) as exc:
        raise EmbedderError(f"cannot read the model's configuration in {directory}: {exc}") from exc
    pad_token = str(special.get("pad_token") or "[PAD]")
    return {
        "max_seq_length": int(sentence.get("max_seq_length") or model.get("max_position_embeddings", 512)),
        "dimension": int(model["hidden_size"]),
        "pad_id": int(model.get("pad_token_id") or 0),
        "pad_token": pad_token,
    }
