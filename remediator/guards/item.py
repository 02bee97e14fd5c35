"""One small item of the audit table, updated under a condition: the guards' only I/O.

ClientErrors become StoreUnavailable; a failed condition is an answer (None), not an error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from observability.errors import StoreUnavailable

if TYPE_CHECKING:
    from observability.clients import AwsClients

__all__ = ["Item"]


def _conditional_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class Item:
    """Conditional updates of one small item; ClientErrors become StoreUnavailable."""

    def __init__(self, clients: AwsClients, table: str) -> None:
        self._clients = clients
        self.table = table

    def update(self, key: tuple[str, str], **kwargs: Any) -> dict[str, Any] | None:
        """The new attributes, or None when the condition failed."""
        try:
            reply = self._clients.client("dynamodb").update_item(
                TableName=self.table,
                Key={"pk": {"S": key[0]}, "sk": {"S": key[1]}},
                ReturnValues="ALL_NEW",
                **kwargs,
            )
        except ClientError as exc:
            if _conditional_failed(exc):
                return None
            raise StoreUnavailable(f"UpdateItem on {self.table!r} failed: {exc}") from exc
        except BotoCoreError as exc:
            raise StoreUnavailable(f"UpdateItem on {self.table!r} failed: {exc}") from exc
        return dict(reply.get("Attributes", {}))

    def get(self, key: tuple[str, str]) -> dict[str, Any]:
        try:
            reply = self._clients.client("dynamodb").get_item(
                TableName=self.table, Key={"pk": {"S": key[0]}, "sk": {"S": key[1]}}
            )
        except (ClientError, BotoCoreError) as exc:
            raise StoreUnavailable(f"GetItem on {self.table!r} failed: {exc}") from exc
        return dict(reply.get("Item", {}))
