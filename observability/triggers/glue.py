"""The Glue job trigger: StartJobRun with the trigger's arguments and the batch's own.

Glue has no idempotency token for StartJobRun. A duplicate start is prevented by the
remediator's claim of the attempt (one conditional write: one replica fires it, once); a
start repeated after a replica died before recording it runs a job whose `run_task` finds
the attempt already started and does nothing. Glue's concurrent-run limit
(ConcurrentRunsExceededException) is a refusal for now, retried after a backoff, never a
failure of the batch.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from observability.errors import InvalidInput
from observability.triggers.base import Trigger, _required, _shaped, _within
from observability.triggers.variables import RESERVED_PREFIXES, pipeline_variables

__all__ = ["GlueJobTrigger", "glue_arguments"]

# StartJobRun's JobName: 1-255 characters of one line (the botocore model's pattern).
_JOB_NAME = re.compile(r"[\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff\t]{1,255}")
# Glue reads a job's own arguments as `--name value`: "you must prefix the key name with --".
_ARGUMENT = re.compile(r"--[A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class GlueJobTrigger(Trigger):
    """StartJobRun of `job_name` with `arguments`, plus the batch as `--PIPELINE_*`
    arguments (read in the job with getResolvedOptions, then `run_task(environ=...)`)."""

    kind: ClassVar[str] = "glue"
    payload_field: ClassVar[str] = "arguments"
    job_name: str = ""
    arguments: dict[str, str] = field(default_factory=dict)

    def _validate(self) -> None:
        _required("trigger.job_name", self.job_name)
        _within("trigger.job_name", self.job_name, 255)
        _shaped("trigger.job_name", self.job_name, _JOB_NAME, "a Glue job name (one line)")
        for name in self.arguments:
            _shaped(
                "trigger.arguments (a name)",
                name,
                _ARGUMENT,
                "'--' and letters, digits, '_', '.' or '-' (Glue's job argument form)",
            )
            if name[2:].startswith(RESERVED_PREFIXES):
                raise InvalidInput(
                    "trigger.arguments", f"{name!r} is set by the remediator on every run"
                )


def glue_arguments(
    spec: GlueJobTrigger,
    batch: Mapping[str, Any],
    trace_id: str | None,
    traceparent: str | None = None,
) -> dict[str, str]:
    """StartJobRun's Arguments for one run: the trigger's, then `--PIPELINE_*`."""
    own = pipeline_variables(batch, trace_id, traceparent)
    return {**spec.arguments, **{f"--{name}": value for name, value in own.items()}}
