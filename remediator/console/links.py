"""Links to the AWS console pages of a batch: its trigger's target, its trace, its logs. Pure.

Only what the batch's record names is linked: the execution or task its latest trigger
started, the queue, function, state machine, cluster or event bus of its trigger, the X-Ray
trace of its trace id, and the log groups of the remediator (the Terraform module names them
`/ecs/<name>-remediator`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from observability.models.traceids import is_trace_id, to_xray

__all__ = ["aws_links"]


def _home(region: str, service: str) -> str:
    return f"https://{region}.console.aws.amazon.com/{service}/home?region={region}"


def _target(trigger: Mapping[str, Any], region: str) -> list[tuple[str, str]]:
    kind = trigger.get("kind")
    if kind == "sqs" and trigger.get("queue_url"):
        url = str(trigger["queue_url"])
        return [
            (
                f"queue {url.rsplit('/', 1)[-1]}",
                f"{_home(region, 'sqs/v3')}#/queues/{quote(url, safe='')}",
            )
        ]
    if kind == "lambda" and trigger.get("function_name"):
        name = str(trigger["function_name"]).rsplit(":", 1)[-1]
        return [(f"function {name}", f"{_home(region, 'lambda')}#/functions/{quote(name)}")]
    if kind == "stepfunctions" and trigger.get("state_machine_arn"):
        arn = str(trigger["state_machine_arn"])
        return [
            (
                f"state machine {arn.rsplit(':', 1)[-1]}",
                f"{_home(region, 'states')}#/statemachines/view/{quote(arn, safe='')}",
            )
        ]
    if kind == "ecs" and trigger.get("cluster"):
        cluster = str(trigger["cluster"]).rsplit("/", 1)[-1]
        return [
            (
                f"cluster {cluster}",
                f"https://{region}.console.aws.amazon.com/ecs/v2/clusters/{quote(cluster)}"
                f"/tasks?region={region}",
            )
        ]
    if kind == "eventbridge":
        bus = str(trigger.get("event_bus_name") or "default")
        return [(f"event bus {bus}", f"{_home(region, 'events')}#/eventbus/{quote(bus)}")]
    return []


def _run(trigger: Mapping[str, Any], run: str, region: str) -> list[tuple[str, str]]:
    """The run the latest trigger started, where its id is an ARN a console page shows:
    a Step Functions execution, an ECS task."""
    kind = trigger.get("kind")
    if kind == "stepfunctions" and run.startswith("arn:") and ":execution:" in run:
        name = run.rsplit(":", 1)[-1]
        return [(f"execution {name}", f"{_home(region, 'states')}#/v2/executions/details/{run}")]
    if kind == "ecs" and run.startswith("arn:") and ":task/" in run:
        cluster, task = run.split(":task/", 1)[1].rsplit("/", 1)
        return [
            (
                f"task {task}",
                f"https://{region}.console.aws.amazon.com/ecs/v2/clusters/{quote(cluster)}"
                f"/tasks/{quote(task)}?region={region}",
            )
        ]
    return []


def aws_links(
    trigger: Mapping[str, Any] | None,
    trace_id: str | None,
    region: str,
    last_run: str | None = None,
) -> list[tuple[str, str]]:
    """(label, URL) pairs: the run the latest trigger started (`last_run`, the
    `response_id` its event recorded), then the trigger's target."""
    links = _run(trigger, last_run, region) if trigger and last_run else []
    links += _target(trigger, region) if trigger else []
    if trace_id and is_trace_id(trace_id):
        xray = to_xray(trace_id)
        links.append((f"X-Ray trace {xray}", f"{_home(region, 'cloudwatch')}#xray:traces/{xray}"))
    links.append(
        (
            "the remediator's log groups",
            f"{_home(region, 'cloudwatch')}#logsV2:log-groups$3FlogGroupNameFilter$3D-remediator",
        )
    )
    return links
