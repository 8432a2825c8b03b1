"""Consumers: threads inside the server (embedded profile) or a `docent worker` process (scaled)."""

from __future__ import annotations

import threading
from typing import Any

from docent.jobs.runner import JobRunner
from docent.observability.logs import get_logger

_log = get_logger(__name__)


def _consumer_class() -> Any:
    from huey.consumer import Consumer

    class EmbeddedConsumer(Consumer):  # type: ignore[misc]
        """A consumer that leaves signal handling to its host (uvicorn owns SIGINT/SIGTERM)."""

        def _set_signal_handlers(self) -> None:
            pass

    return EmbeddedConsumer


class Worker:
    """Huey consumer threads plus a sweeper that re-sends jobs whose message was lost."""

    def __init__(self, huey: Any, runner: JobRunner, *, threads: int, sweep_seconds: float) -> None:
        self._consumer = _consumer_class()(
            huey, workers=threads, worker_type="thread", initial_delay=0.05, max_delay=0.5, periodic=False
        )
        self._runner = runner
        self._sweep_seconds = sweep_seconds
        self._stop = threading.Event()
        self._sweeper = threading.Thread(target=self._sweep_loop, name="docent-job-sweeper", daemon=True)

    def start(self) -> None:
        self._consumer.start()
        self._sweeper.start()
        _log.info("worker_started")

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._runner.interrupt()  # a parse in flight is killed, not waited for
        self._consumer.shutdown_timeout = timeout
        self._consumer.stop(graceful=True)
        self._sweeper.join(timeout)
        _log.info("worker_stopped")

    def wait(self) -> None:
        """Block until stopped (the `docent worker` process)."""
        while not self._stop.wait(1.0):
            pass

    def _sweep_loop(self) -> None:
        while not self._stop.wait(self._sweep_seconds):
            try:
                self._runner.sweep()
            except Exception:  # a failed sweep is retried at the next tick; the worker must keep running
                _log.exception("job_sweep_failed")
