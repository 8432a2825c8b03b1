"""What `docent ingest` reads while it waits: a batch's chunks embedded of those expected, its documents by
state, and why each failed one failed, from the jobs table, on both databases."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from docent.container import build_container
from docent.ingest.bulk import batch_failures, expected_chunks, submit_batch, text_sources
from docent.ingest.service import UploadOptions, Visibility
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, TEST_HASHER, make_settings

COMPLETED, FAILED, PROCESSING = "completed", "failed", "processing"  # the jobs table's statuses


def test_batch_progress_sums_the_chunks_of_its_jobs(database_url: str, tmp_path: Path, embedder: Any) -> None:
    settings = make_settings(database_url, tmp_path, embedded_worker=False)
    with build_container(settings, embedder=embedder, hasher=TEST_HASHER) as container:
        database = container.database
        with database.unit_of_work() as uow:
            container.users.bootstrap_admin(uow, ADMIN_EMAIL, ADMIN_PASSWORD)
            uow.commit()
        with database.unit_of_work(write=False) as uow:
            principal = container.auth.local_principal(uow, ADMIN_EMAIL)
        sources = text_sources([("a.txt", "first"), ("b.txt", "second"), ("c.txt", "third")])
        submitted = submit_batch(
            database,
            container.blobs,
            container.documents,
            principal,
            sources,
            UploadOptions(Visibility.ORG),
            1 << 20,
        )
        assert submitted.accepted == 3 and sorted(submitted.labels.values()) == ["a.txt", "b.txt", "c.txt"]
        jobs = {label: job_id for job_id, label in submitted.labels.items()}

        def set_job(label: str, status: str, done: int, total: int, error: str | None = None) -> None:
            with database.unit_of_work() as uow:
                job = uow.jobs.get(jobs[label])
                assert job is not None
                job.status, job.progress_done, job.progress_total, job.error = status, done, total, error
                uow.commit()

        def progress() -> Any:
            with database.unit_of_work(write=False) as uow:
                return uow.jobs.batch_progress(submitted.batch_id)

        start = progress()
        assert (start.documents, start.finished, start.chunks_done, start.chunks_total) == (3, 0, 0, 0)
        assert expected_chunks(start) is None  # nothing parsed yet: no total to show

        set_job("a.txt", COMPLETED, 5, 5)
        set_job("b.txt", PROCESSING, 2, 10)  # being embedded; c.txt is not parsed yet
        middle = progress()
        assert (middle.completed, middle.failed, middle.unsized, middle.sized) == (1, 0, 1, 2)
        assert (middle.chunks_done, middle.chunks_total) == (7, 15)
        assert expected_chunks(middle) == 15 + 8  # c.txt counted at the mean of the parsed ones (7.5)

        set_job("b.txt", FAILED, 2, 10, "The PDF is damaged. [pdf_corrupt]")
        set_job("c.txt", COMPLETED, 3, 3)
        end = progress()
        assert (end.documents, end.completed, end.failed, end.finished) == (3, 2, 1, 3)
        assert (end.chunks_done, end.chunks_total) == (8, 8)  # a failed document's chunks are not counted
        assert expected_chunks(end) == 8
        assert batch_failures(database, submitted) == [("b.txt", "The PDF is damaged. [pdf_corrupt]")]
