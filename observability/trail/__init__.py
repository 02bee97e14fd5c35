"""The facade pipelines use: `AuditTrail`, its `batch(...)` and one run's writes.

`trail` wires the parts and holds the public methods, `run` one run's writes (STARTED,
heartbeats, the outcome, the signal), `batch` the context manager and decorator with its
`BatchRun`, `shapes` the shapes work comes in (coroutines, generators), `pulse` the
automatic heartbeat thread.
"""

from observability.trail.batch import Batch, BatchRun
from observability.trail.trail import AuditTrail

__all__ = ["AuditTrail", "Batch", "BatchRun"]
