"""Counts AWS calls and items read through botocore's own event hooks, per client."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

__all__ = ["CallCounter", "CpuByCall", "MixCounter", "item_kind", "on_call_done"]


class CallCounter:
    """API calls by `service.Operation` (before-call), HTTP sends (retries show here),
    and what Query/Scan/GetItem responses say they read."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.sends = 0
        self.server_errors = 0  # HTTP 5xx answers (botocore retries them)
        self.scanned = 0  # Query/Scan ScannedCount: items the service read for the request
        self.returned = 0  # items handed back by Query/Scan/GetItem
        # (perf_counter, "call"/"done", service.Operation), in order: a timeline of the calls.
        self.log: list[tuple[float, str, str]] = []
        self._lock = threading.Lock()

    def attach(self, client: Any) -> Any:
        events = client.meta.events
        events.register("before-call", self._before_call)
        events.register("before-send", self._before_send)
        events.register("response-received", self._response)
        events.register("after-call.dynamodb", self._after_ddb)
        events.register("after-call", self._after_call)
        return client

    def _before_call(self, event_name: str, **_: Any) -> None:
        _, service, operation = event_name.split(".", 2)
        name = f"{service}.{operation}"
        with self._lock:
            self.calls[name] += 1
            self.log.append((time.perf_counter(), "call", name))

    def _after_call(self, event_name: str, **_: Any) -> None:
        _, service, operation = event_name.split(".", 2)
        with self._lock:
            self.log.append((time.perf_counter(), "done", f"{service}.{operation}"))

    def _response(self, response_dict: dict[str, Any] | None = None, **_: Any) -> None:
        if response_dict and int(response_dict.get("status_code", 0)) >= 500:
            with self._lock:
                self.server_errors += 1

    def _before_send(self, **_: Any) -> None:
        with self._lock:
            self.sends += 1

    def _after_ddb(self, event_name: str, parsed: dict[str, Any], **_: Any) -> None:
        operation = event_name.rsplit(".", 1)[-1]
        with self._lock:
            if operation in ("Query", "Scan"):
                self.scanned += int(parsed.get("ScannedCount", 0))
                self.returned += int(parsed.get("Count", 0))
            elif operation == "GetItem" and parsed.get("Item"):
                self.returned += 1

    def detach(self, client: Any) -> None:
        events = client.meta.events
        events.unregister("before-call", self._before_call)
        events.unregister("before-send", self._before_send)
        events.unregister("response-received", self._response)
        events.unregister("after-call.dynamodb", self._after_ddb)
        events.unregister("after-call", self._after_call)

    def total(self) -> int:
        return sum(self.calls.values())

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.log.clear()
            self.sends = self.server_errors = self.scanned = self.returned = 0

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "calls": dict(sorted(self.calls.items())),
                "http_sends": self.sends,
                "server_errors": self.server_errors,
                "scanned": self.scanned,
                "returned": self.returned,
            }


def item_kind(params: dict[str, Any]) -> str:
    """What a DynamoDB request's key names: batch (STATE#), archive (ARCHIVE#), or shared
    (the budget, the breaker: items every replica writes); "" for requests without a key."""
    key = params.get("Key") or params.get("Item") or {}
    sk = str(key.get("sk", {}).get("S", ""))
    if not sk:
        return ""
    if sk.startswith("STATE#"):
        return "batch"
    if sk.startswith("ARCHIVE#"):
        return "archive"
    return "shared"


class MixCounter:
    """Calls by `service.Operation[:kind][:refused]`: the mix of calls a workload makes, with
    what each DynamoDB request touched (`item_kind`) and whether its condition failed.

    `on_refused(parsed, params)` is called for each refused DynamoDB request (e.g. to tell
    whom a lost claim was lost to, from the item handed back)."""

    def __init__(
        self, on_refused: Callable[[dict[str, Any], dict[str, Any]], None] | None = None
    ) -> None:
        self.mix: Counter[str] = Counter()
        self._on_refused = on_refused
        self._lock = threading.Lock()

    def attach(self, client: Any) -> Any:
        events = client.meta.events
        events.register("before-parameter-build", self._before)
        events.register("after-call", self._after)
        return client

    def _before(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["bench_mix"] = (item_kind(params), params)

    def _after(
        self, event_name: str, parsed: dict[str, Any], context: dict[str, Any], **_: Any
    ) -> None:
        _, service, operation = event_name.split(".", 2)
        kind, params = context.pop("bench_mix", ("", {}))
        name = f"{service}.{operation}" + (f":{kind}" if kind else "")
        refused = parsed.get("Error", {}).get("Code") == "ConditionalCheckFailedException"
        if refused:
            name += ":refused"
            if self._on_refused is not None:
                self._on_refused(parsed, params)
        with self._lock:
            self.mix[name] += 1


class CpuByCall:
    """This process's CPU time inside each API call, by `service.Operation`: from the moment
    botocore starts building the request to the moment it hands back the parsed reply
    (serialising, signing, HTTP, parsing; not the wait for the server, which is no CPU)."""

    def __init__(self) -> None:
        self.cpu: Counter[str] = Counter()
        self._lock = threading.Lock()

    def attach(self, client: Any) -> Any:
        events = client.meta.events
        events.register("before-parameter-build", self._start)
        events.register("after-call", self._stop)
        return client

    def _start(self, context: dict[str, Any], **_: Any) -> None:
        context["bench_cpu"] = time.process_time()

    def _stop(self, event_name: str, context: dict[str, Any], **_: Any) -> None:
        started = context.pop("bench_cpu", None)
        if started is None:
            return
        _, service, operation = event_name.split(".", 2)
        with self._lock:
            self.cpu[f"{service}.{operation}"] += time.process_time() - started

    def total(self) -> float:
        return sum(self.cpu.values())


def on_call_done(client: Any, event: str, sink: Callable[[float], None]) -> None:
    """Call `sink(perf_counter())` the moment `event` (e.g. after-call.sqs.SendMessage) fires."""

    def stamp(**_: Any) -> None:
        sink(time.perf_counter())

    client.meta.events.register(event, stamp)
