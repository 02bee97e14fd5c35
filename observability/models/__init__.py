"""Pure records and messages: statuses, batch state, events, keys, the signal, trace ids.

No I/O and no boto3 here. `records` (re-exported below) is what `observability.models` was;
`keys`, `signals`, `traceids` and `describe` are imported from their modules.
"""

from observability.models.records import (
    TERMINAL_FAILURES,
    AttributeValue,
    AuditEvent,
    BatchState,
    EventType,
    Item,
    Plain,
    Record,
    Status,
    av,
    av_map,
    from_iso,
    is_expired,
    iso,
    plain,
    plain_item,
)

__all__ = [
    "TERMINAL_FAILURES",
    "AttributeValue",
    "AuditEvent",
    "BatchState",
    "EventType",
    "Item",
    "Plain",
    "Record",
    "Status",
    "av",
    "av_map",
    "from_iso",
    "is_expired",
    "iso",
    "plain",
    "plain_item",
]
