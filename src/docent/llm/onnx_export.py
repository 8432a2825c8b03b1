"""A sentence-transformers model exported to ONNX once, from its local weights, and kept in a cache folder.

The graph holds the transformer, mean pooling over the attention mask and L2 normalisation, so ONNX
Runtime returns the same unit vectors as `SentenceTransformer.encode(normalize_embeddings=True)`. The
export needs torch and transformers (installed with Docent) and never a network; it takes seconds and
happens once per model, weights and variant: the file name carries a digest of the weights and the
exporter's version, so new weights or a new torch export again instead of reusing a stale graph.
The float32 graph is then fused by ONNX Runtime's transformer optimiser (attention, embedding and skip
layer norms, bias and GELU each become one kernel): 1.5-1.8x the throughput of the plain graph on long
texts, with the same vectors to within 1e-6. Attention is exported in its eager form, the pattern the
optimiser recognises (PyTorch's fused attention exports as ops it cannot fuse).
Processes that start together (a server and its workers) take a file lock, so one exports and the others
wait and reuse the result. `int8` adds dynamic int8 quantisation of the weights (onnxruntime's), one scale
per output channel and 7-bit weights: per-tensor scales lost 0.008 of SciFact test nDCG@10 (vector only),
per-channel ones 0.0014 on train and none on test (`python -m bench.embedder --quality`), and 7 bits keep
AVX2's 8-bit multiply-add (no VNNI) from saturating.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib
import json
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from docent.llm.errors import EmbedderError

OPSET = 17
_EXPORTER = "eager-fused-1"  # in the cache key: a change to how the graph is made exports again
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
INT8_VARIANT = "int8-channel"  # in the model id and the file name: per-tensor int8 vectors were another model


def mean_pooled(directory: Path) -> bool:
    """True when the model's own pipeline is transformer, mean pooling and normalisation: the graph this
    module exports. Any other pooling must run on the torch backend."""
    try:
        modules = json.loads((directory / "modules.json").read_text())
        kinds = [str(module["type"]).rsplit(".", 1)[-1] for module in modules]
        pooling_dir = next(m["path"] for m in modules if str(m["type"]).endswith("Pooling"))
        pooling = json.loads((directory / pooling_dir / "config.json").read_text())
    except (OSError, ValueError, KeyError, StopIteration):
        return False
    modes = {key for key, on in pooling.items() if key.startswith("pooling_mode_") and on}
    return kinds[:2] == ["Transformer", "Pooling"] and modes == {"pooling_mode_mean_tokens"}


def exported_model(directory: Path, cache_dir: Path, *, name: str, int8: bool) -> Path:
    """The ONNX file of the model in `directory` (int8-quantised if asked), exported now if not cached;
    `name` (the model's short name) starts the file's name."""
    if not mean_pooled(directory):
        raise EmbedderError(
            f"the model in {directory} does not use mean pooling; run it with DOCENT_EMBEDDER_BACKEND=torch"
        )
    cache_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{name}-{_digest(directory)}"
    unfused = cache_dir / f"{stem}-unfused.onnx"  # what int8 is quantised from: it cannot read fused ops
    target = cache_dir / (f"{stem}-{INT8_VARIANT}.onnx" if int8 else f"{stem}.onnx")
    if target.is_file():
        return target
    with _locked(cache_dir / f"{stem}.lock"):
        if not unfused.is_file():
            _atomically(unfused, lambda path: _export(directory, path))
        if not target.is_file():
            make = _quantize if int8 else _fuse_for(directory)
            _atomically(target, lambda path: make(unfused, path))
    return target


def _digest(directory: Path) -> str:
    """What the exported graph depends on: the weights, the model's configuration and the exporter."""
    import torch

    digest = hashlib.sha256(f"{torch.__version__}/{OPSET}/{_EXPORTER}".encode())
    for name in ("config.json", *_WEIGHT_FILES):
        path = directory / name
        if path.is_file():
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()[:16]


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _atomically(target: Path, write: Any) -> None:
    """`write(path)` into a temporary name, then renamed: a reader never sees half a file."""
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    try:
        write(partial)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)


def _export(directory: Path, target: Path) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on the model's Python control flow
        import torch
        from transformers import AutoModel

        hf_logging: Any = importlib.import_module("transformers.utils.logging")  # untyped

        hf_logging.disable_progress_bar()  # a "Loading weights" bar in a server's log is noise
        try:
            model = AutoModel.from_pretrained(
                str(directory), local_files_only=True, attn_implementation="eager"
            )
        except (OSError, ValueError) as exc:
            raise EmbedderError(f"cannot load the embedding model from {directory}: {exc}") from exc
        finally:
            hf_logging.enable_progress_bar()
        model.eval()
        sample = torch.ones((2, 8), dtype=torch.long)
        axes = {name: {0: "batch", 1: "tokens"} for name in _INPUTS} | {"embedding": {0: "batch"}}
        torch.onnx.export(
            _Pooled(model),
            (sample, sample, torch.zeros_like(sample)),
            str(target),
            input_names=list(_INPUTS),
            output_names=["embedding"],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,  # the TorchScript exporter: the dynamo one needs onnxscript and is slower here
        )


def _fuse_for(directory: Path) -> Any:
    """A function writing the fused graph of an export of the model in `directory` (BERT-like encoders)."""

    def fuse(source: Path, target: Path) -> None:
        from onnxruntime.transformers import optimizer

        config = json.loads((directory / "config.json").read_text())
        fused = optimizer.optimize_model(
            str(source),
            model_type="bert",
            num_heads=int(config["num_attention_heads"]),
            hidden_size=int(config["hidden_size"]),
            opt_level=1,  # the fusions only; the session applies its own optimisations at load
        )
        fused.save_model_to_file(str(target))

    return fuse


def _quantize(source: Path, target: Path) -> None:
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # it advises "pre-processing" on the root logger, for image models
    try:
        quantize_dynamic(
            str(source), str(target), weight_type=QuantType.QInt8, per_channel=True, reduce_range=True
        )
    finally:
        root.setLevel(level)


def _pooled_forward(model: Any, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
    import torch

    hidden = model(
        input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
    ).last_hidden_state
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled, p=2.0, dim=1)


def _Pooled(model: Any) -> Any:  # noqa: N802 - builds a torch module, imported lazily
    import torch

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return _pooled_forward(self.model, input_ids, attention_mask, token_type_ids)

    return Pooled()
