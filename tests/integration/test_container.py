"""The container as a context manager: what it started and opened ends with the block."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from docent.config import Settings
from docent.container import build_container
from tests.conftest import TEST_HASHER


def test_the_container_closes_what_it_holds_when_its_block_ends(settings: Settings, embedder: Any) -> None:
    with build_container(settings, embedder=embedder, hasher=TEST_HASHER) as container:
        container.start_worker()
        assert any(t.name == "docent-job-sweeper" for t in threading.enumerate())
        with container.database.unit_of_work(write=False) as uow:
            assert uow.users.by_email("nobody@example.com", None) == []
    assert container.worker is None
    assert not any(t.name == "docent-job-sweeper" and t.is_alive() for t in threading.enumerate())
    assert container.database.engine.pool.checkedout() == 0


def test_the_container_closes_when_its_block_raises(settings: Settings, embedder: Any) -> None:
    container = build_container(settings, embedder=embedder, hasher=TEST_HASHER)

    def fail_inside() -> None:
        with container:
            container.start_worker()
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        fail_inside()
    assert container.worker is None
