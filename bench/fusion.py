"""Tune hybrid search's reciprocal rank fusion on SciFact's *train* queries, then report it on the test ones.

    HF_HUB_OFFLINE=1 .venv/bin/python -m bench.fusion [--database sqlite:////tmp/scifact.db]

The corpus goes through the real pipeline (parse, chunk, embed, index) into `--database`, once: a database
that already holds the chunks is reused, so tuning again costs only the queries. Each query's vector and
keyword rankings are read once; then every (k, vector weight) of the grid is fused in Python exactly as
`Retriever.rank` fuses at the production depth (`DOCENT_SEARCH_CANDIDATES`), and scored by nDCG@10 on
train. The test split then gets the table `docent eval` prints, for each mode, with the default fusion
and with the one chosen on train (test never chooses anything). Hybrid search now fuses by a convex
combination by default (`DOCENT_SEARCH_FUSION`, chosen with `bench/tuning.py`); this module tunes `rrf`.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

from docent.auth.policy import reader_scope
from docent.config import Settings
from docent.container import Container
from docent.evaluation import (
    CHUNK_DEPTH,
    admin_principal,
    ingest_texts,
    source_names,
    throwaway_container,
)
from docent.search.beir import read_corpus, read_qrels, read_queries
from docent.search.fusion import reciprocal_rank_fusion
from docent.search.metrics import evaluate
from docent.search.retrieve import SearchMode

ROOT = Path(__file__).resolve().parents[1]

DATA = ROOT.parent / "shared" / "data" / "scifact"
KS = (5, 10, 20, 40, 60, 100)
WEIGHTS = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0)

Rankings = dict[str, tuple[list[int], list[int]]]  # query id -> (chunk ids by vector, by keyword)


def ensure_corpus(container: Container, folder: Path) -> None:
    with container.database.unit_of_work(write=False) as uow:
        if uow.chunks.count():
            return
    corpus = list(read_corpus(folder, None))
    print(f"ingesting {len(corpus)} documents through the pipeline…", flush=True)
    chunks = ingest_texts(container, ((f"{doc.id}.md", doc.as_markdown()) for doc in corpus))
    print(f"{chunks} chunks", flush=True)


def rankings(container: Container, queries: dict[str, str], judged: list[str]) -> Rankings:
    """Each query's chunk rankings by vector and by keyword, as deep as `docent eval` reads them."""
    scope = reader_scope(admin_principal(container), [])
    out: Rankings = {}
    for query_id in judged:
        with container.database.unit_of_work(write=False) as uow:
            by = [
                [
                    s.chunk_id
                    for s in container.retriever.rank(
                        uow, scope, queries[query_id], mode=m, top_k=CHUNK_DEPTH
                    )
                ]
                for m in (SearchMode.VECTOR, SearchMode.KEYWORD)
            ]
        out[query_id] = (by[0], by[1])
    return out


def documents_of(chunks: list[int], owner: dict[int, str]) -> list[str]:
    return list(dict.fromkeys(owner[cid] for cid in chunks if cid in owner))


def fused(
    lists: Rankings, owner: dict[int, str], k: float, weights: tuple[float, float], depth: int
) -> dict[str, list[str]]:
    """Document rankings of RRF over each query's two chunk rankings cut at `depth`, as `Retriever.rank`
    fuses (in production the depth is DOCENT_SEARCH_CANDIDATES; `docent eval` reads CHUNK_DEPTH)."""
    out = {}
    for query_id, (vector, keyword) in lists.items():
        chunks = reciprocal_rank_fusion([vector[:depth], keyword[:depth]], list(weights), k=k)
        out[query_id] = documents_of([cid for cid, _ in chunks], owner)
    return out


def metrics(rankings: dict[str, list[str]], qrels: dict[str, dict[str, int]]) -> dict[str, float]:
    return evaluate(rankings, {q: qrels[q] for q in rankings})


def main() -> None:
    from docent.observability.logs import configure_logging

    configure_logging("WARNING")
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--database", default=None, help="kept between runs (default: a throw-away SQLite)")
    args = parser.parse_args()
    base = Settings(_env_file=None, env="development")  # type: ignore[call-arg]
    queries = read_queries(args.data)
    with throwaway_container(base, args.database) as container:
        ensure_corpus(container, args.data)
        owner = source_names(container)
        candidates = container.settings.search_candidates
        lists, qrels = {}, {}
        for split in ("train", "test"):
            qrels[split] = read_qrels(args.data, split)
            lists[split] = rankings(container, queries, [q for q in qrels[split] if q in queries])
            print(f"{split}: {len(lists[split])} queries ranked", flush=True)
        train = {
            (k, (wv, 1.0)): metrics(fused(lists["train"], owner, k, (wv, 1.0), candidates), qrels["train"])[
                "ndcg@10"
            ]
            for k, wv in itertools.product(KS, WEIGHTS)
        }
        print(f"\ntrain nDCG@10 of hybrid (keyword weight 1, depth {candidates}):")
        print(f"{'k':>5} " + " ".join(f"wv={w:<5}" for w in WEIGHTS))
        for k in KS:
            print(f"{k:>5} " + " ".join(f"{train[(k, (w, 1.0))]:.4f}  " for w in WEIGHTS))
        best_k, best_w = max(train, key=lambda key: train[key])
        print(
            f"best on train: k={best_k} vector weight {best_w[0]}"
            f" (default k=60, weight 1: {train[(60, (1.0, 1.0))]:.4f})"
        )

        print(
            f"\ntest ({len(lists['test'])} queries), documents ranked by their best chunk, as `docent eval`:"
        )
        rows = {
            "vector": {q: documents_of(v, owner) for q, (v, _) in lists["test"].items()},
            "keyword": {q: documents_of(kw, owner) for q, (_, kw) in lists["test"].items()},
            "hybrid (k 60, 1/1)": fused(lists["test"], owner, 60, (1.0, 1.0), CHUNK_DEPTH),
            f"hybrid (k {best_k:g}, {best_w[0]:g}/1)": fused(
                lists["test"], owner, best_k, best_w, CHUNK_DEPTH
            ),
        }
        for label, ranked in rows.items():
            m = metrics(ranked, qrels["test"])
            print(
                f"  {label:22s} nDCG@10 {m['ndcg@10']:.4f}  R@10 {m['recall@10']:.4f}  "
                f"R@100 {m['recall@100']:.4f}  MRR@10 {m['mrr@10']:.4f}"
            )


if __name__ == "__main__":
    main()
