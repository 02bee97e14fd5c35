"""A work-queue worker: receives re-run requests (an `SqsTrigger`'s messages) and runs them.

    SqsWorker(trail, WORK_QUEUE, rerun).run()    # until SIGTERM or Ctrl-C

Long polls of 20 s; a message stays invisible to other workers while its batch runs (its
visibility is extended in the background); it is deleted once the trail holds the outcome
(SUCCESS, or FAILED: the remediator then decides the retry, with backoff and the cap) or
when it repeats an attempt that already started. A message that cannot be run now (the
batch held by a live run, the table unreachable) comes back after its visibility timeout;
one that is not a re-run request is left for the queue's dead-letter queue.

SIGTERM or SIGINT: the long poll in flight is abandoned, messages not started go back to
the queue at once, the batch in hand finishes, and `run()` returns 0.
"""

from __future__ import annotations

import logging
import queue
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from observability.errors import InvalidInput
from observability.rerun.request import FirstRun, RerunRequest
from observability.rerun.runner import Rerun, RerunResult, log_result, run_request
from observability.triggers import SqsTrigger, Trigger

if TYPE_CHECKING:
    from observability.trail import AuditTrail

__all__ = ["SqsWorker"]

log = logging.getLogger("observability.worker")

_MAX_WAIT_SECONDS = 20
_MAX_MESSAGES = 10
_MAX_VISIBILITY_SECONDS = 43_200


def _range(name: str, value: int, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(name, f"must be a whole number from {low} to {high}, got {value!r}")
    return value


class _Holder:
    """Keeps the messages in hand invisible: extends them every `interval` seconds."""

    def __init__(self, extend: Callable[[list[str]], None], interval: float) -> None:
        self._extend = extend
        self._interval = interval
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, name="sqs-worker-visibility", daemon=True
        )

    def __enter__(self) -> _Holder:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._closed.set()
        self._thread.join(timeout=5)

    @contextmanager
    def holding(self, receipts: list[str]) -> Iterator[None]:
        with self._lock:
            self._held.update(receipts)
        try:
            yield
        finally:
            with self._lock:
                self._held.difference_update(receipts)

    def _loop(self) -> None:
        while not self._closed.wait(self._interval):
            with self._lock:
                receipts = sorted(self._held)
            if receipts:
                self._extend(receipts)


