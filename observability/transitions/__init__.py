"""What each transition writes, and on which condition. Pure: the store only executes these.

A transition is one single-item conditional write: the state change and its event(s),
appended to the history list in the same item, commit together or not at all. Each event
carries the state's new version, and every write is conditional on the version it read, so
two writers can never both record "version 5" of a batch.

The history list is bounded: when the events already in the item and the new ones would
pass `HISTORY_BYTES` (or, for a batch that has run before, would hold the item over
`ITEM_BYTES`, one write unit, on their own), the writer first puts the item's events into
an immutable archive item (named by what it holds, see `keys.archive_sk`), then replaces
the list by the new events in its conditional write. A writer that dies in between leaves
an archive that the next writer, planning from the same item, puts again under the same
name (a no-op) before trimming.

`writes` is a planned write and what it leaves, `history` the bounded list, `start` and
`finish` the producer's transitions, `sizing` DynamoDB's item sizes.
"""

from observability.models.describe import truncate
from observability.transitions.finish import failure, heartbeat, settle, success
from observability.transitions.history import (
    HISTORY_BYTES,
    ITEM_BYTES,
    archive_if_full,
    event_item,
    with_history,
)
from observability.transitions.start import holder, start_again, start_new, unrecorded_trigger
from observability.transitions.writes import (
    Archive,
    Scalar,
    TableConfig,
    Write,
    applied,
    as_put,
    new_write_id,
)

__all__ = [
    "HISTORY_BYTES",
    "ITEM_BYTES",
    "Archive",
    "Scalar",
    "TableConfig",
    "Write",
    "applied",
    "archive_if_full",
    "as_put",
    "event_item",
    "failure",
    "heartbeat",
    "holder",
    "new_write_id",
    "settle",
    "start_again",
    "start_new",
    "success",
    "truncate",
    "unrecorded_trigger",
    "with_history",
]
