"""A loopback HTTP proxy in front of the moto server that fails on command.

It understands just enough HTTP/1.1 (keep-alive, Content-Length bodies) to see each AWS
call's `X-Amz-Target` and body, so a test can:

- `cut()` the endpoint: new connections are refused and open ones closed, while moto keeps
  its state; `restore()` listens again on the same port. `cut_when(...)` cuts it on a given
  request, before moto sees it or after moto has done it but before the reply gets back;
- `throttle(...)` a seeded fraction of DynamoDB calls with the 400 DynamoDB itself sends;
- `hold(...)` matching requests unforwarded until released, to stop a caller at an exact
  point;
- `drop_reply(...)`: forward a matching request, let moto do it, then close the connection
  instead of answering: the write happened and its reply was lost, and botocore retries;
- `inject(...)` any reply (status, body, headers) for matching requests, without moto seeing
  them: the errors moto never returns, in AWS's wire shapes (tests/awserrors.py builds them);
- add `latency` to every call, so that work is in flight when something else happens.

`pending` counts, by target, the requests received and not yet answered.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import random
import re
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["FaultProxy", "Hold", "Injection", "Request", "call"]

_MAX_HEADER_BYTES = 64 * 1024
_THROTTLE_BODY = json.dumps(
    {
        "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
        "message": "The level of configured provisioned throughput for the table was exceeded.",
    }
).encode()
# Hop-by-hop headers are the proxy's own business, never forwarded either way.
_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te"})
# SigV4: `Credential=AKID/20240501/us-east-1/sqs/aws4_request` names the signing service.
_SCOPE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request")
# The REST operations the project calls, by method and path (JSON and query APIs say theirs).
_REST_OPERATIONS = [
    ("lambda", "POST", re.compile(r"^/2015-03-31/functions/[^/]+/invocations"), "Invoke"),
]


@dataclass(frozen=True)
class Request:
    """One parsed HTTP request."""

    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str:
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), "")

    @property
    def target(self) -> str:
        """`DynamoDB_20120810.UpdateItem`, `AmazonSQS.SendMessage`, ... ('' for query APIs)."""
        return self.header("X-Amz-Target")

    @property
    def service(self) -> str:
        """The signing name of the service called (`dynamodb`, `sqs`, `sns`, `states`, ...)."""
        found = _SCOPE.search(self.header("Authorization"))
        return found.group(1) if found else ""

    @property
    def operation(self) -> str:
        """The API operation (`UpdateItem`, `Publish`, `Invoke`, ...), whatever the protocol."""
        if self.target:
            return self.target.rpartition(".")[2]
        if b"Action=" in self.body:
            return parse_qs(self.body.decode("latin-1")).get("Action", [""])[0]
        for service, method, path, name in _REST_OPERATIONS:
            if self.service == service and self.method == method and path.match(self.path):
                return name
        return ""

    def json(self) -> dict[str, Any]:
        try:
            data = json.loads(self.body or b"{}")
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    @property
    def sdk_attempt(self) -> tuple[int, int]:
        """botocore's (attempt, max attempts) from its `amz-sdk-request` header."""
        parts = dict(
            p.strip().split("=", 1) for p in self.header("amz-sdk-request").split(";") if "=" in p
        )
        return int(parts.get("attempt", 1)), int(parts.get("max", 1))


@dataclass
class Hold:
    """Requests matching `match` wait here, unforwarded, until `release()` (or the proxy stops)."""

    match: Callable[[Request], bool]
    arrived: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)
    held: list[Request] = field(default_factory=list)
    forwarded: threading.Event = field(default_factory=threading.Event)

    def release(self) -> None:
        self.released.set()


def call(service: str, *operations: str) -> Callable[[Request], bool]:
    """A match for requests to `service` (its signing name), optionally only these operations."""
    wanted = frozenset(operations)

    def match(request: Request) -> bool:
        return request.service == service and (not wanted or request.operation in wanted)

    return match


@dataclass
class Injection:
    """A reply given instead of moto's to matching requests: `times` of them (None: all)."""

    match: Callable[[Request], bool]
    status: int
    body: bytes
    headers: list[tuple[str, str]]
    times: int | None = None
    hits: list[Request] = field(default_factory=list)

    def take(self, request: Request) -> bool:
        """True when this injection answers `request` (and counts it)."""
        if (self.times is not None and len(self.hits) >= self.times) or not self.match(request):
            return False
        self.hits.append(request)
        return True


class _Closed(Exception):
    """The client went away, or the proxy was cut."""


