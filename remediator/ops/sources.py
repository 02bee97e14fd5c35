"""Which job a source (`glue:NAME`, `states:ARN`) belongs to: one small item per source.

A state-change event names the Glue job or state machine, not our job: the item
pk = SOURCES, sk = SOURCE#<source> answers in one read. One source belongs to one job: a
second job naming it is refused, with the job that has it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from observability.audit import AuditStore
from observability.errors import InvalidInput, StoreUnavailable
from observability.models import iso
from observability.models.keys import source_key

__all__ = ["claim_source", "release_source"]


def _key(source: str) -> dict[str, dict[str, str]]:
    pk, sk = source_key(source)
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def claim_source(store: AuditStore, source: str, job_id: str, *, actor: str, now: datetime) -> None:
    """Name `job_id` as the job of `source`, unless another job has it (InvalidInput)."""
    pk, sk = source_key(source)
    try:
        store.clients.client("dynamodb").put_item(
            TableName=store.table_name,
            Item={
                "pk": {"S": pk},
                "sk": {"S": sk},
                "job_id": {"S": job_id},
                "updated_at": {"S": iso(now)},
                "updated_by": {"S": actor},
            },
            ConditionExpression="attribute_not_exists(pk) OR job_id = :job",
            ExpressionAttributeValues={":job": {"S": job_id}},
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            held: Any = exc.response.get("Item") or {}  # the item as it stands (ALL_OLD)
            other = held.get("job_id", {}).get("S", "?")
            raise InvalidInput(
                "--source", f"{source} is the source of job {other!r}: clear it there first"
            ) from None
        raise StoreUnavailable(f"PutItem of source {source}: {exc}") from exc
    except BotoCoreError as exc:
        raise StoreUnavailable(f"PutItem of source {source}: {exc}") from exc


def release_source(store: AuditStore, source: str, job_id: str) -> None:
    """Forget `source`, if it is still `job_id`'s."""
    try:
        store.clients.client("dynamodb").delete_item(
            TableName=store.table_name,
            Key=_key(source),
            ConditionExpression="job_id = :job",
            ExpressionAttributeValues={":job": {"S": job_id}},
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise StoreUnavailable(f"DeleteItem of source {source}: {exc}") from exc
    except BotoCoreError as exc:
        raise StoreUnavailable(f"DeleteItem of source {source}: {exc}") from exc
