"""A write whose reply never came (after botocore's retries) is read back, not guessed at.

Every write stamps the item with its own `write_id`. When the last try of a write fails
without an answer, the write may have landed all the same (the reply was lost, or the
table applied it late): one consistent read of the item's `write_id` tells which. Landed:
the write stands. Not landed: the original error. Unreadable: `OutcomeUnknown`, whose
message says so, and never that nothing was recorded.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from observability.audit.store import TableMissing
from observability.errors import OutcomeUnknown, StoreUnavailable

if TYPE_CHECKING:
    from observability.audit.store import AuditStore
    from observability.transitions import Write

__all__ = ["apply_confirmed"]

log = logging.getLogger("observability")


def apply_confirmed(store: AuditStore, write: Write) -> bool:
    """Commit `write` (ConditionFailed as `store.apply` raises it). Returns True when its
    reply was lost and the read-back found it landed, False when it was answered."""
    try:
        store.apply(write)
        return False
    except TableMissing:
        raise
    except StoreUnavailable as lost:
        try:
            found = store.write_id_of(write.item_key)
        except StoreUnavailable as unreadable:
            raise OutcomeUnknown(
                f"{lost}; reading the item back failed too ({unreadable}): whether this "
                "write was recorded is unknown"
            ) from lost
        if found != write.write_id:
            raise
        log.warning("a write's reply was lost; read back, it had landed: %s", lost)
        return True
