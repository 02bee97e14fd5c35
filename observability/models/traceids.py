"""Trace ids in the forms they travel in: the audit trail's, W3C `traceparent`, X-Ray's. Pure.

The audit trail's `trace_id` is a W3C trace id (32 lowercase hex digits, not all zero): the
OpenTelemetry trace of a batch has that very id. X-Ray shows the same 128 bits as
`1-<first 8 hex>-<last 24 hex>`; its console (and CloudWatch's) finds a trace by either form.
"""

from __future__ import annotations

import hashlib
import re

__all__ = [
    "TRACEPARENT",
    "TRACEPARENT_ENV",
    "anchor_span_id",
    "format_traceparent",
    "from_xray",
    "is_span_id",
    "is_trace_id",
    "parse_traceparent",
    "to_xray",
]

# The message attribute / JSON field, and the environment variable, that carry the context.
TRACEPARENT = "traceparent"
TRACEPARENT_ENV = "TRACEPARENT"

_TRACE_ID = re.compile(r"[0-9a-f]{32}")
_SPAN_ID = re.compile(r"[0-9a-f]{16}")
_XRAY = re.compile(r"1-([0-9a-f]{8})-([0-9a-f]{24})")
# version-traceid-parentid-flags; a later version may append fields after the flags.
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")


def is_trace_id(value: object) -> bool:
    """A valid W3C trace id: 32 lowercase hex digits, not all zero."""
    return isinstance(value, str) and _TRACE_ID.fullmatch(value) is not None and value != "0" * 32


def is_span_id(value: object) -> bool:
    """A valid W3C span (parent) id: 16 lowercase hex digits, not all zero."""
    return isinstance(value, str) and _SPAN_ID.fullmatch(value) is not None and value != "0" * 16


def to_xray(trace_id: str) -> str:
    """The X-Ray form of a trace id: `1-` + the first 8 hex digits + `-` + the other 24."""
    if not is_trace_id(trace_id):
        raise ValueError(f"trace id must be 32 lowercase hex digits, not all zero: {trace_id!r}")
    return f"1-{trace_id[:8]}-{trace_id[8:]}"


def from_xray(xray_id: str) -> str:
    """The W3C trace id of an X-Ray trace id (`1-5759e988-bd862e3fe1be46a994272793`)."""
    found = _XRAY.fullmatch(xray_id.strip().lower()) if isinstance(xray_id, str) else None
    if found is None:
        raise ValueError(f"not an X-Ray trace id (1-<8 hex>-<24 hex>): {xray_id!r}")
    trace_id = found.group(1) + found.group(2)
    if not is_trace_id(trace_id):
        raise ValueError(f"X-Ray trace id is all zero: {xray_id!r}")
    return trace_id


def anchor_span_id(trace_id: str) -> str:
    """The parent id under which work joins a batch's trace when no span of it is at hand.

    A remediation found by the sweep, or a re-run started without the trigger's context,
    knows the batch's trace id but not the span that failed. It joins the trace under this
    id, derived from the trace id alone, so that every such span of a batch shares a parent.
    """
    if not is_trace_id(trace_id):
        raise ValueError(f"trace id must be 32 lowercase hex digits, not all zero: {trace_id!r}")
    digest = hashlib.sha256(f"anchor:{trace_id}".encode()).hexdigest()
    return next(digest[i : i + 16] for i in range(0, 64, 16) if digest[i : i + 16] != "0" * 16)


def format_traceparent(trace_id: str, span_id: str, *, sampled: bool = True) -> str:
    """`00-<trace id>-<parent id>-<flags>`, W3C Trace Context version 00."""
    if not is_trace_id(trace_id):
        raise ValueError(f"trace id must be 32 lowercase hex digits, not all zero: {trace_id!r}")
    if not is_span_id(span_id):
        raise ValueError(f"span id must be 16 lowercase hex digits, not all zero: {span_id!r}")
    return f"00-{trace_id}-{span_id}-{'01' if sampled else '00'}"


def parse_traceparent(value: object) -> tuple[str, str, bool] | None:
    """(trace id, parent id, sampled) of a `traceparent`, or None when it is not valid.

    Version 00 has exactly four fields; version ff is forbidden; a later version may carry
    more fields after the flags, which are ignored (as the specification says).
    """
    if not isinstance(value, str) or len(value) > 512:
        return None
    found = _TRACEPARENT.fullmatch(value.strip())
    if found is None:
        return None
    version, trace_id, span_id, flags, rest = found.groups()
    if version == "ff" or (version == "00" and rest):
        return None
    if not is_trace_id(trace_id) or not is_span_id(span_id):
        return None
    return trace_id, span_id, bool(int(flags, 16) & 1)
