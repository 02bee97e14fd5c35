"""`remediator demo` end to end, as a subprocess: the story, and --keep for trying commands."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest


def clean_env() -> dict[str, str]:
    # A newcomer's shell: no endpoint, no project variables (the demo brings its own AWS).
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("REMEDIATOR_") and k != "AWS_ENDPOINT_URL"
    }


def test_demo_tells_the_whole_story_in_under_a_minute():
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "remediator", "demo"],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stdout + done.stderr
    assert elapsed < 60
    out = done.stdout
    assert "2024-05  FAILED" in out
    assert "2024-05  RETRY_TRIGGERED   attempt 2" in out
    assert "2024-05  SUCCESS           attempt 2" in out
    assert "2024-09  EXHAUSTED" in out
    assert "ALERT" in out
    assert "2024-05: healed by the remediator on attempt 2" in out
    assert "2024-09: EXHAUSTED after 3 attempts, alert sent" in out
    assert "\033[" not in out  # piped: no colour
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith("2024-")}
    assert rows["2024-05"][1:3] == ["SUCCESS", "2"]
    assert rows["2024-09"][1:3] == ["EXHAUSTED", "3"]

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


def test_demo_keep_leaves_an_endpoint_to_try_every_command(tmp_path):
    errors = (tmp_path / "stderr").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "remediator", "demo", "--keep"],
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=errors,
        text=True,
    )
    seen: list[str] = []

    def told() -> str:
        """What the demo said so far, for the message of any failing assertion."""
        return "".join(seen) + "\n--- stderr ---\n" + (tmp_path / "stderr").read_text()

    try:
        exports: dict[str, str] = {}
        deadline = time.monotonic() + 90
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)
            assert time.monotonic() < deadline, told()
            if line.strip().startswith("export "):
                name, value = line.strip().removeprefix("export ").split("=", 1)
                exports[name] = value
            if "Press Ctrl-C" in line:
                break
        assert {"REMEDIATOR_TABLE_NAME", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID"} <= set(exports), (
            told()
        )
        env = {**clean_env(), **exports}
        status = subprocess.run(
            [sys.executable, "-m", "remediator", "status", "ingest-sales", "--output", "json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert status.returncode == 0, status.stderr + told()
        counts = json.loads(status.stdout)["counts"]
        assert (counts["SUCCESS"], counts["EXHAUSTED"]) == (11, 1), status.stdout + told()
        doctor = subprocess.run(
            [sys.executable, "-m", "remediator", "doctor"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert doctor.returncode == 0, doctor.stdout + doctor.stderr + told()
        proc.send_signal(signal.SIGINT)
        try:
            assert proc.wait(timeout=15) == 0, told()
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGUSR1)  # every thread's stack, to see what held it
            time.sleep(1)
            pytest.fail("demo --keep did not stop:\n" + told())
    finally:
        proc.kill()
        errors.close()