class FaultProxy:
    """Forwards loopback HTTP to `upstream` (the moto endpoint); see the module docstring."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        # moto evaluates a condition and applies the write without a lock, so two concurrent
        # conditional writes to one item can both succeed; DynamoDB does them atomically.
        # One DynamoDB call at a time through the proxy gives the service DynamoDB's semantics.
        self._dynamodb = threading.Lock()
        self._acceptor: threading.Thread | None = None
        self._accepting = threading.Event()
        self._stopped = threading.Event()
        self.port = 0
        self.latency = 0.0
        self.pending: Counter[str] = Counter()  # requests received, not yet answered, by target
        self._throttle: tuple[float, random.Random, Callable[[Request], bool], bool] | None = None
        self._holds: list[Hold] = []
        self._injections: list[Injection] = []
        self._cuts: list[tuple[Callable[[Request], bool], bool]] = []
        self._drops: list[list[Any]] = []  # [match, replies still to drop]
        self.dropped: list[Request] = []
        self.counts: Counter[str] = Counter()

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FaultProxy:
        self._listen()
        return self

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        # accept() wakes up now and then, so that cut() can close the socket from this thread.
        listener.settimeout(0.05)
        self.port = listener.getsockname()[1]
        self._accepting.set()
        self._acceptor = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._acceptor.start()

    def _accept(self, listener: socket.socket) -> None:
        try:
            while self._accepting.is_set():
                try:
                    conn, _ = listener.accept()
                except TimeoutError:
                    continue
                except OSError:
                    return
                conn.settimeout(None)
                with self._lock:
                    self._conns.add(conn)
                threading.Thread(target=self._serve, args=(conn,), daemon=True).start()
        finally:
            listener.close()

    def cut(self) -> None:
        """Refuse new connections and close the open ones, until `restore()`."""
        self._accepting.clear()
        if self._acceptor is not None:
            self._acceptor.join(timeout=5)
        self._acceptor = None
        self._close_connections()

    def restore(self) -> None:
        """Listen again, on the same port."""
        if not self._accepting.is_set():
            self._listen()

    def stop(self) -> None:
        self._stopped.set()
        for hold in self._holds:
            hold.release()
        self.cut()

    def _close_connections(self) -> None:
        with self._lock:
            conns, self._conns = set(self._conns), set()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    # -- faults ---------------------------------------------------------------------------

    def throttle(
        self,
        fraction: float,
        *,
        seed: int,
        match: Callable[[Request], bool] | None = None,
        spare_last_attempt: bool = False,
    ) -> None:
        """Answer `fraction` of matching calls (default: every DynamoDB call) with the 400
        ProvisionedThroughputExceededException DynamoDB sends.

        The decisions come from one seeded generator. `spare_last_attempt` lets botocore's
        final attempt through: throttling that its retries ride out, as opposed to throttling
        that outlasts them.
        """
        rule = match or (lambda r: r.target.startswith("DynamoDB_"))
        self._throttle = (fraction, random.Random(seed), rule, spare_last_attempt)

    def stop_throttling(self) -> None:
        self._throttle = None

    def inject(
        self,
        match: Callable[[Request], bool],
        status: int,
        body: bytes | str = b"",
        headers: Iterable[tuple[str, str]] = (),
        *,
        times: int | None = None,
    ) -> Injection:
        """Answer matching requests with this reply instead of forwarding them to moto.

        `times` bounds how many requests it answers (None: every one until `clear`); the
        first injection added that matches a request answers it. A request id header is
        added when `headers` has none, as AWS always sends one.
        """
        raw = body.encode() if isinstance(body, str) else body
        reply = list(headers)
        if not any(k.lower() in ("x-amzn-requestid", "x-amz-request-id") for k, _ in reply):
            reply.append(("x-amzn-RequestId", str(uuid.uuid4())))
        injection = Injection(match, status, raw, reply, times)
        with self._lock:
            self._injections.append(injection)
        return injection

    def clear(self, injection: Injection | None = None) -> None:
        """Stop one injection, or all of them."""
        with self._lock:
            if injection is None:
                self._injections.clear()
            elif injection in self._injections:
                self._injections.remove(injection)

    def _injected(self, request: Request) -> Injection | None:
        with self._lock:
            return next((i for i in self._injections if i.take(request)), None)

    def hold(self, match: Callable[[Request], bool]) -> Hold:
        hold = Hold(match)
        self._holds.append(hold)
        return hold

    def cut_when(self, match: Callable[[Request], bool], *, after_forward: bool) -> None:
        """Cut the endpoint on the first matching request: before it reaches moto, or after
        moto has done it but before its reply gets back (a write that happened, unanswered)."""
        self._cuts.append((match, after_forward))

    def drop_reply(self, match: Callable[[Request], bool], *, times: int = 1) -> None:
        """Forward the next `times` matching requests but never answer them (see the module
        docstring): a write that landed, whose caller does not know it."""
        with self._lock:
            self._drops.append([match, times])

    def _drop_if(self, request: Request) -> bool:
        with self._lock:
            for rule in self._drops:
                if rule[1] > 0 and rule[0](request):
                    rule[1] -= 1
                    self.dropped.append(request)
                    return True
        return False

    def _cut_if(self, request: Request, *, after_forward: bool) -> bool:
        for rule in list(self._cuts):
            if rule[1] == after_forward and rule[0](request):
                self._cuts.remove(rule)
                self.cut()
                return True
        return False

    def _throttled(self, request: Request) -> bool:
        rule = self._throttle
        if rule is None:
            return False
        fraction, rng, match, spare_last = rule
        if not match(request):
            return False
        attempt, most = request.sdk_attempt
        last = attempt >= most
        with self._lock:
            hit = rng.random() < fraction and not (spare_last and last)
            if hit and last:
                self.counts["throttled_last_attempt"] += 1  # botocore gives up on this call
        return hit

    # -- HTTP -----------------------------------------------------------------------------

    def _serve(self, conn: socket.socket) -> None:
        upstream = http.client.HTTPConnection(*self._upstream, timeout=60)
        reader = conn.makefile("rb")
        try:
            while self._accepting.is_set():
                request = self._read(reader)
                if request is None:
                    return
                with self._lock:
                    self.pending[request.target] += 1
                try:
                    if not self._exchange(conn, upstream, request):
                        return
                finally:
                    with self._lock:
                        self.pending[request.target] -= 1
        except (_Closed, OSError, http.client.HTTPException):
            return
        finally:
            with self._lock:
                self._conns.discard(conn)
            reader.close()
            conn.close()
            upstream.close()

    def _exchange(
        self, conn: socket.socket, upstream: http.client.HTTPConnection, request: Request
    ) -> bool:
        """Answer one request; False when the connection is to be closed."""
        status, headers, body, hold = self._answer(request)
        if status == 0:  # to be forwarded
            if self._cut_if(request, after_forward=False):
                return False
            if request.target.startswith("DynamoDB_"):
                with self._dynamodb:
                    status, headers, body = self._forward(upstream, request)
            else:
                status, headers, body = self._forward(upstream, request)
            if hold is not None:
                hold.forwarded.set()
            self._cut_if(request, after_forward=True)
            if self._drop_if(request):
                return False  # the connection closes unanswered
        if not self._accepting.is_set():
            return False  # cut while this request was in flight: the caller gets nothing
        self._write(conn, status, headers, body)
        return request.header("Connection").lower() != "close"

    def _answer(self, request: Request) -> tuple[int, list[tuple[str, str]], bytes, Hold | None]:
        """Decide the fate of one request; status 0 means forward it."""
        with self._lock:
            self.counts[request.target or request.method] += 1
        injected = self._injected(request)
        if injected is not None:
            with self._lock:
                self.counts["injected"] += 1
            return injected.status, injected.headers, injected.body, None
        if self._throttled(request):
            with self._lock:
                self.counts["throttled"] += 1
            headers = [
                ("Content-Type", "application/x-amz-json-1.0"),
                ("x-amzn-RequestId", uuid.uuid4().hex),
            ]
            return 400, headers, _THROTTLE_BODY, None
        matched = next((h for h in list(self._holds) if h.match(request)), None)
        if matched is not None:
            matched.held.append(request)
            matched.arrived.set()
            # Bounded: a forgotten hold cannot keep a thread past a minute.
            if not matched.released.wait(timeout=60) or self._stopped.is_set():
                raise _Closed
        if self.latency:
            time.sleep(self.latency)
        return 0, [], b"", matched

    def _forward(
        self, upstream: http.client.HTTPConnection, request: Request
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        upstream.putrequest(request.method, request.path, skip_host=True, skip_accept_encoding=True)
        for name, value in request.headers:
            if name.lower() not in _HOP and name.lower() != "content-length":
                upstream.putheader(name, value)
        upstream.putheader("Content-Length", str(len(request.body)))
        upstream.endheaders(request.body)
        reply = upstream.getresponse()
        body = reply.read()
        headers = [
            (k, v) for k, v in reply.getheaders() if k.lower() not in _HOP | {"content-length"}
        ]
        return reply.status, headers, body

    @staticmethod
    def _read(reader: Any) -> Request | None:
        line = reader.readline(_MAX_HEADER_BYTES)
        if not line:
            return None
        method, path, _version = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
        headers: list[tuple[str, str]] = []
        while True:
            raw = reader.readline(_MAX_HEADER_BYTES)
            if not raw:
                raise _Closed
            text = raw.decode("latin-1").rstrip("\r\n")
            if not text:
                break
            name, _, value = text.partition(":")
            headers.append((name.strip(), value.strip()))
        length = next((int(v) for k, v in headers if k.lower() == "content-length"), 0)
        body = reader.read(length) if length else b""
        if len(body) != length:
            raise _Closed
        return Request(method, path, headers, body)

    @staticmethod
    def _write(
        conn: socket.socket, status: int, headers: list[tuple[str, str]], body: bytes
    ) -> None:
        reason = http.client.responses.get(status, "")
        lines = [f"HTTP/1.1 {status} {reason}"]
        lines += [f"{k}: {v}" for k, v in headers]
        lines += [f"Content-Length: {len(body)}", "Connection: keep-alive", "", ""]
        conn.sendall("\r\n".join(lines).encode("latin-1") + body)
