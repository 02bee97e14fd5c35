"""CloudWatch metrics as Embedded Metric Format lines on stdout.

CloudWatch Logs extracts them from the log stream, so the hot path makes no API call.
Dimensions stay low-cardinality: the job id, never a batch id.

CloudWatch drops a metric whose dimension value is not ASCII, so a job id such as
`ventes-été` is given a dimension of its own (`dimension_value`): stable, ASCII, unique per
id; the real id stays in the record as `job_id`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import sys
import threading
import unicodedata
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import IO, Any

__all__ = [
    "COUNT",
    "MAX_DIMENSION_CHARS",
    "MILLISECONDS",
    "SECONDS",
    "UNITS",
    "Metrics",
    "dimension_value",
    "emf_line",
    "emf_record",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)

COUNT = "Count"
MILLISECONDS = "Milliseconds"
SECONDS = "Seconds"

# Every metric the project emits, with its unit: alarms and dashboards are checked against it.
UNITS: dict[str, str] = {
    "JobStarted": COUNT,
    "JobSuccess": COUNT,
    "JobFailureCount": COUNT,
    "JobDurationMs": MILLISECONDS,
    "RemediationTriggered": COUNT,
    "RemediationExhausted": COUNT,
    "ClaimConflicts": COUNT,
    "TimeToRecoverySeconds": SECONDS,
    "TriggerFailures": COUNT,
    "TriggerUnrecorded": COUNT,
    "ClockSkewSeconds": SECONDS,
    "BatchesLate": COUNT,
    "FreshnessLagSeconds": SECONDS,
    "TooSlow": COUNT,
}


# CloudWatch allows 1,024; ids are 200 bytes at most, so this is never reached by a real id.
MAX_DIMENSION_CHARS = 250
_PRINTABLE_ASCII = re.compile(r"[ -~]+")
_DIGEST_CHARS = 10


@functools.lru_cache(maxsize=4096)
def dimension_value(text: str) -> str:
    """A CloudWatch dimension value for `text`: itself when it is printable ASCII (so
    existing series keep their name), else its accents dropped and other characters made
    '?', with '~' and a hash of the original: stable, ASCII, and never another id's. Pure."""
    if _PRINTABLE_ASCII.fullmatch(text) and text.strip() and len(text) <= MAX_DIMENSION_CHARS:
        return text
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    readable = re.sub(r"[^ -~]", "?", folded).strip() or "?"
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:_DIGEST_CHARS]
    return f"{readable[: MAX_DIMENSION_CHARS - _DIGEST_CHARS - 1]}~{digest}"


def emf_record(
    namespace: str,
    values: Mapping[str, float],
    dimensions: Mapping[str, str],
    timestamp: datetime,
    properties: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One EMF document: the metric values at top level, described under `_aws`. Pure."""
    record: dict[str, Any] = {
        "_aws": {
            # Integer arithmetic: a float product loses the last millisecond now and then.
            "Timestamp": (timestamp - _EPOCH) // _MILLISECOND,
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    "Dimensions": [sorted(dimensions)],
                    "Metrics": [{"Name": name, "Unit": UNITS.get(name, COUNT)} for name in values],
                }
            ],
        },
    }
    record.update(properties or {})
    record.update(dimensions)
    record.update(values)
    return record


@functools.lru_cache(maxsize=256)
def _emf_aws(namespace: str, dimensions: tuple[str, ...], names: tuple[str, ...]) -> str:
    """The `CloudWatchMetrics` member of `_aws` as JSON: the same for every document of one
    namespace, dimension set and metric set, so it is serialised once."""
    metrics = [
        {
            "Namespace": namespace,
            "Dimensions": [list(dimensions)],
            "Metrics": [{"Name": name, "Unit": UNITS.get(name, COUNT)} for name in names],
        }
    ]
    return json.dumps(metrics, separators=(",", ":"))


def emf_line(
    namespace: str,
    values: Mapping[str, float],
    dimensions: Mapping[str, str],
    timestamp: datetime,
    properties: Mapping[str, Any] | None = None,
) -> str:
    """`emf_record`'s document as one line of compact JSON, its fixed part made once. Pure."""
    members = {**(properties or {}), **dimensions, **values}
    if "_aws" in members:
        record = emf_record(namespace, values, dimensions, timestamp, properties)
        return json.dumps(record, separators=(",", ":"), default=str)
    aws = _emf_aws(namespace, tuple(sorted(dimensions)), tuple(values))
    stamp = (timestamp - _EPOCH) // _MILLISECOND
    head = f'{{"_aws":{{"Timestamp":{stamp},"CloudWatchMetrics":{aws}}}'
    rest = json.dumps(members, separators=(",", ":"), default=str)
    return f"{head}}}" if rest == "{}" else f"{head},{rest[1:]}"


class Metrics:
    """Writes EMF lines to a stream (stdout by default, looked up at each write)."""

    def __init__(
        self,
        namespace: str = "SelfHealingPipelines",
        *,
        enabled: bool = True,
        stream: IO[str] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.namespace = namespace
        self.enabled = enabled
        self._stream = stream
        self._clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.Lock()

    def emit(self, job_id: str | None, values: Mapping[str, float], **properties: Any) -> None:
        if not self.enabled or not values:
            return
        dims: dict[str, str] = {}
        if job_id:
            dims["JobId"] = dimension_value(job_id)
            if dims["JobId"] != job_id:
                properties = {"job_id": job_id, **properties}
        line = emf_line(self.namespace, values, dims, self._clock(), properties)
        stream = self._stream or sys.stdout
        with self._lock:
            stream.write(line + "\n")
            stream.flush()
