"""Pipelines that do not import the library, opted in by name: `glue:NAME` (a Glue job) or
`states:ARN` (a Step Functions state machine). Pure.

A job opted in with `remediator policy set JOB --source ...` has each run of that Glue job
or state machine recorded as one of its batches (the batch id is the first run's id or the
execution's name), and each failed one re-run with the failed run's own arguments by the
trigger stored with it (remediator.triggers.sources).
"""

from __future__ import annotations

import re

from observability.errors import InvalidInput
from observability.models.keys import DELIMITER

__all__ = ["parse_source", "source_of"]

# Glue: "Name: 1-255 characters, single-line string"; Step Functions: a state machine's ARN.
_GLUE_NAME = re.compile(r"[^\x00-\x1f\x7f]{1,255}")
_MACHINE_ARN = re.compile(
    r"arn:aws[a-z-]*:states:[a-z0-9-]+:[0-9]{12}:stateMachine:[A-Za-z0-9_.-]{1,80}"
)


def parse_source(text: str) -> str:
    """`glue:NAME` or `states:ARN`, checked; InvalidInput naming `--source` and the rule."""
    kind, _, name = text.partition(":")
    if DELIMITER in text:
        raise InvalidInput("--source", f"must not contain the key delimiter {DELIMITER!r}")
    if kind == "glue" and _GLUE_NAME.fullmatch(name) and name.strip():
        return f"glue:{name}"
    if kind == "states" and _MACHINE_ARN.fullmatch(name):
        return f"states:{name}"
    raise InvalidInput(
        "--source",
        "must be glue:JOB_NAME (1-255 characters) or states:STATE_MACHINE_ARN "
        f"(arn:aws:states:REGION:ACCOUNT:stateMachine:NAME), got {text[:120]!r}",
    )


def source_of(service: str, name: str) -> str:
    """The source a state change of `service` (glue, states) for `name` belongs to."""
    return f"{service}:{name}"
