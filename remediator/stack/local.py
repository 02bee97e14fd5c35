"""An embedded local AWS (a moto server on a free loopback port) for the demo and for trying
every command without an account. Needs the `local` extra (moto[server])."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

from remediator.errors import RemediatorError

__all__ = ["LOCAL_CREDENTIALS", "LOCAL_REGION", "LocalAws", "LocalServer"]

LOCAL_REGION = "us-east-1"
# Fixed, obviously fake credentials: the local endpoint accepts anything, and real ones must
# never be needed (or looked up from instance metadata, which would stall for seconds).
LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_SESSION_TOKEN": "local",
}


class _DynamoDbOneAtATime:
    """WSGI middleware: DynamoDB requests are served one at a time.

    moto's DynamoDB is not safe under concurrent requests: a transaction deep-copies a table
    that another request is changing (RuntimeError, a 500 retried by botocore, and moto's
    internal traceback on the terminal), and its conditional writes are not atomic. One at
    a time, they behave as DynamoDB's do. SQS long polls are not held up: only DynamoDB's
    JSON-protocol requests (X-Amz-Target `DynamoDB_...`) take the lock.
    """

    def __init__(self, app: Callable[..., Any]) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if str(environ.get("HTTP_X_AMZ_TARGET", "")).startswith("DynamoDB_"):
            with self._lock:
                # The work is done inside the lock; only the finished bytes leave it.
                result = self._app(environ, start_response)
                try:
                    return list(result)
                finally:
                    close = getattr(result, "close", None)
                    if close is not None:
                        close()
        return self._app(environ, start_response)


class LocalServer:
    """moto's server app on a werkzeug server thread, behind the middleware above: the
    demo's endpoint, the test suite's and the benchmarks'."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        app = _DynamoDbOneAtATime(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(
            host, port, app, threaded=True, request_handler=MotoRequestHandler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="local-aws", daemon=True
        )
        self._thread.start()

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def wait(self) -> None:
        """Block until the server stops (a process that only serves)."""
        self._thread.join()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


class LocalAws:
    """`with LocalAws() as endpoint:` a moto server on 127.0.0.1, stopped on exit."""

    def __init__(self) -> None:
        self._server: Any = None
        self.endpoint = ""

    def start(self) -> str:
        try:
            import moto.server  # noqa: F401
        except ImportError:
            raise RemediatorError(
                "the embedded local AWS needs moto: pip install 'self-healing-pipelines[local]'"
            ) from None
        werkzeug = logging.getLogger("werkzeug")
        werkzeug.setLevel(max(werkzeug.getEffectiveLevel(), logging.ERROR))
        os.environ.update(LOCAL_CREDENTIALS)
        os.environ.setdefault("AWS_DEFAULT_REGION", LOCAL_REGION)
        self._server = LocalServer()
        self.endpoint = self._server.endpoint
        return self.endpoint

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the server; a request still in flight cannot hold the process past `timeout`."""
        if self._server is not None:
            stopper = threading.Thread(target=self._server.stop, name="local-aws-stop", daemon=True)
            stopper.start()
            stopper.join(timeout)
            self._server = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
