"""A `ChatModel` that runs a local GGUF model inside this process with llama.cpp (the `xllamacpp` wheel), so
a site with its own instruction-tuned model answers fully offline.

xllamacpp runs llama.cpp's own server on threads of this process, and that server always listens on HTTP.
This adapter binds it to 127.0.0.1 on a free port, locks it with a random key made for this process (other
local users cannot borrow the model), and talks to it through `OpenAIChatModel`. One tested path thus
handles streaming, timeouts and errors, and llama.cpp supplies the rest itself: each piece is sent as soon
as it is sampled, usage comes from its tokenizer (never estimated), and it stops generating as soon as the
reader closes the connection (closing the stream's generator does that).

The model is loaded on first use, once, whichever thread gets there first; the others wait for it. The load
holds the GIL (xllamacpp's constructor does not release it), so the whole process pauses for those seconds.
A file that llama.cpp cannot load raises `ChatModelUnavailable` (the chain falls through, and a later call
tries again); llama.cpp's own reasons go to stderr.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import Any

from docent.llm.chat import ChatCompletion, ChatDelta, ChatMessage, ChatModelUnavailable
from docent.llm.openai_chat import OpenAIChatModel
from docent.llm.openai_embedder import estimate_tokens

PROVIDER = "llamacpp"
_GGUF_MAGIC = b"GGUF"
_ERRORS_ONLY = 1  # llama.cpp's log verbosity: 0 is silent, 1 errors, 3 (its default) every step of a load


class LlamaCppChatModel:
    """`ChatModel` for the GGUF file at `path`, named after the file's stem.

    `context_tokens` is llama.cpp's window for prompt and reply together (a longer prompt is refused with
    `ChatModelError`); `threads` None lets llama.cpp choose (its math cores); `gpu_layers` only matters with a
    GPU build of xllamacpp (-1: all). One reply is generated at a time; other callers queue inside llama.cpp,
    and `timeout_seconds` bounds the wait for the first piece and every pause after it, as for a remote
    server. `count_tokens` is the remote adapters' over-estimate: asking llama.cpp would load the model.
    """

    def __init__(
        self,
        path: Path,
        *,
        context_tokens: int = 4096,
        threads: int | None = None,
        gpu_layers: int = 0,
        timeout_seconds: float = 30.0,
    ) -> None:
        self._path = path
        self._model = path.stem
        self._context_tokens = context_tokens
        self._threads = threads
        self._gpu_layers = gpu_layers
        self._timeout = timeout_seconds
        self._key = secrets.token_urlsafe(32)
        self._lock = threading.Lock()
        self._server: Any = None  # xllamacpp.Server: the loaded model and its HTTP listener
        self._client: OpenAIChatModel | None = None

    @property
    def provider(self) -> str:
        return PROVIDER

    @property
    def model(self) -> str:
        return self._model

    def count_tokens(self, text: str) -> int:
        return estimate_tokens(text)

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
    ) -> Generator[ChatDelta, None, None]:
        # A generator: loading waits for the first next(), as the protocol promises.
        chat = self._chat()
        yield from chat.stream(messages, max_tokens=max_tokens, temperature=temperature, stop=stop)

    def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
    ) -> ChatCompletion:
        return self._chat().complete(messages, max_tokens=max_tokens, temperature=temperature, stop=stop)

    def close(self) -> None:
        """Unload the model and stop its listener; replies in progress fail with `ChatModelUnavailable`.
        A later call loads the model again."""
        with self._lock:
            client, server = self._client, self._server
            self._client = self._server = None
        if client is not None:
            client.close()
        # Dropping the last reference runs llama.cpp's destructor: it ends the generation loop, closes the
        # listener and frees the model before returning.
        del server

    def _chat(self) -> OpenAIChatModel:
        with self._lock:
            if self._client is None:
                self._server = self._load()
                self._client = OpenAIChatModel(
                    self._model,
                    base_url=f"{self._server.listening_address}/v1",
                    api_key=self._key,
                    timeout_seconds=self._timeout,
                    provider=PROVIDER,
                )
            return self._client

    def _load(self) -> Any:
        import xllamacpp

        params = xllamacpp.CommonParams()
        params.model.path = str(self._path)
        params.model_alias = {self._model}  # replies name the model, not its path
        params.n_ctx = self._context_tokens
        params.n_parallel = 1  # the whole window for one reply (parallel slots would share it)
        params.n_gpu_layers = self._gpu_layers
        if self._threads is not None:
            params.cpuparams.n_threads = self._threads
            params.cpuparams_batch.n_threads = self._threads
        params.hostnames = ["127.0.0.1"]
        params.port = 0  # any free port
        params.api_keys = [self._key]
        params.ui = False
        params.verbosity = _ERRORS_ONLY
        # Both would run under the GIL while loading: fitting the window and layers to free memory loads
        # the model twice (both are set here), and warming up decodes once (the first reply does it anyway).
        params.fit_params = False
        params.warmup = False
        # llama.cpp would keep up to 8 GiB of old prompts in RAM; Docent's prompts share little but the
        # instructions, which the slot's own cache keeps.
        params.cache_ram_mib = 0
        params.enable_reasoning = 0  # a grounded two-to-four-sentence answer gains nothing from thinking
        # Its counters (tokens predicted, requests in progress), behind the key like every other route.
        params.endpoint_metrics = True
        try:
            return xllamacpp.Server(params)
        except Exception:  # xllamacpp says only RuntimeError("Failed to init server…"), whatever went wrong
            raise ChatModelUnavailable(f"llama.cpp could not load {self._path}: {self._why()}") from None

    def _why(self) -> str:
        try:
            with self._path.open("rb") as file:
                magic = file.read(len(_GGUF_MAGIC))
        except OSError as exc:
            return exc.strerror or type(exc).__name__
        if magic != _GGUF_MAGIC:
            return "not a GGUF file"
        return (
            "see llama.cpp's errors on stderr (a damaged file, an unknown architecture, too little memory?)"
        )
