"""`docent index migrate`: a second embedding model's vectors built beside the live ones while searches keep
being answered, compared, switched in atomically (or dropped), resumed after an interruption, and caught
up with chunks ingested meanwhile. The new model is the OpenAI-protocol fake (8 dimensions against
MiniLM's 384), a real HTTP server on localhost."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from docent.adapters import build_embedder, build_search_indexes
from docent.api.app import prepare
from docent.auth.audit import CLI_CONTEXT
from docent.auth.policy import reader_scope
from docent.config import Settings
from docent.container import Container, build_container
from docent.db.records import ChatMessage, ChatSession, Feedback
from docent.db.tables import Chunk, ChunkVector, Job
from docent.ingest.service import IncomingFile, UploadOptions
from docent.llm.ports import Embedder
from docent.search import migration
from docent.search.index_check import check_index, rebuild_index
from docent.search.migration_report import rated_figures, rated_questions
from docent.search.retrieve import Retriever, SearchMode
from docent.types import ReaderScope, indexed_text
from tests.conftest import TEST_HASHER, make_settings
from tests.fakes import FakeEmbeddings, fake_vector, serve_embeddings

DIMENSION = 8
TEXTS = [
    "Invoices are paid within thirty days of receipt by the finance team.",
    "The office is closed on public holidays and on the company's anniversary.",
    "Travel to North America has a hotel cap of two hundred dollars per night.",
    "Passwords must be at least fourteen characters long and changed yearly.",
    "Employees get twenty-five days of holiday per year, plus public holidays.",
    "The home office budget is five hundred euros, once every three years.",
]


def test_the_fake_model_tells_every_text_here_apart() -> None:
    """`fake_vector` depends on a text's checksum modulo 17: the tests' texts must not share one."""
    texts = [*TEXTS, LATE, AFTER]
    assert len({tuple(fake_vector(t, DIMENSION)) for t in texts}) == len(texts)


LATE = "Expense claims older than ninety days are not reimbursed at all."  # ingested during the migration
AFTER = "Laptops are replaced every four years."  # uploaded after the switch


@pytest.fixture
def remote() -> Iterator[FakeEmbeddings]:
    with serve_embeddings(FakeEmbeddings(dimension=DIMENSION)) as fake:
        yield fake


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path, embedded_worker=False, embedder_api_key="sk-test-not-real")


@pytest.fixture
def live(settings: Settings, embedder: Any) -> Iterator[Container]:
    """A server on the default local model, with the documents indexed."""
    container = build_container(settings, embedder=embedder, hasher=TEST_HASHER)
    prepare(container)
    for number, text in enumerate(TEXTS):
        _ingest(container, f"doc{number}.txt", text)
    yield container
    container.close()


def _spec(remote: FakeEmbeddings) -> migration.EmbedderSpec:
    return migration.EmbedderSpec("openai:fake-new", "onnx", remote.url(), DIMENSION)


def _ingest(container: Container, name: str, text: str) -> None:
    with container.database.unit_of_work() as uow:
        principal = container.auth.local_principal(uow, container.settings.admin_email)
        staged = container.blobs.stage(io.BytesIO(text.encode()), 1 << 20)
        (accepted,) = container.documents.accept_files(
            uow, principal, [IncomingFile(name, None, staged)], UploadOptions(), CLI_CONTEXT
        )
        uow.commit()
    assert accepted.job_id is not None
    container.runner.run(accepted.job_id)


def _scope(container: Container) -> ReaderScope:
    with container.database.unit_of_work(write=False) as uow:
        return reader_scope(container.auth.local_principal(uow, container.settings.admin_email), [])


def _indexed(container: Container, fragment: str) -> tuple[int, str]:
    """The chunk holding `fragment`, and the text its vector was made from."""
    with container.database.unit_of_work(write=False) as uow:
        chunk = uow.session.scalars(select(Chunk).where(Chunk.text.contains(fragment))).one()
        return chunk.id, indexed_text(chunk.context, chunk.text)


def _top(container: Container, retriever: Retriever, query: str) -> tuple[int, float]:
    with container.database.unit_of_work(write=False) as uow:
        results = retriever.search(uow, _scope(container), query, mode=SearchMode.VECTOR, top_k=3).results
    return results[0].chunk_id, results[0].score


def _pending_retriever(container: Container, new: Embedder) -> Retriever:
    vectors, _ = build_search_indexes(container.settings, new)
    return Retriever(new, vectors, container.retriever.keywords)


class Searcher(threading.Thread):
    """Searches in every mode, in a loop, as users would while the migration runs."""

    def __init__(self, container: Container) -> None:
        super().__init__(daemon=True)
        self.container, self.stop = container, threading.Event()
        self.counts: list[int] = []
        self.errors: list[BaseException] = []

    def run(self) -> None:
        scope = _scope(self.container)
        while not self.stop.is_set():
            for mode in SearchMode:
                try:
                    with self.container.database.unit_of_work(write=False) as uow:
                        found = self.container.retriever.search(
                            uow, scope, "holiday days per year", mode=mode
                        )
                    self.counts.append(len(found.results))
                except Exception as exc:  # recorded: the test fails on any
                    self.errors.append(exc)


def test_migration_keeps_searches_answered_then_switches(
    live: Container, settings: Settings, remote: FakeEmbeddings, embedder: Any
) -> None:
    new = build_embedder(_spec(remote).settings(settings))
    searcher = Searcher(live)
    searcher.start()
    try:
        migration.start(live.database, new, _spec(remote))
        partial = migration.run(live.database, new, batch_size=2, max_batches=1)
        assert (partial.done, partial.complete) == (2, False)
        _ingest(live, "late.txt", LATE)  # meanwhile
        done = migration.run(live.database, new, batch_size=2)
        assert done.complete and done.done == len(TEXTS) + 1

        # The pending vectors answer for the new model before the switch (what the report compares).
        late_id, late_text = _indexed(live, "ninety days")
        assert _top(live, _pending_retriever(live, new), late_text)[0] == late_id
        migration.switch(live.database)
        searches_during_migration = len(searcher.counts)
        # The server that was not restarted still answers, from the previous model's vectors.
        holiday_id, holiday_text = _indexed(live, "twenty-five days")
        top, score = _top(live, live.retriever, holiday_text)
        assert top == holiday_id and score > 0.99
    finally:
        searcher.stop.set()
        searcher.join(timeout=60)
    assert not searcher.errors
    assert searches_during_migration > 0 and searcher.counts and min(searcher.counts) > 0

    restarted = build_container(_spec(remote).settings(settings), hasher=TEST_HASHER)
    try:
        prepare(restarted)  # the new model is live: accepted
        asked = len(remote.requests)
        top, score = _top(restarted, restarted.retriever, late_text)  # ingested during the migration
        assert top == late_id and score > 0.99 and len(remote.requests) == asked + 1
        assert _models(restarted) == ({new.model_id}, {embedder.model_id})
        assert check_index(
            restarted.database, restarted.blobs, restarted.retriever.vectors, restarted.retriever.keywords
        ).ok
        _ingest_after_switch(live, restarted)
    finally:
        restarted.close()
    assert migration.drop_previous(live.database) == len(TEXTS) + 1
    assert _models(live)[1] == set()


def _ingest_after_switch(old: Container, restarted: Container) -> None:
    """A worker still on the old model leaves a new upload queued, its attempts unspent; a restarted one
    indexes it with the new model."""
    _ingest(old, "after.txt", AFTER)
    with old.database.unit_of_work() as uow:
        job = uow.session.scalars(select(Job).order_by(Job.created_at.desc()).limit(1)).one()
        assert (job.status, job.attempts) == ("queued", 0)
        job.run_after = datetime.now(UTC)  # its deferral (DEFER_SECONDS) is over
        uow.commit()
    restarted.runner.run(job.id)
    with restarted.database.unit_of_work(write=False) as uow:
        assert uow.session.get(Job, job.id).status == "completed"  # type: ignore[union-attr]
    chunk_id, text = _indexed(restarted, "four years")
    assert _top(restarted, restarted.retriever, text)[0] == chunk_id


def _models(container: Container) -> tuple[set[str], set[str]]:
    """Models of the chunks' vectors, and of the vectors kept beside them."""
    with container.database.unit_of_work(write=False) as uow:
        chunks = set(uow.session.scalars(select(Chunk.embedding_model).distinct()))
        beside = set(uow.session.scalars(select(ChunkVector.embedding_model).distinct()))
    return chunks, beside


