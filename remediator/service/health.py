"""`/healthz` over HTTP: 200 while the loop turns, 503 once it has been silent too long."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from remediator.errors import RemediatorError

__all__ = ["HealthPortUnavailable", "HealthServer", "Heartbeats"]

log = logging.getLogger("remediator.health")


class HealthPortUnavailable(RemediatorError):
    """The /healthz listener could not bind its address (the port is taken, or not allowed)."""


class Heartbeats:
    """Each loop ticks after every turn and every unit of work in it (a signal, a shard, a
    batch); health is the age of the oldest loop's last tick. So /healthz fails when a loop
    is stuck, not when it is busy: ECS must not replace a task in the middle of slow work."""

    def __init__(
        self, max_silence_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_silence = max_silence_seconds
        self._clock = clock
        self._ticks: dict[str, float] = {}
        self._lock = threading.Lock()
        self.stopping = False

    def tick(self, loop: str) -> None:
        with self._lock:
            self._ticks[loop] = self._clock()

    def report(self) -> tuple[bool, dict[str, object]]:
        now = self._clock()
        with self._lock:
            ages = {name: round(now - at, 3) for name, at in self._ticks.items()}
        healthy = bool(ages) and not self.stopping and max(ages.values()) <= self.max_silence
        return healthy, {"status": "ok" if healthy else "unhealthy", "loops": ages}


class HealthServer:
    """A tiny HTTP server on its own daemon thread."""

    def __init__(self, beats: Heartbeats, host: str, port: int) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] not in ("/healthz", "/health"):
                    self.send_error(404)
                    return
                healthy, body = beats.report()
                data = json.dumps(body).encode()
                self.send_response(200 if healthy else 503)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                return  # health probes every few seconds would drown the logs

        try:
            self._server = ThreadingHTTPServer((host, port), Handler)
        except OSError as exc:
            raise HealthPortUnavailable(
                f"cannot listen on {host}:{port} for /healthz ({exc.strerror or exc}): set "
                "REMEDIATOR_HEALTH_PORT to a free port, or to 0 to turn the endpoint off"
            ) from exc
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="health", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> HealthServer:
        self._thread.start()
        log.info("health endpoint on port %d", self.port)
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
