"""One client process of an endpoint-ceiling probe: one kind of call, flat out.

`python -m bench.ceiling_worker ENDPOINT TABLE OP START_AT SECONDS` waits until START_AT
(epoch seconds) so that every probe process starts together, then prints one JSON line.
OP `get` is a GetItem of one small item (the simplest call); `transact` a TransactWriteItems
of two small puts (the call every re-trigger makes to record itself).
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
import uuid
from typing import Any

import boto3
from botocore.exceptions import ClientError

from bench.endpoint import REGION
from observability.clients import AwsClients


def _call(ddb: Any, table: str, op: str) -> Any:
    if op == "get":
        return lambda: ddb.get_item(
            TableName=table, Key={"pk": {"S": "ceiling"}, "sk": {"S": "probe"}}
        )
    prefix = uuid.uuid4().hex[:8]
    count = iter(range(10**9))

    def transact() -> None:
        pk = {"S": f"probe-{prefix}-{next(count)}"}
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": {"pk": pk, "sk": {"S": sk}}}}
                for sk in ("STATE#probe", "EVENT#probe#0000000001")
            ]
        )

    return transact


def main(argv: list[str]) -> int:
    endpoint, table, op = argv[0], argv[1], argv[2]
    start_at, seconds = float(argv[3]), float(argv[4])
    config = AwsClients(region=REGION).config_for("dynamodb")
    ddb = boto3.Session(region_name=REGION).client("dynamodb", endpoint_url=endpoint, config=config)
    call = _call(ddb, table, op)
    # Connection and model loaded before the start; a 500 from moto racing the other
    # probe's warm-up is not fatal (the timed loop counts those).
    with contextlib.suppress(ClientError):
        call()
    time.sleep(max(0.0, start_at - time.time()))
    ops = failed = 0
    cpu0, stop = time.process_time(), start_at + seconds
    while time.time() < stop:
        try:
            call()
            ops += 1
        except ClientError:  # moto's 500s, still failing after botocore's retries
            failed += 1
    elapsed, cpu = time.time() - start_at, time.process_time() - cpu0
    print(json.dumps({"ops": ops, "failed": failed, "seconds": elapsed, "cpu": cpu}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