def test_an_interrupted_migration_resumes_is_refused_until_complete_and_aborts(
    live: Container, settings: Settings, remote: FakeEmbeddings, embedder: Any
) -> None:
    new = build_embedder(_spec(remote).settings(settings))
    migration.start(live.database, new, _spec(remote))
    migration.run(live.database, new, batch_size=4, max_batches=1)  # then the run is killed
    with pytest.raises(migration.MigrationRefusedError, match="2 chunks have no vector"):
        migration.switch(live.database)
    other = migration.EmbedderSpec("openai:other", "onnx", remote.url(), 4)
    with pytest.raises(migration.MigrationRefusedError, match="in progress"):
        migration.start(live.database, build_embedder(other.settings(settings)), other)

    embedded_before = _embedded_texts(remote)
    resumed = migration.start(live.database, new, _spec(remote))  # the same command, run again
    assert (resumed.done, resumed.missing) == (4, 2)
    assert migration.run(live.database, new, batch_size=4).complete
    assert _embedded_texts(remote) - embedded_before == 2  # only what the killed run had not done

    migration.abort(live.database)
    state = migration.status(live.database)
    assert state.pending_model is None and state.live_model == embedder.model_id
    assert _models(live) == ({embedder.model_id}, set())
    holiday_id, holiday_text = _indexed(live, "twenty-five days")
    assert _top(live, live.retriever, holiday_text)[0] == holiday_id
    with pytest.raises(migration.MigrationRefusedError, match="no migration"):
        migration.switch(live.database)
    _stray_vectors_are_reported_and_removed(live)


