"""The README's Python code, run exactly as written: it cannot drift from the code.

Every `python` block of README.md starts with `# name.py` (a file: saved and run here) or
`# not run: <why>`. The quick start is the newcomer's path: its two files, against
`remediator demo --keep`, heal month 5 with no other code.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from observability import AuditTrail, SqsTrigger, Status
from observability.clients import AwsClients
from observability.settings import Settings
from tests.conftest import REGION, Clock
from tests.integration.harness import DemoKeep, Stack, receive_all, sqs_event

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
_BLOCK = re.compile(r"^```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)
_FILE = re.compile(r"# ([\w-]+\.py)")
_NOT_RUN = re.compile(r"# not run: \S.*")
# Every file block, and the test below that runs it.
RUN_HERE = {
    "pipeline.py", "worker.py", "handler.py", "task.py", "retry_policy.py", "pool.py",
    "error_rules.py",
}  # fmt: skip
JOB = "ingest-orders"  # the quick start's job


def blocks() -> list[str]:
    return _BLOCK.findall(README.read_text(encoding="utf-8"))


def files() -> dict[str, str]:
    out = {}
    for code in blocks():
        named = _FILE.fullmatch(code.splitlines()[0])
        if named:
            out[named.group(1)] = code
    return out


def save(directory: Path) -> None:
    for name, code in files().items():
        (directory / name).write_text(code, encoding="utf-8")


def python(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def json_lines(text: str) -> list[dict[str, Any]]:
    out = []
    for line in text.splitlines():
        assert line.startswith("{"), f"not a JSON line: {line!r}"
        out.append(json.loads(line))
    return out


def test_every_python_block_is_a_file_run_here_or_marked_not_run():
    found = blocks()
    assert len(found) >= 4
    for code in found:
        first = code.splitlines()[0]
        assert _FILE.fullmatch(first) or _NOT_RUN.fullmatch(first), (
            f"README python block must start with '# name.py' or '# not run: why': {first!r}"
        )
        compile(code, first, "exec")
    assert set(files()) == RUN_HERE


def test_quick_start_and_worker_heal_month_5_against_demo_keep(tmp_path: Path):
    save(tmp_path)
    with DemoKeep(tmp_path) as demo:
        env = demo.env
        pipeline = python("pipeline.py", cwd=tmp_path, env=env)
        assert pipeline.returncode == 0, pipeline.stdout + pipeline.stderr + demo.told()
        assert "2024-05 failed (warehouse timed out loading 2024-05)" in pipeline.stdout
        assert "loaded 2024-12 (attempt 1)" in pipeline.stdout  # it carried on
        # Only the script's own output on stdout (the demo's exports turn EMF off).
        assert not [line for line in pipeline.stdout.splitlines() if line.startswith("{")]
        assert "Traceback" not in pipeline.stderr
        logs = json_lines(pipeline.stderr)  # JSON lines only, each bound to its batch
        assert not [r for r in logs if r["logger"].startswith("botocore")]
        [failed] = [r for r in logs if r["level"] == "ERROR"]
        assert (failed["batch_id"], failed["attempt"], failed["error_type"]) == (
            "2024-05",
            1,
            "WarehouseTimeout",
        )

        worker_log = (tmp_path / "worker-stderr").open("w")
        worker = subprocess.Popen(
            [sys.executable, "worker.py"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=worker_log,
            text=True,
        )
        try:
            watch = AuditTrail(
                Settings(table_name=env["REMEDIATOR_TABLE_NAME"], _env_file=None),
                clients=AwsClients(region=REGION, endpoint_url=env["AWS_ENDPOINT_URL"]),
                publish_failures=False,
            )
            deadline = time.monotonic() + 45
            while time.monotonic() < deadline:
                state = watch.get(JOB, "2024-05")
                if state is not None and state.status is Status.SUCCESS:
                    break
                time.sleep(0.2)
            status = python("-m", "remediator", "status", JOB, "-o", "json", cwd=tmp_path, env=env)
            assert status.returncode == 0, status.stderr
            shown = {b["batch_id"]: b for b in json.loads(status.stdout)["batches"]}["2024-05"]
            assert (shown["status"], shown["attempt"]) == ("SUCCESS", 2), demo.told()
            stopping = time.monotonic()
            worker.send_signal(signal.SIGTERM)  # mid long poll: it must not wait it out
            assert worker.wait(timeout=10) == 0
            assert time.monotonic() - stopping < 5
        finally:
            if worker.poll() is None:
                worker.kill()
            worker_log.close()
        assert worker.stdout is not None
        assert "loaded 2024-05 (attempt 2)" in worker.stdout.read()
        worker_logs = json_lines((tmp_path / "worker-stderr").read_text())
        rerun = [r for r in worker_logs if r.get("batch_id") == "2024-05" and r.get("attempt") == 2]
        assert rerun, worker_logs
        assert {r["trace_id"] for r in rerun} == {failed["trace_id"]}  # one trace, end to end

        again = python("pipeline.py", cwd=tmp_path, env=env)
        assert again.returncode == 0
        assert "loaded" not in again.stdout  # pending() found nothing left to do
        assert "ingest-orders: all 12 months succeeded; nothing to run" in again.stdout
        assert demo.stop() == 0, demo.told()


@pytest.fixture
def stack(settings_kwargs: dict[str, Any], clients: Any, moto_endpoint: str, clock: Clock) -> Stack:
    return Stack(settings_kwargs, clients, moto_endpoint, clock)


def test_lambda_and_task_blocks_run_their_re_runs(tmp_path: Path, stack: Stack):
    import os

    save(tmp_path)
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": stack.endpoint,
        "REMEDIATOR_TABLE_NAME": stack.settings.table_name,
        "REMEDIATOR_TOPIC_ARN": stack.settings.topic_arn or "",
        "REMEDIATOR_METRICS_ENABLED": "false",
    }
    trigger = SqsTrigger(queue_url=stack.work_queue, body={"month": "2024-05"})
    with pytest.raises(RuntimeError), stack.trail.batch(JOB, "2024-05", trigger=trigger):
        raise RuntimeError("warehouse timed out")
    stack.service.run_once()
    event = sqs_event(stack.clients, stack.work_queue, receive_all(stack.clients, stack.work_queue))
    (tmp_path / "event.json").write_text(json.dumps(event))
    # handler.py as Lambda runs it: imported once, then called with the SQS event.
    lam = python(
        "-c",
        "import json, handler; "
        "print(json.dumps(handler.handler(json.load(open('event.json')), None)))",
        cwd=tmp_path,
        env=env,
    )
    assert lam.returncode == 0, lam.stderr
    assert lam.stdout.splitlines() == [
        "loaded 2024-05 (attempt 2)",
        json.dumps({"batchItemFailures": []}),
    ]
    assert stack.trail.get(JOB, "2024-05").status is Status.SUCCESS  # type: ignore[union-attr]

    for month in ("2024-06", "2024-07"):
        stack.fail(JOB, month)
    # task.py as an ECS container started by an EcsTaskTrigger: the PIPELINE_* variables.
    ecs = python(
        "task.py",
        cwd=tmp_path,
        env={
            **env,
            "PIPELINE_JOB_ID": JOB,
            "PIPELINE_BATCH_ID": "2024-06",
            "PIPELINE_ATTEMPT": "2",
            "PIPELINE_TRACE_ID": "t-1",
        },
    )
    assert ecs.returncode == 0, ecs.stderr
    assert ecs.stdout.strip() == "loaded 2024-06 (attempt 2)"
    # task.py as a Step Functions task: the input a StepFunctionsTrigger starts it with.
    task_input = {"input": {"month": "2024-07"}, "job_id": JOB, "batch_id": "2024-07",
                  "attempt": 2, "trace_id": "t-2", "reason": "retry"}  # fmt: skip
    sfn = python(
        "-c",
        f"import task; print(task.handler({task_input!r}, None))",
        cwd=tmp_path,
        env=env,
    )
    assert sfn.returncode == 0, sfn.stderr
    assert sfn.stdout.splitlines() == ["loaded 2024-07 (attempt 2)", "loaded 2024-07"]
    for month in ("2024-06", "2024-07"):
        state = stack.trail.get(JOB, month)
        assert state is not None
        assert (state.status, state.attempt) == (Status.SUCCESS, 2)


def test_the_retry_policy_example_prints_a_policy_the_cli_takes(tmp_path: Path, stack: Stack):
    import os

    from observability import RetryPolicy
    from tests.integration.harness import run_cli

    save(tmp_path)
    done = python("retry_policy.py", cwd=tmp_path, env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    policy = RetryPolicy.from_json(done.stdout)
    assert [r.name for r in policy.rules] == ["timeouts", "throttled"]
    assert policy.never == ("SchemaError", "ValueError")
    (tmp_path / "policy.json").write_text(done.stdout)
    job = "ingest-sales"
    set_ = run_cli(
        stack.endpoint, stack.settings, "policy", "set", job, "--retry", f"@{tmp_path}/policy.json"
    )
    assert set_.returncode == 0, set_.stderr
    stored = stack.trail.job_policy(job)
    assert stored is not None
    assert stored.retry == policy


def test_the_error_rules_example_sets_and_picks_a_rule_per_code_and_message(
    tmp_path: Path, stack: Stack
):
    import os

    from observability import RetryPolicy
    from tests.integration.harness import run_cli

    save(tmp_path)
    done = python("error_rules.py", cwd=tmp_path, env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    policy = RetryPolicy.from_json(done.stdout)
    assert [r.name for r in policy.rules] == [
        "throttled", "denied", "unavailable", "oom", "killed", "timed-out", "smaller", "quota",
    ]  # fmt: skip
    (tmp_path / "rules.json").write_text(done.stdout)
    job = f"ingest-sales-{uuid.uuid4().hex[:6]}"
    set_ = run_cli(stack.endpoint, stack.settings, "policy", "set", job, "--retry",
                   f"@{tmp_path}/rules.json")  # fmt: skip
    assert set_.returncode == 0, set_.stderr

    def rule_for(*args: str) -> dict[str, Any]:
        done = run_cli(stack.endpoint, stack.settings, "policy", "test", job, *args,
                       "--output", "json")  # fmt: skip
        assert done.returncode == 0, done.stderr
        return dict(json.loads(done.stdout))

    throttled = rule_for("--error", "ClientError: Rate exceeded", "--code", "ThrottlingException")
    assert throttled["rule"] == "throttled"
    assert rule_for("--error", "ClientError: no", "--code", "AccessDeniedException")["rule"] == (
        "denied"
    )
    assert rule_for("--error", "HTTPError: bad gateway", "--code", "502")["rule"] == "unavailable"
    oom = rule_for("--error", "RuntimeError: worker ran out of memory")
    assert (oom["rule"], oom["runs_with"][0]) == (
        "oom", "attempt 2: memory 4096 (x2 from rule oom)",
    )  # fmt: skip
    killed = rule_for("--error", "TaskStopped: exited", "--exit-code", "137")
    assert (killed["rule"], killed["runs_with"][0]) == (
        "killed", "attempt 2: memory 2048 (x2 from rule killed)",
    )  # fmt: skip
    timed_out = rule_for("--error", "JobRunTimeout: x", "--reason", "Job run timed out after 60")
    assert timed_out["rule"] == "timed-out"
    assert rule_for("--error", "TimeoutError: read timed out")["rule"] == "smaller"
    assert rule_for("--error", "QuotaError: daily quota exceeded")["rule"] == "quota"


def test_the_fork_pool_recipe_records_every_month(tmp_path: Path, stack: Stack):
    import os

    save(tmp_path)
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": stack.endpoint,
        "REMEDIATOR_TABLE_NAME": stack.settings.table_name,
        "REMEDIATOR_TOPIC_ARN": stack.settings.topic_arn or "",
        "REMEDIATOR_METRICS_ENABLED": "false",
    }
    job = f"pool-{uuid.uuid4().hex[:8]}"
    with stack.trail.batch(job, "2024-01"):
        pass  # already done: pending() skips it
    ran = python("pool.py", job, stack.work_queue, cwd=tmp_path, env=env)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split() == [w for m in range(2, 13) for w in ("loaded", f"2024-{m:02d}")]
    states = stack.trail.states(job)
    assert [s.status for s in states] == [Status.SUCCESS] * 12
