"""Real HTTP servers on 127.0.0.1 for tests: started on a thread, stopped and joined afterwards."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import HTTPServer
from typing import Any, TypeVar

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


@contextmanager
def uvicorn_serving(app: Any) -> Iterator[str]:
    """An ASGI app behind a real uvicorn on 127.0.0.1 (its lifespan run), as its base URL. Unlike the test
    client, a client that goes away here disconnects the way a browser or a proxy does."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=UVICORN_THREAD, daemon=True)
    thread.start()
    try:
        while not server.started:  # bounded by the thread: it ends if start-up fails
            if not thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join()
        sock.close()


UVICORN_THREAD = "uvicorn-under-test"  # the thread whose event loop serves the app
