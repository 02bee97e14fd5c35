"""`bootstrap` right after CreateTable: point-in-time recovery may not be ready yet.

DynamoDB answers UpdateContinuousBackups with ContinuousBackupsUnavailableException while a
new table's backups are being enabled; moto never does. The proxy gives that answer.
"""

from __future__ import annotations

import uuid

import pytest

from observability.clients import AwsClients
from remediator.errors import ProvisionError
from remediator.stack.provision import PITR_WAIT_SECONDS, bootstrap
from tests.awserrors import dynamodb_error
from tests.conftest import REGION
from tests.proxy import FaultProxy, call

NOT_READY = dynamodb_error(
    "ContinuousBackupsUnavailableException",
    "Backups are being enabled for the table: audit. Please retry later",
)


def test_bootstrap_waits_for_point_in_time_recovery_to_be_available(proxy: FaultProxy):
    clients = AwsClients(region=REGION, endpoint_url=proxy.url)
    refused = proxy.inject(call("dynamodb", "UpdateContinuousBackups"), **NOT_READY, times=2)
    slept: list[float] = []
    table = f"audit-{uuid.uuid4().hex[:12]}"
    resources = bootstrap(clients, table, sleep=slept.append)
    assert resources.table_name == table
    assert len(refused.hits) == 2
    assert len(slept) == 2
    backups = clients.dynamodb().describe_continuous_backups(TableName=table)
    pitr = backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert pitr["PointInTimeRecoveryStatus"] == "ENABLED"


def test_bootstrap_gives_up_after_a_bounded_wait_saying_what_to_do(proxy: FaultProxy):
    clients = AwsClients(region=REGION, endpoint_url=proxy.url)
    refused = proxy.inject(call("dynamodb", "UpdateContinuousBackups"), **NOT_READY)
    slept: list[float] = []
    with pytest.raises(ProvisionError, match="point-in-time recovery") as info:
        bootstrap(clients, f"audit-{uuid.uuid4().hex[:12]}", sleep=slept.append)
    assert "bootstrap again" in str(info.value)
    assert PITR_WAIT_SECONDS <= sum(slept) <= PITR_WAIT_SECONDS + max(slept)
    assert len(refused.hits) == len(slept) + 1
