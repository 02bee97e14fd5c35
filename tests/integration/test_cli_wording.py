"""What the read and replay commands say in the cases a first user meets."""

from __future__ import annotations

from typing import Any

import pytest

from observability import NonRetryableError
from tests.conftest import new_id
from tests.integration.harness import Stack
from tests.integration.test_cli_names import run, stack

__all__ = ["run", "stack"]  # the fixtures, shared


def test_history_of_a_batch_never_retried_says_so(stack: Stack, run: Any):
    job = new_id()
    stack.fail(job, "b", error=NonRetryableError)
    code, out, _ = run("history", job, "b")
    assert code == 0
    assert "never retried" in out, out
    assert "of 0 attempts" not in out, out


@pytest.mark.parametrize("named", [["ok", "bad"], ["bad", "ok", "missing"]])
def test_a_refused_replay_says_nothing_was_replayed(stack: Stack, run: Any, named: list[str]):
    job = new_id()
    stack.fail(job, "bad")
    with stack.trail.batch(job, "ok"):
        pass
    code, out, err = run("replay", job, *named, "--yes")
    assert code == 1
    assert not out
    assert err.rstrip().endswith(
        "nothing was replayed" + ("" if "missing" in named else f" (of {len(named)} named)")
    ), err
