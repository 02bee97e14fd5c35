"""The one line a command that failed prints: why, and where it looked (endpoint, region)."""

from __future__ import annotations

import os

from botocore.exceptions import BotoCoreError, ClientError

from observability.audit import TableMissing
from observability.errors import ObservabilityError
from remediator.cli.context import CommandFailed, Context
from remediator.errors import RemediatorError
from remediator.ops.diagnose import explain
from remediator.stack.checks import region_of

__all__ = ["EXPECTED", "failure_line"]

# Errors a command raises on purpose, or AWS's: their message is written for a person.
EXPECTED = (CommandFailed, ObservabilityError, RemediatorError, ClientError, BotoCoreError)


def _where(ctx: Context) -> tuple[str, str]:
    endpoint = os.environ.get("AWS_ENDPOINT_URL") or "AWS's own endpoint"
    try:
        region = ctx.clients().region
    except Exception:  # no region, or settings that do not load: the message says which
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "none"
    return endpoint, region


def failure_line(ctx: Context, exc: BaseException) -> str:
    """One line for `exc`; anything unexpected names the endpoint and region in use."""
    if not isinstance(exc, EXPECTED):
        endpoint, region = _where(ctx)
        return (
            f"unexpected {type(exc).__name__} ({explain(exc)}) talking to {endpoint} in region "
            f"{region}: check AWS_ENDPOINT_URL and AWS_REGION, or run with --debug for the trace"
        )
    line = explain(exc)
    if isinstance(exc, TableMissing):
        _, region = _where(ctx)
        topic = os.environ.get("REMEDIATOR_TOPIC_ARN", "")
        named = region_of(topic)
        if named and named != region:
            line += f" (REMEDIATOR_TOPIC_ARN is in {named}: is AWS_REGION={named} meant?)"
    return line
