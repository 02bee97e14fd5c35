"""Turns records into what a person reads: aligned tables, colour only on a terminal. Pure."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TextIO

from observability.jobs import JobPolicy
from observability.models import AuditEvent, BatchState, Status, from_iso
from observability.traceids import is_trace_id, to_xray
from remediator.ops.status import is_stale, shown_attempt, status_counts

__all__ = [
    "Progress",
    "Style",
    "doctor_report",
    "due",
    "failed_table",
    "history_table",
    "relative",
    "render_policy",
    "replay_plan",
    "status_table",
    "table",
]

_COLOURS = {
    "SUCCESS": "32",
    "FAILED": "31",
    "EXHAUSTED": "1;31",
    "RETRYING": "33",
    "STARTED": "36",
    "STALE": "35",
    "RETRY_TRIGGERED": "33",
    "REPLAY_TRIGGERED": "33",
}


class Style:
    """ANSI colour when writing to a terminal, plain text otherwise (pipes, files, CI)."""

    def __init__(self, colour: bool) -> None:
        self.colour = colour

    def status(self, text: str) -> str:
        code = _COLOURS.get(text)
        return f"\033[{code}m{text}\033[0m" if self.colour and code else text

    def bold(self, text: str) -> str:
        return f"\033[1m{text}\033[0m" if self.colour else text


def _visible(text: str) -> int:
    # Width without ANSI escapes, so coloured cells still align.
    out, skip = 0, False
    for ch in text:
        if ch == "\033":
            skip = True
        elif skip and ch == "m":
            skip = False
        elif not skip:
            out += 1
    return out


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, _visible(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        padded = [c + " " * (w - _visible(c)) for c, w in zip(cells, widths, strict=True)]
        return "  ".join(padded).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])


def relative(stamp: str | None, now: datetime) -> str:
    """'in 4m', '2h ago': when, at a glance."""
    if not stamp:
        return ""
    seconds = (from_iso(stamp) - now).total_seconds()
    span = abs(seconds)
    if span < 60:
        amount = f"{int(span)}s"
    elif span < 3600:
        amount = f"{int(span // 60)}m"
    elif span < 86400:
        amount = f"{span / 3600:.1f}h"
    else:
        amount = f"{span / 86400:.1f}d"
    return f"in {amount}" if seconds > 0 else f"{amount} ago"


def due(stamp: str | None, now: datetime) -> str:
    """When something is due: 'in 4m', or 'due now' once the time has come (never 'ago')."""
    if not stamp:
        return ""
    return relative(stamp, now) if from_iso(stamp) > now else "due now"


def rule_note(state: BatchState) -> str:
    """Which rule governs a failure and where its episode stands: `rule "timeouts" 2 of 5`,
    or `never retried`."""
    if state.rule == "never":
        return "never retried"
    if state.cap:
        return f'rule "{state.rule}" {state.episode_attempt} of {state.cap}'
    return f'rule "{state.rule}"'


def status_table(
    job_id: str,
    states: Sequence[BatchState],
    now: datetime,
    stale_after_seconds: float,
    style: Style,
) -> str:
    counts = status_counts(states)
    summary = "  ".join(f"{style.status(k)} {v}" for k, v in counts.items() if v)
    rows = []
    for s in states:
        stale = is_stale(s, now, stale_after_seconds)
        note = s.error_type or ""
        if s.rule and s.status in (Status.FAILED, Status.EXHAUSTED):
            note += f" ({rule_note(s)})"
        if stale:
            note = style.status("STALE") + f" no heartbeat {relative(s.heartbeat_at, now)}"
        rows.append(
            [
                s.batch_id,
                style.status(s.status.value),
                str(shown_attempt(s)),
                relative(s.updated_at, now),
                due(s.next_retry_at, now),
                note,
            ]
        )
    head = f"{style.bold(job_id)}: {len(states)} batches  {summary or 'none recorded'}"
    if not rows:
        return head
    return (
        head + "\n\n" + table(["BATCH", "STATUS", "ATTEMPT", "UPDATED", "NEXT RETRY", "NOTE"], rows)
    )


def failed_table(states: Sequence[BatchState], now: datetime, style: Style) -> str:
    rows = [
        [
            s.job_id,
            s.batch_id,
            style.status(s.status.value),
            str(s.attempt),
            relative(s.updated_at, now),
            due(s.next_retry_at, now),
            rule_note(s) if s.rule else "",
            f"{s.error_type or ''}: {s.error_message or ''}".strip(": "),
        ]
        for s in states
    ]
    return table(
        ["JOB", "BATCH", "STATUS", "ATTEMPT", "UPDATED", "NEXT RETRY", "RULE", "ERROR"], rows
    )


def replay_plan(states: Sequence[BatchState], style: Style) -> str:
    if not states:
        return "nothing to replay: no FAILED or EXHAUSTED batch matched"
    rows = [
        [
            s.batch_id,
            style.status(s.status.value),
            str(s.attempt),
            str(s.attempt + 1),
            s.error_type or "",
        ]
        for s in states
    ]
    head = f"plan: re-trigger {len(states)} batch(es)"
    return head + "\n" + table(["BATCH", "STATUS", "ATTEMPT", "NEXT ATTEMPT", "LAST ERROR"], rows)


class Progress:
    """A one-line progress bar on a terminal; silent otherwise."""

    def __init__(self, total: int, out: TextIO, *, show: bool, width: int = 30) -> None:
        self.total, self.out, self.show, self.width = total, out, show, width
        self.done = 0

    def step(self) -> None:
        self.done += 1
        if not self.show:
            return
        filled = self.width * self.done // max(self.total, 1)
        bar = "#" * filled + "." * (self.width - filled)
        end = "\n" if self.done >= self.total else ""
        self.out.write(f"\r  [{bar}] {self.done}/{self.total}{end}")
        self.out.flush()


def doctor_report(findings: Sequence[Any], style: Style) -> str:
    marks = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}
    colours = {"ok": "SUCCESS", "warn": "RETRYING", "fail": "FAILED"}
    lines = []
    for f in findings:
        mark = marks.get(f.status, f.status)
        if style.colour:
            mark = style.status(colours[f.status]).replace(colours[f.status], mark)
        lines.append(f"  {mark}  {f.check:<18} {f.detail}")
        if f.fix:
            lines.append(f"  {'':4}  {'':<18} fix: {f.fix}")
    failed = sum(f.status == "fail" for f in findings)
    lines.append("")
    lines.append("all good" if not failed else f"{failed} problem(s) found")
    return "\n".join(lines)


def history_table(events: Sequence[AuditEvent], style: Style) -> str:
    rows = []
    for e in events:
        detail = e.error_type or ""
        if e.error_message:
            detail += f": {e.error_message}"
        for key in ("reason", "note", "response_id", "next_retry_at", "operator", "max_attempts"):
            if key in e.detail and not (key == "max_attempts" and "rule" in e.detail):
                detail += f" {key}={e.detail[key]}"
        if "why" in e.detail:
            detail += f" ({e.detail['why']})"
        elif "rule" in e.detail and "max_attempts" in e.detail:
            rule = e.detail["rule"]
            detail += f' (rule "{rule}": {e.detail.get("episode_attempt")} of '
            detail += f"{e.detail['max_attempts']} attempts)"
        elif "rule" in e.detail:
            detail += f' (rule "{e.detail["rule"]}")'
        rows.append([e.at, style.status(e.event.value), str(e.attempt), e.actor, detail.strip()])
    text = table(["AT", "EVENT", "ATTEMPT", "ACTOR", "DETAIL"], rows)
    # Each trace once, in the form the X-Ray and CloudWatch consoles take as it is.
    traces = dict.fromkeys(e.trace_id for e in events if is_trace_id(e.trace_id))
    lines = [f"trace {t}  X-Ray: {to_xray(t)}" for t in traces if t]
    return text + ("\n\n" + "\n".join(lines) if lines else "")


def render_policy(policy: JobPolicy | None, job_id: str) -> str:
    if policy is None or (policy.retry is None and policy.trigger is None and not policy.changes):
        return (
            f"job {job_id}: no policy of its own (batches use their own, else the settings of "
            "the process that recorded them)"
        )
    last = policy.changes[-1] if policy.changes else {}
    by = _by(last) if last.get("at") == policy.updated_at else str(policy.updated_by)
    lines = [f"job {job_id} (version {policy.version}, {policy.updated_at} by {by})"]
    retry = json.dumps(policy.retry.to_dict(), sort_keys=True) if policy.retry else "-"
    trigger = json.dumps(policy.trigger, sort_keys=True) if policy.trigger else "-"
    lines += [f"  retry:   {retry}", f"  trigger: {trigger}"]
    if policy.changes:
        lines.append("  changes (oldest first):")
        for change in policy.changes:
            old = change.get("old") or "-"
            new = change.get("new") or "(cleared)"
            lines.append(f"    {change['at']}  {_by(change)}  {change['field']}: {old} -> {new}")
    return "\n".join(lines)


def _by(change: Mapping[str, Any]) -> str:
    """Who made a change: the AWS identity, and the operator they declared beside it."""
    operator = change.get("operator")
    return f"{change.get('by')} ({operator})" if operator else str(change.get("by"))
