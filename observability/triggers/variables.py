"""The batch's identity as name=value pairs, for targets that start a process with variables
or arguments (a Glue job, an EMR Serverless driver, an AWS Batch container). Pure.

`run_task(trail, work, environ=...)` reads them back: the names are the ECS trigger's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from observability.models.traceids import TRACEPARENT_ENV

__all__ = ["IDENTITY_VARIABLES", "RESERVED_PREFIXES", "pipeline_variables", "variable_name"]

# The prefix run_task reads (observability.rerun.request.ENV_PREFIX; not imported: the
# re-run helpers import the triggers).
ENV_PREFIX = "PIPELINE_"
# Names the remediator sets on every run: a trigger's own variables may not take them.
RESERVED_PREFIXES = (ENV_PREFIX, TRACEPARENT_ENV)
# The three that name the run: what a state-change event's run is matched to its batch by.
IDENTITY_VARIABLES = (f"{ENV_PREFIX}JOB_ID", f"{ENV_PREFIX}BATCH_ID", f"{ENV_PREFIX}ATTEMPT")


def variable_name(name: str) -> str:
    """A variable's name however a target spells it (`--PIPELINE_JOB_ID`, a Glue argument
    `--pipeline-job-id`, a Batch parameter `pipeline_job_id`), as run_task reads it."""
    return name.lstrip("-").replace("-", "_").upper()


def pipeline_variables(
    batch: Mapping[str, Any], trace_id: str | None, traceparent: str | None = None
) -> dict[str, str]:
    """PIPELINE_JOB_ID, PIPELINE_BATCH_ID, PIPELINE_ATTEMPT, and when there are some,
    PIPELINE_TRACE_ID and the W3C trace context (TRACEPARENT) the re-run joins. No value is
    empty: EMR Serverless refuses a blank property, and Glue hands a script `--NAME` with
    nothing after it."""
    values = (batch["job_id"], batch["batch_id"], batch["attempt"])
    variables = {name: str(v) for name, v in zip(IDENTITY_VARIABLES, values, strict=True)}
    if trace_id:
        variables[f"{ENV_PREFIX}TRACE_ID"] = trace_id
    if traceparent:
        variables[TRACEPARENT_ENV] = traceparent
    return variables
