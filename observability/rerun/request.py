"""What a re-run request is, read back from each way the remediator delivers one. Pure.

Every trigger kind carries the same fields (job_id, batch_id, attempt, trace_id, reason) and
the body the producer stored with it; each delivery puts them somewhere else:

| delivery | fields | body |
| --- | --- | --- |
| SQS message (ReceiveMessage) | `MessageAttributes`, `StringValue` | `Body`, JSON |
| SQS record (Lambda event source) | `messageAttributes`, `stringValue` | `body`, JSON |
| Lambda invocation (`LambdaTrigger`) | top-level keys of the event | `payload` |
| Step Functions input (`StepFunctionsTrigger`) | top-level keys of the input | `input` |
| EventBridge event (`EventBridgeTrigger`) | keys of `detail` | `detail.detail` |
| ECS container (`EcsTaskTrigger`) | `PIPELINE_JOB_ID`, `PIPELINE_BATCH_ID`, ... | none |

Something that carries none of the fields is not a re-run; with a `FirstRun` it is the
first run of a batch the caller names, otherwise it is refused (`MalformedRerun`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from observability.errors import InvalidInput
from observability.models.keys import validate_id

__all__ = ["ENV_PREFIX", "FirstRun", "MalformedRerun", "RerunRequest"]

ENV_PREFIX = "PIPELINE_"
_NO_TRACE = "-"  # what an SQS trigger sends when the batch has no trace id


class MalformedRerun(InvalidInput):
    """A delivery that claims to be a re-run (or should name a first run) but cannot be read."""


@dataclass(frozen=True, slots=True)
class FirstRun:
    """How to name a batch that arrives without re-run fields: its job, and its batch id
    taken from the body (an SQS body, a Lambda event, a Step Functions input)."""

    job_id: str
    batch_id: Callable[[Any], str | int]

    def request(self, body: Any) -> RerunRequest:
        try:
            batch = self.batch_id(body)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise MalformedRerun(
                "batch_id", f"could not be read from the body ({type(exc).__name__}: {exc})"
            ) from None
        return RerunRequest(
            job_id=_id("job_id", self.job_id),
            batch_id=_id("batch_id", batch),
            attempt=None,
            body=body,
        )


def _id(name: str, value: object) -> str:
    try:
        return validate_id(name, value)
    except InvalidInput as exc:
        raise MalformedRerun(exc.field, exc.problem) from None


def _attempt(value: object, name: str = "attempt") -> int:
    try:
        attempt = int(str(value))
    except ValueError:
        raise MalformedRerun(name, f"must be a whole number, got {value!r}") from None
    if attempt < 1:
        raise MalformedRerun(name, f"must be at least 1, got {attempt}")
    return attempt


def _json_body(text: str) -> Any:
    """An SQS body as the producer stored it: JSON, or the text itself when it is not JSON."""
    try:
        return json.loads(text)
    except ValueError:
        return text


@dataclass(frozen=True, slots=True)
class RerunRequest:
    """One batch to run: which, which attempt (None for a first run), and its body."""

    job_id: str
    batch_id: str
    attempt: int | None
    body: Any = None
    trace_id: str | None = None
    reason: str | None = None

    @property
    def is_rerun(self) -> bool:
        return self.attempt is not None

    @classmethod
    def _of(cls, fields: Mapping[str, Any], body: Any) -> RerunRequest:
        """From the five re-run fields; `attempt` is required."""
        missing = [name for name in ("job_id", "batch_id", "attempt") if fields.get(name) is None]
        if missing:
            raise MalformedRerun(missing[0], "is missing: a re-run names job, batch and attempt")
        trace = fields.get("trace_id")
        return cls(
            job_id=_id("job_id", fields["job_id"]),
            batch_id=_id("batch_id", fields["batch_id"]),
            attempt=_attempt(fields["attempt"]),
            body=body,
            trace_id=None if trace in (None, "", _NO_TRACE) else str(trace),
            reason=str(fields["reason"]) if fields.get("reason") else None,
        )

    @classmethod
    def from_sqs_message(
        cls, message: Mapping[str, Any], first_run: FirstRun | None = None
    ) -> RerunRequest:
        """A message as ReceiveMessage returns it (`MessageAttributeNames=["All"]`)."""
        attributes = message.get("MessageAttributes") or {}
        fields = {name: value.get("StringValue") for name, value in attributes.items()}
        return cls._from_queue(fields, str(message.get("Body", "")), first_run)

    @classmethod
    def from_sqs_record(
        cls, record: Mapping[str, Any], first_run: FirstRun | None = None
    ) -> RerunRequest:
        """One record of a Lambda SQS event (`Records[i]`, eventSource `aws:sqs`)."""
        attributes = record.get("messageAttributes") or {}
        fields = {name: value.get("stringValue") for name, value in attributes.items()}
        return cls._from_queue(fields, str(record.get("body", "")), first_run)

    @classmethod
    def _from_queue(
        cls, fields: Mapping[str, Any], text: str, first_run: FirstRun | None
    ) -> RerunRequest:
        body = _json_body(text)
        if "job_id" in fields or "batch_id" in fields:
            return cls._of(fields, body)
        if first_run is None:
            raise MalformedRerun(
                "MessageAttributes", "carry no job_id and batch_id: not a re-run message"
            )
        return first_run.request(body)

    @classmethod
    def from_event(cls, event: Any, first_run: FirstRun | None = None) -> RerunRequest:
        """A direct Lambda invocation, a Step Functions task input, or an EventBridge event."""
        if isinstance(event, Mapping):
            detail = event.get("detail")
            if "detail-type" in event and isinstance(detail, Mapping) and "attempt" in detail:
                return cls._of(detail, detail.get("detail"))
            if "attempt" in event and ("job_id" in event or "batch_id" in event):
                body_key = "payload" if "payload" in event else "input"
                return cls._of(event, event.get(body_key))
        if first_run is None:
            raise MalformedRerun(
                "event", "has no job_id, batch_id and attempt: not a re-run invocation"
            )
        return first_run.request(event)

    @classmethod
    def from_environment(
        cls, environ: Mapping[str, str], first_run: FirstRun | None = None
    ) -> RerunRequest:
        """An ECS container's environment: PIPELINE_JOB_ID, PIPELINE_BATCH_ID, PIPELINE_ATTEMPT,
        PIPELINE_TRACE_ID. Without PIPELINE_ATTEMPT it is a first run of the batch named."""
        job, batch, attempt, trace = (
            environ.get(f"{ENV_PREFIX}{name}")
            for name in ("JOB_ID", "BATCH_ID", "ATTEMPT", "TRACE_ID")
        )
        if job is None and batch is None:
            if first_run is None:
                raise MalformedRerun(
                    f"{ENV_PREFIX}JOB_ID", "is not set: not a re-run task (nor a named batch)"
                )
            return first_run.request(None)
        if job is None or batch is None:
            raise MalformedRerun(
                f"{ENV_PREFIX}{'JOB_ID' if job is None else 'BATCH_ID'}", "is not set"
            )
        return cls(
            job_id=_id(f"{ENV_PREFIX}JOB_ID", job),
            batch_id=_id(f"{ENV_PREFIX}BATCH_ID", batch),
            attempt=None if attempt is None else _attempt(attempt, f"{ENV_PREFIX}ATTEMPT"),
            trace_id=None if trace in (None, "", _NO_TRACE) else trace,
        )
