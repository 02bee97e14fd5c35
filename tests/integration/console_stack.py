"""The demo's story run in this process (its remediator, worker and alert threads on a local
AWS of its own), and the console served on it, as `remediator demo --keep` serves it."""

from __future__ import annotations

import io
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from observability.models import Status
from remediator.console.server import Console
from remediator.stack.demo import BROKEN, FLAKY, JOB, Demo
from remediator.stack.demo_console import start_console
from remediator.stack.local import LOCAL_CREDENTIALS, LocalAws
from remediator.stack.timeline import recording
from remediator.views.render import Style

__all__ = ["DemoConsole", "Reply", "demo_console", "request"]


@dataclass
class DemoConsole:
    demo: Demo
    console: Console
    recorder: Any

    @property
    def url(self) -> str:
        return self.console.url

    def state(self, batch: str = BROKEN) -> Any:
        return self.demo.pipeline.get(JOB, batch)

    def serve(self, *, read_only: bool) -> Console:
        """Another console on the same demo (read-only, say), started; stop it yourself."""
        return _start(self.demo, self.recorder, read_only=read_only)


def _start(demo: Demo, recorder: Any, *, read_only: bool = False) -> Console:
    """A console as `demo --keep` starts its own."""
    console = start_console(demo.settings, demo.clients, recorder, read_only=read_only)
    assert console is not None, "the console extra is part of the dev extra"
    return console


@contextmanager
def demo_console(timeout: float = 60.0) -> Iterator[DemoConsole]:
    """The demo's story told to nobody; yields once month 5 healed and month 9 is EXHAUSTED."""
    with ExitStack() as scope:
        # LocalAws sets the demo's fake credentials in this process: the suite's come back.
        saved = {k: os.environ.get(k) for k in (*LOCAL_CREDENTIALS, "AWS_DEFAULT_REGION")}
        scope.callback(_restore, saved)
        local = LocalAws()
        endpoint = local.start()
        scope.callback(local.stop)
        recorder = scope.enter_context(recording())
        demo = Demo(endpoint, io.StringIO(), Style(False))
        scope.callback(demo.stopping.set)
        for target in (demo.run_remediator, demo.work_loop, demo.alert_loop):
            threading.Thread(target=target, daemon=True).start()
        demo.run_pipeline()
        deadline = time.monotonic() + timeout
        while demo.finished() != (True, True):
            assert time.monotonic() < deadline, "the demo's story did not end"
            time.sleep(0.2)
        assert demo.pipeline.get(JOB, FLAKY).status is Status.SUCCESS
        console = _start(demo, recorder)
        scope.callback(console.stop)
        yield DemoConsole(demo, console, recorder)


def _restore(saved: dict[str, str | None]) -> None:
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@dataclass
class Reply:
    status: int
    body: str
    headers: dict[str, str]


def request(url: str, data: dict[str, str] | None = None, **headers: str) -> Reply:
    """GET (or POST `data`, form-encoded) with exactly these headers; any status returned."""
    from urllib.parse import urlencode

    body = urlencode(data).encode() if data is not None else None
    assert url.startswith(("http://127.0.0.1:", "http://localhost:")), url
    req = urllib.request.Request(url, data=body, headers=headers)  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(req, timeout=30) as reply:  # noqa: S310 - loopback
            return Reply(reply.status, reply.read().decode(), dict(reply.headers))
    except urllib.error.HTTPError as err:
        return Reply(err.code, err.read().decode(), dict(err.headers))
