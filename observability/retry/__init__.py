"""The retry schedule and the rules that travel with a batch. Pure; tenacity underneath.

`rules` (re-exported below) is what `observability.retry` was; `backoff` holds one rule's
schedule (`RetryRule`, `RetryAt`, `Exhaust`).
"""

from observability.retry.rules import (
    MAX_POLICY_BYTES,
    Decision,
    RetryPolicy,
    StoredRetry,
    decide_rule,
    error_names,
    judge,
)

__all__ = [
    "MAX_POLICY_BYTES",
    "Decision",
    "RetryPolicy",
    "StoredRetry",
    "decide_rule",
    "error_names",
    "judge",
]
