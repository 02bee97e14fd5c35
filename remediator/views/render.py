"""Turns records into what a person reads: aligned tables, colour only on a terminal. Pure:
strings out, drawn by rich (cell widths, colours), never written to a stream here."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TextIO

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from observability.audit.jobs import JobPolicy
from observability.models import AuditEvent, BatchState, Status, from_iso
from observability.models.traceids import is_trace_id, to_xray
from remediator.ops.status import is_stale, shown_attempt, status_counts

__all__ = [
    "PLAIN",
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

# Colours by status and event name (rich style names: plain ANSI colours any terminal shows).
_COLOURS = {
    "SUCCESS": "green",
    "FAILED": "red",
    "EXHAUSTED": "bold red",
    "RETRYING": "yellow",
    "STARTED": "cyan",
    "STALE": "magenta",
    "RETRY_TRIGGERED": "yellow",
    "REPLAY_TRIGGERED": "yellow",
}
# Wide enough that no table is ever wrapped: a pipe or a log keeps each row on one line.
_WIDTH = 10_000
# A line of dashes under the header, nothing else: ASCII, so a pipe gets plain text.
_UNDER_HEADER = box.Box("    \n    \n -  \n    \n    \n    \n    \n    \n", ascii=True)


class Style:
    """Colour on a terminal, plain text elsewhere; drawn by rich, which measures each
    character's cells (East Asian wide characters take two)."""

    def __init__(self, colour: bool) -> None:
        self.colour = colour
        self._console = Console(
            file=io.StringIO(),
            width=_WIDTH,
            force_terminal=colour,
            no_color=not colour,
            color_system="standard" if colour else None,
            highlight=False,
            markup=False,
            emoji=False,
        )

    @classmethod
    def for_stream(cls, out: TextIO) -> Style:
        """Colour when rich finds a terminal behind `out` and NO_COLOR (or TERM=dumb) does
        not forbid it: never in a pipe, a file or CI logs."""
        console = Console(file=out)
        return cls(
            console.is_terminal and not console.no_color and console.color_system is not None
        )

    def draw(self, renderable: Any) -> str:
        """A rich renderable as text, ANSI codes only when this style has colour."""
        with self._console.capture() as captured:
            self._console.print(renderable, end="")
        return captured.get()

    def tag(self, text: str, like: str | None = None) -> Text:
        """`text` in the colour of status or event `like` (default: itself), for a table."""
        return Text(text, style=_COLOURS.get(like or text, "") if self.colour else "")

    def status(self, text: str, like: str | None = None) -> str:
        return self.draw(self.tag(text, like)) if self.colour else text

    def bold(self, text: str) -> str:
        return self.draw(Text(text, style="bold")) if self.colour else text


PLAIN = Style(colour=False)
# Recorded data reaches a terminal as text, never as its escape sequences.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f]")


def _cell(text: str) -> Text:
    return Text(_CONTROL.sub("\ufffd", text))


