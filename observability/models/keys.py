"""Every DynamoDB key and index value is built here, and nowhere else.

One partition per job holds one item per batch, its state and its recent history together,
and the batch's older history in immutable archive items:

    pk = JOB#<job_id>   sk = STATE#<batch_id>                            state, recent events
    pk = JOB#<job_id>   sk = ARCHIVE#<batch_id>#<incarnation>#<last>#<n>  older events

so `status JOB` is one Query over STATE#, and `history JOB BATCH` one GetItem plus one Query
over ARCHIVE#<batch_id>#<incarnation># (the incarnation tells a batch id used again after
its item expired from the earlier one). The table's own shape (layout version, shard count)
is the item pk = TABLE, sk = META, written at bootstrap.

The sparse `due-index` GSI holds only batches that need the remediator: partition
FAILED#<shard> (retry due at `due_at`), LIVE#<shard> (a run or a re-trigger that must show
progress by `due_at`, else it is stale), or EXHAUSTED#<shard> (waiting for a person; never
swept, listed by `remediator failed`).
"""

from __future__ import annotations

import hashlib
import unicodedata
import zlib
from dataclasses import dataclass

from observability.errors import InvalidInput

__all__ = [
    "DELIMITER",
    "DUE_AT",
    "DUE_INDEX",
    "DUE_INDEX_PROJECTION",
    "DUE_PK",
    "LAYOUT_VERSION",
    "MAX_ID_BYTES",
    "TTL_ATTRIBUTE",
    "BatchKey",
    "archive_prefix",
    "archive_sk",
    "batch_id_from_sk",
    "breaker_key",
    "budget_key",
    "deadline_partition",
    "deadline_partitions",
    "exhausted_partition",
    "exhausted_partitions",
    "failed_partition",
    "failed_partitions",
    "job_id_from_pk",
    "job_pk",
    "live_partition",
    "live_partitions",
    "meta_key",
    "operation_chunk_key",
    "operation_key",
    "operations_partition",
    "pauses_key",
    "registry_key",
    "registry_partition",
    "schedule_key",
    "shard_of",
    "source_key",
    "state_prefix",
    "target_breaker_key",
    "validate_id",
]

DELIMITER = "#"
MAX_ID_BYTES = 200
DUE_INDEX = "due-index"
DUE_PK = "due_pk"
DUE_AT = "due_at"
TTL_ATTRIBUTE = "expires_at"
# 1: an event item per transition (until 0.1); 2: history in the batch's item, archives.
LAYOUT_VERSION = 2
# What the sweep reads from the index (besides the table's and the index's keys): the
# fields its decisions and conditions need, all small, so that an index write stays at one
# write unit however long the history, the error or the trigger grow. The ids come from the
# table keys; the rest of the item is read by the conditional write that acts on it.
DUE_INDEX_PROJECTION = (
    "status",
    "attempt",
    "version",
    "retryable",
    "error_type",
    "first_failed_at",
    "attempt_floor",
    "cap",
    "deadline",
    "lease_owner",
    "lease_expires_at",
    "expires_at",
    "trace_id",
    "updated_at",
    "heartbeat_at",
    "incarnation",
)

_JOB = "JOB#"
_STATE = "STATE#"
_ARCHIVE = "ARCHIVE#"


def _has_control(text: str) -> bool:
    if text.isascii():
        return not text.isprintable()  # ASCII's only unprintable characters are controls
    return any(unicodedata.category(ch) == "Cc" for ch in text)


def validate_id(field: str, value: object) -> str:
    """Return the id as a string, or raise InvalidInput naming the field and the limit."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidInput(field, f"must be a string (or an int), got {type(value).__name__}")
    text = str(value)
    if not text.strip():
        raise InvalidInput(field, "must not be empty or blank")
    if DELIMITER in text:
        raise InvalidInput(field, f"must not contain the key delimiter {DELIMITER!r}: {text!r}")
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidInput(field, f"is not valid Unicode text: {text!r}") from None
    if size > MAX_ID_BYTES:
        raise InvalidInput(field, f"is {size} bytes of UTF-8; the limit is {MAX_ID_BYTES} bytes")
    if _has_control(text):
        raise InvalidInput(field, f"must not contain control characters: {text!r}")
    return text


@dataclass(frozen=True, slots=True)
class BatchKey:
    """A validated (job_id, batch_id); constructing one is the only way to reach the table."""

    job_id: str
    batch_id: str

    @classmethod
    def of(cls, job_id: object, batch_id: object) -> BatchKey:
        return cls(validate_id("job_id", job_id), validate_id("batch_id", batch_id))

    @property
    def pk(self) -> str:
        return f"{_JOB}{self.job_id}"

    @property
    def sk(self) -> str:
        return f"{_STATE}{self.batch_id}"

    @property
    def token(self) -> str:
        """`job#batch`: a stable name for the batch (dedup keys, log fields)."""
        return f"{self.job_id}{DELIMITER}{self.batch_id}"

    def idempotency_key(self, attempt: int) -> str:
        """`job#batch#attempt`: the same retry always carries the same key."""
        return f"{self.token}{DELIMITER}{attempt}"


def job_pk(job_id: str) -> str:
    return f"{_JOB}{job_id}"


def state_prefix() -> str:
    return _STATE


def job_id_from_pk(pk: str) -> str:
    return pk.removeprefix(_JOB)


def archive_prefix(batch_id: str, incarnation: str) -> str:
    return f"{_ARCHIVE}{batch_id}{DELIMITER}{incarnation}{DELIMITER}"


def archive_sk(batch_id: str, incarnation: str, last_version: int, count: int) -> str:
    """An archive item is named by the highest version it holds and how many events: the
    history list it was cut from is the only one with both, so a writer that repeats the put
    of a writer that died writes the same item, and never a different one under its name."""
    # Zero-padded so that lexical order is version order.
    return f"{archive_prefix(batch_id, incarnation)}{last_version:010d}{DELIMITER}{count:04d}"


def meta_key() -> tuple[str, str]:
    """The table's own record: layout version and shard count, written at bootstrap."""
    return ("TABLE", "META")


