"""One call for a re-run that arrives as a task: a Step Functions task input, or the
environment of an ECS container started by an `EcsTaskTrigger`.

    def handler(event, context):                  # a Lambda task of the state machine
        return run_task(trail, lambda batch: load(batch.body["month"]), event=event)

    run_task(trail, work)                          # an ECS container: PIPELINE_* variables

The work's value is returned (the task's output). A failure is recorded, then raised, so
that the execution or the container fails visibly; an attempt that already started is not
run again (None is returned); a batch that cannot be run now raises the library's error.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from observability.errors import InvalidInput
from observability.rerun.request import FirstRun, RerunRequest
from observability.rerun.runner import Rerun, RerunOutcome, run_request

if TYPE_CHECKING:
    from observability.trail import AuditTrail
    from observability.triggers import Trigger

__all__ = ["run_task"]

R = TypeVar("R")


def run_task(
    trail: AuditTrail,
    work: Callable[[Rerun], R],
    *,
    event: Any = None,
    environ: Mapping[str, str] | None = None,
    job_id: str | None = None,
    batch_id: Callable[[Any], str | int] | None = None,
    trigger: Trigger | None = None,
) -> R | None:
    """Run the batch that `event` (a task input) or the environment (PIPELINE_*) names.

    With `job_id` and `batch_id` (a function of the input; of None for a container), input
    without re-run fields is the first run of the batch named, stored with `trigger`.
    """
    if (job_id is None) != (batch_id is None):
        raise InvalidInput("job_id", "and batch_id go together (both, or neither)")
    first_run = FirstRun(job_id, batch_id) if job_id and batch_id else None
    if event is not None:
        request = RerunRequest.from_event(event, first_run)
    else:
        request = RerunRequest.from_environment(
            os.environ if environ is None else environ, first_run
        )
    result = run_request(trail, request, work, trigger=trigger)
    if result.outcome is RerunOutcome.SUCCEEDED:
        return result.value
    if result.outcome is RerunOutcome.DUPLICATE:
        return None
    assert result.error is not None
    raise result.error