def _stray_vectors_are_reported_and_removed(container: Container) -> None:
    """Vectors beside the chunks of a model no migration names (a hand edit): check counts, rebuild drops."""
    with container.database.unit_of_work() as uow:
        chunk_id = uow.session.scalars(select(Chunk.id).limit(1)).one()
        uow.session.add(ChunkVector(chunk_id=chunk_id, embedding_model="gone", embedding=[1.0] * DIMENSION))
        uow.commit()
    indexes = {"vectors": container.retriever.vectors, "keywords": container.retriever.keywords}
    report = check_index(container.database, container.blobs, *indexes.values())
    assert report.problems["vectors_beside_of_no_migration"] == 1 and not report.ok
    assert rebuild_index(container.database, container.blobs, container.embedder, **indexes).ok  # type: ignore[arg-type]


def _embedded_texts(remote: FakeEmbeddings) -> int:
    inputs = [r["body"]["input"] for r in remote.requests]
    return sum(len(i) if isinstance(i, list) else 1 for i in inputs)


def test_rated_answers_are_asked_again_with_each_model(
    live: Container, settings: Settings, remote: FakeEmbeddings
) -> None:
    new = build_embedder(_spec(remote).settings(settings))
    migration.start(live.database, new, _spec(remote))
    migration.run(live.database, new)
    holiday_id, _ = _indexed(live, "twenty-five days")
    _rate(live, "How many days of holiday do I get per year?", holiday_id, "up")
    _rate(live, "When are invoices paid?", holiday_id, "down")  # not judged: rated down
    judged = rated_questions(live.database)
    assert [(q.question, set(q.cited)) for q in judged] == [
        ("How many days of holiday do I get per year?", {holiday_id})
    ]
    old_label, new_label = live.embedder.model_id, new.model_id
    figures = rated_figures(
        live.database, {old_label: live.retriever, new_label: _pending_retriever(live, new)}, judged
    )
    assert figures["vector"][old_label] == {"hit@10": 1.0, "cited_recall@10": 1.0, "mrr@10": 1.0}
    assert set(figures["hybrid"]) == {old_label, new_label}
    assert figures["vector"][new_label]["hit@10"] == 1.0  # six chunks: every one is in a top 10


def _rate(container: Container, question: str, chunk_id: int, rating: str) -> None:
    with container.database.unit_of_work() as uow:
        principal = container.auth.local_principal(uow, container.settings.admin_email)
        session = ChatSession(org_id=principal.org_id, user_id=principal.user_id, title=question)
        uow.session.add(session)
        uow.session.flush()
        uow.session.add(ChatMessage(session_id=session.id, role="user", text=question, citations=[]))
        uow.session.flush()
        answer = ChatMessage(
            session_id=session.id, role="assistant", text="…", citations=[{"chunk_id": chunk_id}]
        )
        uow.session.add(answer)
        uow.session.flush()
        uow.session.add(Feedback(message_id=answer.id, user_id=principal.user_id, rating=rating))
        uow.commit()


def test_chunks_deleted_during_a_migration_take_their_pending_vectors(
    live: Container, settings: Settings, remote: FakeEmbeddings
) -> None:
    new = build_embedder(_spec(remote).settings(settings))
    migration.start(live.database, new, _spec(remote))
    migration.run(live.database, new)
    with live.database.unit_of_work() as uow:
        document_id = uow.session.scalars(select(Chunk.document_id).limit(1)).one()
        uow.chunks.delete_for_document(document_id)
        uow.commit()
    with live.database.unit_of_work(write=False) as uow:
        kept = uow.session.scalar(select(func.count()).select_from(ChunkVector))
    assert kept == len(TEXTS) - 1
    assert migration.status(live.database).complete


