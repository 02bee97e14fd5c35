"""`doctor`'s checks of the signal queue, its dead-letter queue and the topic's subscribers."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from observability.models.signals import EXHAUSTED, FAILED
from remediator.stack.checks import BOOTSTRAP, FAIL, OK, WARN, Finding
from remediator.stack.provision import DLQ_MAX_RECEIVE_COUNT

__all__ = ["queue_findings", "subscription_findings"]


def queue_findings(sqs: Any, url: str) -> tuple[list[Finding], dict[str, str]]:
    """The queue's findings, and its attributes (its ARN, its policy) for the checks after."""
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    found = [Finding("signal queue", OK, url)]
    redrive = json.loads(attrs.get("RedrivePolicy", "{}") or "{}")
    if not redrive:
        found.append(
            Finding(
                "dead-letter queue",
                FAIL,
                "no redrive policy: poison messages loop forever",
                BOOTSTRAP,
            )
        )
    else:
        dlq_name = str(redrive["deadLetterTargetArn"]).rsplit(":", 1)[-1]
        try:
            sqs.get_queue_url(QueueName=dlq_name)
            status = OK if int(redrive.get("maxReceiveCount", 0)) == DLQ_MAX_RECEIVE_COUNT else WARN
            found.append(
                Finding(
                    "dead-letter queue",
                    status,
                    f"{dlq_name}, maxReceiveCount {redrive.get('maxReceiveCount')}"
                    + ("" if status == OK else f" (the project uses {DLQ_MAX_RECEIVE_COUNT})"),
                )
            )
        except ClientError:
            found.append(
                Finding("dead-letter queue", FAIL, f"{dlq_name} does not exist", BOOTSTRAP)
            )
    return found, dict(attrs)


def subscription_findings(sns: Any, topic: str, queue_arn: str) -> list[Finding]:
    subs = [
        s
        for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic)
        for s in page.get("Subscriptions", [])
    ]
    found: list[Finding] = []
    hears: set[str] = set()
    signal_ok = False
    for sub in subs:
        if sub.get("SubscriptionArn", "").startswith("PendingConfirmation"):
            continue
        attrs = sns.get_subscription_attributes(SubscriptionArn=sub["SubscriptionArn"])
        attrs = attrs.get("Attributes", {})
        events = set(json.loads(attrs.get("FilterPolicy", "{}") or "{}").get("event", []))
        hears |= events or {FAILED, EXHAUSTED}
        if sub.get("Endpoint") == queue_arn:
            raw = attrs.get("RawMessageDelivery") == "true"
            signal_ok = FAILED in events or not events
            found.append(
                Finding(
                    "subscription",
                    OK if signal_ok else FAIL,
                    f"signal queue subscribed, raw delivery {'on' if raw else 'off'}, "
                    f"filter {sorted(events) or 'none'}",
                    "" if signal_ok else "the filter policy must let event=FAILED through",
                )
            )
    if not any(f.check == "subscription" for f in found):
        found.append(
            Finding(
                "subscription", FAIL, "the signal queue is not subscribed to the topic", BOOTSTRAP
            )
        )
    if EXHAUSTED not in hears:
        found.append(
            Finding(
                "alerts",
                WARN,
                "nobody subscribes to EXHAUSTED alerts",
                "deploy the alert router (infra/terraform) or subscribe a queue or e-mail",
            )
        )
    else:
        found.append(Finding("alerts", OK, "EXHAUSTED alerts have a subscriber"))
    return found
