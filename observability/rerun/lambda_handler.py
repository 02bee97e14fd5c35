"""A Lambda handler that runs batches: re-runs from SQS (event source) or direct invocations.

    trail = AuditTrail()            # module level: one per container, reused by warm starts

    @batch_handler(trail)
    def handler(batch):             # a Rerun: job_id, batch_id, attempt, body, heartbeat()
        load(batch.body["month"])

`handler(event, context)` then accepts:

- an SQS event (an `SqsTrigger`'s work queue as the function's event source): each record
  runs its batch; the reply is a partial batch response (`batchItemFailures`) listing only
  the records to deliver again (the batch held by a live run, the table unreachable, a
  record that is not a request). Set `FunctionResponseTypes = ["ReportBatchItemFailures"]`
  on the event source mapping. A failed batch is not listed: its FAILED is recorded and
  the remediator decides the retry (backoff, cap); a redelivery by SQS would bypass both.
- a direct invocation: a `LambdaTrigger` re-run (the event carries job_id, batch_id,
  attempt and `payload`), a Step Functions task input (`input`), or an EventBridge event.
  It returns a summary (`outcome`, `job_id`, `batch_id`, `attempt`); it raises only when
  the batch could not be run now, so that Lambda's own retry of the invocation tries again.

With `job_id` and `batch_id` (a function of the event, or of an SQS body) an invocation or
record without re-run fields is the first run of the batch named; it is stored with a
trigger that re-runs it the same way (this function with the same event, or the same queue
with the same body). The failed batch's traceback is logged once, by this handler.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from observability.errors import InvalidInput
from observability.rerun.request import FirstRun, RerunRequest
from observability.rerun.runner import Rerun, RerunOutcome, RerunResult, log_result, run_request
from observability.triggers import LambdaTrigger, SqsTrigger, Trigger

if TYPE_CHECKING:
    from observability.trail import AuditTrail

__all__ = ["batch_handler", "is_sqs_event"]

log = logging.getLogger("observability.lambda")

Handler = Callable[[Any, Any], Any]


def is_sqs_event(event: Any) -> bool:
    records = event.get("Records") if isinstance(event, Mapping) else None
    return bool(records) and all(
        isinstance(r, Mapping) and r.get("eventSource") == "aws:sqs"
        for r in records  # type: ignore[union-attr]
    )


class _QueueUrls:
    """Queue ARN to URL, looked up once per container (the URL is what SqsTrigger stores)."""

    def __init__(self, trail: AuditTrail) -> None:
        self._trail = trail
        self._urls: dict[str, str | None] = {}
        self._lock = threading.Lock()

    def __call__(self, arn: str) -> str | None:
        with self._lock:
            if arn in self._urls:
                return self._urls[arn]
        parts = arn.split(":")
        url: str | None = None
        if len(parts) == 6 and parts[2] == "sqs":
            try:
                url = self._trail.clients.sqs().get_queue_url(
                    QueueName=parts[5], QueueOwnerAWSAccountId=parts[4]
                )["QueueUrl"]
            except (ClientError, BotoCoreError) as exc:
                log.warning("no URL for queue %s (%s): its first runs get no trigger", arn, exc)
        with self._lock:
            self._urls[arn] = url
        return url


def batch_handler(
    trail: AuditTrail,
    *,
    job_id: str | None = None,
    batch_id: Callable[[Any], str | int] | None = None,
) -> Callable[[Callable[[Rerun], Any]], Handler]:
    """Turn `work(rerun)` into a Lambda handler `handler(event, context)` (see the module)."""
    if (job_id is None) != (batch_id is None):
        raise InvalidInput("job_id", "and batch_id go together (both, or neither)")
    first_run = FirstRun(job_id, batch_id) if job_id and batch_id else None
    queue_urls = _QueueUrls(trail)

    def decorate(work: Callable[[Rerun], Any]) -> Handler:
        @functools.wraps(work)
        def handler(event: Any, context: Any = None) -> Any:
            if is_sqs_event(event):
                return _sqs_batch(trail, work, event["Records"], context, first_run, queue_urls)
            return _direct(trail, work, event, context, first_run)

        return handler

    return decorate


def _sqs_trigger(
    record: Mapping[str, Any], request: RerunRequest, url: str | None
) -> Trigger | None:
    if url is None:
        return None
    group = (record.get("attributes") or {}).get("MessageGroupId")
    return SqsTrigger(queue_url=url, body=request.body, message_group_id=group)


def _sqs_batch(
    trail: AuditTrail,
    work: Callable[[Rerun], Any],
    records: list[Mapping[str, Any]],
    context: Any,
    first_run: FirstRun | None,
    queue_urls: _QueueUrls,
) -> dict[str, list[dict[str, str]]]:
    failures: list[str] = []
    for record in records:
        message_id = str(record.get("messageId", ""))
        source = str(record.get("eventSourceARN", ""))
        if failures and source.endswith(".fifo"):
            # FIFO: a record after a failed one must not overtake it; all go back, in order.
            failures.append(message_id)
            continue
        try:
            request = RerunRequest.from_sqs_record(record, first_run)
            trigger = _sqs_trigger(record, request, queue_urls(source))
        except InvalidInput as exc:
            log.error("record %s is not a request this handler can run: %s", message_id, exc)
            failures.append(message_id)
            continue
        result = run_request(trail, request, work, trigger=trigger, context=context)
        log_result(result)
        if not result.outcome.done:
            failures.append(message_id)
    return {"batchItemFailures": [{"itemIdentifier": i} for i in failures]}


def _direct(
    trail: AuditTrail,
    work: Callable[[Rerun], Any],
    event: Any,
    context: Any,
    first_run: FirstRun | None,
) -> dict[str, Any]:
    request = RerunRequest.from_event(event, first_run)
    trigger: Trigger | None = None
    function = getattr(context, "invoked_function_arn", None) or getattr(
        context, "function_name", None
    )
    came_as_lambda = not request.is_rerun or (isinstance(event, Mapping) and "payload" in event)
    if function and came_as_lambda:
        trigger = LambdaTrigger(function_name=str(function), payload=request.body)
    result: RerunResult[Any] = run_request(trail, request, work, trigger=trigger, context=context)
    log_result(result)
    if result.outcome in (RerunOutcome.BUSY, RerunOutcome.UNRECORDED) and result.error is not None:
        raise result.error
    return result.summary()
