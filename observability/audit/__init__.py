"""The store: the audit table on DynamoDB, its reads and the execution of planned writes.

`store` speaks to DynamoDB; `shape` is the table's declared layout, `jobs` a job's stored
defaults, `confirm` the read-back of a write whose reply was lost. What to write is planned
in `observability.transitions`; the keys are in `observability.models.keys`.
"""

from observability.audit.store import (
    READ_BACK_SECONDS,
    AuditStore,
    ConditionFailed,
    TableMissing,
    new_write_id,
)

__all__ = ["READ_BACK_SECONDS", "AuditStore", "ConditionFailed", "TableMissing", "new_write_id"]
