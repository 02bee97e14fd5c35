"""The service loop: a poller thread for signals, a sweeper thread, health, clean shutdown.

SIGTERM (ECS stopping the task) or SIGINT: stop polling at once, let the batch in hand finish
(bounded by the grace period), hand unprocessed messages back to the queue, exit 0. A long
poll in flight is abandoned, not waited for: its messages, if any, come back after their
visibility timeout. The process is PID 1 in its container, so the handlers are installed here.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType

from observability.errors import NotifierUnavailable, ObservabilityError, StoreUnavailable
from remediator.errors import RemediatorError
from remediator.events import EventRecorder, is_event, take_event
from remediator.messages import MalformedSignal, parse_signal
from remediator.remediation import Remediator
from remediator.remediation.traces import signal_context
from remediator.service.consumer import QueueUnavailable, Received, SignalConsumer
from remediator.service.health import HealthServer, Heartbeats
from remediator.service.sweeper import Sweeper

__all__ = ["Service", "Summary"]

log = logging.getLogger("remediator.service")


class InFlight:
    """Counts work in hand across threads, so shutdown can wait for exactly that."""

    def __init__(self) -> None:
        self._count = 0
        self._idle = threading.Condition()

    def __enter__(self) -> None:
        with self._idle:
            self._count += 1

    def __exit__(self, *_: object) -> None:
        with self._idle:
            self._count -= 1
            if self._count == 0:
                self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._count == 0, timeout=timeout)


@dataclass(frozen=True, slots=True)
class Summary:
    signals: int
    swept: int
    outcomes: dict[str, int]


class Service:
    """Wires the consumer and the sweeper to one Remediator; `run_once` or `run_forever`."""

    def __init__(
        self,
        remediator: Remediator,
        consumer: SignalConsumer,
        *,
        sweeper: Sweeper | None = None,
        beats: Heartbeats | None = None,
        events: EventRecorder | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.remediator = remediator
        self.consumer = consumer
        # AWS's state-change events arrive on the same queue as the producers' signals.
        self.events = events or EventRecorder(remediator, consumer.clients)
        self.sweeper = sweeper or Sweeper(remediator)
        self.settings = remediator.settings
        self.stopping = remediator.stopping
        self.beats = beats or Heartbeats(self.settings.health_max_silence_seconds)
        self._busy = InFlight()
        self._monotonic = monotonic

    # -- signals --------------------------------------------------------------------------

    def process(self, messages: list[Received]) -> int:
        """Handle received messages; delete the handled, return the rest to the queue."""
        done: list[Received] = []
        held_since = self._monotonic()
        for index, message in enumerate(messages):
            # Health means "not stuck": ten slow re-triggers in a row are progress.
            self.beats.tick("poll")
            if self.stopping.is_set():
                self.consumer.set_visibility(messages[index:], 0)
                break
            if self._monotonic() - held_since > self.consumer.visibility_timeout / 2:
                # Slow work (triggers retrying): keep the rest from reappearing elsewhere.
                self.consumer.set_visibility(messages[index:], self.consumer.visibility_timeout)
                held_since = self._monotonic()
            if is_event(message.body):
                if take_event(self.events, message.body, message.message_id):
                    done.append(message)
                continue
            try:
                sig = parse_signal(message.body)
            except MalformedSignal as exc:
                # Not deleted: after maxReceiveCount receives SQS moves it to the DLQ.
                log.warning(
                    "malformed signal left for the DLQ: %s",
                    exc,
                    extra={
                        "message_id": message.message_id,
                        "receive_count": message.receive_count,
                    },
                )
                self.consumer.set_visibility([message], 0)
                continue
            try:
                with signal_context(message):
                    self.remediator.handle_signal(sig)
            except (StoreUnavailable, NotifierUnavailable, QueueUnavailable) as exc:
                # AWS trouble: keep the message; it comes back after its timeout.
                log.warning("signal not handled, will be seen again: %s", exc)
                continue
            except Exception:
                # Whatever this one message did, the others are still handled and deleted;
                # it goes back at once and, after maxReceiveCount receives, to the DLQ.
                log.exception("signal could not be handled; left for the DLQ")
                self.consumer.set_visibility([message], 0)
                continue
            done.append(message)
        if done:
            self.consumer.delete(done)
        return len(done)

    def drain(self) -> int:
        """Handle every signal waiting now (short polls until the queue answers empty)."""
        handled = 0
        while not self.stopping.is_set():
            messages = self.consumer.receive(wait_seconds=self.consumer.drain_wait_seconds)
            if not messages:
                break
            with self._busy:
                handled += self.process(messages)
        return handled

    def run_once(self) -> Summary:
        """`remediator run --once`: drain the signals, sweep once, report."""
        before = Counter(self.remediator.counts)
        signals = self.drain()
        swept = sum(self.sweeper.sweep().values())
        outcomes = Counter(self.remediator.counts)
        outcomes.subtract(before)
        return Summary(signals, swept, {k: v for k, v in outcomes.items() if v})

    # -- the long-running service ----------------------------------------------------------

    def _loop(self, name: str, turn: Callable[[], None], pause: Callable[[], float]) -> None:
        failures = 0
        self.beats.tick(name)  # a loop stuck in its first turn must still age into unhealthy
        while not self.stopping.is_set():
            try:
                turn()
                failures = 0
            except (ObservabilityError, RemediatorError, QueueUnavailable) as exc:
                failures += 1
                log.warning("%s loop: %s (retrying)", name, exc)
            except Exception:  # the loop must keep turning whatever one turn did
                failures += 1
                log.exception("%s loop: unexpected error (retrying)", name)
            self.beats.tick(name)
            # Back off on repeated errors (an endpoint away), but wake at once on shutdown.
            wait = pause() if failures == 0 else min(30.0, 0.5 * 2 ** min(failures, 6))
            if wait:
                self.stopping.wait(wait)

    def _poll_turn(self) -> None:
        messages = self.consumer.receive()
        if not messages:
            return
        if self.stopping.is_set():
            self.consumer.set_visibility(messages, 0)
            return
        with self._busy:
            self.process(messages)

    def _sweep_turn(self) -> None:
        with self._busy:
            seen = self.sweeper.sweep(progress=lambda: self.beats.tick("sweep"))
        if seen:
            log.info("sweep", extra={"outcomes": dict(seen)})

    def run_forever(
        self,
        *,
        install_signals: bool = True,
        health: bool = True,
        early_signal: Callable[[], int | None] = lambda: None,
    ) -> int:
        """Run until SIGTERM/SIGINT (or `stopping` is set); returns the exit code.
        `early_signal` tells a SIGTERM received while the command was loading."""
        if install_signals:
            self.install_signal_handlers(early_signal)
        server = None
        if health and self.settings.health_port:
            server = HealthServer(
                self.beats, self.settings.health_host, self.settings.health_port
            ).start()
        threads = [
            threading.Thread(
                target=self._loop,
                args=("poll", self._poll_turn, lambda: 0.0),
                name="poll",
                daemon=True,
            ),
            threading.Thread(
                target=self._loop,
                args=("sweep", self._sweep_turn, lambda: self.settings.sweep_interval_seconds),
                name="sweep",
                daemon=True,
            ),
        ]
        for thread in threads:
            thread.start()
        log.info("remediator running", extra={"replica": self.remediator.replica})
        while not self.stopping.wait(0.2):
            pass
        self.beats.stopping = True
        self._finish_in_flight()
        if server:
            server.stop()
        log.info("remediator stopped", extra={"outcomes": dict(self.remediator.counts)})
        return 0

    def _finish_in_flight(self) -> None:
        """Wait for the batch in hand, within the grace period; leases cover anything longer."""
        grace = self.settings.shutdown_grace_seconds
        if not self._busy.wait_idle(grace):
            log.warning("shutdown grace of %.0f s ran out; unfinished claims expire", grace)

    def install_signal_handlers(
        self, early_signal: Callable[[], int | None] = lambda: None
    ) -> None:
        def stop(signum: int, _frame: FrameType | None) -> None:
            log.info("received %s: stopping", signal.Signals(signum).name)
            self.stopping.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        if early_signal() is not None:  # received while the command was still loading
            self.stopping.set()
