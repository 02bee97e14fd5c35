"""Rules that match a stopped run's exit code and stop reason, as AWS Batch's
`evaluateOnExit` does: exact, or a prefix ending with `*`. Pure: no AWS."""

from __future__ import annotations

import pytest

from observability import RetryPolicy, RetryRule
from observability.errors import InvalidInput
from observability.retry import decide_rule
from observability.retry.match import ErrorFacts, matches

KILLED = ErrorFacts(
    names=("TaskStopped",),
    exit_code=137,
    reason="OutOfMemoryError: Container killed due to memory usage",
)


@pytest.mark.parametrize(
    ("glob", "hit"), [("137", True), ("13*", True), ("*", True), ("1", False), ("138", False)]
)
def test_an_exit_code_glob_matches_as_aws_batch_reads_it(glob: str, hit: bool):
    rule = RetryRule("oom", exit_code=glob)
    assert (matches(rule, KILLED) is not None) is hit


def test_a_reason_matches_exactly_or_by_its_prefix():
    assert matches(RetryRule("oom", reason="OutOfMemoryError*"), KILLED) == (
        "reason 'OutOfMemoryError*'"
    )
    assert matches(RetryRule("oom", reason="OutOfMemoryError"), KILLED) is None
    assert matches(RetryRule("oom", reason=KILLED.reason), KILLED) is not None


def test_every_field_given_must_match_and_an_error_without_an_exit_code_never_does():
    both = RetryRule("oom", exit_code="137", reason="Essential*")
    assert matches(both, KILLED) is None  # the reason differs
    raised = ErrorFacts(names=("RuntimeError",), message="exit 137")
    assert matches(RetryRule("oom", exit_code="*"), raised) is None


def test_the_first_rule_that_matches_the_exit_code_decides():
    policy = RetryPolicy(
        rules=(
            RetryRule("oom", exit_code="137", max_attempts=4),
            RetryRule("crash", exit_code="*", max_attempts=2),
        )
    )
    fallback = RetryRule("default")
    assert decide_rule(KILLED, ("job", policy), fallback=fallback).name == "oom"
    other = ErrorFacts(("TaskStopped",), exit_code=1)
    assert decide_rule(other, ("job", policy), fallback=fallback).name == "crash"


@pytest.mark.parametrize(
    ("field", "value", "said"),
    [
        ("exit_code", "13?", "must be an exit code, optionally ending with *"),
        ("exit_code", "-1", "must be an exit code"),
        ("exit_code", True, "must be an exit code"),
        ("reason", "Out*Memory", "optionally ending with * (a prefix)"),
        ("reason", "", "must be a stop reason"),
        ("reason", "x" * 513, "at most 512 printable characters"),
    ],
)
def test_a_bad_glob_is_refused_naming_the_rule_and_the_field(field: str, value: object, said: str):
    with pytest.raises(InvalidInput) as refused:
        RetryRule("oom", **{field: value})  # type: ignore[arg-type]
    assert f"retry rule 'oom'.{field}" in str(refused.value)
    assert said in str(refused.value)


def test_a_stored_rule_keeps_its_globs_and_reads_a_number_as_a_code():
    rule = RetryRule.from_dict({"name": "oom", "exit_code": 137, "reason": "OutOfMemory*"})
    assert (rule.exit_code, rule.reason) == ("137", "OutOfMemory*")
    assert RetryRule.from_dict(rule.to_dict()) == rule
