"""The remediator: hears failure signals, sweeps the retry index, and re-triggers batches."""

from remediator.errors import ProvisionError, RemediatorError, TriggerError, TriggerRejected
from remediator.provision import Resources, bootstrap

__all__ = [
    "ProvisionError",
    "RemediatorError",
    "Resources",
    "TriggerError",
    "TriggerRejected",
    "bootstrap",
]
