"""The lines of `remediator operations` and the progress bar of `replay ... --follow`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from remediator.bulk.model import Operation
from remediator.views.render import Style, table

__all__ = ["follow_bar", "operation_detail", "operations_table"]


def _progress(op: Operation) -> str:
    p = op.progress()
    return (
        f"done {p['done']}, running {p['running']}, failed {p['failed']}, "
        f"skipped {p['skipped']}, left {p['left']} of {p['total']}"
    )


def operations_table(ops: Sequence[Operation], style: Style) -> str:
    if not ops:
        return "no operations stored"
    rows: list[list[str | Text]] = [
        [
            op.operation_id,
            style.tag(op.state, like={"DONE": "SUCCESS", "CANCELLED": "EXHAUSTED"}.get(op.state)),
            op.created_at,
            op.created_by,
            *(str(v) for k, v in op.progress().items() if k != "total"),
            str(op.total),
        ]
        for op in ops
    ]
    heads = ["ID", "STATE", "CREATED", "BY", "DONE", "RUNNING", "FAILED", "SKIPPED", "LEFT"]
    return table([*heads, "TOTAL"], rows, style)


def operation_detail(op: Operation) -> str:
    lines = [
        f"operation {op.operation_id}: {op.state}",
        f"  asked by   {op.created_by}" + (f" ({op.operator})" if op.operator else ""),
        f"  created    {op.created_at}",
        f"  filter     {op.filter}",
        f"  at most    {op.max_in_flight} at once" + (f", {op.rate:g} a minute" if op.rate else ""),
        f"  progress   {_progress(op)}",
    ]
    if op.skipped:
        lines.append("  skipped    " + ", ".join(f"{k} {v}" for k, v in sorted(op.skipped.items())))
    if op.reason:
        lines.append(f"  reason     {op.reason}")
    if op.cancelled_by:
        lines.append(f"  cancelled  {op.cancelled_at} by {op.cancelled_by}")
    if op.finished_at:
        lines.append(f"  ended      {op.finished_at}")
    return "\n".join(lines)


def follow_bar(
    op: Operation, out: TextIO, poll: Callable[[], Operation], wait: Callable[[], object]
) -> Operation:
    """A progress bar (ended batches of all) until the operation ends; its last state."""
    console = Console(file=out)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(op.operation_id, total=max(op.total, 1))
        while True:
            p = op.progress()
            bar.update(
                task,
                completed=p["done"] + p["failed"] + p["skipped"],
                description=f"{op.operation_id} running {p['running']}",
            )
            if op.ended:
                return op
            wait()
            op = poll()
