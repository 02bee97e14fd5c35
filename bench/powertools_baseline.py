"""The yardstick: AWS Lambda Powertools' idempotency utility around the same empty batch.

`idempotent_function` with `DynamoDBPersistenceLayer` on its own table (its documented
schema, key `id`), on the same endpoint and with the same botocore Config as the library.
It makes two calls per new key: a conditional PutItem (INPROGRESS), an UpdateItem (COMPLETED).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

__all__ = ["powertools_batch"]


def powertools_batch(ddb: Any) -> Callable[[str, str], None]:
    """Create the idempotency table; return `run(job, batch)` guarded by Powertools."""
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

    @idempotent_function(
        data_keyword_argument="batch", persistence_store=layer, config=IdempotencyConfig()
    )
    def work(batch: dict[str, str]) -> dict[str, str]:
        return {"batch_id": batch["batch_id"]}

    def run(job: str, batch: str) -> None:
        work(batch={"job_id": job, "batch_id": batch})

    return run
