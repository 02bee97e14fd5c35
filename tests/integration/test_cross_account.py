"""A trigger whose target is in another account: fired as the role it names, with the
credentials AssumeRole answered kept until shortly before they expire (calls counted), and
the role in the audit trail. moto keeps accounts apart by the credentials' access key: the
queue below exists only in the other account."""

from __future__ import annotations

from typing import Any

import pytest

from observability import SqsTrigger
from remediator.triggers.roles import REFRESH_SECONDS
from tests.conftest import Clock, drain, new_id
from tests.integration.harness import Stack

OTHER_ACCOUNT = "222222222222"
ROLE = f"arn:aws:iam::{OTHER_ACCOUNT}:role/pipelines-retrigger"
EXTERNAL_ID = "platform-team-42"


class Boom(Exception):
    pass


@pytest.fixture
def stack(settings_kwargs: dict[str, Any], clients: Any, moto_endpoint: str, clock: Clock) -> Stack:
    return Stack(settings_kwargs, clients, moto_endpoint, clock)


def test_a_cross_account_trigger_assumes_its_role_once_per_credential_lifetime(
    stack: Stack, clock: Clock
):
    setup = stack.clients.client("sts").assume_role(RoleArn=ROLE, RoleSessionName="setup")
    keys = setup["Credentials"]
    theirs = stack.clients.with_credentials(
        keys["AccessKeyId"], keys["SecretAccessKey"], keys["SessionToken"]
    )
    url = theirs.sqs().create_queue(QueueName=new_id("work"))["QueueUrl"]
    assert f"/{OTHER_ACCOUNT}/" in url
    assumed: list[dict[str, Any]] = []
    stack.remediator.trigger_clients.client("sts").meta.events.register(
        "provide-client-params.sts.AssumeRole", lambda params, **_: assumed.append(dict(params))
    )
    job = new_id()
    trigger = SqsTrigger(queue_url=url, body={"m": 5}, role_arn=ROLE, external_id=EXTERNAL_ID)

    def fail(batch: str) -> None:
        with pytest.raises(Boom), stack.trail.batch(job, batch, trigger=trigger):
            raise Boom(batch)

    for batch in ("b1", "b2", "b3"):
        fail(batch)
    stack.service.run_once()
    # Three re-triggers, one AssumeRole, with the external id the role's trust asks for.
    assert [(a["RoleArn"], a["ExternalId"]) for a in assumed] == [(ROLE, EXTERNAL_ID)]
    messages = drain(theirs.sqs(), url)
    assert sorted(m["MessageAttributes"]["batch_id"]["StringValue"] for m in messages) == [
        "b1",
        "b2",
        "b3",
    ]
    for batch in ("b1", "b2", "b3"):
        [event] = [e for e in stack.trail.history(job, batch) if e.event.value == "RETRY_TRIGGERED"]
        assert event.detail["role_arn"] == ROLE

    # Within the credentials' hour, short of the refresh margin: still no new AssumeRole.
    clock.advance(3600 - REFRESH_SECONDS - 120)
    fail("b4")
    stack.service.run_once()
    assert len(assumed) == 1
    # Past it: assumed again, once, for the next hour's triggers.
    clock.advance(180)
    for batch in ("b5", "b6"):
        fail(batch)
    stack.service.run_once()
    assert len(assumed) == 2
    assert len(drain(theirs.sqs(), url)) == 3


def test_the_remediators_own_identity_cannot_reach_the_other_accounts_queue(stack: Stack):
    """Without the role the same send is refused: the trigger did go through the role."""
    from observability.models.keys import BatchKey
    from remediator.errors import TriggerRejected
    from remediator.triggers import TriggerContext, fire

    setup = stack.clients.client("sts").assume_role(RoleArn=ROLE, RoleSessionName="setup")
    keys = setup["Credentials"]
    theirs = stack.clients.with_credentials(
        keys["AccessKeyId"], keys["SecretAccessKey"], keys["SessionToken"]
    )
    url = theirs.sqs().create_queue(QueueName=new_id("work"))["QueueUrl"]
    ctx = TriggerContext(BatchKey("ingest", "2024-05"), 2, "t-1")
    with pytest.raises(TriggerRejected, match="NonExistentQueue"):
        fire(stack.clients, SqsTrigger(queue_url=url, body={}).to_dict(), ctx, attempts=1)
    fire(stack.clients, SqsTrigger(queue_url=url, body={}, role_arn=ROLE).to_dict(), ctx)
    [message] = drain(theirs.sqs(), url)
    assert message["MessageAttributes"]["batch_id"]["StringValue"] == "2024-05"