class SqsWorker:
    """Runs the batches an SQS work queue asks for, through `trail.batch(...)`.

    `work(rerun)` receives a `Rerun` (job_id, batch_id, attempt, body, heartbeat()). With
    `job_id` and `batch_id` (a function of the body), messages that are not re-run requests
    are first runs of the batch named; re-running them sends the same body to the same queue.
    """

    def __init__(
        self,
        trail: AuditTrail,
        queue_url: str,
        work: Callable[[Rerun], Any],
        *,
        job_id: str | None = None,
        batch_id: Callable[[Any], str | int] | None = None,
        wait_seconds: int = _MAX_WAIT_SECONDS,
        visibility_timeout: int = 120,
        max_messages: int = 1,
    ) -> None:
        if not isinstance(queue_url, str) or not queue_url.strip():
            raise InvalidInput("queue_url", "is required: the work queue's URL")
        if (job_id is None) != (batch_id is None):
            raise InvalidInput("job_id", "and batch_id go together (both, or neither)")
        self.trail = trail
        self.queue_url = queue_url
        self.work = work
        self.first_run = FirstRun(job_id, batch_id) if job_id and batch_id else None
        self.wait_seconds = _range("wait_seconds", wait_seconds, 0, _MAX_WAIT_SECONDS)
        self.visibility_timeout = _range(
            "visibility_timeout", visibility_timeout, 2, _MAX_VISIBILITY_SECONDS
        )
        self.max_messages = _range("max_messages", max_messages, 1, _MAX_MESSAGES)
        self.stopping = threading.Event()

    def _sqs(self) -> Any:
        return self.trail.clients.sqs()

    # -- one message ------------------------------------------------------------------------

    def trigger_for(self, message: dict[str, Any], request: RerunRequest) -> Trigger:
        """The trigger stored with the run: this queue, the same body (and FIFO group)."""
        group = (message.get("Attributes") or {}).get("MessageGroupId")
        return SqsTrigger(queue_url=self.queue_url, body=request.body, message_group_id=group)

    def handle(self, message: dict[str, Any]) -> RerunResult[Any] | None:
        """Run one received message; delete it when done. None: not a request (left alone)."""
        try:
            request = RerunRequest.from_sqs_message(message, self.first_run)
            trigger = self.trigger_for(message, request)
        except InvalidInput as exc:
            log.error(
                "message %s is not a request this worker can run (%s): "
                "left for the dead-letter queue",
                message.get("MessageId"),
                exc,
            )
            return None
        result = run_request(self.trail, request, self.work, trigger=trigger)
        log_result(result)
        if result.outcome.done:
            self._delete(message)
        return result

    def _delete(self, message: dict[str, Any]) -> None:
        try:
            self._sqs().delete_message(
                QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
            )
        except (ClientError, BotoCoreError) as exc:
            # It comes back after its timeout and is then recognised as a duplicate.
            log.warning("message %s not deleted: %s", message.get("MessageId"), exc)

    def _set_visibility(self, receipts: list[str], seconds: int) -> None:
        for start in range(0, len(receipts), _MAX_MESSAGES):
            entries = [
                {"Id": str(i), "ReceiptHandle": r, "VisibilityTimeout": seconds}
                for i, r in enumerate(receipts[start : start + _MAX_MESSAGES])
            ]
            try:
                reply = self._sqs().change_message_visibility_batch(
                    QueueUrl=self.queue_url, Entries=entries
                )
            except (ClientError, BotoCoreError) as exc:
                log.warning("visibility of %d messages not changed: %s", len(entries), exc)
                continue
            for failed in reply.get("Failed", []):
                log.warning("visibility not changed: %s", failed.get("Message"))

    # -- the loop ---------------------------------------------------------------------------

    def _receive(self) -> list[dict[str, Any]]:
        reply = self._sqs().receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.max_messages,
            WaitTimeSeconds=self.wait_seconds,
            VisibilityTimeout=self.visibility_timeout,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["MessageGroupId", "ApproximateReceiveCount"],
        )
        return list(reply.get("Messages", []))

    def _poll(self) -> list[dict[str, Any]]:
        """One long poll that SIGTERM does not wait for: if stopping wins, whatever the poll
        brings back is handed straight back to the queue."""
        box: queue.SimpleQueue[list[dict[str, Any]] | BaseException] = queue.SimpleQueue()
        lock = threading.Lock()
        abandoned = False

        def receive() -> None:
            try:
                got: list[dict[str, Any]] | BaseException = self._receive()
            except BaseException as exc:  # raised where the caller is (AWS errors are retried)
                got = exc
            with lock:
                if abandoned and isinstance(got, list):
                    self._set_visibility([m["ReceiptHandle"] for m in got], 0)
                else:
                    box.put(got)

        threading.Thread(target=receive, name="sqs-worker-poll", daemon=True).start()
        while True:
            try:
                got = box.get(timeout=0.1)
            except queue.Empty:
                if not self.stopping.is_set():
                    continue
                with lock:
                    abandoned = True
                    try:
                        got = box.get_nowait()
                    except queue.Empty:
                        return []
            if isinstance(got, BaseException):
                raise got
            return got

    def poll_once(self) -> list[RerunResult[Any] | None]:
        """One long poll, and every message it brought handled (cron jobs, tests)."""
        return self._process(self._poll())

    def _process(self, messages: list[dict[str, Any]]) -> list[RerunResult[Any] | None]:
        results: list[RerunResult[Any] | None] = []
        interval = max(1.0, self.visibility_timeout / 3)
        with _Holder(lambda r: self._set_visibility(r, self.visibility_timeout), interval) as held:
            for index, message in enumerate(messages):
                if self.stopping.is_set():
                    self._set_visibility([m["ReceiptHandle"] for m in messages[index:]], 0)
                    break
                rest = [m["ReceiptHandle"] for m in messages[index:]]
                with held.holding(rest):
                    results.append(self.handle(message))
        return results

    def run(self, *, install_signals: bool = True) -> int:
        """Poll and run until `stop()`, SIGTERM or SIGINT; returns 0 (the exit code)."""
        restore = self._install_signals() if install_signals else {}
        log.info("worker polling %s", self.queue_url)
        failures = 0
        try:
            while not self.stopping.is_set():
                try:
                    messages = self._poll()
                except (ClientError, BotoCoreError) as exc:
                    failures += 1
                    log.warning("cannot receive from %s: %s (retrying)", self.queue_url, exc)
                    self.stopping.wait(min(30.0, 0.5 * 2 ** min(failures, 6)))
                    continue
                failures = 0
                self._process(messages)
        finally:
            for signum, previous in restore.items():
                signal.signal(signum, previous)
        log.info("worker stopped")
        return 0

    def stop(self) -> None:
        self.stopping.set()

    def _install_signals(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}  # signal handlers can only be set from the main thread

        def stop(signum: int, _frame: FrameType | None) -> None:
            log.info("received %s: stopping", signal.Signals(signum).name)
            self.stopping.set()

        previous: dict[int, Any] = {}
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.getsignal(signum)
            signal.signal(signum, stop)
        return previous
