"""An EventBridge event received on the signal queue: recorded, kept for later, or dropped.

Unlike a malformed signal (left for the DLQ: a producer sent it and someone must look), an
event AWS sent that this service cannot read is logged once and deleted: AWS will not send
a better one, and a DLQ of them would only hide the producers' messages.
"""

from __future__ import annotations

import logging

from observability.errors import StoreUnavailable
from remediator.events.parse import MalformedEvent, parse_event
from remediator.events.record import EventRecorder

__all__ = ["take_event"]

log = logging.getLogger("remediator.events")


def take_event(recorder: EventRecorder, body: str, message_id: str) -> bool:
    """Handle one event; True when its message may be deleted, False to see it again (the
    table or AWS away, or a re-trigger whose record has not landed yet)."""
    try:
        change = parse_event(body)
    except MalformedEvent as exc:
        log.warning("unreadable event deleted: %s", exc, extra={"message_id": message_id})
        return True
    if change is None:
        log.info("event of a kind no rule sends, deleted", extra={"message_id": message_id})
        return True
    try:
        outcome = recorder.handle(change)
    except StoreUnavailable as exc:
        log.warning("state-change event not recorded, will be seen again: %s", exc)
        return False
    log.info(
        "state change",
        extra={"message_id": message_id, "outcome": outcome.kind, "key": outcome.key,
               "run": change.run_id, **outcome.detail},
    )  # fmt: skip
    return outcome.kind != "event_later"
