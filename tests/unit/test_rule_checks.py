"""Which rules a queue policy lets EventBridge deliver from (doctor's state-change check)."""

from __future__ import annotations

import json

from remediator.stack.rule_checks import allowed_sources
from remediator.stack.rules import events_statement

RULE = "arn:aws:events:us-east-1:123456789012:rule/audit-glue-state-change"


def _policy(*statements: dict[str, object]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def test_the_projects_own_statement_allows_exactly_its_rules() -> None:
    statement = events_statement("arn:aws:sqs:us-east-1:123456789012:q", [RULE])
    assert allowed_sources(_policy(statement)) == ({RULE}, False)


def test_a_single_arn_other_principals_and_denials() -> None:
    topic = {"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "*"}
    single = {
        "Effect": "Allow",
        "Principal": {"Service": ["events.amazonaws.com"]},
        "Condition": {"ArnEquals": {"aws:SourceArn": RULE}},
    }
    denied = {**single, "Effect": "Deny", "Condition": {"ArnEquals": {"aws:SourceArn": "x"}}}
    assert allowed_sources(_policy(topic, single, denied)) == ({RULE}, False)


def test_no_condition_lets_every_rule_and_no_policy_lets_none() -> None:
    open_to_all = {"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}}
    assert allowed_sources(_policy(open_to_all))[1] is True
    assert allowed_sources(None) == (set(), False)
    assert allowed_sources(_policy()) == (set(), False)
