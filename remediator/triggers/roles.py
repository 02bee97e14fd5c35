"""Targets in other accounts: the role a trigger names, assumed once per credential lifetime.

AssumeRole (with the trigger's ExternalId) answers temporary credentials and when they
expire; they are kept, per role and external id, and used until `refresh_seconds` before
that moment (their lifetime counted on STS's clock, from its reply's Date, then on the
remediator's), then assumed again. A replica firing a thousand batches at one account calls
STS once an hour, not a thousand times. IAM lets the remediator assume only the roles its
deployment lists (Terraform's `trigger_assume_role_arns`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from observability.clients import AwsClients

__all__ = ["SESSION_NAME", "AssumedRoles"]

# The session the target account's CloudTrail names the remediator's calls with.
SESSION_NAME = "remediator"
# AssumeRole's default: every role allows it, and it is the most role chaining allows (the
# remediator's ECS task role is itself an assumed role).
DURATION_SECONDS = 3600
REFRESH_SECONDS = 300  # refreshed 5 minutes ahead: no call starts on credentials about to end


@dataclass(frozen=True)
class _Held:
    clients: AwsClients
    expires: datetime


class AssumedRoles:
    """Clients signed as a trigger's role, from credentials kept until shortly before expiry."""

    def __init__(
        self,
        clients: AwsClients,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        duration_seconds: int = DURATION_SECONDS,
        refresh_seconds: float = REFRESH_SECONDS,
    ) -> None:
        self._clients = clients  # who assumes: the remediator's own identity
        self._clock = clock
        self._duration = duration_seconds
        self._refresh = timedelta(seconds=refresh_seconds)
        self._held: dict[tuple[str, str], _Held] = {}
        # One AssumeRole at a time: threads firing at the same role share one answer.
        self._lock = threading.Lock()

    def clients_for(self, role_arn: str, external_id: str | None = None) -> AwsClients:
        key = (role_arn, external_id or "")
        with self._lock:
            held = self._held.get(key)
            if held is None or self._clock() >= held.expires - self._refresh:
                held = self._assume(role_arn, external_id)
                self._held[key] = held
            return held.clients

    def _assume(self, role_arn: str, external_id: str | None) -> _Held:
        kwargs = {"RoleArn": role_arn, "RoleSessionName": SESSION_NAME}
        if external_id:
            kwargs["ExternalId"] = external_id
        reply = self._clients.client("sts").assume_role(DurationSeconds=self._duration, **kwargs)
        credentials = reply["Credentials"]
        clients = self._clients.with_credentials(
            credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials["SessionToken"]
        )
        return _Held(clients, self._clock() + _lifetime(reply))


def _lifetime(reply: Mapping[str, Any]) -> timedelta:
    """How long the credentials last, by STS's own clock: Expiration less the reply's `Date`
    (a local clock off by minutes neither keeps expired credentials nor re-assumes at every
    call). Without a Date header, by the local clock."""
    expires = _aware(reply["Credentials"]["Expiration"])
    date = reply.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
    try:
        issued = _aware(parsedate_to_datetime(date)) if date else datetime.now(UTC)
    except (TypeError, ValueError):
        issued = datetime.now(UTC)
    return max(expires - issued, timedelta(0))


def _aware(moment: datetime) -> datetime:
    # botocore parses Expiration aware; a naive one is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
