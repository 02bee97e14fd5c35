"""One remediator replica for the scale figure, built exactly as `remediator run` builds it.

`python -m bench.scale_worker START_AT SECONDS RESULT_PATH`, configured by the same
REMEDIATOR_* and AWS_ENDPOINT_URL variables as the service. It drains the signal queue
through the real SignalConsumer and Service.process, like `remediator run --once`, but
is told to stop after SECONDS the way SIGTERM tells the service (its `stopping` event:
the message in hand finishes, the rest go back to the queue). With 1,000 failed batches
a full drain takes minutes on moto; the time box keeps 1- and 2-process runs equal.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

from bench.hooks import CallCounter
from observability.clients import AwsClients
from observability.logger import configure_logging
from observability.settings import load_settings
from remediator.consumer import QueueUnavailable, SignalConsumer
from remediator.remediation import Remediator
from remediator.service import Service
from remediator.settings import RemediatorSettings


def main(argv: list[str]) -> int:
    start_at, seconds, result = float(argv[0]), float(argv[1]), Path(argv[2])
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
    counter = CallCounter()
    # Clients (and their models) exist before the start, as in a warm replica.
    for client in (clients.dynamodb(), clients.sqs(), remediator.trigger_clients.sqs()):
        counter.attach(client)  # counts calls, HTTP sends and 5xx answers: no extra calls
    time.sleep(max(0.0, start_at - time.time()))
    cpu0 = time.process_time()
    timer = threading.Timer(start_at + seconds - time.time(), remediator.stopping.set)
    timer.daemon = True  # a queue that runs dry ends the run without waiting for it
    timer.start()
    while not remediator.stopping.is_set():
        try:
            messages = consumer.receive(wait_seconds=consumer.drain_wait_seconds)
        except QueueUnavailable:
            continue  # as the service's poll loop does: the endpoint failed, ask again
        if not messages:
            break
        service.process(messages)
    summary = {
        "end": time.time(),
        "cpu": time.process_time() - cpu0,
        "outcomes": dict(remediator.counts),
        "calls": counter.total(),
        "http_sends": counter.sends,
        "server_errors": counter.server_errors,
    }
    result.write_text(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
