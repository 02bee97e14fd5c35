"""The EventBridge rules that send AWS's state changes to the signal queue (bootstrap's side;
Terraform declares the same in infra/terraform/modules/remediator/events.tf, and a drift
test keeps the two in agreement).

Each rule asks only for what the remediator reads (remediator.events.parse): ECS tasks it
started (`startedBy` remediator-...) that stopped, Batch jobs that failed, Glue job runs
that ended, Step Functions executions that started or ended.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from remediator.events.parse import DETAIL_TYPES

__all__ = ["EVENT_PATTERNS", "ensure_rules", "events_statement", "rule_name"]

_RULE_NAME_LIMIT = 64


def _pattern(source: str, detail: dict[str, Any]) -> dict[str, Any]:
    return {"source": [source], "detail-type": [DETAIL_TYPES[source]], "detail": detail}


EVENT_PATTERNS: dict[str, dict[str, Any]] = {
    "ecs": _pattern(
        "aws.ecs", {"lastStatus": ["STOPPED"], "startedBy": [{"prefix": "remediator-"}]}
    ),
    "batch": _pattern("aws.batch", {"status": ["FAILED"]}),
    "glue": _pattern("aws.glue", {"state": ["SUCCEEDED", "FAILED", "TIMEOUT", "STOPPED"]}),
    "states": _pattern(
        "aws.states", {"status": ["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"]}
    ),
}


def rule_name(base: str, kind: str) -> str:
    """`<base>-<kind>-state-change`, within EventBridge's 64 characters."""
    name = f"{base}-{kind}-state-change"
    if len(name) <= _RULE_NAME_LIMIT:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:12]
    return f"{name[: _RULE_NAME_LIMIT - 13]}-{digest}"


def ensure_rules(events: Any, base: str, queue_arn: str) -> list[str]:
    """Put every rule and its one target (the signal queue); returns the rules' ARNs.
    PutRule and PutTargets replace what is there: running it again changes nothing."""
    arns = []
    for kind, pattern in EVENT_PATTERNS.items():
        name = rule_name(base, kind)
        reply = events.put_rule(
            Name=name,
            EventPattern=json.dumps(pattern, separators=(",", ":")),
            State="ENABLED",
            Description=f"{DETAIL_TYPES[pattern['source'][0]]} events for the remediator",
        )
        events.put_targets(Rule=name, Targets=[{"Id": "signal-queue", "Arn": queue_arn}])
        arns.append(str(reply["RuleArn"]))
    return arns


def events_statement(queue_arn: str, rule_arns: list[str]) -> dict[str, Any]:
    """The queue policy's statement that lets those rules, and only them, deliver."""
    return {
        "Sid": "RulesSendStateChanges",
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": queue_arn,
        "Condition": {"ArnEquals": {"aws:SourceArn": rule_arns}},
    }
