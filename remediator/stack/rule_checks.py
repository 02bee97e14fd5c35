"""`doctor`'s look at the EventBridge rules that bring AWS's state changes to the signal
queue (`remediator.stack.rules` puts them; Terraform declares the same).

Found by their target, not by name (bootstrap's prefix and Terraform's are not known here):
every rule that sends to the signal queue is read, and each kind the remediator parses
(ECS, Batch, Glue, Step Functions) must have one, enabled, with the project's pattern, and
allowed by the queue's policy to deliver. Without them a triggered run that stops is
recorded only when its stale deadline passes: a warning, not a failure, since jobs whose
triggers are queues or functions need none.
"""

from __future__ import annotations

import json
from typing import Any

from remediator.events.parse import DETAIL_TYPES
from remediator.stack.checks import BOOTSTRAP, OK, WARN, Finding
from remediator.stack.rules import EVENT_PATTERNS

__all__ = ["allowed_sources", "rule_findings"]

CHECK = "state changes"
_FIX = f"{BOOTSTRAP} (or `terraform apply` the module), which puts the rules and the policy"


def allowed_sources(policy: str | None) -> tuple[set[str], bool]:
    """The rule ARNs the queue policy lets EventBridge deliver from, and whether it lets
    every rule (a statement without a source condition)."""
    statements = json.loads(policy or "{}").get("Statement", [])
    arns: set[str] = set()
    for st in statements if isinstance(statements, list) else [statements]:
        principal = st.get("Principal", {})
        service = principal.get("Service") if isinstance(principal, dict) else None
        services = service if isinstance(service, list) else [service]
        if st.get("Effect") != "Allow" or "events.amazonaws.com" not in services:
            continue
        source = st.get("Condition", {}).get("ArnEquals", {}).get("aws:SourceArn")
        if source is None:
            return arns, True
        arns.update(source if isinstance(source, list) else [source])
    return arns, False


def _rule_names(events: Any, queue_arn: str) -> list[str]:
    names: list[str] = []
    kwargs: dict[str, Any] = {"TargetArn": queue_arn}
    while True:
        page = events.list_rule_names_by_target(**kwargs)
        names += page.get("RuleNames", [])
        if not page.get("NextToken"):
            return names
        kwargs["NextToken"] = page["NextToken"]


def rule_findings(events: Any, queue_arn: str, policy: str | None) -> list[Finding]:
    """One finding: every kind's rule in place, or what is missing and how to fix it."""
    found: dict[str, dict[str, Any]] = {}
    for name in _rule_names(events, queue_arn):
        rule = events.describe_rule(Name=name)
        pattern = json.loads(rule.get("EventPattern") or "{}")
        for kind, wanted in EVENT_PATTERNS.items():
            # The project's own pattern wins over another rule for the same source.
            same_source = pattern.get("source") == wanted["source"]
            if same_source and (kind not in found or pattern == wanted):
                found[kind] = {**rule, "pattern": pattern}
    arns, everyone = allowed_sources(policy)
    problems: list[str] = []
    for kind, wanted in EVENT_PATTERNS.items():
        what = DETAIL_TYPES[wanted["source"][0]]
        rule = found.get(kind)
        if rule is None:
            problems.append(f"no rule sends {what} events to the signal queue")
        elif rule.get("State") != "ENABLED":
            problems.append(f"rule {rule['Name']} ({what}) is {rule.get('State')}")
        elif rule["pattern"] != wanted:
            problems.append(f"rule {rule['Name']} asks for other {what} events than the project")
        elif not everyone and rule.get("Arn") not in arns:
            problems.append(f"the signal queue's policy does not let rule {rule['Name']} deliver")
    if problems:
        detail = "; ".join(problems) + (
            ": a triggered run that stops is recorded only at its stale deadline"
        )
        return [Finding(CHECK, WARN, detail, _FIX)]
    return [Finding(CHECK, OK, "ECS, Batch, Glue and Step Functions rules deliver to the queue")]
