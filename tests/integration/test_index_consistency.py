"""Random sequences of upload / new version / delete / purge / reprocess, with jobs run in between, never
leave an orphan: `check_index` finds nothing on either database, and search only ever sees live versions."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from docent.auth.audit import CLI_CONTEXT
from docent.auth.policy import Principal
from docent.container import Container, build_container
from docent.errors import DocentError
from docent.ingest.service import IncomingFile, UploadOptions, Visibility
from docent.search.index_check import check_index
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, TEST_HASHER, make_settings

CONTENTS = [
    f"Policy {n}. " + " ".join(f"Clause {n}.{i} sets rule number {i} for team {n}." for i in range(n * 6 + 1))
    for n in range(5)
]

operation = st.one_of(
    st.tuples(st.just("upload"), st.integers(0, len(CONTENTS) - 1)),
    st.tuples(st.just("version"), st.integers(0, 7), st.integers(0, len(CONTENTS) - 1)),
    st.tuples(st.just("delete"), st.integers(0, 7)),
    st.tuples(st.just("purge"), st.integers(0, 7)),
    st.tuples(st.just("reprocess"), st.integers(0, 7)),
    st.tuples(st.just("run_jobs")),
)


@pytest.fixture
def container(database_url: str, tmp_path: Path, embedder: Any) -> Iterator[Container]:
    built = build_container(
        make_settings(database_url, tmp_path, embedded_worker=False), embedder=embedder, hasher=TEST_HASHER
    )
    with built.database.unit_of_work() as uow:
        built.users.bootstrap_admin(uow, ADMIN_EMAIL, ADMIN_PASSWORD)
        uow.commit()
    yield built
    built.close()


class Scenario:
    def __init__(self, container: Container) -> None:
        self.container = container
        with container.database.unit_of_work() as uow:
            self.admin: Principal = container.auth.local_principal(uow, ADMIN_EMAIL)
        self.documents: list[Any] = []

    def incoming(self, content: int) -> IncomingFile:
        staged = self.container.blobs.stage(io.BytesIO(CONTENTS[content].encode()), 1 << 20)
        return IncomingFile(f"policy-{content}.txt", "text/plain", staged)

    def apply(self, op: tuple[Any, ...]) -> None:
        service, database = self.container.documents, self.container.database
        if op[0] == "run_jobs":
            self.run_jobs()
            return
        with database.unit_of_work() as uow:
            try:
                if op[0] == "upload":
                    options = UploadOptions(visibility=Visibility.ORG)
                    (accepted,) = service.accept_files(
                        uow, self.admin, [self.incoming(op[1])], options, CLI_CONTEXT
                    )
                    self.documents.append(accepted.document.id)
                elif not self.documents:
                    return
                else:
                    target = self.documents[op[1] % len(self.documents)]
                    if op[0] == "version":
                        service.new_version(uow, self.admin, target, self.incoming(op[2]), CLI_CONTEXT)
                    elif op[0] == "reprocess":
                        service.reprocess(uow, self.admin, target, CLI_CONTEXT)
                    else:
                        service.delete(uow, self.admin, target, CLI_CONTEXT, purge=op[0] == "purge")
            except DocentError:
                return  # e.g. a deleted document: refused, nothing changed
            uow.commit()

    def run_jobs(self) -> None:
        later = datetime.now(UTC) + timedelta(hours=1)  # retries scheduled with backoff are due too
        while True:
            with self.container.database.unit_of_work(write=False) as uow:
                ready = uow.jobs.claimable_ids(later, later - timedelta(days=1), "ingest", 100)
            if not ready:
                return
            for job_id in ready:
                with self.container.database.unit_of_work() as uow:
                    job = uow.jobs.get(job_id)
                    assert job is not None
                    job.run_after = None
                    uow.commit()
                self.container.runner.run(job_id)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=st.lists(operation, min_size=1, max_size=10))
def test_no_sequence_of_changes_leaves_an_orphan(
    container: Container, operations: list[tuple[Any, ...]]
) -> None:
    scenario = Scenario(container)
    for op in operations:
        scenario.apply(op)
    scenario.run_jobs()

    report = check_index(container.database, container.blobs)
    assert report.ok, report.problems
    with container.database.unit_of_work(write=False) as uow:
        for document_id in scenario.documents:
            document = uow.documents.get(document_id, with_deleted=True)
            if document is None or document.deleted_at is not None:
                continue
            latest = uow.documents.latest_version(document)
            assert latest.status in ("completed", "failed"), latest.status
            if latest.status == "completed":
                assert document.indexed_version_id == latest.id
                assert uow.chunks.page_for_version(latest.id, 0, 1)[1] == latest.chunk_count
