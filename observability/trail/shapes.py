"""The shape of a batch's work: plain, coroutine, generator. Each is recorded when it ends.

A batch's outcome is written when its work has ended, never when a function returns an
object that will do the work later. So the decorator opens the batch:

- around the call of a plain function;
- around the await of a coroutine function (writes run in a worker thread: the event
  loop is never blocked by them);
- around the whole iteration of a generator function (sync or async): the batch starts at
  the first `next()` and ends when the generator is exhausted (SUCCESS), raises (FAILED),
  or is closed early (FAILED, `GeneratorExit`: the work did not finish).

A plain function that returns an awaitable is refused inside the batch (FAILED, TypeError):
the awaitable is closed unrun rather than recorded as done.

`clean_exit` says which exceptions end a batch successfully: `SystemExit` with code 0 or
None (a script's normal `sys.exit()`); every other exception, interrupts included, fails it.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncGenerator, Callable, Generator
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Any, TypeVar, cast

__all__ = ["clean_exit", "exit_message", "resolve", "wrap"]

F = TypeVar("F", bound=Callable[..., Any])
_NOT_AWAITED = (
    "returned an awaitable from a plain function: declare it `async def` (or await it "
    "inside one) so that the batch ends when the work does"
)


def clean_exit(exc: BaseException | None) -> bool:
    """True for no exception and for `SystemExit` with code 0 or None."""
    return exc is None or (isinstance(exc, SystemExit) and exc.code in (0, None))


def exit_message(exc: BaseException) -> str | None:
    """The message recorded for a failing `SystemExit`: its code, said as such."""
    if isinstance(exc, SystemExit):
        return f"exit code {exc.code}"
    return None


def _refuse_awaitable(value: object) -> None:
    if inspect.isawaitable(value):
        if inspect.iscoroutine(value):
            value.close()  # never run, and no "never awaited" warning at exit
        raise TypeError(_NOT_AWAITED)


def resolve(value: Any) -> Any:
    """The value of work that may be async: an awaitable is run to its end in a fresh event
    loop (a worker, a Lambda, a task has none running in this thread)."""
    if not inspect.isawaitable(value):
        return value
    import asyncio  # only async work needs it: a sync pipeline never loads it

    try:
        asyncio.get_running_loop()
    except RuntimeError:

        async def _await() -> Any:
            return await value

        return asyncio.run(_await())
    if inspect.iscoroutine(value):
        value.close()
    raise TypeError(
        "async work given to a blocking runner inside a running event loop: run it from "
        "a thread (asyncio.to_thread) or await it under `async with trail.batch(...)`"
    )


def wrap(
    fn: F,
    sync_batch: Callable[[], AbstractContextManager[Any]],
    async_batch: Callable[[], AbstractAsyncContextManager[Any]],
) -> F:
    """`fn` run inside a fresh batch per call, for the whole of its work (see module)."""
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def coroutine(*args: Any, **kwargs: Any) -> Any:
            async with async_batch():
                return await fn(*args, **kwargs)

        return cast(F, coroutine)
    if inspect.isasyncgenfunction(fn):

        @functools.wraps(fn)
        async def agen(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
            async with async_batch():
                inner = fn(*args, **kwargs)
                try:
                    try:
                        item = await inner.__anext__()
                    except StopAsyncIteration:
                        return
                    while True:  # send and throw forwarded, as `yield from` would
                        try:
                            sent = yield item
                        except GeneratorExit:
                            raise
                        except BaseException as thrown:
                            step = inner.athrow(thrown)
                        else:
                            step = inner.asend(sent)
                        try:
                            item = await step
                        except StopAsyncIteration:
                            return
                finally:
                    await inner.aclose()

        return cast(F, agen)
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
            with sync_batch():
                return (yield from fn(*args, **kwargs))

        return cast(F, gen)

    @functools.wraps(fn)
    def plain(*args: Any, **kwargs: Any) -> Any:
        with sync_batch():
            value = fn(*args, **kwargs)
            _refuse_awaitable(value)
            return value

    return cast(F, plain)
