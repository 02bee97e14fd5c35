"""The names a person gives a trigger target (`remediator pause --target`), matched against
the triggers stored with batches and jobs. Pure.

A target is named as its console shows it: a queue's URL or ARN, a function's name or ARN, a
state machine's ARN, a cluster's name or ARN, an event bus, a custom trigger's name, a
Glue job's name, an EMR Serverless application's id, a Batch job queue, or the
circuit breaker's `kind|...` name (`target_of`). A URL or an ARN is matched exactly (a queue's
URL and ARN name the same queue); a bare name matches any target of that name.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from remediator.triggers.dispatch import target_of

__all__ = ["target_key", "target_keys"]

_ARN_PARTS = 6  # arn:partition:service:region:account:resource


def _queue_key(account: str, name: str) -> str:
    return f"sqs:{account}:{name}"


def _arn_key(arn: str) -> str:
    parts = arn.split(":", _ARN_PARTS - 1)
    if len(parts) < _ARN_PARTS:
        return f"arn:{arn}"
    _, _, service, _, account, resource = parts
    if service == "sqs":
        return _queue_key(account, resource)
    if service == "lambda" and resource.startswith("function:"):
        return f"name:{resource.split(':')[1]}"  # a version or alias is the same function
    if service == "ecs" and resource.startswith("cluster/"):
        return f"name:{resource.removeprefix('cluster/')}"
    if service == "events" and resource.startswith("event-bus/"):
        return f"name:{resource.removeprefix('event-bus/')}"
    # The data engines' triggers store a job name, an application id, a queue name.
    for prefix in ("job/", "/applications/", "job-queue/"):
        if service in ("glue", "emr-serverless", "batch") and resource.startswith(prefix):
            return f"name:{resource.removeprefix(prefix).split('/')[0]}"
    return f"arn:{arn}"


def target_key(name: str) -> str:
    """The one key a person's name for a target stands for."""
    name = name.strip()
    if "|" in name:
        return f"target:{name}"
    if name.startswith("arn:"):
        return _arn_key(name)
    if name.startswith(("http://", "https://")):
        path = [p for p in urlsplit(name).path.split("/") if p]
        return _queue_key(*path[-2:]) if len(path) >= 2 else f"url:{name}"
    return f"name:{name}"


def target_keys(trigger: dict[str, Any] | None) -> frozenset[str]:
    """Every key under which a stored trigger's target can be paused."""
    if not trigger:
        return frozenset()
    keys = {f"target:{target_of(trigger)}"}
    for field in (
        "queue_url",
        "function_name",
        "state_machine_arn",
        "event_bus_name",
        "cluster",
        "name",
        "job_name",
        "application_id",
        "job_queue",
    ):
        value = trigger.get(field)
        if isinstance(value, str) and value:
            keys.add(target_key(value))
    params = trigger.get("params")
    if trigger.get("kind") == "custom" and isinstance(params, dict):
        # A source's re-run (remediator.triggers.sources) is paused by its job or machine.
        for field in ("job_name", "state_machine_arn"):
            value = params.get(field)
            if isinstance(value, str) and value:
                keys.add(target_key(value))
    queue = trigger.get("queue_url")
    if isinstance(queue, str) and queue:
        keys.add(f"name:{queue.rstrip('/').rsplit('/', 1)[-1]}")
    return frozenset(keys)
