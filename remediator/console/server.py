"""The console served by uvicorn on a socket bound here (so port 0 means a free port, known
before the first request), in the foreground (`remediator console`) or on a thread (the
demo, the tests)."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn

from remediator.console.app import build_app
from remediator.console.backend import Backend
from remediator.console.security import Guard

__all__ = ["Console"]


class Console:
    """A bound socket and the app that will serve it."""

    def __init__(
        self, backend: Backend, *, host: str = "127.0.0.1", port: int = 0, read_only: bool = False
    ) -> None:
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(128)  # a browser that connects before uvicorn runs is queued, not refused
        self.host, self.port = host, self.sock.getsockname()[1]
        self.guard = Guard(port=self.port, read_only=read_only, host=host)
        config = uvicorn.Config(
            build_app(backend, self.guard),
            log_level="warning",
            lifespan="off",
            access_log=False,
            server_header=False,
        )
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def serve(self) -> None:
        """Until Ctrl-C (uvicorn handles SIGINT and SIGTERM in the main thread)."""
        self.server.run(sockets=[self.sock])

    def start(self, timeout: float = 10.0) -> Console:
        """On a daemon thread; returns once it accepts connections."""
        self._thread = threading.Thread(target=self.serve, name="console", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"the console did not start on {self.url}")
            time.sleep(0.02)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        self.sock.close()
