"""Recording a trigger that went out, in the slot its claim reserved, and keeping the ones
the table would not take yet.

The trigger has gone out: giving up on its record would let the lease run out and the same
attempt be fired again. So the write is retried while most of the lease lasts, and past
that kept in memory and tried again at every sweep.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

from observability.audit import AuditStore, ConditionFailed, new_write_id
from observability.errors import StoreUnavailable
from observability.models import BatchState, EventType, from_iso, iso
from remediator.remediation import claims
from remediator.remediation.context import Context

__all__ = ["Recorder"]

log = logging.getLogger("remediator")

_RECORD_ATTEMPTS = 30
_RECORD_ROUNDS = 4


@dataclass(frozen=True, slots=True)
class _Record:
    """A trigger that went out, to be recorded in the slot its claim reserved.

    One `write_id` for every try: a try whose reply was lost is then recognised as landed.
    """

    claimed: BatchState
    fired_at: datetime
    event: EventType
    actor: str
    detail: dict[str, str]
    write_id: str = field(default_factory=new_write_id)


class Recorder:
    def __init__(self, context: Context, store: AuditStore) -> None:
        self.context = context
        # Its clients have botocore's retries off: tenacity alone retries the record.
        self._store = store
        # Records of triggers that went out, still to be written, by batch.
        self._unrecorded: dict[str, _Record] = {}

    def pending(self, token: str) -> bool:
        """Whether this replica fired the batch and has not recorded it yet."""
        return token in self._unrecorded

    def record(
        self,
        claimed: BatchState,
        now: datetime,
        *,
        event: EventType,
        actor: str,
        detail: dict[str, str],
    ) -> bool:
        """Write the trigger's event (at the time it was fired) into its reserved slot;
        False if it is not written (yet)."""
        record = _Record(claimed, now, event, actor, detail)
        # Repeats are harmless (the write id tells a lost reply, the lease and the slot
        # conditions a repeat), so keep trying while most of the lease lasts.
        lease_end = from_iso(claimed.lease_expires_at or iso(now))
        lease_left = (lease_end - self.context.now()).total_seconds()
        retrying = Retrying(
            stop=stop_after_attempt(_RECORD_ATTEMPTS)
            | stop_after_delay(max(0.0, 0.8 * lease_left)),
            wait=wait_random_exponential(multiplier=0.2, max=5.0),
            retry=retry_if_exception_type(StoreUnavailable),
            sleep=self.context.sleep,
            reraise=True,
        )
        try:
            return bool(retrying(self._land, record))
        except StoreUnavailable as exc:
            # Kept in memory and tried again at every sweep: the record's condition holds
            # until another replica takes the batch, however late the write lands.
            log.error("trigger sent, record pending: %s", exc)
            self.context.metrics.emit(claimed.job_id, {"TriggerUnrecorded": 1})
            with self.context.lock:
                self._unrecorded[claimed.key.token] = record
            return False

    def _land(self, record: _Record) -> bool:
        """Commit a trigger's record; False if another replica has taken the batch."""
        state = record.claimed
        owner = self.context.name
        for _ in range(_RECORD_ROUNDS):
            write = claims.recorded(
                state,
                self.context.table,
                owner=owner,
                actor=record.actor,
                now=record.fired_at,
                event=record.event,
                detail=record.detail,
                write_id=record.write_id,
            )
            try:
                self._store.apply(write)
                return True
            except ConditionFailed as lost:
                current = BatchState.from_item(lost.old) if lost.old else None
            if current is None:
                break
            slot = write.events[0].get("version")
            if (
                current.lease_owner == owner
                and current.version == state.version
                and current.pending_trigger == slot
            ):
                state = current  # still ours: only the history list moved; plan again
                continue
            if current.pending_trigger is None and any(
                e.get("version") == slot for e in current.events or ()
            ):
                if self._fill_slot(current, write.events[0]):
                    return True
                break  # another replica's trigger is recorded there: taken over
            if current.lease_owner is None and current.pending_trigger == slot:
                # The re-run was quicker than this write and has started already: the
                # event still belongs in the slot the claim reserved for it.
                try:
                    late = claims.recorded_late(current, write.events, record.write_id)
                    self._store.apply(late)
                    return True
                except ConditionFailed:
                    pass
            break
        # The lease ran out while the trigger was in flight and another replica took the
        # batch: its trigger may repeat this one unless the target is idempotent.
        log.error("a trigger was sent but the batch was taken over before it was recorded")
        return False

    def _fill_slot(self, current: BatchState, event: dict[str, Any]) -> bool:
        """Whether the slot that holds an event holds this record's: it is this very event
        (the record landed; its reply was lost and the item moved on since), or the
        placeholder the triggered run wrote in this replica's place (it took it for dead),
        which the record, with what only this replica knows, replaces. Another replica's
        recorded trigger is not this record's."""
        slot = event.get("version")
        for index, found in enumerate(current.events or ()):
            if found.get("version") != slot:
                continue
            # The item's list leaves out the item's trace id (observability.transitions).
            if {"trace_id": current.trace_id, **found} == {"trace_id": current.trace_id, **event}:
                return True
            if "unrecorded" not in str(found.get("detail", "")):
                return False
            # If the list moved on (archived), the placeholder stays: nothing is lost.
            with contextlib.suppress(ConditionFailed):
                self._store.replace_event(current.key, index, found, event)
            return True
        return False

    def flush(self) -> int:
        """Record the triggers that went out while the table would not take their record;
        returns how many are still pending."""
        with self.context.lock:
            pending = list(self._unrecorded.items())
        for token, record in pending:
            try:
                self._land(record)
            except StoreUnavailable:
                continue
            with self.context.lock:
                self._unrecorded.pop(token, None)
        with self.context.lock:
            return len(self._unrecorded)
