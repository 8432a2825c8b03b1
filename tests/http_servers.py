"""Real HTTP servers on 127.0.0.1 for tests: started on a thread, stopped and joined afterwards."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import HTTPServer
from typing import TypeVar

Server = TypeVar("Server", bound=HTTPServer)


@contextmanager
def serving(httpd: Server, *, before_stop: Callable[[], None] | None = None) -> Iterator[Server]:
    """`httpd` answering until the block ends; `before_stop` first releases handlers that are waiting."""
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        if before_stop is not None:
            before_stop()
        httpd.shutdown()
        httpd.server_close()  # joins the handler threads of a ThreadingHTTPServer
        thread.join()


def url_of(httpd: HTTPServer, path: str = "") -> str:
    return f"http://127.0.0.1:{httpd.server_address[1]}{path}"
