"""Chat-door fixtures: the whole app under a real uvicorn on 127.0.0.1, for the HTTP transport's tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from plugin.app import create_app
from plugin.config import Settings


@pytest.fixture(scope="module")
def base_url(settings: Settings) -> Iterator[str]:
    """A fresh app under a real uvicorn (lifespan on) on a free 127.0.0.1 port, in a thread; stopped at the end."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings), lifespan="on", log_config=None, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]})
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                pytest.fail("uvicorn did not start within 30 s")
            time.sleep(0.01)  # startup runs in the server thread; nothing to wait on but its flag
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        listener.close()
