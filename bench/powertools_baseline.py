"""The yardstick: AWS Lambda Powertools' idempotency utility around the same empty batch.

`idempotent_function` with `DynamoDBPersistenceLayer` on its own table (its documented
schema, key `id`), on the same endpoint and with the same botocore Config as the library.
A new key costs two calls: a conditional PutItem (INPROGRESS) and an UpdateItem
(COMPLETED); a function that raises has its record deleted (DeleteItem) instead, so that a
later call runs it again.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

__all__ = ["PowertoolsFailure", "powertools_batch"]


class PowertoolsFailure(RuntimeError):
    """Raised inside the guarded function when a run is asked to fail."""


def powertools_batch(ddb: Any) -> Callable[..., None]:
    """Create the idempotency table; return `run(job, batch, fail=False)` guarded by
    Powertools (with `fail`, the guarded function raises PowertoolsFailure)."""
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )

    table = f"idempotency-{uuid.uuid4().hex[:8]}"
    ddb.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    )
    ddb.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1})
    layer = DynamoDBPersistenceLayer(table_name=table, boto3_client=ddb)
    # Outside the guarded data, so that a failed batch and its re-run have the same key.
    failing: list[bool] = [False]

    @idempotent_function(
        data_keyword_argument="batch", persistence_store=layer, config=IdempotencyConfig()
    )
    def work(batch: dict[str, str]) -> dict[str, str]:
        if failing[0]:
            raise PowertoolsFailure(f"bench failure of {batch['batch_id']}")
        return {"batch_id": batch["batch_id"]}

    def run(job: str, batch: str, *, fail: bool = False) -> None:
        failing[0] = fail
        work(batch={"job_id": job, "batch_id": batch})

    return run
