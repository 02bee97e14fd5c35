"""What an alert says, whatever the destination: headline, facts, next commands. Pure."""

from __future__ import annotations

import shlex

from observability.models.signals import (
    CIRCUIT_OPEN,
    DEADLINE_MET,
    DEADLINE_MISSED,
    EXHAUSTED,
    RECOVERED,
    TOO_SLOW,
    Signal,
)

__all__ = ["RESOLVED_BY_HAND", "clip", "commands", "facts", "headline", "resolution", "title"]

# The reason of a RECOVERED signal whose batch a person resolved (`remediator resolve`).
RESOLVED_BY_HAND = "resolved"

_TITLES = {
    EXHAUSTED: "Batch exhausted its retries",
    CIRCUIT_OPEN: "Retries paused: circuit open",
    RECOVERED: "Batch recovered",
    DEADLINE_MISSED: "Batch late: its deadline passed",
    TOO_SLOW: "Run too slow: past its max run time",
}


def clip(text: str, limit: int) -> str:
    """At most `limit` characters, an ellipsis marking any cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def title(signal: Signal) -> str:
    if signal.reason == "trigger_refused":
        return "Re-trigger refused: the target is broken, not the batch"
    if signal.reason == "target_circuit_open":
        return "Re-triggers to a target paused: circuit open"
    return _TITLES.get(signal.event, signal.event)


def _where(signal: Signal) -> str:
    return f"{signal.job_id} batch {signal.batch_id}" if signal.batch_id else signal.job_id


def headline(signal: Signal) -> str:
    """One line naming the event, the batch (or job), the attempt, the reason and the error."""
    if signal.event == RECOVERED and signal.reason == RESOLVED_BY_HAND:
        return f"{signal.event}: {_where(signal)} {resolution(signal)}"
    if signal.event == RECOVERED and signal.reason == DEADLINE_MET:
        return f"{signal.event}: {_where(signal)} landed after its deadline ({signal.status})"
    if signal.event == RECOVERED:
        return f"{signal.event}: {_where(signal)} succeeded at attempt {signal.attempt}"
    parts = [f"{signal.event}: {_where(signal)}"]
    if signal.attempt:
        parts.append(f"attempt {signal.attempt}")
    if signal.reason:
        parts.append(f"reason {signal.reason}")
    line = ", ".join(parts)
    if signal.error_type or signal.error_message:
        error = ": ".join(p for p in (signal.error_type, signal.error_message) if p)
        line += f" ({error})"
    return line


def resolution(signal: Signal) -> str:
    """`resolved by WHO: WHY`, for a batch a person closed by hand."""
    line = f"resolved by {signal.actor or 'someone'}"
    return f"{line}: {signal.note}" if signal.note else line


def facts(signal: Signal) -> dict[str, str]:
    """Labelled facts worth a glance, in display order; absent ones left out."""
    found = {
        "Job": signal.job_id,
        "Batch": signal.batch_id,
        "Attempt": str(signal.attempt) if signal.attempt else "",
        "Reason": signal.reason or "",
        "Error type": signal.error_type or "",
        "Error code": signal.error_code or "",
        # The rule that decided it (a quarantine rule names itself here).
        "Rule": signal.rule or "",
        "Trace id": signal.trace_id or "",
        # A paused job resumes on its own at this time unless someone intervenes.
        "Paused until": (signal.next_retry_at or "") if signal.event == CIRCUIT_OPEN else "",
    }
    return {label: value for label, value in found.items() if value}


def commands(signal: Signal) -> list[str]:
    """The CLI commands an operator runs next, quoted for copy and paste into a shell."""
    job = shlex.quote(signal.job_id)
    if signal.batch_id:
        batch = shlex.quote(signal.batch_id)
        return [f"remediator history {job} {batch}", f"remediator replay {job} {batch}"]
    return [
        f"remediator status {job}",
        f"remediator failed --job {job}",
        f"remediator replay {job} --all-failed",
    ]
