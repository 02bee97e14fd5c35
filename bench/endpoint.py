"""The local AWS endpoint: a moto server process of its own on a free loopback port.

A separate process, not a thread of the measuring process: the server then never competes
with the code under measurement for one GIL, and its CPU time can be read on its own. It
serves DynamoDB requests one at a time, as the demo's endpoint does (`bench.endpoint_server`):
moto's conditional writes are not atomic otherwise.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import TracebackType

__all__ = ["REGION", "MotoServer", "cpu_seconds", "fake_aws_env"]

REGION = "us-east-1"
_ROOT = Path(__file__).resolve().parent.parent


def fake_aws_env() -> None:
    """Point this process (and its children) at fake credentials, never a real account."""
    for name in list(os.environ):
        if name.startswith("REMEDIATOR_") or name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
            del os.environ[name]
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_SESSION_TOKEN="testing",
        AWS_DEFAULT_REGION=REGION,
        AWS_REGION=REGION,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds used so far by a process (Linux /proc; None elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class MotoServer:
    """`python -m moto.server` (the moto_server entry point) for the life of a `with` block."""

    def __init__(self, start_timeout: float = 30.0) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._timeout = start_timeout
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def cpu_seconds(self) -> float | None:
        return cpu_seconds(self.pid)

    def __enter__(self) -> MotoServer:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "bench.endpoint_server", "127.0.0.1", str(self.port)],
            cwd=_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + self._timeout
        while True:
            if self._proc.poll() is not None:
                raise RuntimeError(f"moto server exited at start (code {self._proc.returncode})")
            try:
                # Our own http://127.0.0.1 URL: no file: or custom scheme can reach this.
                ready = f"{self.url}/moto-api/data.json"
                with urllib.request.urlopen(ready, timeout=1) as r:  # noqa: S310
                    r.read()
                return self
            except OSError:
                if time.monotonic() > deadline:
                    self.__exit__(None, None, None)
                    raise RuntimeError(f"moto server on {self.url} did not answer") from None
                time.sleep(0.05)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._proc is None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc = None
