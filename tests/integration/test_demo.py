"""`remediator demo` end to end, as a subprocess: the story, and --keep for trying commands."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.integration.harness import DemoKeep, newcomer_env

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(sys.executable).parent.parent


def test_make_demo_from_another_directory_tells_the_whole_story_in_under_a_minute(tmp_path):
    if VENV != ROOT / ".venv":
        pytest.skip("the Makefile's own virtualenv is not the one running the tests")
    started = time.monotonic()
    # `make -f path/Makefile demo` from elsewhere; its sync finds the package installed.
    done = subprocess.run(
        ["make", "--no-print-directory", "-f", str(ROOT / "Makefile"), "demo"],
        cwd=tmp_path,
        env=newcomer_env(),
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stdout + done.stderr
    assert elapsed < 60
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    # uv installs the package: no setuptools editable-install warning before the story.
    assert "setuptools" not in done.stdout + done.stderr, done.stderr
    assert list(tmp_path.iterdir()) == []  # nothing created where it was run from
    out = done.stdout
    assert "2024-05  FAILED" in out
    assert "2024-05  RETRY_TRIGGERED   attempt 2" in out
    assert "2024-05  SUCCESS           attempt 2" in out
    assert "2024-09  EXHAUSTED" in out
    assert "ALERT" in out
    assert "2024-05: healed by the remediator on attempt 2" in out
    assert "2024-09: EXHAUSTED at once (BadRecord is never retried), alert sent" in out
    # The timeline says which rule decided each failure.
    assert 'rule "warehouse": 1 of 3 attempts' in out
    assert "2024-09  EXHAUSTED         attempt 1  BadRecord is never retried (batch policy)" in out
    assert "\033[" not in out  # piped: no colour
    assert "not_due: the remediator looked" in out  # the trace's words are explained
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith("2024-")}
    assert rows["2024-05"][1:3] == ["SUCCESS", "2"]
    assert rows["2024-09"][1:3] == ["EXHAUSTED", "1"]

    # The trace of the healed month, from the spans the SDK recorded during the demo.
    trace = out[out.index("The trace of 2024-05") :].splitlines()
    assert trace[2].startswith("trace ")
    assert "(X-Ray: 1-" in trace[2]
    labels = [line[23:].split("|")[0].rstrip() for line in trace[3:] if "|" in line]
    assert labels[0] == "batch run 2024-05 attempt 1 (pipeline): FAILED !"
    assert "  SNS.Publish FAILED" in labels
    assert "    signal queued" in labels
    # The retry hangs under the remediation that fired it, whichever path (signal or sweep).
    [fix] = [i for i, text in enumerate(labels) if "remediate (" in text and "triggered" in text]
    depth = len(labels[fix]) - len(labels[fix].lstrip())
    after = labels[fix + 1 :]
    assert " " * (depth + 2) + "re-trigger sqs" in after
    assert " " * (depth + 4) + "batch run 2024-05 attempt 2 (worker): SUCCESS" in after
    offsets = [float(line.split()[0].rstrip("s")) for line in trace[3:] if "|" in line]
    assert offsets[0] == 0.0
    assert max(offsets) > 0


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_demo_keep_leaves_an_endpoint_to_try_every_command(tmp_path):
    with DemoKeep(tmp_path) as demo:
        assert {
            "REMEDIATOR_TABLE_NAME",
            "AWS_ENDPOINT_URL",
            "AWS_ACCESS_KEY_ID",
            "AWS_DEFAULT_REGION",
        } <= set(demo.exports), demo.told()
        # The demo's retry scale, so that a pipeline run beside it retries within seconds.
        assert demo.exports["REMEDIATOR_BACKOFF_BASE_SECONDS"] == "0.5", demo.told()
        assert demo.exports["REMEDIATOR_MAX_ATTEMPTS"] == "3"
        assert demo.exports["REMEDIATOR_METRICS_ENABLED"] == "false"
        status = run(demo.env, "-m", "remediator", "status", "ingest-sales", "--output", "json")
        assert status.returncode == 0, status.stderr + demo.told()
        counts = json.loads(status.stdout)["counts"]
        assert (counts["SUCCESS"], counts["EXHAUSTED"]) == (11, 1), status.stdout + demo.told()
        doctor = run(demo.env, "-m", "remediator", "doctor")
        assert doctor.returncode == 0, doctor.stdout + doctor.stderr + demo.told()
        # Plain boto3, configured by nothing but the exports (it reads AWS_DEFAULT_REGION).
        table = demo.exports["REMEDIATOR_TABLE_NAME"]
        plain = run(
            demo.env,
            "-c",
            f"import boto3; print(boto3.client('dynamodb').describe_table(TableName={table!r})"
            "['Table']['TableStatus'])",
        )
        assert plain.stdout.strip() == "ACTIVE", plain.stderr
        # It ends by naming the console it serves, on the same table.
        [said] = [line for line in demo.seen if line.startswith("The console: ")]
        url = said.split()[-1]
        assert url.startswith("http://127.0.0.1:"), said
        with urllib.request.urlopen(f"{url}jobs/ingest-sales", timeout=30) as page:  # noqa: S310
            assert 'data-batch="2024-09" data-status="EXHAUSTED"' in page.read().decode()
        assert demo.stop() == 0, demo.told()


def test_demo_keep_tells_what_another_shell_does_as_it_happens(tmp_path):
    with DemoKeep(tmp_path) as demo:
        told = len(demo.seen)
        replay = run(
            demo.env, "-m", "remediator", "replay", "ingest-sales", "2024-09", "--yes",
            "--reason", "row fixed",
        )  # fmt: skip
        assert replay.returncode == 0, replay.stdout + replay.stderr
        # The replay, the worker's re-run, its failure and the alert, in the demo's shell.
        demo.wait_for("2024-09  STARTED", after=told)
        demo.wait_for("2024-09  EXHAUSTED", after=told)
        assert "stand-ins" in demo.wait_for("ALERT", after=told)
        assert demo.stop() == 0, demo.told()
