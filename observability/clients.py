"""One botocore client per AWS service per process: created on first use, then reused.

A reused client keeps its connection pool, so warm invocations pay no new TLS handshake.
Nothing is created at import time, and tests inject their own `AwsClients`.
A forked child starts with no clients (see observability.forksafe): threads share one client
safely, processes never share a socket, so anything built before the fork (a trail, a
worker) uses the child's own pools.
Retries of AWS calls belong to botocore's `standard` mode here and nowhere else.
Every reply is checked to be AWS's before it is read (observability.replies).

The clients come from a botocore session, not boto3's: a boto3 client of these services is
the same botocore client, and `import boto3` also imports s3transfer and multiprocessing,
which a cold process would pay for at every start (bench.coldstart). A boto3 `Session`
passed in is used as it is.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import botocore.session
from botocore.config import Config

from observability import forksafe
from observability.errors import ConfigError
from observability.replies import watch_replies

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

__all__ = ["DEFAULT_MAX_ATTEMPTS", "AwsClients", "default_clients", "reset_default_clients"]

# SQS long polls for 20 s: its read timeout must outlast the wait.
_READ_TIMEOUT = {"sqs": 30.0}
# Services whose every request this code builds itself, from typed attribute values and ids
# and sizes checked before any write (and each request is checked against botocore's model in
# the tests): botocore's own walk over a batch's item costs about 110 us a write, more than
# the rest of the library's work on a batch. Triggers carry users' data: they keep it.
_UNVALIDATED = frozenset({"dynamodb"})
DEFAULT_MAX_ATTEMPTS = 5


def _env_attempts() -> int:
    """AWS_MAX_ATTEMPTS (attempts in total, as botocore reads it), else 5; a bad value is named."""
    raw = os.environ.get("AWS_MAX_ATTEMPTS", "").strip()
    if not raw:
        return DEFAULT_MAX_ATTEMPTS
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"AWS_MAX_ATTEMPTS must be a whole number of at least 1, not {raw!r}")
    return value


def _session(region: str | None) -> botocore.session.Session:
    """A botocore session, as `boto3.Session(region_name=region)` builds its own."""
    session = botocore.session.get_session()
    if region:
        session.set_config_variable("region", region)
    return session


class AwsClients:
    """Lazily built, thread-safe, reused clients sharing one session and one Config."""

    def __init__(
        self,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        session: boto3.Session | botocore.session.Session | None = None,
        max_pool_connections: int = 16,
        connect_timeout: float = 3.0,
        read_timeout: float = 10.0,
        max_attempts: int | None = None,
        read_timeouts: dict[str, float] | None = None,
    ) -> None:
        self._session = session or _session(region)
        self._endpoint_url = endpoint_url
        self._lock = threading.Lock()
        self._clients: dict[str, Any] = {}
        self._date_listeners: list[Callable[[str | None], None]] = []
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        # Derived clients (triggers) give one read timeout for every service, long poll or not.
        self._read_timeouts = dict(_READ_TIMEOUT) if read_timeouts is None else read_timeouts
        self._pool = max_pool_connections
        # Attempts in total, first one included, as AWS_MAX_ATTEMPTS counts them.
        self._max_attempts = max_attempts or _env_attempts()
        forksafe.after_fork(self._forget_in_child)

    def _forget_in_child(self) -> None:
        # The parent's clients are left unused (their sockets are the parent's), never
        # closed from here; the child builds its own on first use.
        self._lock = threading.Lock()
        self._clients = {}

    def derive(self, *, max_attempts: int, read_timeout: float | None = None) -> AwsClients:
        """Clients on the same session and endpoint with other retry and timeout settings.

        `max_attempts` counts every HTTP request of a call: 1 means botocore never retries.
        A `read_timeout` given here applies to every service (SQS included).
        """
        return AwsClients(
            endpoint_url=self._endpoint_url,
            session=self._session,
            max_pool_connections=self._pool,
            connect_timeout=self._connect_timeout,
            read_timeout=self._read_timeout if read_timeout is None else read_timeout,
            max_attempts=max_attempts,
            read_timeouts=None if read_timeout is None else {},
        )

    def with_credentials(self, access_key: str, secret_key: str, session_token: str) -> AwsClients:
        """Clients with the same settings and endpoint, signed with other (temporary)
        credentials: a role assumed in another account."""
        session = _session(self.region)
        session.set_credentials(access_key, secret_key, session_token)
        return AwsClients(
            endpoint_url=self._endpoint_url,
            session=session,
            max_pool_connections=self._pool,
            connect_timeout=self._connect_timeout,
            read_timeout=self._read_timeout,
            max_attempts=self._max_attempts,
            read_timeouts=self._read_timeouts,
        )

    @property
    def region(self) -> str:
        session = self._session
        region = (
            session.get_config_variable("region")
            if isinstance(session, botocore.session.Session)
            else session.region_name
        )
        if not region:
            raise ConfigError(
                "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION); to try things locally, "
                "run `remediator demo --keep` in another shell and paste the export lines it "
                "prints"
            )
        return region

    def config_for(self, service: str) -> Config:
        return Config(
            region_name=self.region,
            # `total_max_attempts` counts attempts; `max_attempts` would count retries (one more).
            retries={"mode": "standard", "total_max_attempts": self._max_attempts},
            connect_timeout=self._connect_timeout,
            read_timeout=self._read_timeouts.get(service, self._read_timeout),
            tcp_keepalive=True,
            max_pool_connections=self._pool,
            parameter_validation=service not in _UNVALIDATED,
        )

    def client(self, service: str) -> Any:
        found = self._clients.get(service)
        if found is not None:
            return found
        with self._lock:
            found = self._clients.get(service)
            if found is None:
                kwargs: dict[str, Any] = {"config": self.config_for(service)}
                if self._endpoint_url:
                    kwargs["endpoint_url"] = self._endpoint_url
                session = self._session
                found = (
                    session.create_client(service, **kwargs)
                    if isinstance(session, botocore.session.Session)
                    else session.client(service, **kwargs)  # type: ignore[call-overload]
                )
                found.meta.events.register("after-call", self._date_seen)
                watch_replies(found)  # a proxy's HTML page is never read as an answer
                self._clients[service] = found
            return found

    def listen_dates(self, listener: Callable[[str | None], None]) -> None:
        """Hand `listener` the `Date` header of every response these clients get."""
        with self._lock:
            self._date_listeners.append(listener)

    def _date_seen(self, http_response: Any = None, **_: Any) -> None:
        if http_response is None or not self._date_listeners:
            return
        date = http_response.headers.get("Date")
        for listener in list(self._date_listeners):
            listener(date)

    def dynamodb(self) -> DynamoDBClient:
        return self.client("dynamodb")  # type: ignore[no-any-return]

    def sns(self) -> SNSClient:
        return self.client("sns")  # type: ignore[no-any-return]

    def sqs(self) -> SQSClient:
        return self.client("sqs")  # type: ignore[no-any-return]


_default: AwsClients | None = None
_default_lock = threading.Lock()


def default_clients(region: str | None = None) -> AwsClients:
    """The process-wide clients, built on first call (never at import)."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = AwsClients(region=region)
    return _default


def reset_default_clients() -> None:
    """Forget the process-wide clients (when credentials change). A forked child needs no
    call: every `AwsClients` forgets its clients there by itself."""
    global _default
    with _default_lock:
        _default = None