def pauses_key() -> tuple[str, str]:
    """Every pause of a job or a trigger target, in one item each replica re-reads."""
    return ("TABLE", "PAUSES")


def source_key(source: str) -> tuple[str, str]:
    """Which job opted in a pipeline that does not import the library (`glue:NAME`,
    `states:ARN`): its state-change events are recorded under that job."""
    return ("SOURCES", f"SOURCE{DELIMITER}{source}")


def registry_partition() -> str:
    """The job registry: one item per job, listed by one Query (no table scan)."""
    return "JOBS"


def registry_key(job_id: str) -> tuple[str, str]:
    return (registry_partition(), f"{_JOB}{job_id}")


def operations_partition() -> str:
    """Bulk replays (remediator operations): one header item each, listed by one Query."""
    return "OPS"


def operation_key(operation_id: str) -> tuple[str, str]:
    return (operations_partition(), f"OP{DELIMITER}{operation_id}")


def operation_chunk_key(operation_id: str, chunk: int) -> tuple[str, str]:
    """One slice of an operation's batch list, in the operation's own partition (written
    once, never changed): the list is cut so that no item nears DynamoDB's 400 KB."""
    return (f"OP{DELIMITER}{operation_id}", f"CHUNK{DELIMITER}{chunk:05d}")


def breaker_key(job_id: str) -> tuple[str, str]:
    """The per-job circuit breaker item: in the job's partition, outside STATE#/ARCHIVE#."""
    return (job_pk(job_id), "BREAKER")


def target_breaker_key(target: str) -> tuple[str, str]:
    """The circuit breaker of one trigger target (`target` names it, see
    remediator.triggers.target_of): outside every job's partition."""
    digest = hashlib.sha256(target.encode("utf-8")).hexdigest()[:24]
    return (f"TARGET{DELIMITER}{digest}", "BREAKER")


def budget_key(window: str) -> tuple[str, str]:
    """The fleet-wide retry budget counter of one time window."""
    return ("FLEET", f"BUDGET{DELIMITER}{window}")


def batch_id_from_sk(sk: str) -> str:
    return sk.removeprefix(_STATE)


def shard_of(key: BatchKey, shards: int) -> int:
    # crc32, not hash(): it must agree across processes and Python versions.
    return zlib.crc32(key.token.encode("utf-8")) % shards


def failed_partition(key: BatchKey, shards: int) -> str:
    return f"FAILED{DELIMITER}{shard_of(key, shards)}"


def live_partition(key: BatchKey, shards: int) -> str:
    return f"LIVE{DELIMITER}{shard_of(key, shards)}"


def exhausted_partition(key: BatchKey, shards: int) -> str:
    return f"EXHAUSTED{DELIMITER}{shard_of(key, shards)}"


def exhausted_partitions(shards: int) -> list[str]:
    return [f"EXHAUSTED{DELIMITER}{n}" for n in range(shards)]


def failed_partitions(shards: int) -> list[str]:
    return [f"FAILED{DELIMITER}{n}" for n in range(shards)]


def live_partitions(shards: int) -> list[str]:
    return [f"LIVE{DELIMITER}{n}" for n in range(shards)]


def schedule_key(job_id: str) -> tuple[str, str]:
    """A job's calendar of expected batches, beside its batches (outside STATE#)."""
    return (job_pk(job_id), "SCHEDULE")


def deadline_partition(job_id: str, shards: int) -> str:
    """The due-index partition of a job's next deadline (one entry per scheduled job)."""
    return f"DEADLINE{DELIMITER}{zlib.crc32(job_id.encode('utf-8')) % shards}"


def deadline_partitions(shards: int) -> list[str]:
    return [f"DEADLINE{DELIMITER}{n}" for n in range(shards)]
