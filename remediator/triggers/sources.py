"""Re-running a failed run of a pipeline that does not import the library, as it ran.

Glue: the failed run's own `Arguments` (GetJobRun), started again with StartJobRun, plus
the `--pipeline-job-id`, `--pipeline-batch-id` and `--pipeline-attempt` arguments that tell
the new run's state-change events which batch and attempt they are (Glue passes unknown
`--` arguments to the script; `getResolvedOptions` ignores the ones it is not asked for).
Step Functions: RedriveExecution of the failed execution (it restarts from the failed
state, same ARN, with a client token per attempt); an execution that cannot be redriven (an
Express one, or older than 14 days) is started again under the name `<name>--a<attempt>`
with the same input.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from observability.clients import AwsClients
from observability.triggers.variables import IDENTITY_VARIABLES, variable_name
from remediator.errors import TriggerRejected
from remediator.triggers.context import TriggerContext
from remediator.triggers.targets import error_code

__all__ = [
    "GLUE_RERUN",
    "SOURCE_RERUNS",
    "STATES_RERUN",
    "rerun_glue",
    "rerun_states",
    "rerun_trigger",
    "states_execution_arn",
]

# The built-in re-runs: custom triggers of these names, stored with a source's batches.
GLUE_RERUN = "aws.glue.rerun"
STATES_RERUN = "aws.states.redrive"

_IDENTITY_ARGUMENTS = ("--pipeline-job-id", "--pipeline-batch-id", "--pipeline-attempt")
# RedriveExecution's own refusals of an execution it cannot redrive: start a new one instead.
_NOT_REDRIVABLE = frozenset({"ExecutionNotRedrivable"})
_NAME_LIMIT = 80
_TOKEN_LIMIT = 64


_IDENTITY_NAMES = frozenset(IDENTITY_VARIABLES)


def _param(params: dict[str, Any], name: str) -> str:
    value = params.get(name)
    if not isinstance(value, str) or not value:
        raise TriggerRejected(f"the stored re-run has no {name!r}")
    return value


def rerun_glue(clients: AwsClients, params: dict[str, Any], ctx: TriggerContext) -> str:
    """StartJobRun with the first run's arguments (the batch id is its run id); returns the
    new run's id."""
    job = _param(params, "job_name")
    glue = clients.client("glue")
    run = glue.get_job_run(JobName=job, RunId=ctx.key.batch_id)["JobRun"]
    own = run.get("Arguments") or {}
    arguments = {k: v for k, v in own.items() if variable_name(k) not in _IDENTITY_NAMES}
    values = (ctx.key.job_id, ctx.key.batch_id, str(ctx.attempt))
    arguments.update(dict(zip(_IDENTITY_ARGUMENTS, values, strict=True)))
    reply = glue.start_job_run(JobName=job, Arguments=arguments)
    return str(reply["JobRunId"])


def states_execution_arn(state_machine_arn: str, name: str) -> str:
    """arn:...:stateMachine:M -> arn:...:execution:M:<name>."""
    return f"{state_machine_arn.replace(':stateMachine:', ':execution:', 1)}:{name}"


def rerun_states(clients: AwsClients, params: dict[str, Any], ctx: TriggerContext) -> str:
    """RedriveExecution where the execution allows it, else StartExecution with its input;
    returns the execution's ARN."""
    machine = _param(params, "state_machine_arn")
    sfn = clients.client("stepfunctions")
    arn = states_execution_arn(machine, ctx.key.batch_id)
    token = ctx.idempotency_key
    if len(token) > _TOKEN_LIMIT or not token.isascii() or not token.isprintable() or " " in token:
        token = hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
    try:
        sfn.redrive_execution(executionArn=arn, clientToken=token)
        return arn
    except ClientError as exc:
        if error_code(exc) not in _NOT_REDRIVABLE:
            raise
    name = f"{ctx.key.batch_id}--a{ctx.attempt}"
    if len(name) > _NAME_LIMIT:
        raise TriggerRejected(
            f"execution {ctx.key.batch_id!r} cannot be redriven, and a new execution's name "
            f"{name!r} is {len(name)} characters; the limit is {_NAME_LIMIT}"
        )
    described = sfn.describe_execution(executionArn=arn)
    reply = sfn.start_execution(
        stateMachineArn=machine, name=name, input=described.get("input") or "{}"
    )
    return str(reply["executionArn"])


SOURCE_RERUNS: dict[str, Callable[[AwsClients, dict[str, Any], TriggerContext], str]] = {
    GLUE_RERUN: rerun_glue,
    STATES_RERUN: rerun_states,
}


def rerun_trigger(source: str) -> dict[str, Any]:
    """The trigger stored with a source's batches (`glue:NAME`, `states:ARN`)."""
    kind, _, name = source.partition(":")
    if kind == "glue":
        return {"kind": "custom", "name": GLUE_RERUN, "params": {"job_name": name}}
    return {"kind": "custom", "name": STATES_RERUN, "params": {"state_machine_arn": name}}
