"""`remediator schedule set|show|clear`: audited by the caller's identity, checked before any
write, and `show` names what is expected and missing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import MOTO_ARN, Clock, new_id
from tests.integration.harness import Stack, stack_cli


@pytest.fixture
def stack(settings_kwargs: dict[str, Any], clients: Any, moto_endpoint: str, clock: Clock) -> Stack:
    return Stack(settings_kwargs, clients, moto_endpoint, clock)


MONTHLY = ("--every", "month", "--format", "%Y-%m", "--start", "2024-07", "--deadline", "+6h")


def show(stack: Stack, job: str) -> dict[str, Any]:
    done = stack_cli(stack, "schedule", "show", job, "--output", "json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_set_show_clear_audited_by_the_callers_identity(stack: Stack):
    job = new_id()
    done = stack_cli(stack, "schedule", "set", job, *MONTHLY, "--operator", "ana", "--yes",
                     "--output", "json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    after = json.loads(done.stdout)["after"]
    assert after["calendar"]["every"] == "month"
    assert after["calendar"]["deadline_seconds"] == 6 * 3600
    assert after["changes"][-1]["by"] == MOTO_ARN
    assert after["changes"][-1]["operator"] == "ana"

    shown = show(stack, job)
    assert shown["expected"]["missing"][0] == "2024-07"  # months since, never written
    assert shown["expected"]["next_due"]["batch_id"]

    stack.fail(job, "2024-07")
    late = show(stack, job)["expected"]["late"]
    assert late[0]["batch_id"] == "2024-07"
    assert late[0]["status"] == "FAILED"

    text = stack_cli(stack, "schedule", "show", job)
    assert "every month (%Y-%m) from 2024-07 in UTC, due +6h after" in text.stdout
    assert "late: 2024-07 FAILED at attempt 1" in text.stdout

    cleared = stack_cli(stack, "schedule", "clear", job, "--yes", "--output", "json")
    assert cleared.returncode == 0, cleared.stderr
    assert json.loads(cleared.stdout)["after"]["calendar"] is None
    assert show(stack, job)["calendar"] is None
    changes = show(stack, job)["changes"]
    assert [("old" in c, "new" in c) for c in changes] == [(False, True), (True, False)]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--every", "month", "--format", "%Y-%m", "--start", "2024-07-01"), "start:"),
        (("--every", "month", "--format", "%Y-%m", "--start", "2024-07", "--tz", "Mars/X"), "tz:"),
        (
            ("--every", "month", "--format", "%Y-%m", "--start", "2024-07", "--deadline", "soon"),
            "deadline:",
        ),
        (("--cron", "0 6 * *", "--format", "%Y-%m-%d", "--start", "2024-07-01"), "cron:"),
        (("--range", "10..1", "--deadline", "2024-08-01T06:00:00Z"), "--range:"),
        (("--batches", "a,b"), "--deadline:"),
    ],
)
def test_bad_input_is_refused_in_one_line_before_any_write(
    stack: Stack, args: tuple[str, ...], says: str
):
    job = new_id()
    done = stack_cli(stack, "schedule", "set", job, *args, "--yes")
    assert done.returncode == 2, done.stdout
    assert says in done.stderr
    assert show(stack, job)["calendar"] is None


def test_without_yes_off_a_terminal_nothing_is_written(stack: Stack):
    job = new_id()
    done = stack_cli(stack, "schedule", "set", job, *MONTHLY)
    assert done.returncode == 2
    assert "--yes" in done.stderr
    assert show(stack, job)["calendar"] is None


def test_an_explicit_range_with_one_deadline(stack: Stack):
    job = new_id()
    done = stack_cli(stack, "schedule", "set", job, "--range", "001..120",
                     "--deadline", "2024-08-01T06:00:00Z", "--yes")  # fmt: skip
    assert done.returncode == 0, done.stderr
    shown = show(stack, job)
    assert shown["calendar"]["batches"] == 120
    assert shown["calendar"]["due_at"] == "2024-08-01T06:00:00Z"
    assert shown["expected"]["missing"][:2] == ["001", "002"]
    assert len(shown["expected"]["missing"]) == 120


def test_status_and_jobs_show_expected_and_late_batches(stack: Stack):
    job = new_id()
    assert stack_cli(stack, "schedule", "set", job, *MONTHLY, "--yes").returncode == 0
    stack.fail(job, "2024-08")
    done = stack_cli(stack, "status", job, "--output", "json")
    assert done.returncode == 0, done.stderr
    expected = json.loads(done.stdout)["expected"]
    assert expected["missing"][0] == "2024-07"
    assert "2024-08" not in expected["missing"]
    assert expected["late"] == [{"batch_id": "2024-08", "status": "FAILED", "attempt": 1}]
    text = stack_cli(stack, "status", job).stdout
    assert "EXPECTED, never written: 2024-07, 2024-09" in text
    assert "LATE, past their deadline: 2024-08 (FAILED)" in text

    stack.clock.advance(60)  # past the set, which the command made by its own clock
    stack.service.run_once()  # the deadline sweep: every month since 2024-07 is late
    listed = json.loads(stack_cli(stack, "jobs", "--output", "json").stdout)
    late = {j["job_id"]: j["late"] for j in listed}
    months = len(expected["missing"]) + 1
    assert late[job] == months
    assert "LATE" in stack_cli(stack, "jobs").stdout
