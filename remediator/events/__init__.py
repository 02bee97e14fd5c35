"""AWS state-change events on the signal queue: runs that died without a word, and runs of
pipelines that do not import the library (`parse` reads them, pure; `plan` decides and
builds the writes, pure; `sources` names the opted-in pipelines; `record` writes; `consume`
is the queue's side)."""

from remediator.events.consume import take_event
from remediator.events.parse import MalformedEvent, StateChange, is_event, parse_event
from remediator.events.record import EventRecorder

__all__ = [
    "EventRecorder",
    "MalformedEvent",
    "StateChange",
    "is_event",
    "parse_event",
    "take_event",
]
