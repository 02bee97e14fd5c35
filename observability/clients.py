"""One boto3 client per AWS service per process: created on first use, then reused.

A reused client keeps its connection pool, so warm invocations pay no new TLS handshake.
Nothing is created at import time, and tests inject their own `AwsClients`.
Retries of AWS calls belong to botocore's `standard` mode here and nowhere else.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from observability.errors import ConfigError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

__all__ = ["AwsClients", "default_clients", "reset_default_clients"]

# SQS long polls for 20 s: its read timeout must outlast the wait.
_READ_TIMEOUT = {"sqs": 30.0}


class AwsClients:
    """Lazily built, thread-safe, reused clients sharing one session and one Config."""

    def __init__(
        self,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        session: boto3.Session | None = None,
        max_pool_connections: int = 16,
        connect_timeout: float = 3.0,
        read_timeout: float = 10.0,
        max_attempts: int | None = None,
    ) -> None:
        self._session = session or boto3.Session(region_name=region)
        self._endpoint_url = endpoint_url
        self._lock = threading.Lock()
        self._clients: dict[str, Any] = {}
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._pool = max_pool_connections
        # AWS_MAX_ATTEMPTS is honoured, as botocore would; the explicit Config wins otherwise.
        self._max_attempts = max_attempts or int(os.environ.get("AWS_MAX_ATTEMPTS", "5") or 5)

    def derive(self, *, max_attempts: int, read_timeout: float | None = None) -> AwsClients:
        """Clients on the same session and endpoint with other retry and timeout settings."""
        return AwsClients(
            endpoint_url=self._endpoint_url,
            session=self._session,
            max_pool_connections=self._pool,
            connect_timeout=self._connect_timeout,
            read_timeout=self._read_timeout if read_timeout is None else read_timeout,
            max_attempts=max_attempts,
        )

    @property
    def region(self) -> str:
        region = self._session.region_name
        if not region:
            raise ConfigError("no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION)")
        return region

    def config_for(self, service: str) -> Config:
        return Config(
            region_name=self.region,
            retries={"mode": "standard", "max_attempts": self._max_attempts},
            connect_timeout=self._connect_timeout,
            read_timeout=_READ_TIMEOUT.get(service, self._read_timeout),
            tcp_keepalive=True,
            max_pool_connections=self._pool,
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
                found = self._session.client(service, **kwargs)  # type: ignore[call-overload]
                self._clients[service] = found
            return found

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
    """Forget the process-wide clients (after a fork, or when credentials change)."""
    global _default
    with _default_lock:
        _default = None
