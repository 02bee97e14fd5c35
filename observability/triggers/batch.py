"""The AWS Batch trigger: SubmitJob of a container job, the batch in its environment.

Batch's own `retryStrategy` is not combined with ours, and a trigger that sets one is
refused: two retry loops multiply (3 Batch attempts for each of 5 of ours is 15 runs, past
every cap a policy sets), and Batch's internal retries never reach the audit trail, so a
batch's history would not say how often it ran. Every SubmitJob sends `attempts: 1`, which
overrides the job definition's own strategy.

SubmitJob has no idempotency token: as for Glue, the remediator's claim fires an attempt
once, and a repeated start finds the attempt already started in `run_task`. The job's name
carries the attempt, readable in the console.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from observability.errors import InvalidInput
from observability.triggers.base import Trigger, _required, _within
from observability.triggers.variables import pipeline_variables

__all__ = ["BATCH_RETRY_STRATEGY", "BatchJobTrigger", "batch_overrides"]

# Sent with every SubmitJob: one Batch attempt per attempt of ours.
BATCH_RETRY_STRATEGY = {"attempts": 1}


@dataclass(frozen=True)
class BatchJobTrigger(Trigger):
    """SubmitJob to `job_queue` of `job_definition` with `parameters` (its `Ref::` values),
    the batch as PIPELINE_* variables of the container."""

    kind: ClassVar[str] = "batch"
    payload_field: ClassVar[str] = "parameters"
    job_queue: str = ""
    job_definition: str = ""
    parameters: dict[str, str] = field(default_factory=dict)
    # Refused when set (see the module's docstring); a field so that the refusal says why.
    retry_strategy: dict[str, Any] | None = None

    def _validate(self) -> None:
        _required("trigger.job_queue", self.job_queue)
        _within("trigger.job_queue", self.job_queue, 2048)
        _required("trigger.job_definition", self.job_definition)
        _within("trigger.job_definition", self.job_definition, 2048)
        for name in self.parameters:
            _required("trigger.parameters (a name)", name)
        if self.retry_strategy is not None:
            raise InvalidInput(
                "trigger.retry_strategy",
                "is not combined with the remediator's retries: two loops multiply attempts "
                "and Batch's own retries would not be in the audit trail; set the retries in "
                "the job's RetryPolicy (each SubmitJob sends retryStrategy attempts=1)",
            )


def batch_overrides(
    batch: Mapping[str, Any], trace_id: str | None, traceparent: str | None = None
) -> dict[str, Any]:
    """SubmitJob's containerOverrides for one run: the batch as environment variables."""
    variables = pipeline_variables(batch, trace_id, traceparent)
    return {"environment": [{"name": k, "value": v} for k, v in variables.items()]}
