"""The command line's global options work in any position (remediator/cli/parser.py). No AWS."""

from __future__ import annotations

import pytest

from remediator.cli import build_parser

COMMANDS = [
    ["status", "ingest-sales"],
    ["history", "ingest-sales", "2024-05"],
    ["failed", "--job", "ingest-sales"],
    ["doctor"],
    ["bootstrap"],
    ["run", "--once"],
    ["replay", "ingest-sales", "2024-05", "--dry-run"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
@pytest.mark.parametrize(
    "place",
    [
        lambda c: ["--debug", "--output", "json", *c],
        lambda c: [*c, "--debug", "--output", "json"],
        lambda c: ["--output", "json", *c, "--debug"],
        lambda c: ["--debug", *c, "-o", "json"],
    ],
    ids=["before", "after", "output-before", "debug-before"],
)
def test_debug_and_output_work_before_or_after_the_command(command, place):
    args = build_parser().parse_args(place(command))
    assert (args.debug, args.output) == (True, "json")


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_defaults_when_not_given(command):
    args = build_parser().parse_args(command)
    assert (args.debug, args.output) == (False, "table")


def test_a_value_given_before_the_command_is_kept_when_the_command_does_not_repeat_it():
    args = build_parser().parse_args(["-o", "json", "demo", "--keep"])
    assert args.output == "json"  # and cmd_demo refuses it as a usage error
