"""The job queue port and its huey adapter (SQLite file embedded, Redis scaled).

The queue is only a doorbell: messages carry a job id, and the `jobs` table says what to do. A lost or
duplicated message is harmless — the runner claims jobs atomically, and the sweeper re-sends what waits.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from docent.observability.logs import get_logger

TASK_NAME = "docent.run_job"
_log = get_logger(__name__)


class JobQueue(Protocol):
    def enqueue(self, job_id: uuid.UUID, delay_seconds: float = 0.0) -> None:
        """Ask a worker to run the job, now or after a delay. At-least-once; never blocks on the work."""
        ...


class HueyQueue:
    def __init__(self, huey: Any) -> None:
        self.huey = huey
        self._handler: Callable[[uuid.UUID], None] | None = None
        self._task = huey.task(name=TASK_NAME)(self._dispatch)

    def bind(self, handler: Callable[[uuid.UUID], None]) -> None:
        """The function workers call for each message (the job runner)."""
        self._handler = handler

    def enqueue(self, job_id: uuid.UUID, delay_seconds: float = 0.0) -> None:
        try:
            if delay_seconds > 0:
                self._task.schedule((str(job_id),), delay=delay_seconds)
            else:
                self._task(str(job_id))
        except Exception:  # the job row is committed; the sweeper re-sends what the queue did not take
            _log.exception("enqueue_failed", job_id=str(job_id))

    def pending(self) -> int:
        return int(self.huey.pending_count())

    def ping(self) -> None:
        self.huey.pending_count()

    def _dispatch(self, job_id: str) -> None:
        if self._handler is None:
            raise RuntimeError("this process has no job runner bound")
        self._handler(uuid.UUID(job_id))


def build_huey_queue(name: str, redis_url: str | None, data_dir: Path) -> HueyQueue:
    """Redis when configured (any number of worker processes), else a SQLite file beside the data."""
    if redis_url:
        from huey import RedisHuey

        return HueyQueue(RedisHuey(name, url=redis_url, results=False, blocking=True))
    from huey import SqliteHuey

    data_dir.mkdir(parents=True, exist_ok=True)
    return HueyQueue(SqliteHuey(name, filename=str(data_dir / "queue.db"), results=False))
