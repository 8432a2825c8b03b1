"""The embedder's backends side by side, in one run: torch as sentence-transformers runs it, Docent's torch
embedder, ONNX Runtime float32 and ONNX Runtime int8.

    HF_HUB_OFFLINE=1 .venv/bin/python -m bench.embedder [--texts 1000] [--queries 300] [--rounds 3]
        [--quality] [--quality-docs 5183]

Texts are SciFact abstracts (title + text, as chunks of up to 256 tokens), queries SciFact's test claims.
Rounds interleave the backends (a round runs each once, in turn), so a noisy machine slows all alike; the
figures are medians over rounds. Query latency: `embed_query` of each claim, the backends taking turns
claim by claim. `--quality` embeds the corpus with each backend and reports vector-only nDCG@10 on the
SciFact train and test splits (exact search), the agreement that decides whether int8 may be offered.

Measured 2026-12-03 with `--texts 300 --queries 200 --rounds 3`, twice, nothing else running (load 1-2;
the machine's speed still drifts between runs: raw torch's query took 17.8 ms in the first, 28.9 ms in the
second):

    ingestion throughput (x raw torch):  run 1: torch (docent) 1.09x, onnx float32 1.36x, onnx int8 2.61x
                                         run 2: torch (docent) 1.17x, onnx float32 1.27x, onnx int8 2.45x
    one query's vector, p50:             run 1 (query on 1 thread): raw torch 17.8 ms, onnx float32 7.2 ms,
                                         onnx int8 3.3 ms
                                         run 2 (2 threads, the default since): raw torch 28.9 ms, torch
                                         (docent) 21.9 ms, onnx float32 7.7 ms, onnx int8 4.3 ms

2026-12-02, at load 6-11: onnx float32 1.21x; query 23.2 against 63.1 ms for raw torch.

2026-12-03 (a new machine, quiet, load 0.5 at the start), `--texts 300 --queries 200 --rounds 3`, int8 still
per-tensor: ingestion torch (docent) 1.15x, onnx float32 1.33x, onnx int8 1.83x; one query p50 raw torch
22.75 ms, torch (docent) 21.54 ms, onnx float32 7.52 ms, onnx int8 4.64 ms. This machine is about twice as
slow as round 1's (raw torch's query: 22.75 ms here against 10.4 ms there); float32 is 3.0x faster than raw
torch per query, which on round 1's machine would be about 3.4 ms.

int8 quality, vector-only nDCG@10 on the whole SciFact corpus (5,183 abstracts, exact search), each
variant on both splits (no setting was tuned on either): float32 train 0.6602 / test 0.6451; int8 with one
scale per output channel and 7-bit weights (the product's since) 0.6588 / 0.6508; per-tensor scales
(before) test 0.6372, per-channel 8-bit test 0.6492 (`quality()` run on each variant's file;
query p50 in that run: float32 8.29 ms, per-channel 7-bit 4.77 ms, per-tensor 4.92 ms).

2026-12-04, another machine (AMD EPYC with AVX-512 and VNNI), quiet, `--texts 300 --queries 200 --rounds 3`:
ingestion torch (docent) 1.23x, onnx float32 2.50x, onnx int8 4.62x raw torch; one query p50 / p95 raw torch
12.99 / 19.42 ms, torch (docent) 12.20 / 17.61, onnx float32 4.20 / 6.10, onnx int8 2.65 / 3.92.
The same machine kind that evening, slower and busy (a new machine each session), same command: ingestion
torch (docent) 1.07x, onnx float32 1.40x, onnx int8 2.89x raw torch (15.2 texts/s); one query p50 / p95
raw torch 18.97 / 24.57 ms, torch (docent) 18.03 / 24.11, onnx float32 5.57 / 8.20, onnx int8 3.83 / 5.24.
2026-12-04, later still (a new machine again, quiet), same command: ingestion torch (docent) 1.04x, onnx
float32 2.10x, onnx int8 3.97x raw torch (21.2 texts/s); one query p50 / p95 raw torch 11.36 / 16.31 ms,
torch (docent) 10.56 / 15.11, onnx float32 3.73 / 5.40, onnx int8 2.46 / 3.43.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from docent.llm.local_embedder import LocalEmbedder, resolve_model
from docent.llm.onnx_embedder import OnnxEmbedder
from docent.search.beir import read_corpus, read_qrels, read_queries
from docent.search.metrics import ndcg_at

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "scifact"


def backends(cache: Path) -> dict[str, Any]:
    from sentence_transformers import SentenceTransformer

    directory, _ = resolve_model("all-MiniLM-L6-v2")
    raw = SentenceTransformer(str(directory), device="cpu", local_files_only=True)
    return {
        "torch raw (ST.encode)": _RawTorch(raw),
        "torch (docent)": LocalEmbedder(),
        "onnx float32": OnnxEmbedder(cache_dir=cache),
        "onnx int8": OnnxEmbedder(cache_dir=cache, int8=True),
    }


class _RawTorch:
    """`SentenceTransformer.encode` as a user of the library would call it: the reference."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def embed(self, texts: list[str]) -> np.ndarray[Any, Any]:
        return np.asarray(self.model.encode(texts, batch_size=64, normalize_embeddings=True))

    def embed_query(self, text: str) -> np.ndarray[Any, Any]:
        return self.embed([text])[0]


def timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def throughput(models: dict[str, Any], texts: list[str], rounds: int) -> dict[str, float]:
    seconds: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(rounds):
        for name, model in models.items():
            seconds[name].append(timed(lambda model=model: model.embed(texts)))
    return {name: len(texts) / statistics.median(values) for name, values in seconds.items()}


def query_latency(models: dict[str, Any], queries: list[str]) -> dict[str, tuple[float, float]]:
    samples: dict[str, list[float]] = {name: [] for name in models}
    for query in queries:
        for name, model in models.items():
            samples[name].append(timed(lambda model=model, query=query: model.embed_query(query)) * 1000)
    return {name: (statistics.median(v), float(np.percentile(v, 95))) for name, v in samples.items()}


def quality(models: dict[str, Any], limit: int | None) -> dict[str, dict[str, float]]:
    """Vector-only nDCG@10 per backend on SciFact train and test (the corpus embedded once per backend)."""
    documents = list(read_corpus(DATA, limit))
    ids = [d.id for d in documents]
    bodies = [f"{d.title} {d.text}".strip() for d in documents]
    queries = read_queries(DATA)
    figures: dict[str, dict[str, float]] = {}
    for name, model in models.items():
        matrix = model.embed(bodies)
        figures[name] = {}
        for split in ("train", "test"):
            qrels = {q: rel for q, rel in read_qrels(DATA, split).items() if set(rel) & set(ids)}
            scores = []
            for query_id, relevant in qrels.items():
                ranked = np.argsort(-(matrix @ model.embed_query(queries[query_id])))[:10]
                scores.append(ndcg_at([ids[i] for i in ranked], relevant, 10))
            figures[name][split] = float(np.mean(scores))
    return figures


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--texts", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quality", action="store_true")
    parser.add_argument("--quality-docs", type=int, default=None)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as cache:
        models = backends(Path(cache))
        for model in models.values():  # load and export outside the timings
            model.embed(["warm up"])
            model.embed_query("warm up")
        texts = [f"{d.title} {d.text}".strip() for d in read_corpus(DATA, args.texts)]
        test_queries = set(read_qrels(DATA, "test"))
        queries = [text for qid, text in read_queries(DATA).items() if qid in test_queries][: args.queries]

        rates = throughput(models, texts, args.rounds)
        reference = rates["torch raw (ST.encode)"]
        print(f"ingestion throughput, {len(texts)} SciFact abstracts, median of {args.rounds} rounds:")
        for name, rate in rates.items():
            print(f"  {name:24s} {rate:8.1f} texts/s   {rate / reference:5.2f}x raw torch")
        print(f"one query's vector, {len(queries)} SciFact test claims (backends take turns):")
        for name, (p50, p95) in query_latency(models, queries).items():
            print(f"  {name:24s} p50 {p50:6.2f} ms   p95 {p95:6.2f} ms")
        if args.quality:
            print("vector-only nDCG@10, SciFact train / test, exact search:")
            for name, score in quality(models, args.quality_docs).items():
                print(f"  {name:24s} {score['train']:.4f} / {score['test']:.4f}")


if __name__ == "__main__":
    main()