def table(
    headers: Sequence[str], rows: Sequence[Sequence[str | Text]], style: Style = PLAIN
) -> str:
    """Aligned columns two spaces apart under a dashed header line; every cell is text as
    it is (no markup read from data), control characters removed."""
    grid = Table(
        box=_UNDER_HEADER,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1, 0, 0),
        header_style="",
    )
    for header in headers:
        grid.add_column(header, no_wrap=True)
    for row in rows:
        grid.add_row(*(cell if isinstance(cell, Text) else _cell(cell) for cell in row))
    return "\n".join(line.rstrip() for line in style.draw(grid).splitlines())


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
    rows: list[list[str | Text]] = []
    for s in states:
        stale = is_stale(s, now, stale_after_seconds)
        note: str | Text = s.error_type or ""
        if s.rule and s.status in (Status.FAILED, Status.EXHAUSTED):
            note = f"{note} ({rule_note(s)})"
        if stale:
            note = Text.assemble(
                style.tag("STALE"), f" no heartbeat {relative(s.heartbeat_at, now)}"
            )
        rows.append(
            [
                s.batch_id,
                style.tag(s.status.value),
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
        head
        + "\n\n"
        + table(["BATCH", "STATUS", "ATTEMPT", "UPDATED", "NEXT RETRY", "NOTE"], rows, style)
    )


def failed_table(states: Sequence[BatchState], now: datetime, style: Style) -> str:
    rows: list[list[str | Text]] = [
        [
            s.job_id,
            s.batch_id,
            style.tag(s.status.value),
            str(s.attempt),
            relative(s.updated_at, now),
            due(s.next_retry_at, now),
            rule_note(s) if s.rule else "",
            f"{s.error_type or ''}: {s.error_message or ''}".strip(": "),
        ]
        for s in states
    ]
    return table(
        ["JOB", "BATCH", "STATUS", "ATTEMPT", "UPDATED", "NEXT RETRY", "RULE", "ERROR"],
        rows,
        style,
    )


def replay_plan(states: Sequence[BatchState], style: Style) -> str:
    if not states:
        return "nothing to replay: no FAILED or EXHAUSTED batch matched"
    rows: list[list[str | Text]] = [
        [
            s.batch_id,
            style.tag(s.status.value),
            str(s.attempt),
            str(s.attempt + 1),
            s.error_type or "",
        ]
        for s in states
    ]
    head = f"plan: re-trigger {len(states)} batch(es)"
    return (
        head
        + "\n"
        + table(["BATCH", "STATUS", "ATTEMPT", "NEXT ATTEMPT", "LAST ERROR"], rows, style)
    )


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
    """Every check that ran, then each failing one again with its fix: the fixes are read
    last, together, after a page of checks."""
    marks = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}
    colours = {"ok": "SUCCESS", "warn": "RETRYING", "fail": "FAILED"}
    lines = []
    for f in findings:
        mark = marks.get(f.status, f.status)
        mark = style.status(mark, like=colours.get(f.status))
        lines.append(f"  {mark}  {f.check:<18} {f.detail}")
        if f.fix and f.status != "fail":
            lines.append(f"  {'':4}  {'':<18} fix: {f.fix}")
    failing = [f for f in findings if f.status == "fail"]
    lines.append("")
    if not failing:
        lines.append("all good")
        return "\n".join(lines)
    lines.append(f"{len(failing)} problem(s) found:")
    for f in failing:
        lines.append(f"  {f.check:<18} fix: {f.fix or 'see the check above'}")
    return "\n".join(lines)


def history_table(events: Sequence[AuditEvent], style: Style) -> str:
    rows: list[list[str | Text]] = []
    for e in events:
        detail = e.error_type or ""
        if e.error_message:
            detail += f": {e.error_message}"
        for key in ("reason", "note", "response_id", "next_retry_at", "operator", "max_attempts"):
            if key in e.detail and not (key == "max_attempts" and "rule" in e.detail):
                detail += f" {key}={e.detail[key]}"
        if "error_code" in e.detail:
            detail += f" [{e.detail['error_code']}]"
        if "ran_with" in e.detail:
            detail += f" ran with {e.detail['ran_with']}"
        if "why" in e.detail:
            detail += f" ({e.detail['why']})"
        elif e.detail.get("rule") == "never" or e.detail.get("max_attempts") in (0, "0"):
            detail += f' (rule "{e.detail.get("rule")}": never retried)'
        elif "rule" in e.detail and "max_attempts" in e.detail:
            rule = e.detail["rule"]
            detail += f' (rule "{rule}": {e.detail.get("episode_attempt")} of '
            detail += f"{e.detail['max_attempts']} attempts)"
        elif "rule" in e.detail:
            detail += f' (rule "{e.detail["rule"]}")'
        rows.append([e.at, style.tag(e.event.value), str(e.attempt), e.actor, detail.strip()])
    text = table(["AT", "EVENT", "ATTEMPT", "ACTOR", "DETAIL"], rows, style)
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
    if policy.source:
        lines.append(f"  source:  {policy.source}")
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
