"""`remediator explain` and `remediator policy test` as a person runs them (subprocesses on
the moto server), and the renderer's colour rules on a real terminal, a pipe and NO_COLOR."""

from __future__ import annotations

import io
import json
import os
import pty
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from observability import AuditTrail, NonRetryableError, SqsTrigger
from observability.retry import RetryPolicy
from observability.retry.backoff import RetryRule
from observability.settings import Settings
from observability.telemetry.metrics import Metrics
from tests.conftest import new_id
from tests.integration.harness import run_cli

# The recording process's settings: the settings layer of every batch it records.
RECORDED = {"max_attempts": 3, "backoff_base_seconds": 120, "max_age_seconds": 7200}
TIMEOUTS = {
    "name": "timeouts",
    "errors": ["TimeoutError"],
    "max_attempts": 5,
    "base_seconds": 60,
    "max_age_seconds": 3600,
}


class Longest(random.Random):
    """Every jittered delay drawn at its bound: due times a test can wait on."""

    def uniform(self, a: float, b: float) -> float:
        return b


@pytest.fixture
def trail(settings: Settings, clients: Any) -> AuditTrail:
    recorded = settings.model_copy(update=RECORDED)
    return AuditTrail(
        recorded, clients=clients, metrics=Metrics(stream=io.StringIO()), rng=Longest()
    )


def fail(
    trail: AuditTrail,
    job: str,
    batch: str,
    error: BaseException,
    retry: RetryPolicy | None = None,
    trigger: bool = True,
) -> None:
    sqs = SqsTrigger(queue_url="https://sqs.us-east-1.amazonaws.com/1/work", body={"b": batch})
    try:
        with trail.batch(job, batch, trigger=sqs if trigger else None, retry=retry):
            raise error
    except type(error):
        pass


def explain(endpoint: str, settings: Settings, job: str, batch: str) -> dict[str, Any]:
    done = run_cli(endpoint, settings, "explain", job, batch, "--output", "json")
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def test_explain_names_the_rule_its_layer_and_when_it_gives_up(
    trail: AuditTrail, settings: Settings, moto_endpoint: str
):
    job = new_id()
    own = RetryPolicy(rules=(RetryRule.from_dict(TIMEOUTS),))
    started = datetime.now(UTC)
    job_rule = {**TIMEOUTS, "name": "job-keys", "errors": ["KeyError"], "max_age_seconds": 600}
    policy = run_cli(moto_endpoint, settings, "policy", "set", job, "--retry",
                     json.dumps({"rules": [job_rule]}))  # fmt: skip
    assert policy.returncode == 0, policy.stderr
    fail(trail, job, "own", TimeoutError("warehouse timed out"), retry=own)
    fail(trail, job, "by-job", KeyError("month"))
    fail(trail, job, "defaults", ValueError("month"))

    for batch, rule, layer, max_age, cap in (
        ("own", "timeouts", "batch", 3600, 5),
        ("by-job", "job-keys", "job", 600, 5),
        ("defaults", "default", "settings", 7200, 3),
    ):
        told = explain(moto_endpoint, settings, job, batch)
        assert (told["rule"], told["layer"]) == (rule, layer), batch
        assert told["status"] == "FAILED"
        assert told["episode"]["attempt"] == 1
        assert told["episode"]["max_attempts"] == cap
        assert len(told["episode"]["failures"]) == 1
        ends = told["gives_up"]
        assert ends["max_attempts"] == cap
        assert ends["max_age_seconds"] == max_age
        deadline = datetime.fromisoformat(ends["deadline"].replace("Z", "+00:00"))
        assert (
            timedelta(0) <= deadline - started - timedelta(seconds=max_age) < timedelta(seconds=30)
        )
        assert ends["last_retry_by"] is not None
        assert [d["attempt"] for d in told["next_attempts"]] == list(range(2, cap + 1))
        [waits] = told["why_not_now"]
        assert waits["reason"] == "not_due"
        assert waits["until"] == told["next_retry_at"]

    table = run_cli(moto_endpoint, settings, "explain", job, "by-job")
    assert table.returncode == 0, table.stderr
    assert '"job-keys" from the job layer, matched by KeyError' in table.stdout
    assert "gives up   after attempt 5 of 5" in table.stdout
    assert "max age 600 s" in table.stdout
    assert "not now    its next retry is due at" in table.stdout


def test_explain_of_a_paused_batch_names_the_pause_its_actor_and_reason(
    trail: AuditTrail, settings: Settings, moto_endpoint: str
):
    job, other = new_id(), new_id()
    fail(trail, job, "held", TimeoutError("warehouse timed out"))
    fail(trail, other, "free", TimeoutError("warehouse timed out"))
    paused = run_cli(moto_endpoint, settings, "pause", job, "--until", "2h", "--reason",
                     "warehouse maintenance", "--operator", "alice", "--yes")  # fmt: skip
    assert paused.returncode == 0, paused.stderr

    reasons = {r["reason"]: r for r in explain(moto_endpoint, settings, job, "held")["why_not_now"]}
    assert set(reasons) == {"paused", "not_due"}  # a pause holds it; its backoff still runs
    told = reasons["paused"]["detail"]
    assert told.startswith(f"paused: job {job} by arn:aws:sts::")  # the STS identity first
    assert "(alice)" in told
    assert told.endswith(": warehouse maintenance")
    assert " until 20" in told
    free = explain(moto_endpoint, settings, other, "free")["why_not_now"]
    assert [r["reason"] for r in free] == ["not_due"]  # another job's batch is not held

    table = run_cli(moto_endpoint, settings, "explain", job, "held")
    assert f"not now    paused: job {job} by arn:aws:sts::" in table.stdout, table.stdout
    resumed = run_cli(moto_endpoint, settings, "resume", job, "--yes")
    assert resumed.returncode == 0, resumed.stderr
    after = explain(moto_endpoint, settings, job, "held")["why_not_now"]
    assert [r["reason"] for r in after] == ["not_due"]


