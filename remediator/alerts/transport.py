"""POST JSON over HTTPS with the standard library: explicit timeout, small bounded retry.

Retries (tenacity, full jitter) cover 429, 5xx and connection errors, bounded by attempts
and by total time; longer outages are SQS's to retry, by redelivering the record. A call may
also carry a deadline (the Lambda invocation's): no attempt starts, and no socket waits,
past it. Error messages name the destination, never the URL or body: a webhook URL and a
routing key are secrets.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

from remediator.alerts.errors import DeliveryFailed, DeliveryRejected

__all__ = ["JsonPoster", "is_transient_status"]

_USER_AGENT = "self-healing-pipelines-remediator"
# An attempt with less time than this left before the deadline is not started.
_MIN_ATTEMPT_SECONDS = 0.1


class _Transient(Exception):
    """One attempt failed in a way another attempt may fix."""


class _OutOfTime(Exception):
    """The deadline leaves no time for another attempt."""


def is_transient_status(status: int) -> bool:
    return status == 429 or status >= 500


class JsonPoster:
    """Sends one JSON document per call; returns the HTTP status, or raises DeliveryFailed."""

    def __init__(
        self,
        *,
        timeout: float = 5.0,
        max_attempts: int = 3,
        max_seconds: float = 20.0,
        wait_min: float = 0.2,
        wait_max: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.max_seconds = max_seconds
        self.wait_max = wait_max
        self._wait = wait_random_exponential(multiplier=wait_min, max=wait_max)
        self._sleep = sleep
        self._monotonic = monotonic

    def post(
        self,
        destination: str,
        url: str,
        document: Mapping[str, Any],
        *,
        deadline: float | None = None,
    ) -> int:
        """POST `document`; `deadline` (on this poster's monotonic clock) bounds every wait."""
        data = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        attempts = 0

        def left() -> float:
            return float("inf") if deadline is None else deadline - self._monotonic()

        def attempt() -> int:
            nonlocal attempts
            if left() < _MIN_ATTEMPT_SECONDS:
                raise _OutOfTime
            attempts += 1
            return self._once(destination, url, data, min(self.timeout, left()))

        def wait(state: RetryCallState) -> float:
            return max(0.0, min(self._wait(state), left() - _MIN_ATTEMPT_SECONDS))

        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts) | stop_after_delay(self.max_seconds),
            wait=wait,
            retry=retry_if_exception_type(_Transient),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            return retrying(attempt)
        except _Transient as exc:
            raise DeliveryFailed(f"{exc}; gave up after {attempts} attempt(s)") from None
        except _OutOfTime:
            raise DeliveryFailed(
                f"{destination}: no time left before the deadline after {attempts} attempt(s)"
            ) from None

    def _once(self, destination: str, url: str, data: bytes, timeout: float) -> int:
        try:
            request = urllib.request.Request(  # noqa: S310 - scheme checked to be http(s)
                url,
                data=data,
                method="POST",
                headers={"Content-Type": "application/json", "User-Agent": _USER_AGENT},
            )
        except ValueError:
            # urllib's message would quote the URL.
            raise DeliveryRejected(f"{destination}: the URL is invalid (not shown)") from None
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                response.read()
                return int(response.status)
        except http.client.InvalidURL:
            raise DeliveryRejected(f"{destination}: the URL is invalid (not shown)") from None
        except urllib.error.HTTPError as exc:
            status = exc.code
            exc.close()
            if is_transient_status(status):
                raise _Transient(f"{destination} answered HTTP {status}") from None
            raise DeliveryRejected(f"{destination} refused the message: HTTP {status}") from None
        except (OSError, http.client.HTTPException) as exc:
            # URLError, timeouts, resets; the class name is enough and leaks no URL.
            reason = getattr(exc, "reason", None)
            kind = type(reason).__name__ if isinstance(reason, BaseException) else ""
            detail = f"{type(exc).__name__}{f' ({kind})' if kind else ''}"
            raise _Transient(f"{destination} unreachable: {detail}") from None
