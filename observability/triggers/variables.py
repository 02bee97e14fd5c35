"""The batch's identity as name=value pairs, for targets that start a process with variables
or arguments (a Glue job, an EMR Serverless driver, an AWS Batch container). Pure.

`run_task(trail, work, environ=...)` reads them back: the names are the ECS trigger's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from observability.models.traceids import TRACEPARENT_ENV

__all__ = ["RESERVED_PREFIXES", "pipeline_variables"]

# The prefix run_task reads (observability.rerun.request.ENV_PREFIX; not imported: the
# re-run helpers import the triggers).
ENV_PREFIX = "PIPELINE_"
# Names the remediator sets on every run: a trigger's own variables may not take them.
RESERVED_PREFIXES = (ENV_PREFIX, TRACEPARENT_ENV)


def pipeline_variables(
    batch: Mapping[str, Any], trace_id: str | None, traceparent: str | None = None
) -> dict[str, str]:
    """PIPELINE_JOB_ID, PIPELINE_BATCH_ID, PIPELINE_ATTEMPT, and when there are some,
    PIPELINE_TRACE_ID and the W3C trace context (TRACEPARENT) the re-run joins. No value is
    empty: EMR Serverless refuses a blank property, and Glue hands a script `--NAME` with
    nothing after it."""
    variables = {
        f"{ENV_PREFIX}JOB_ID": str(batch["job_id"]),
        f"{ENV_PREFIX}BATCH_ID": str(batch["batch_id"]),
        f"{ENV_PREFIX}ATTEMPT": str(batch["attempt"]),
    }
    if trace_id:
        variables[f"{ENV_PREFIX}TRACE_ID"] = trace_id
    if traceparent:
        variables[TRACEPARENT_ENV] = traceparent
    return variables
