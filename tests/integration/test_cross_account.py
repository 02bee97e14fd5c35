"""A trigger whose target is in another account: fired as the role it names, with the
credentials AssumeRole answered kept until shortly before they expire (calls counted), and
the role in the audit trail. moto keeps accounts apart by the credentials' access key: the
queue below exists only in the other account."""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from observability import SqsTrigger
from remediator.triggers.roles import REFRESH_SECONDS
from tests.conftest import Clock, drain, new_id
from tests.integration.harness import Stack
from tests.proxy import FaultProxy, Request

OTHER_ACCOUNT = "222222222222"
ROLE = f"arn:aws:iam::{OTHER_ACCOUNT}:role/pipelines-retrigger"
EXTERNAL_ID = "platform-team-42"


class Boom(Exception):
    pass


_KEY = re.compile(r"Credential=([^/]+)/")


class CallCountingProxy(FaultProxy):
    """The fault proxy, counting the requests that reach the endpoint by operation, and the
    access keys each operation was signed with."""

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream)
        self.calls: Counter[str] = Counter()
        self.keys: dict[str, set[str]] = {}
        self._calls_lock = threading.Lock()

    def _answer(self, request: Request) -> Any:
        key = _KEY.search(request.header("Authorization"))
        with self._calls_lock:
            self.calls[request.operation] += 1
            self.keys.setdefault(request.operation, set()).add(key.group(1) if key else "")
        return super()._answer(request)


@pytest.fixture
def proxy(moto_endpoint: str) -> Iterator[CallCountingProxy]:
    counting = CallCountingProxy(moto_endpoint)
    counting.start()
    yield counting
    counting.stop()


@pytest.fixture
def stack(
    settings_kwargs: dict[str, Any], clients: Any, proxy: CallCountingProxy, clock: Clock
) -> Stack:
    # The remediator's re-triggers (AssumeRole included) go through the counting proxy.
    return Stack(settings_kwargs, clients, proxy.url, clock)


def test_a_cross_account_trigger_assumes_its_role_once_per_credential_lifetime(
    stack: Stack, clock: Clock, proxy: CallCountingProxy
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
    # Three re-triggers, one AssumeRole (counted where it reaches STS), with the external id
    # the role's trust asks for; the sends are signed with the role's key, not ours.
    assert proxy.calls["AssumeRole"] == 1
    assert proxy.calls["SendMessage"] == 3
    assert [(a["RoleArn"], a["ExternalId"]) for a in assumed] == [(ROLE, EXTERNAL_ID)]
    [own_key] = proxy.keys["AssumeRole"]
    assert own_key not in proxy.keys["SendMessage"]
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
    assert proxy.calls["AssumeRole"] == 1
    # Past it: assumed again, once, for the next hour's triggers.
    clock.advance(180)
    for batch in ("b5", "b6"):
        fail(batch)
    stack.service.run_once()
    assert proxy.calls["AssumeRole"] == 2
    assert proxy.calls["SendMessage"] == 6
    assert len(proxy.keys["SendMessage"]) == 2  # the second hour's credentials sign them
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
