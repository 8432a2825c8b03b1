"""Ports for models. Adapters import their heavy libraries inside themselves, never at module import."""

from __future__ import annotations

from typing import Protocol

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]


class Embedder(Protocol):
    """Turns texts into unit-length vectors.

    `model_id` names the model and is recorded with the index, so vectors of two models never mix.
    `max_tokens` is the longest input (in the model's own tokens, special tokens excluded) the model reads
    whole; `count_tokens` counts with the same tokenizer. `embed` returns one row per text, L2-normalised,
    float32, in input order; an empty list gives an array of shape (0, dimension).
    """

    @property
    def model_id(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    @property
    def max_tokens(self) -> int: ...

    def count_tokens(self, text: str) -> int: ...

    def embed(self, texts: list[str]) -> Vectors: ...