def test_the_command_line_migrates_reports_and_switches(tmp_path: Path, remote: FakeEmbeddings) -> None:
    """`docent index migrate` as an operator runs it, on the embedded profile, with a BEIR folder."""
    import json
    import subprocess
    import sys

    from tests.integration.test_cli import _env

    env = _env(tmp_path, DOCENT_EMBEDDER_API_KEY="sk-test-not-real")
    docs, beir = tmp_path / "docs", tmp_path / "beir"
    (beir / "qrels").mkdir(parents=True)
    docs.mkdir()
    for number, text in enumerate(TEXTS):
        (docs / f"doc{number}.txt").write_text(text)
    corpus = [{"_id": f"d{n}", "title": "", "text": t} for n, t in enumerate(TEXTS)]
    (beir / "corpus.jsonl").write_text("\n".join(json.dumps(row) for row in corpus))
    (beir / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "hotel cap in North America"}))
    (beir / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td2\t1\n")

    def docent(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "docent", *args]
        return subprocess.run(
            command, env=env | extra, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False
        )

    assert docent("db", "upgrade").returncode == 0
    made = docent("users", "create", "--email", "ops@example.com", "--role", "admin", "--password", "x" * 16)
    assert made.returncode == 0, made.stderr
    assert docent("ingest", str(docs), "--owner", "ops@example.com").returncode == 0
    assert "no migration in progress" in docent("index", "migrate", "--status").stdout
    refused = docent("index", "migrate", "--switch")
    assert refused.returncode == 2 and "no migration is in progress" in refused.stderr
    unclear = docent("index", "migrate", "--status", "--abort")
    assert unclear.returncode == 2 and "give one of --embedder" in unclear.stderr

    new = ("--embedder", "openai:fake-new", "--base-url", remote.url(), "--dimension", str(DIMENSION))
    migrated = docent("index", "migrate", *new, "--batch-size", "4", "--eval", str(beir))
    assert migrated.returncode == 0, migrated.stderr
    assert "pending model: openai:fake-new  6/6 chunks  (complete" in migrated.stdout
    assert "BEIR beir (1 judged questions)" in migrated.stdout
    assert "ndcg@10" in migrated.stdout and "openai:fake-new" in migrated.stdout

    switched = docent("index", "migrate", "--switch")
    assert switched.returncode == 0, switched.stderr
    assert "DOCENT_EMBEDDER=openai:fake-new" in switched.stdout
    as_new = {"DOCENT_EMBEDDER": "openai:fake-new", "DOCENT_EMBEDDER_BASE_URL": remote.url()}
    checked = docent("index", "check", **as_new)
    assert checked.returncode == 0 and "embedding model: openai:fake-new" in checked.stdout
    found = docent("search", TEXTS[2], "--mode", "vector", "--as", "ops@example.com", **as_new)
    assert found.returncode == 0 and "doc2.txt" in found.stdout.splitlines()[0]  # the new model's own vector
    print(migrated.stdout)


def test_a_killed_run_continues_where_it_stopped(
    live: Container, settings: Settings, remote: FakeEmbeddings, tmp_path: Path
) -> None:
    """`docent index migrate` killed (SIGKILL) after its first batch: the next run embeds only the rest."""
    import os
    import subprocess
    import sys

    assert settings.secret_key is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCENT_")} | {
        "DOCENT_DATABASE_URL": settings.database_url,
        "DOCENT_DATA_DIR": str(tmp_path),
        "DOCENT_SECRET_KEY": settings.secret_key.get_secret_value(),
        "DOCENT_EMBEDDER_API_KEY": "sk-test-not-real",
    }
    slow = ("--base-url", remote.url("slow"), "--dimension", str(DIMENSION))  # 10 s a batch
    command = [sys.executable, "-m", "docent", "index", "migrate", "--embedder", "openai:fake-new", *slow]
    run = subprocess.Popen(
        [*command, "--batch-size", "2"], env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        for _ in range(600):  # the first batch committed (or the run ended, which the asserts then show)
            if run.poll() is not None or migration.status(live.database).done > 0:
                break
            threading.Event().wait(0.2)
    finally:
        run.kill()
        run.communicate(timeout=60)
    stopped = migration.status(live.database)
    assert stopped.pending_model == "openai:fake-new" and 0 < stopped.done < len(TEXTS)

    resumed = build_embedder(_spec(remote).settings(settings))  # the same model, answering at once
    assert migration.run(live.database, resumed, batch_size=2).complete
    assert sum(len(r["body"]["input"]) for r in remote.requests if r["mode"] == "ok") == stopped.missing
