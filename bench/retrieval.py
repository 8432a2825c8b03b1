"""SciFact retrieval figures through the real pipeline and the real retriever, on a kept database.

    HF_HUB_OFFLINE=1 .venv/bin/python -m bench.retrieval --database sqlite:////tmp/retrieval/plain.db \
        --split train [--split test]

The corpus is ingested once (parse, chunk, embed, index, as an upload; a database that already holds
chunks is reused), so query-side settings can be compared without ingesting again: the search settings
come from the environment as in production (`DOCENT_SEARCH_FUSION=rrf`, `DOCENT_BM25_K1=…`). Each judged
query is ranked in each mode exactly as `docent eval` ranks it (`Retriever.rank` with `CHUNK_DEPTH`
chunks, documents by their best chunk), and the table `docent eval` prints is printed per split. On a
database holding only part of the corpus, only the queries all of whose relevant documents it holds count.

Round 2, whole corpus (5,183 documents, 13,719 chunks), SQLite, nDCG@10 train / test: `DOCENT_SEARCH_FUSION=
rrf` hybrid 0.7152 / 0.7141, vector 0.6663 / 0.6600, keyword 0.6951 / 0.6793; default (`convex`, 0.5) hybrid
0.7321 / 0.7272 (README, "Search tuning").

PostgreSQL (embedded, pgvector; `--database postgresql+psycopg://postgres:@/scifact?host=…`, a database made
with `bench._postgres.create_database`), whole corpus, 2026-12-03, default settings, train / test: hybrid
0.7317 / 0.7285, vector 0.6663 / 0.6600, keyword 0.6918 / 0.6772 (ingestion through the pipeline took about
35 minutes on the 2-core machine, most of it while other benchmarks ran).
Measured again 2026-12-04 after the bounded keyword statement and narrow chunk rows (migration 0013), on a
new embedded PostgreSQL (ingestion about 20 minutes, partly beside another): the same figures to four places.

int8 (`DOCENT_EMBEDDER_BACKEND=onnx-int8`), on a copy of the SQLite database moved with `docent index migrate
--embedder local:all-MiniLM-L6-v2 --backend onnx-int8` then `--switch` (the same chunks), train / test:
hybrid 0.7348 / 0.7250, vector 0.6645 / 0.6543, keyword 0.6951 / 0.6793.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bench.fusion import DATA, ensure_corpus
from docent.config import Settings
from docent.evaluation import _rank_documents, admin_principal, source_names, throwaway_container
from docent.search.beir import read_qrels, read_queries
from docent.search.metrics import evaluate
from docent.search.retrieve import SearchMode


def main() -> None:
    from docent.observability.logs import configure_logging

    configure_logging("WARNING")
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--database", required=True, help="kept between runs")
    parser.add_argument("--split", action="append", choices=("train", "test"), required=True)
    parser.add_argument("--mode", action="append", choices=[m.value for m in SearchMode])
    args = parser.parse_args()
    base = Settings(_env_file=None, env="development")  # type: ignore[call-arg]  # DOCENT_* as the server
    queries = read_queries(args.data)
    modes = [SearchMode(m) for m in args.mode] if args.mode else list(SearchMode)
    with throwaway_container(base, args.database) as container:
        ensure_corpus(container, args.data)
        owner, principal = source_names(container), admin_principal(container)
        ingested = set(owner.values())
        s = container.settings
        print(
            f"{container.database.engine.dialect.name}: {len(set(owner.values()))} documents, "
            f"{len(owner)} chunks; fusion {s.search_fusion} (convex vector weight {s.convex_vector_weight}, "
            f"rrf k {s.rrf_k} weights {s.rrf_vector_weight}/{s.rrf_keyword_weight}), "
            f"BM25 k1 {s.bm25_k1} b {s.bm25_b}, candidates {s.search_candidates}"
        )
        for split in args.split:
            qrels = read_qrels(args.data, split)
            # A database holding part of the corpus judges only the queries all of whose relevant documents
            # it holds (as `docent eval --limit` does): the others would measure the slice, not the ranking.
            judged = [q for q in qrels if q in queries and set(qrels[q]) <= ingested]
            for mode in modes:
                started = time.perf_counter()
                ranked = {q: _rank_documents(container, principal, queries[q], mode, owner) for q in judged}
                took = (time.perf_counter() - started) * 1000 / max(1, len(judged))
                m = evaluate(ranked, {q: qrels[q] for q in judged})
                print(
                    f"  {split:5s} ({len(judged)} queries) {mode.value:8s} nDCG@10 {m['ndcg@10']:.4f}  "
                    f"R@10 {m['recall@10']:.4f}  R@100 {m['recall@100']:.4f}  MRR@10 {m['mrr@10']:.4f}  "
                    f"{took:.1f} ms/query",
                    flush=True,
                )


if __name__ == "__main__":
    main()
