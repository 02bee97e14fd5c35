"""A misspelt job, rule or error type is an error with a suggestion; an empty answer for a
real name stays an answer (exit 0)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from observability import NonRetryableError
from remediator.cli import main
from tests.conftest import Clock, new_id
from tests.integration.harness import Stack


class BadRecord(NonRetryableError):
    pass


@pytest.fixture
def stack(settings_kwargs: dict[str, Any], clients: Any, moto_endpoint: str, clock: Clock) -> Stack:
    return Stack(settings_kwargs, clients, moto_endpoint, clock)


@pytest.fixture
def run(stack: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    monkeypatch.setenv("AWS_ENDPOINT_URL", stack.endpoint)
    monkeypatch.setenv("REMEDIATOR_TABLE_NAME", stack.settings.table_name)
    monkeypatch.setenv("REMEDIATOR_TOPIC_ARN", stack.settings.topic_arn or "")
    monkeypatch.setenv("REMEDIATOR_QUEUE_URL", stack.settings.queue_url or "")

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_a_misspelt_name_is_an_error_with_the_closest_name(stack: Stack, run: Any):
    job = f"ingest-sales-{new_id()}"
    typo = job.replace("sales", "sale")
    stack.fail(job, "2024-09", error=BadRecord)
    with stack.trail.batch(job, "2024-10"):
        pass
    hint = f"remediator: no job named {typo!r}; did you mean {job!r}?\n"
    for argv in (
        ["failed", "--job", typo],
        ["status", typo],
        ["history", typo, "2024-09"],
        ["policy", "show", typo],
        ["replay", typo, "--all-failed", "--dry-run"],
    ):
        code, out, err = run(*argv)
        assert (code, out, err) == (1, "", hint), argv
    code, _, err = run("replay", job, "--all-failed", "--error-type", "Badrecord", "--dry-run")
    assert (code, err) == (
        1,
        "remediator: no error type named 'Badrecord'; did you mean 'BadRecord'?\n",
    )
    code, out, _ = run("failed", "--job", job, "--output", "json")
    rule = json.loads(out)[0]["rule"]
    code, _, err = run("failed", "--rule", rule + "x")
    assert (code, err) == (1, f"remediator: no rule named {rule + 'x'!r}; did you mean {rule!r}?\n")


def test_an_empty_answer_for_a_real_job_stays_exit_0(stack: Stack, run: Any):
    job = new_id()
    with stack.trail.batch(job, "fine"):
        pass
    assert run("failed", "--job", job)[:2] == (0, "no FAILED or EXHAUSTED batches\n")
    assert run("policy", "show", job)[0] == 0
    code, out, _ = run("replay", job, "--all-failed", "--dry-run")
    assert code == 0, out
