"""An embedded local AWS (a moto server on a free loopback port) for the demo and for trying
every command without an account. Needs the `local` extra (moto[server])."""

from __future__ import annotations

import logging
import os
import threading
from types import TracebackType
from typing import Any

from remediator.errors import RemediatorError

__all__ = ["LOCAL_CREDENTIALS", "LOCAL_REGION", "LocalAws"]

LOCAL_REGION = "us-east-1"
# Fixed, obviously fake credentials: the local endpoint accepts anything, and real ones must
# never be needed (or looked up from instance metadata, which would stall for seconds).
LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_SESSION_TOKEN": "local",
}


class LocalAws:
    """`with LocalAws() as endpoint:` a moto server on 127.0.0.1, stopped on exit."""

    def __init__(self) -> None:
        self._server: Any = None
        self.endpoint = ""

    def start(self) -> str:
        try:
            from moto.server import ThreadedMotoServer
        except ImportError:
            raise RemediatorError(
                "the embedded local AWS needs moto: pip install 'self-healing-pipelines[local]'"
            ) from None
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        os.environ.update(LOCAL_CREDENTIALS)
        os.environ.setdefault("AWS_DEFAULT_REGION", LOCAL_REGION)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
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
