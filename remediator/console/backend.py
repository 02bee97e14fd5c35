"""What the console's pages read and act through: the caller's settings, clients and identity,
the same objects a CLI command builds (`remediator.cli.context`), held for the process."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from observability.audit import AuditStore
from observability.audit.shape import agreed_shards
from observability.notifier import Notifier
from observability.telemetry.metrics import Metrics
from observability.transitions import TableConfig
from remediator.bulk.items import OperationItems
from remediator.ops.identity import Actor, IdentityUnavailable, caller
from remediator.remediation import Remediator
from remediator.settings import RemediatorSettings
from remediator.views.waterfall import SpanLine

if TYPE_CHECKING:
    from observability.clients import AwsClients

__all__ = ["Backend", "SpanSource"]

# The spans recorded for a trace id, where this process recorded any (the demo does).
SpanSource = Callable[[str], Sequence[SpanLine]]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Backend:
    """One per console process; every page and action goes through `remediator.ops`."""

    settings: RemediatorSettings
    clients: AwsClients
    spans: SpanSource | None = None
    clock: Callable[[], datetime] = _utc_now
    identity: str | None = None  # the caller's ARN, read once (None: AWS out of reach)
    identity_error: str | None = None
    _remediator: Remediator | None = field(default=None, repr=False)

    def read_identity(self) -> None:
        """The caller's AWS identity, shown in the header and recorded with every action."""
        try:
            self.identity = caller(self.clients.client("sts")).arn
            self.identity_error = None
        except IdentityUnavailable as exc:
            self.identity, self.identity_error = None, str(exc)

    def actor(self, operator: str | None) -> Actor:
        """Who an action is recorded as: the caller's ARN, a declared name only beside it."""
        if self.identity is None:
            self.read_identity()
        if self.identity is None:
            raise IdentityUnavailable(self.identity_error or "the caller's identity is unknown")
        return Actor(arn=self.identity, operator=(operator or "").strip() or None)

    def now(self) -> datetime:
        return self.clock()

    @property
    def region(self) -> str:
        return self.settings.region or self.clients.dynamodb().meta.region_name or "us-east-1"

    def store(self) -> AuditStore:
        return AuditStore(self.clients, self.settings.table_name)

    def operations(self) -> OperationItems:
        return OperationItems(self.clients, self.settings.table_name)

    def notifier(self) -> Notifier:
        return Notifier(self.clients, self.settings.topic_arn)

    def table(self) -> TableConfig:
        """The table's agreed shape, as `resolve` and `cancel` write with it."""
        return TableConfig(
            shards=agreed_shards(self.store().shape(), self.settings),
            stale_after_seconds=self.settings.stale_after_seconds,
            ttl_days=self.settings.ttl_days,
        )

    def remediator(self) -> Remediator:
        """The re-trigger path of `replay` (EMF lines belong to the service, not here)."""
        if self._remediator is None:
            self._remediator = Remediator(
                self.settings, clients=self.clients, metrics=Metrics(enabled=False)
            )
        return self._remediator
