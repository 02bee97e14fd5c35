"""Work of every shape is recorded by its real outcome, once it has ended: coroutines,
generators, async generators, exits and interrupts, and async work given to the runners."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from observability import AuditTrail, Rerun, SqsTrigger, SqsWorker, Status, batch_handler, run_task
from observability.rerun.runner import RerunOutcome
from tests.conftest import Clock, new_id
from tests.integration.harness import Stack, receive_all, sqs_event

WORK = SqsTrigger(queue_url="https://sqs.us-east-1.amazonaws.com/123456789012/work", body={})


class Boom(Exception):
    pass


@pytest.fixture
def stack(settings_kwargs: dict[str, Any], clients: Any, moto_endpoint: str, clock: Clock) -> Stack:
    return Stack(settings_kwargs, clients, moto_endpoint, clock)


def status(trail: AuditTrail, job: str, batch: str) -> Status | None:
    state = trail.get(job, batch)
    return state.status if state else None


def events(trail: AuditTrail, job: str, batch: str) -> list[str]:
    return [e.event.value for e in trail.history(job, batch)]


# -- the decorator -------------------------------------------------------------------------


def test_an_async_def_is_recorded_when_awaited_to_its_end(stack: Stack):
    trail, job = stack.trail, new_id()
    seen: list[Status | None] = []

    @trail.batch(job, "ok", trigger=WORK)
    async def good() -> str:
        await asyncio.sleep(0)
        seen.append(status(trail, job, "ok"))
        return "done"

    @trail.batch(job, "bad", trigger=WORK)
    async def bad() -> None:
        await asyncio.sleep(0)
        seen.append(status(trail, job, "bad"))
        raise Boom("late")

    coroutine = good()
    assert status(trail, job, "ok") is None  # nothing happens until it is awaited
    assert asyncio.run(coroutine) == "done"
    with pytest.raises(Boom):
        asyncio.run(bad())
    assert seen == [Status.STARTED, Status.STARTED]
    assert status(trail, job, "ok") is Status.SUCCESS
    assert status(trail, job, "bad") is Status.FAILED
    assert events(trail, job, "bad") == ["STARTED", "FAILED"]


def test_async_with_writes_off_the_event_loop(stack: Stack):
    trail, job = stack.trail, new_id()
    ticks = 0

    async def ticker(stop: asyncio.Event) -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0)

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(ticker(stop))
        before = ticks
        async with trail.batch(job, "b", trigger=WORK) as run:
            assert run.attempt == 1
            assert threading.current_thread() is threading.main_thread()
        stop.set()
        await task
        # The loop kept turning while STARTED and SUCCESS were written.
        assert ticks - before > 2

    asyncio.run(main())
    assert status(trail, job, "b") is Status.SUCCESS


def test_a_generator_is_recorded_over_its_whole_iteration(stack: Stack):
    trail, job = stack.trail, new_id()

    @trail.batch(job, "rows", trigger=WORK)
    def rows() -> Iterator[int]:
        yield 1
        yield 2

    @trail.batch(job, "broken", trigger=WORK)
    def broken() -> Iterator[int]:
        yield 1
        raise Boom("row 2")

    made = rows()
    assert status(trail, job, "rows") is None
    assert next(made) == 1
    assert status(trail, job, "rows") is Status.STARTED
    assert list(made) == [2]
    assert status(trail, job, "rows") is Status.SUCCESS
    it = broken()
    assert next(it) == 1
    assert status(trail, job, "broken") is Status.STARTED
    with pytest.raises(Boom):
        next(it)
    assert status(trail, job, "broken") is Status.FAILED


def test_a_generator_closed_early_did_not_finish(stack: Stack):
    trail, job = stack.trail, new_id()

    @trail.batch(job, "half", trigger=WORK)
    def rows() -> Iterator[int]:
        yield from range(10)

    it = rows()
    next(it)
    it.close()
    state = trail.get(job, "half")
    assert state is not None
    assert (state.status, state.error_type) == (Status.FAILED, "GeneratorExit")


def test_an_async_generator_is_recorded_over_its_iteration(stack: Stack):
    trail, job = stack.trail, new_id()

    @trail.batch(job, "ok", trigger=WORK)
    async def ok() -> AsyncIterator[int]:
        yield 1
        yield 2

    @trail.batch(job, "bad", trigger=WORK)
    async def bad() -> AsyncIterator[int]:
        yield 1
        raise Boom("late")

    async def main() -> None:
        got = []
        async for x in ok():
            got.append(x)
            assert status(trail, job, "ok") is Status.STARTED
        assert got == [1, 2]
        with pytest.raises(Boom):
            async for _ in bad():
                assert status(trail, job, "bad") is Status.STARTED

    asyncio.run(main())
    assert status(trail, job, "ok") is Status.SUCCESS
    assert status(trail, job, "bad") is Status.FAILED


def test_a_plain_function_returning_a_coroutine_is_failed_not_recorded_as_done(stack: Stack):
    trail, job = stack.trail, new_id()
    ran = []

    async def load() -> None:
        ran.append(1)

    @trail.batch(job, "b", trigger=WORK)
    def wrapped() -> Any:
        return load()

    with pytest.raises(TypeError, match="async def"):
        wrapped()
    assert ran == []
    assert status(trail, job, "b") is Status.FAILED


# -- exits and interrupts --------------------------------------------------------------------


@pytest.mark.parametrize("code", [0, None])
def test_sys_exit_0_is_success(stack: Stack, code: int | None):
    trail, job = stack.trail, new_id()
    with pytest.raises(SystemExit) as raised, trail.batch(job, "b", trigger=WORK):
        sys.exit(code)
    assert raised.value.code == code
    assert status(trail, job, "b") is Status.SUCCESS


def test_sys_exit_3_is_failed_with_its_code(stack: Stack):
    trail, job = stack.trail, new_id()
    with pytest.raises(SystemExit) as raised, trail.batch(job, "b", trigger=WORK):
        sys.exit(3)
    assert raised.value.code == 3
    state = trail.get(job, "b")
    assert state is not None
    assert (state.status, state.error_type) == (Status.FAILED, "SystemExit")
    assert trail.history(job, "b")[-1].error_message == "exit code 3"


@pytest.mark.parametrize("kind", [KeyboardInterrupt, GeneratorExit, asyncio.CancelledError])
def test_interrupts_are_recorded_with_their_type_and_raised_unchanged(
    stack: Stack, kind: type[BaseException]
):
    trail, job = stack.trail, new_id()
    original = kind()
    with pytest.raises(kind) as raised, trail.batch(job, "b", trigger=WORK):
        raise original
    assert raised.value is original
    state = trail.get(job, "b")
    assert state is not None
    assert state.status in (Status.FAILED, Status.EXHAUSTED)
    assert state.error_type == kind.__name__


def test_a_cancelled_task_is_recorded_as_cancelled(stack: Stack):
    trail, job = stack.trail, new_id()

    async def main() -> None:
        started = asyncio.Event()

        async def work() -> None:
            async with trail.batch(job, "b", trigger=WORK):
                started.set()
                await asyncio.sleep(60)

        task = asyncio.create_task(work())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    state = trail.get(job, "b")
    assert state is not None
    assert state.error_type == "CancelledError"


# -- the runners -----------------------------------------------------------------------------


def test_run_task_awaits_async_work(stack: Stack):
    job = new_id()
    trail = stack.producer(actor="task")
    seen = []

    async def load(batch: Rerun) -> str:
        await asyncio.sleep(0)
        seen.append(status(trail, job, str(batch.batch_id)))
        if batch.batch_id == "bad":
            raise Boom("late")
        return "loaded"

    def first(name: str) -> Any:
        return run_task(trail, load, environ={}, job_id=job, batch_id=lambda _: name, trigger=WORK)

    assert first("ok") == "loaded"
    with pytest.raises(Boom):
        first("bad")
    assert seen == [Status.STARTED, Status.STARTED]
    assert status(trail, job, "ok") is Status.SUCCESS
    assert status(trail, job, "bad") is Status.FAILED


def test_sqs_worker_awaits_async_work(stack: Stack):
    job = new_id()
    sqs = stack.clients.sqs()
    for name in ("ok", "bad"):
        sqs.send_message(QueueUrl=stack.work_queue, MessageBody=json.dumps({"name": name}))
    trail = stack.producer(actor="worker")

    async def load(batch: Rerun) -> None:
        await asyncio.sleep(0)
        assert status(trail, job, str(batch.batch_id)) is Status.STARTED
        if batch.batch_id == "bad":
            raise Boom("late")

    worker = SqsWorker(
        trail, stack.work_queue, load, job_id=job, batch_id=lambda b: b["name"], wait_seconds=0
    )
    outcomes = {}
    for _ in range(4):
        for result in worker.poll_once():
            assert result is not None
            outcomes[result.request.batch_id] = result.outcome
    assert outcomes == {"ok": RerunOutcome.SUCCEEDED, "bad": RerunOutcome.FAILED}
    assert status(trail, job, "ok") is Status.SUCCESS
    assert status(trail, job, "bad") is Status.FAILED


def test_batch_handler_awaits_async_work(stack: Stack):
    job = new_id()
    sqs = stack.clients.sqs()
    for name in ("ok", "bad"):
        sqs.send_message(QueueUrl=stack.work_queue, MessageBody=json.dumps({"name": name}))
    messages = receive_all(stack.clients, stack.work_queue)
    event = json.loads(json.dumps(sqs_event(stack.clients, stack.work_queue, messages)))
    trail = stack.producer(actor="lambda")

    @batch_handler(trail, job_id=job, batch_id=lambda b: b["name"])
    async def handler(batch: Rerun) -> None:
        await asyncio.sleep(0)
        assert status(trail, job, str(batch.batch_id)) is Status.STARTED
        if batch.batch_id == "bad":
            raise Boom("late")

    reply = handler(event, None)
    assert len(reply["batchItemFailures"]) == 0  # a recorded failure is the trail's to retry
    assert status(trail, job, "ok") is Status.SUCCESS
    assert status(trail, job, "bad") is Status.FAILED
