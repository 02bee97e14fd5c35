"""Reads an AWS state-change event (the raw EventBridge envelope) off the signal queue. Pure.

EventBridge rules send four kinds of event to the remediator's queue, beside the producers'
signals: ECS "ECS Task State Change", AWS Batch "Batch Job State Change", Glue "Glue Job
State Change" and Step Functions "Step Functions Execution Status Change". Each is reduced
here to a `StateChange`: which run, what it became (STARTED, SUCCESS, FAILED or nothing worth
recording), when, and for a failure its error type, exit code and stop reason. Who the run
is for (job, batch, attempt) is read from the `PIPELINE_*` variables every re-trigger
passes (`identity_of`); a run without them belongs to an opted-in source or to nobody.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from observability.errors import InvalidInput
from observability.models import from_iso
from observability.models.describe import truncate
from observability.models.keys import validate_id
from observability.triggers.variables import IDENTITY_VARIABLES, variable_name
from remediator.errors import RemediatorError
from remediator.messages import MAX_BODY_BYTES

__all__ = [
    "DETAIL_TYPES",
    "FAILED",
    "STARTED",
    "SUCCESS",
    "MalformedEvent",
    "RunIdentity",
    "StateChange",
    "identity_of",
    "is_event",
    "parse_event",
    "rerun_of",
]

STARTED, SUCCESS, FAILED = "STARTED", "SUCCESS", "FAILED"

# source -> detail-type of the state changes the rules send (Terraform and bootstrap).
DETAIL_TYPES: dict[str, str] = {
    "aws.ecs": "ECS Task State Change",
    "aws.batch": "Batch Job State Change",
    "aws.glue": "Glue Job State Change",
    "aws.states": "Step Functions Execution Status Change",
}
_REASON_CHARS = 1024
# The variables (or arguments, `--pipeline-job-id` included) naming the run's batch.
_GLUE = {"SUCCEEDED": (SUCCESS, ""), "FAILED": (FAILED, "JobRunFailed"),
         "TIMEOUT": (FAILED, "JobRunTimeout"), "STOPPED": (FAILED, "JobRunStopped")}  # fmt: skip
_STATES = {"RUNNING": (STARTED, ""), "SUCCEEDED": (SUCCESS, ""),
           "FAILED": (FAILED, "ExecutionFailed"), "TIMED_OUT": (FAILED, "ExecutionTimedOut"),
           "ABORTED": (FAILED, "ExecutionAborted")}  # fmt: skip
# A new execution that stands in for one that cannot be redriven: `<name>--a<attempt>`.
_RERUN_NAME = re.compile(r"(?P<name>.+)--a(?P<attempt>[1-9][0-9]{0,5})")


class MalformedEvent(RemediatorError):
    """An EventBridge event this service cannot read: logged once and deleted."""


@dataclass(frozen=True, slots=True)
class RunIdentity:
    job_id: str
    batch_id: str
    attempt: int


@dataclass(frozen=True, slots=True)
class StateChange:
    """One run's change as AWS announced it. `phase` is STARTED, SUCCESS, FAILED, or ""
    (a change not worth recording: a task still running, a container that exited 0)."""

    service: str  # ecs | batch | glue | states
    run_id: str  # task ARN, Batch job id, Glue job run id, execution ARN
    phase: str
    at: datetime
    identity: RunIdentity | None = None
    name: str = ""  # the Glue job's name, the state machine's ARN
    error_type: str | None = None
    exit_code: int | None = None
    reason: str | None = None
    message: str | None = None
    started_at: datetime | None = None
    # Step Functions: the execution's name and how often it was redriven.
    execution: str = ""
    redrives: int = 0


def is_event(body: str) -> bool:
    """Cheap: could this body be an EventBridge envelope? (A signal's JSON never has the
    key: inside one of its strings the quotes would be escaped.)"""
    return '"detail-type"' in body


def _text(data: Mapping[str, Any], name: str, where: str, *, required: bool = True) -> str:
    value = data.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise MalformedEvent(f"{where}: field {name!r} must be a non-empty string")
    return value


def _moment(value: Any, where: str) -> datetime | None:
    """An ISO 8601 time (the envelope, ECS) or epoch milliseconds (Step Functions)."""
    if value is None:
        return None
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value / 1000, UTC)
        if isinstance(value, str):
            return from_iso(value)
    except (ValueError, OverflowError, OSError):
        pass
    raise MalformedEvent(f"{where}: {value!r} is not a time")


def _exit_code(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not -(2**31) <= value < 2**31:
        raise MalformedEvent(f"{where}: exitCode must be an integer, got {value!r}")
    return value


def _short(text: Any) -> str | None:
    return truncate(text, _REASON_CHARS) if isinstance(text, str) and text else None


def identity_of(
    pairs: Mapping[str, Any] | Iterable[Mapping[str, Any]] | None,
) -> RunIdentity | None:
    """The batch a run is for, from its variables: a mapping (Glue arguments, Batch
    parameters or tags) or ECS's `[{"name", "value"}]`. Names match case-insensitively,
    with or without a leading `--`, dashes for underscores. None when any is missing or
    not a valid id."""
    if pairs is None:
        return None
    if isinstance(pairs, Mapping):
        items = list(pairs.items())
    else:
        items = [(p.get("name"), p.get("value")) for p in pairs if isinstance(p, Mapping)]
    found: dict[str, str] = {}
    for name, value in items:
        if isinstance(name, str) and isinstance(value, str):
            found[variable_name(name)] = value
    job, batch, attempt = (found.get(n) for n in IDENTITY_VARIABLES)
    if not job or not batch or not attempt or not attempt.isdigit() or int(attempt) < 1:
        return None
    try:
        return RunIdentity(validate_id("job_id", job), validate_id("batch_id", batch), int(attempt))
    except InvalidInput:
        return None


def _ecs(detail: Mapping[str, Any], at: datetime) -> StateChange:
    where = "ECS Task State Change"
    arn = _text(detail, "taskArn", where)
    overrides = detail.get("overrides")
    identity, container_name = None, None
    listed = overrides.get("containerOverrides") if isinstance(overrides, dict) else None
    for override in listed if isinstance(listed, list) else ():
        if isinstance(override, dict) and (found := identity_of(override.get("environment"))):
            identity, container_name = found, override.get("name")
            break
    if detail.get("lastStatus") != "STOPPED":
        return StateChange("ecs", arn, "", at, identity)
    containers = [c for c in detail.get("containers") or () if isinstance(c, dict)]
    ours = [c for c in containers if c.get("name") == container_name] or containers
    codes = [(_exit_code(c.get("exitCode"), where), c) for c in ours]
    if codes and all(code == 0 for code, _ in codes):
        return StateChange("ecs", arn, "", at, identity)  # a clean exit: the run says SUCCESS
    code, container = next(((k, c) for k, c in codes if k != 0), (None, {}))
    stopped = _short(detail.get("stoppedReason"))
    reason = _short(container.get("reason")) or stopped
    message = f"task stopped ({detail.get('stopCode', 'unknown stop code')}): {stopped or '-'}"
    if code is not None:
        message += f"; container {container.get('name')} exited with code {code}"
    return StateChange(
        "ecs", arn, FAILED, _moment(detail.get("stoppedAt"), where) or at, identity,
        error_type="TaskStopped", exit_code=code, reason=reason, message=_short(message),
    )  # fmt: skip


def _batch(detail: Mapping[str, Any], at: datetime) -> StateChange:
    where = "Batch Job State Change"
    job_id = _text(detail, "jobId", where)
    found = detail.get("container")
    container: dict[str, Any] = found if isinstance(found, dict) else {}
    identity = (
        identity_of(container.get("environment"))
        or identity_of(detail.get("parameters"))
        or identity_of(detail.get("tags"))
    )
    status = detail.get("status")
    if status != "FAILED":
        return StateChange("batch", job_id, "", at, identity)
    attempts = [a for a in detail.get("attempts") or () if isinstance(a, dict)]
    last = attempts[-1].get("container") if attempts else None
    source = container if container.get("exitCode") is not None or not last else last
    code = _exit_code(source.get("exitCode"), where) if isinstance(source, dict) else None
    reason = _short(source.get("reason") if isinstance(source, dict) else None)
    status_reason = _short(detail.get("statusReason"))
    message = f"job {detail.get('jobName', job_id)} failed: {status_reason or '-'}"
    if code is not None:
        message += f"; exit code {code}"
    return StateChange(
        "batch", job_id, FAILED, at, identity, error_type="JobFailed", exit_code=code,
        reason=reason or status_reason, message=_short(message),
    )  # fmt: skip


def _glue(detail: Mapping[str, Any], at: datetime) -> StateChange:
    where = "Glue Job State Change"
    run_id = _text(detail, "jobRunId", where)
    name = _text(detail, "jobName", where)
    phase, error_type = _GLUE.get(str(detail.get("state")), ("", ""))
    message = _short(detail.get("message"))
    return StateChange(
        "glue", run_id, phase, at, name=name, error_type=error_type or None,
        reason=message if phase == FAILED else None, message=message if phase == FAILED else None,
    )  # fmt: skip


def _states(detail: Mapping[str, Any], at: datetime) -> StateChange:
    where = "Step Functions Execution Status Change"
    arn = _text(detail, "executionArn", where)
    machine = _text(detail, "stateMachineArn", where)
    name = _text(detail, "name", where)
    phase, error_type = _STATES.get(str(detail.get("status")), ("", ""))
    redrives = detail.get("redriveCount") or 0
    if isinstance(redrives, bool) or not isinstance(redrives, int) or redrives < 0:
        raise MalformedEvent(f"{where}: redriveCount must be a non-negative integer")
    error = _short(detail.get("error"))
    cause = _short(detail.get("cause"))
    stopped = _moment(detail.get("stopDate"), where)
    return StateChange(
        "states", arn, phase, (stopped if phase in (SUCCESS, FAILED) else None) or at,
        name=machine, error_type=(error or error_type) if phase == FAILED else None,
        reason=cause if phase == FAILED else None,
        message=_short(f"{error or error_type}: {cause or '-'}") if phase == FAILED else None,
        started_at=_moment(detail.get("startDate"), where), execution=name, redrives=redrives,
    )  # fmt: skip


def rerun_of(execution: str) -> tuple[str, int] | None:
    """The batch and attempt of an execution started in place of a redrive, else None."""
    found = _RERUN_NAME.fullmatch(execution)
    return (found["name"], int(found["attempt"])) if found else None


_PARSERS = {"aws.ecs": _ecs, "aws.batch": _batch, "aws.glue": _glue, "aws.states": _states}


def parse_event(body: str) -> StateChange | None:
    """The state change in an EventBridge envelope; None for an event of another kind (a
    source or detail-type no rule sends); MalformedEvent saying what is wrong otherwise."""
    if len(body.encode("utf-8", "surrogatepass")) > MAX_BODY_BYTES:
        raise MalformedEvent(f"event is larger than {MAX_BODY_BYTES} bytes")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise MalformedEvent(f"event is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise MalformedEvent("event is not a JSON object")
    source, kind = data.get("source"), data.get("detail-type")
    if DETAIL_TYPES.get(str(source)) != kind:
        return None
    detail = data.get("detail")
    if not isinstance(detail, dict):
        raise MalformedEvent(f"{kind}: field 'detail' must be an object")
    at = _moment(data.get("time"), str(kind))
    if at is None:
        raise MalformedEvent(f"{kind}: field 'time' is missing")
    return _PARSERS[str(source)](detail, at)