def test_explain_names_why_a_batch_is_not_retried(
    trail: AuditTrail, settings: Settings, moto_endpoint: str
):
    job = new_id()
    fail(trail, job, "bad-row", NonRetryableError("row 7 has no id"))
    fail(trail, job, "orphan", KeyError("month"), trigger=False)
    one = RetryPolicy(default=RetryRule(name="once", max_attempts=1))
    fail(trail, job, "capped", KeyError("month"), retry=one)
    reasons = {
        batch: explain(moto_endpoint, settings, job, batch)["why_not_now"][0]["reason"]
        for batch in ("bad-row", "orphan", "capped")
    }
    assert reasons == {"bad-row": "never_retry", "orphan": "no_trigger", "capped": "cap_reached"}
    told = explain(moto_endpoint, settings, job, "bad-row")
    assert (told["rule"], told["layer"]) == ("never", "code")
    table = run_cli(moto_endpoint, settings, "explain", job, "capped")
    assert '"once" from the batch layer, its default rule' in table.stdout
    assert "EXHAUSTED, waiting for a person" in table.stdout
    assert "1 of 1" in table.stdout


def test_policy_test_shows_the_matching_rule_and_the_delays(settings: Settings, moto_endpoint: str):
    job = new_id()
    recorded = {f"REMEDIATOR_{k.upper()}": str(v) for k, v in RECORDED.items()}
    env = {"AWS_ENDPOINT_URL": moto_endpoint, "REMEDIATOR_TABLE_NAME": settings.table_name}

    def test(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "remediator", "policy", "test", job, *args],
            env={**os.environ, **env, **recorded}, capture_output=True, text=True,
            timeout=60, check=False,
        )  # fmt: skip

    before = json.loads(test("--error", "TimeoutError: slow", "--output", "json").stdout)
    assert (before["rule"], before["layer"], before["matched"]) == ("default", "settings", None)
    assert [(d["attempt"], d["high_seconds"]) for d in before["next_attempts"]] == [
        (2, 120),
        (3, 240),
    ]
    set_rule = run_cli(moto_endpoint, settings, "policy", "set", job, "--retry",
                       json.dumps({"rules": [TIMEOUTS]}))  # fmt: skip
    assert set_rule.returncode == 0, set_rule.stderr
    after = json.loads(test("--error", "TimeoutError: slow", "--output", "json").stdout)
    assert (after["rule"], after["layer"], after["matched"]) == ("timeouts", "job", "TimeoutError")
    bounds = [(d["attempt"], d["low_seconds"], d["high_seconds"]) for d in after["next_attempts"]]
    assert bounds == [(2, 0, 60), (3, 0, 120), (4, 0, 240), (5, 0, 480)]
    assert after["gives_up"]["max_age_seconds"] == 3600
    human = test("--error", "TimeoutError: slow")
    assert human.returncode == 0, human.stderr
    assert '"timeouts" from the job layer, matched by TimeoutError' in human.stdout
    assert "attempt 4 of 5: between 0 and 240 s after attempt 3 fails" in human.stdout
    assert "or 3600 s after the first failure (max age)" in human.stdout
    # A subclass of a built-in matches a rule for its base, as the raised error would.
    assert (
        "OSError"
        in json.loads(test("--error", "TimeoutError", "-o", "json").stdout)["matched_names"]
    )
    bad = test("--error", "no type here: x")
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1
    assert "expected 'Type: message'" in bad.stderr
    assert test().returncode == 2


def test_an_unknown_batch_is_one_line(trail: AuditTrail, settings: Settings, moto_endpoint: str):
    done = run_cli(moto_endpoint, settings, "explain", new_id(), "nobody")
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert "no record of batch" in done.stderr
    assert "Traceback" not in done.stderr
    assert run_cli(moto_endpoint, settings, "explain", "only-a-job").returncode == 2


def _on_a_terminal(args: list[str], env: dict[str, str]) -> str:
    """The command's output as a terminal receives it (a pseudo-terminal)."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "remediator", *args], stdout=follower, stderr=subprocess.DEVNULL,
        env=env,
    )  # fmt: skip
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the other end closed: the process is done
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.wait(timeout=60)
    os.close(leader)
    return b"".join(chunks).decode()


def test_colour_on_a_terminal_none_in_a_pipe_or_with_no_color(
    trail: AuditTrail, settings: Settings, moto_endpoint: str
):
    job = new_id()
    fail(trail, job, "二〇二四年五月", KeyError("month"))
    fail(trail, job, "2024-06", KeyError("month"))
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")},
        "AWS_ENDPOINT_URL": moto_endpoint,
        "REMEDIATOR_TABLE_NAME": settings.table_name,
        "TERM": "xterm-256color",
    }
    tty = _on_a_terminal(["status", job], env)
    assert "\033[31m" in tty  # FAILED in red
    assert "\033[" not in _on_a_terminal(["status", job], {**env, "NO_COLOR": "1"})
    piped = run_cli(moto_endpoint, settings, "status", job)
    assert "\033[" not in piped.stdout
    rows = [
        line for line in piped.stdout.splitlines() if "FAILED" in line and "batches" not in line
    ]
    from rich.cells import cell_len

    # The wide id takes 14 cells: the columns after it line up with the other row's.
    assert len({cell_len(row[: row.index("FAILED")]) for row in rows}) == 1
    assert "\033[" not in _on_a_terminal(["explain", job, "2024-06"], {**env, "NO_COLOR": "1"})
