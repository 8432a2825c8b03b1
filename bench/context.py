"""Contextual chunk text, BM25 parameters and fusion, measured on chunks the pipeline made.

    HF_HUB_OFFLINE=1 .venv/bin/python -m bench.context --database sqlite:////tmp/scifact.db \
        [--vectors-cache /tmp/context-vectors.npz]

`--database` holds a SciFact corpus (or the first documents of it) ingested through the real pipeline with
`DOCENT_CHUNK_CONTEXT=false` (`python -m bench.fusion --database …` makes one). Its chunks are read with
their stored vectors; each is then given its contextual text exactly as ingestion would
(`docent.ingest.chunk.chunk_context`: the document title and section path, unless the chunk opens with
it), the chunks whose indexed text changes are embedded again with the real model, and both variants are
ranked here the way the embedded profile ranks: exact cosine, Lucene BM25 over `docent.search.terms`
terms, reciprocal rank fusion, documents by their best chunk. Chunk boundaries are the plain run's (with
context the chunker keeps a few tokens free for it, so real chunks end a little earlier).

The queries are SciFact's train and test claims all of whose relevant documents are in the database;
choices (BM25 k1 and b, fusion k and weights) are made on train only, then reported on test.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import create_engine, text

from docent.ingest.chunk import chunk_context
from docent.search.beir import read_qrels, read_queries
from docent.search.fusion import reciprocal_rank_fusion
from docent.search.metrics import evaluate
from docent.search.terms import analyze
from docent.types import indexed_text

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "scifact"
DEPTH = 300  # what `docent eval` ranks (CHUNK_DEPTH)


class Bm25:
    def __init__(self, texts: list[str]) -> None:
        self.terms = [Counter(analyze(t)) for t in texts]
        self.lengths = np.array([sum(c.values()) for c in self.terms], dtype=np.float64)
        self.postings: dict[str, list[tuple[int, int]]] = {}
        for row, counts in enumerate(self.terms):
            for term, tf in counts.items():
                self.postings.setdefault(term, []).append((row, tf))

    def rank(self, query: str, k1: float, b: float, depth: int) -> list[int]:
        n, mean = len(self.terms), float(self.lengths.mean())
        scores = np.zeros(n)
        for term in dict.fromkeys(analyze(query)):
            posting = self.postings.get(term)
            if not posting:
                continue
            idf = math.log(1 + (n - len(posting) + 0.5) / (len(posting) + 0.5))
            rows = np.array([r for r, _ in posting])
            tf = np.array([f for _, f in posting], dtype=np.float64)
            norm = k1 * (1 - b + b * self.lengths[rows] / mean)
            scores[rows] += idf * tf * (k1 + 1) / (tf + norm)
        hits = np.flatnonzero(scores > 0)
        return [int(i) for i in hits[np.argsort(-scores[hits], kind="stable")][:depth]]


def load(url: str) -> list[dict[str, Any]]:
    engine = create_engine(url)
    sql = (
        "SELECT c.id, v.filename, d.title, c.section_path, c.text, c.embedding FROM chunks c "
        "JOIN document_versions v ON v.id = c.version_id JOIN documents d ON d.id = c.document_id "
        "ORDER BY c.id"
    )
    with engine.connect() as connection:
        rows = connection.execute(text(sql)).all()
    chunks = []
    for row in rows:
        path = row.section_path if isinstance(row.section_path, list) else json.loads(row.section_path)
        vector = np.frombuffer(row.embedding, dtype=np.float32) if isinstance(row.embedding, bytes) else None
        if vector is None:
            vector = np.asarray(row.embedding, dtype=np.float32)
        context = chunk_context(row.title, tuple(path))
        chunks.append(
            {
                "doc": row.filename.removesuffix(".md"),
                "text": row.text,
                "context": "" if row.text.startswith(context) else context,
                "vector": vector / np.linalg.norm(vector),
            }
        )
    return chunks


def contextual_vectors(chunks: list[dict[str, Any]], cache: Path | None) -> np.ndarray:
    plain = np.stack([c["vector"] for c in chunks])
    todo = [i for i, c in enumerate(chunks) if c["context"]]
    if cache and cache.is_file():
        stored = np.load(cache)
        made = stored["vectors"] if list(stored["rows"]) == todo else None
    else:
        made = None
    if made is None:
        from docent.llm.local_embedder import LocalEmbedder

        embedder = LocalEmbedder("all-MiniLM-L6-v2", batch_size=32)
        print(f"embedding {len(todo)} contextual chunks…", flush=True)
        made = np.asarray(
            embedder.embed([indexed_text(chunks[i]["context"], chunks[i]["text"]) for i in todo]),
            dtype=np.float32,
        )
        if cache:
            np.savez(cache, rows=np.array(todo), vectors=made)
    out = plain.copy()
    out[todo] = made / np.linalg.norm(made, axis=1, keepdims=True)
    return out


def documents(rows: list[int], owner: list[str]) -> list[str]:
    return list(dict.fromkeys(owner[r] for r in rows))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", required=True)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--vectors-cache", type=Path, default=None)
    args = parser.parse_args()
    chunks = load(args.database)
    owner = [c["doc"] for c in chunks]
    in_slice = set(owner)
    queries = read_queries(args.data)
    from docent.llm.local_embedder import LocalEmbedder

    embedder = LocalEmbedder("all-MiniLM-L6-v2", batch_size=32)
    splits = {}
    for split in ("train", "test"):
        qrels = read_qrels(args.data, split)
        splits[split] = {q: r for q, r in qrels.items() if q in queries and set(r) <= in_slice}
    judged = [q for s in splits.values() for q in s]
    query_vectors = dict(zip(judged, embedder.embed([queries[q] for q in judged]), strict=True))
    print(
        f"{len(in_slice)} documents, {len(chunks)} chunks ({sum(1 for c in chunks if c['context'])} given a "
        f"context); train {len(splits['train'])} queries, test {len(splits['test'])}",
        flush=True,
    )
    variants = {
        "plain": (np.stack([c["vector"] for c in chunks]), Bm25([c["text"] for c in chunks])),
        "contextual": (
            contextual_vectors(chunks, args.vectors_cache),
            Bm25([indexed_text(c["context"], c["text"]) for c in chunks]),
        ),
    }
    for name, (matrix, bm25) in variants.items():
        report(name, matrix, bm25, splits, queries, query_vectors, owner)


def report(
    name: str,
    matrix: np.ndarray,
    bm25: Bm25,
    splits: dict[str, dict[str, dict[str, int]]],
    queries: dict[str, str],
    query_vectors: dict[str, Any],
    owner: list[str],
) -> None:
    def vector_rows(q: str) -> list[int]:
        scores = matrix @ np.asarray(query_vectors[q], dtype=np.float32)
        return [int(i) for i in np.argsort(-scores, kind="stable")[:DEPTH]]

    lists = {q: vector_rows(q) for s in splits.values() for q in s}

    def figures(split: str, k1: float, b: float, rrf_k: float, wv: float) -> dict[str, float]:
        out = {}
        keyword = {q: bm25.rank(queries[q], k1, b, DEPTH) for q in splits[split]}
        rankings = {
            "vector": {q: documents(lists[q], owner) for q in splits[split]},
            "keyword": {q: documents(keyword[q], owner) for q in splits[split]},
            "hybrid": {
                q: documents(
                    [r for r, _ in reciprocal_rank_fusion([lists[q], keyword[q]], [wv, 1.0], k=rrf_k)], owner
                )
                for q in splits[split]
            },
        }
        for mode, ranked in rankings.items():
            out[mode] = evaluate(ranked, splits[split])["ndcg@10"]
        return out

    default = (0.9, 0.4, 60.0, 1.0)
    for split in ("train", "test"):
        f = figures(split, *default)
        print(
            f"{name:10s} {split:5s} default    " + "  ".join(f"{m} {v:.4f}" for m, v in f.items()), flush=True
        )
    grid = list(itertools.product((0.6, 0.9, 1.2, 1.5), (0.3, 0.4, 0.6, 0.75), (20.0, 60.0), (1.0, 1.5)))
    train = {params: figures("train", *params)["hybrid"] for params in grid}
    best = max(train, key=lambda p: train[p])
    keyword_train = {(k1, b): figures("train", k1, b, 60.0, 1.0)["keyword"] for k1, b, _, _ in grid}
    best_kw = max(keyword_train, key=lambda p: keyword_train[p])
    print(
        f"{name:10s} best hybrid on train: k1 {best[0]} b {best[1]} rrf k {best[2]} vector weight {best[3]}"
    )
    print(f"{name:10s} best keyword on train: k1 {best_kw[0]} b {best_kw[1]}")
    for split in ("train", "test"):
        f = figures(split, *best)
        kw = figures(split, best_kw[0], best_kw[1], 60.0, 1.0)["keyword"]
        print(
            f"{name:10s} {split:5s} tuned      hybrid {f['hybrid']:.4f}  keyword (its own best) {kw:.4f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
