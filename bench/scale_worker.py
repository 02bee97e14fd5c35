"""One remediator replica for the scale figures, built exactly as `remediator run` builds it.

`python -m bench.scale_worker START_AT SECONDS RESULT_PATH [PROFILE_PATH]`, configured by the
same REMEDIATOR_* and AWS_ENDPOINT_URL variables as the service. It drains the signal queue
through the real SignalConsumer and Service.process, like `remediator run --once`, but is
told to stop after SECONDS the way SIGTERM tells the service (its `stopping` event: the
message in hand finishes, the rest go back to the queue), so that runs with 1, 2 and 3
replicas last the same time. With PROFILE_PATH the loop runs under cProfile, timed by CPU.

It reports its own CPU time, its outcomes, and its calls by kind (`MixCounter`): which
DynamoDB writes touched items every replica shares (the budget, the breaker), and, for each
claim refused on its condition, whether the batch was taken by another replica or by this
one (a duplicate delivery of a signal it had already acted on), from the item handed back.
"""

from __future__ import annotations

import cProfile
import json
import pstats
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.hooks import CallCounter, CpuByCall, MixCounter
from bench.profiling import summarise
from observability.clients import AwsClients
from observability.logger import configure_logging
from observability.models import plain_item
from observability.settings import load_settings
from remediator.remediation import Remediator
from remediator.service import Service
from remediator.service.consumer import QueueUnavailable, SignalConsumer
from remediator.settings import RemediatorSettings

# The steps of a re-trigger, by the function that makes each (cumulative CPU, calls included).
STAGES = {
    "receive signals": ("remediator/service/consumer.py", "receive"),
    "parse signal": ("remediator/messages.py", "parse_signal"),
    "breaker read": ("remediator/guards/breaker.py", "paused_until"),
    "budget": ("remediator/guards/budget.py", "take"),
    "claim": ("remediator/remediation/claim.py", "claim"),
    "trigger (SendMessage)": ("remediator/triggers/dispatch.py", "fire"),
    "record": ("remediator/remediation/record.py", "record"),
    "delete signals": ("remediator/service/consumer.py", "delete"),
    "metrics": ("observability/telemetry/metrics.py", "emit"),
    "logs": ("logging/__init__.py", "callHandlers"),
    "all AWS calls (botocore)": ("botocore/client.py", "_make_api_call"),
}


def _holder(item: dict[str, Any]) -> str | None:
    """Who holds a batch, from its item: the lease owner, else whoever recorded the latest
    trigger (a record hands the lease back)."""
    data = plain_item(item)
    if isinstance(data.get("lease_owner"), str):
        return str(data["lease_owner"])
    events = [e for e in data.get("events") or [] if isinstance(e, dict)]
    triggers = [e for e in events if str(e.get("event", "")).endswith("_TRIGGERED")]
    if not triggers:
        return None
    return str(max(triggers, key=lambda e: int(e.get("version", 0))).get("actor"))


def main(argv: list[str]) -> int:
    start_at, seconds, result = float(argv[0]), float(argv[1]), Path(argv[2])
    profile_to = Path(argv[3]) if len(argv) > 3 else None
    settings = load_settings(RemediatorSettings)
    configure_logging("INFO")  # as `remediator run` does: JSON lines on stderr
    clients = AwsClients(region=settings.region)
    remediator = Remediator(settings, clients=clients)
    consumer = SignalConsumer(
        clients,
        settings.queue_url or "",
        wait_seconds=settings.poll_wait_seconds,
        visibility_timeout=settings.visibility_timeout_seconds,
    )
    service = Service(remediator, consumer)
    lost_to: Counter[str] = Counter()

    def refused(parsed: dict[str, Any], params: dict[str, Any]) -> None:
        if ":attempt" not in params.get("ExpressionAttributeValues", {}):
            return  # not a claim
        holder = _holder(parsed.get("Item") or {})
        lost_to[
            "unknown" if holder is None else "self" if holder == remediator.replica else "other"
        ] += 1

    counter, mix, cpu_by_call = CallCounter(), MixCounter(refused), CpuByCall()
    # Clients (and their models) exist before the start, as in a warm replica.
    for client in (
        clients.dynamodb(),
        remediator.record_clients.dynamodb(),
        clients.sqs(),
        remediator.trigger_clients.sqs(),
    ):
        counter.attach(client)  # counts calls, HTTP sends and 5xx answers: no extra calls
        mix.attach(client)
        cpu_by_call.attach(client)
    time.sleep(max(0.0, start_at - time.time()))
    # CPU time, not wall time: where the replica's own CPU goes, not what it waits for.
    prof = cProfile.Profile(time.process_time) if profile_to else None
    cpu0 = time.process_time()
    timer = threading.Timer(start_at + seconds - time.time(), remediator.stopping.set)
    timer.daemon = True  # a queue that runs dry ends the run without waiting for it
    timer.start()
    if prof:
        prof.enable()
    while not remediator.stopping.is_set():
        try:
            messages = consumer.receive(wait_seconds=consumer.drain_wait_seconds)
        except QueueUnavailable:
            continue  # as the service's poll loop does: the endpoint failed, ask again
        if not messages:
            break
        service.process(messages)
    if prof:
        prof.disable()
    summary = {
        "end": time.time(),
        "cpu": time.process_time() - cpu0,
        "replica": remediator.replica,
        "outcomes": dict(remediator.counts),
        "calls": counter.total(),
        "http_sends": counter.sends,
        "server_errors": counter.server_errors,
        "mix": dict(mix.mix),
        "cpu_in_calls": dict(cpu_by_call.cpu),
        "lost_to": dict(lost_to),
    }
    if prof and profile_to:
        summary["profile"] = summarise(
            pstats.Stats(prof), profile_to, ("/remediator/", "/observability/"), stages=STAGES
        )
    result.write_text(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
