"""Rules that read the error (message, code) and act beyond backoff (overrides, wait_until,
quarantine): observability/retry/match.py and actions.py, and judge. Pure."""

from __future__ import annotations

import errno
import random
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError
from freezegun import freeze_time

from observability.errors import InvalidInput
from observability.models.describe import MAX_ERROR_CHARS
from observability.retry import RetryPolicy, decide_rule, error_names, judge
from observability.retry.actions import Overrides, WaitUntil, adjust, merge_patch
from observability.retry.backoff import Exhaust, RetryAt, RetryRule
from observability.retry.match import ErrorFacts, check_pattern, error_code
from observability.triggers import MAX_TRIGGER_BYTES
from observability.triggers.sizes import FARGATE_SIZES, sized_overrides
from remediator.ops.schedule import parse_error
from tests.strict.limits import FARGATE_TASK_SIZES

FALLBACK = RetryRule(max_attempts=3)


def client_error(code: str, message: str = "no") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "PutItem")


def facts(exc: BaseException) -> ErrorFacts:
    return ErrorFacts(error_names(exc), str(exc), error_code(exc))


AWS = RetryPolicy(
    rules=(
        RetryRule("throttled", errors=("ClientError",), code="ThrottlingException"),
        RetryRule("denied", errors=("ClientError",), code=("AccessDeniedException",),
                  quarantine=True),
        RetryRule("oom", errors=("RuntimeError",), message=r"out of memory"),
    )
)  # fmt: skip


def test_the_code_of_a_client_error_an_os_error_and_an_http_error() -> None:
    assert error_code(client_error("ThrottlingException")) == "ThrottlingException"
    assert error_code(ConnectionRefusedError(errno.ECONNREFUSED, "refused")) == "ECONNREFUSED"

    class HttpError(Exception):
        def __init__(self, status: int) -> None:
            super().__init__("bad")
            self.response = type("Response", (), {"status_code": status})()

    assert error_code(HttpError(503)) == "503"
    assert error_code(RuntimeError("x")) is None


def test_two_codes_of_one_class_take_different_rules() -> None:
    throttled = decide_rule(facts(client_error("ThrottlingException")), ("job", AWS),
                            fallback=FALLBACK)  # fmt: skip
    denied = decide_rule(facts(client_error("AccessDeniedException")), ("job", AWS),
                         fallback=FALLBACK)  # fmt: skip
    assert throttled.name == "throttled"
    assert throttled.matched == "ClientError, code ThrottlingException"
    assert denied.name == "denied"
    # Every field a rule gives must match: the class alone does not.
    other = decide_rule(facts(client_error("Other")), ("job", AWS), fallback=FALLBACK)
    assert other.name == "default"


def test_a_message_rule_matches_the_text_and_only_it() -> None:
    oom = decide_rule(facts(RuntimeError("task 3: out of memory")), ("job", AWS), fallback=FALLBACK)
    assert (oom.name, oom.matched) == ("oom", "RuntimeError, message /out of memory/")
    plain = decide_rule(facts(RuntimeError("disk full")), ("job", AWS), fallback=FALLBACK)
    assert plain.name == "default"


def test_a_rule_may_match_by_message_alone() -> None:
    policy = RetryPolicy(rules=(RetryRule("quota", message="(?i)quota exceeded"),))
    assert decide_rule(ErrorFacts(("X",), "Daily QUOTA exceeded"), ("job", policy),
                       fallback=FALLBACK).name == "quota"  # fmt: skip
    with pytest.raises(InvalidInput, match="must name at least one error, message or code"):
        RetryPolicy(rules=(RetryRule("nothing"),))


def test_a_bad_regex_is_refused_naming_the_rule_and_the_position() -> None:
    with pytest.raises(InvalidInput) as caught:
        RetryPolicy.from_dict({"rules": [{"name": "oom", "message": "out of (memory"}]})
    assert str(caught.value) == (
        "retry rule 'oom'.message: is not a regular expression: missing ), unterminated "
        "subpattern at position 7"
    )


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        (r"(a+)+b", "quantifies a group at position 4"),
        (r"(\w+\s?)*$", "quantifies a group at position 8"),
        (r"(a|aa)*b", "quantifies a group at position 6"),
        (r"a.*b.*c", "repeats too much to match in bounded time"),
        ("a?" * 20 + "a" * 20, "repeats too much to match in bounded time"),
    ],
)
def test_a_pattern_that_could_backtrack_for_ever_is_refused(pattern: str, why: str) -> None:
    with pytest.raises(InvalidInput, match=why):
        check_pattern("retry rule 'x'.message", pattern)


def test_an_accepted_pattern_costs_little_on_the_longest_stored_message() -> None:
    # One unbounded repeat and small ones: the worst text, longer than the stored length.
    rule = RetryRule("slow", message=r"\s*\d{1,3}x?y")
    text = " " * (MAX_ERROR_CHARS * 50)  # longer than stored: matched on its first 1024
    started = time.perf_counter()
    found = decide_rule(ErrorFacts(("E",), text), ("job", RetryPolicy(rules=(rule,))),
                        fallback=FALLBACK)  # fmt: skip
    assert found.name == "default"
    assert time.perf_counter() - started < 1.0
    for fine in ("out of memory", r"status (429|5\d\d)", r"Quota .* exceeded", r"\d{3}", "(ab)?c"):
        assert check_pattern("m", fine) == fine


def test_codes_are_validated() -> None:
    with pytest.raises(InvalidInput, match=r"retry rule 'x'.code: must be codes of 1 to 64"):
        RetryRule("x", code=("has space",))
    assert RetryRule("x", code=429).code == ("429",)


def test_merge_patch_follows_rfc_7396() -> None:
    target = {"a": "b", "c": {"d": "e", "f": "g"}}
    assert merge_patch(target, {"a": "z", "c": {"f": None}}) == {"a": "z", "c": {"d": "e"}}
    assert merge_patch({"a": [1]}, {"a": [2, 3]}) == {"a": [2, 3]}
    assert merge_patch({"a": 1}, ["x"]) == ["x"]
    assert merge_patch("text", {"a": {"b": None, "c": 1}}) == {"a": {"c": 1}}
    assert target == {"a": "b", "c": {"d": "e", "f": "g"}}  # not changed in place


SQS = {"kind": "sqs", "queue_url": "https://q", "body": {"month": 5, "chunk": 1000}}
ECS: dict[str, Any] = {
    "kind": "ecs", "cluster": "c", "task_definition": "worker", "container_name": "worker",
    "subnets": ["subnet-1"],
}  # fmt: skip
OOM = {"from_attempt": 2, "ecs": {"size": {"cpu": 1024, "memory": 2048}, "memory": "x2",
                                  "ceiling": {"memory": 8192}}}  # fmt: skip


def test_a_patch_applies_from_its_attempt_on() -> None:
    overrides = Overrides.from_dict("o", {"from_attempt": 2, "patch": {"chunk": 100}})
    assert adjust(SQS, "small", overrides, 1).trigger == SQS
    second = adjust(SQS, "small", overrides, 2)
    assert second.trigger["body"] == {"month": 5, "chunk": 100}
    assert second.ran_with == "body patched (from rule small)"


def test_ecs_memory_doubles_per_attempt_up_to_its_ceiling() -> None:
    overrides = Overrides.from_dict("o", OOM)
    sizes = [adjust(ECS, "oom", overrides, n).task_size for n in (1, 2, 3, 4)]
    assert sizes == [None, (1024, 4096), (1024, 8192), (1024, 8192)]
    assert adjust(ECS, "oom", overrides, 2).ran_with == "memory 4096 (x2 from rule oom)"
    assert adjust(ECS, "oom", overrides, 4).ran_with == (
        "memory 8192 (x2, at its ceiling, from rule oom)"
    )
    # Not an ECS trigger: the sizes do not apply.
    assert adjust(SQS, "oom", overrides, 3).task_size is None


def test_ecs_sizes_outside_fargate_are_refused_naming_the_rule() -> None:
    bad = {**OOM, "ecs": {**OOM["ecs"], "ceiling": {"memory": 16384}}}
    with pytest.raises(InvalidInput) as caught:
        RetryRule.from_dict({"name": "oom", "errors": ["RuntimeError"], "overrides": bad})
    assert str(caught.value) == (
        "retry rule 'oom'.overrides.ecs: overridden attempt 3 would run cpu 1024 with memory "
        "16384 MiB is not a Fargate size (cpu 1024 takes 2048 to 8192 MiB in steps of 1024)"
    )
    with pytest.raises(InvalidInput, match=r"oom'.overrides.ecs.ceiling.memory: is required"):
        RetryRule("oom", errors=("E",), overrides={"ecs": {**OOM["ecs"], "ceiling": None}})  # type: ignore[arg-type]


def test_a_patch_that_breaks_the_targets_limit_is_refused_naming_the_rule() -> None:
    overrides = Overrides.from_dict("o", {"patch": {"pad": "x" * 100}})
    huge = {**SQS, "body": {"pad": "", "rest": "y" * (MAX_TRIGGER_BYTES - 100)}}
    refused = r"^retry rule 'big'.overrides.patch: makes trigger.body"
    with pytest.raises(InvalidInput, match=refused):
        adjust(huge, "big", overrides, 2)


def test_sized_overrides_set_the_task_and_its_container() -> None:
    sized = sized_overrides({"containerOverrides": [{"name": "w"}]}, 1024, 4096)
    assert sized == {
        "containerOverrides": [{"name": "w", "cpu": 1024, "memory": 4096}],
        "cpu": "1024",
        "memory": "4096",
    }


def test_the_fargate_table_is_the_documented_one() -> None:
    assert {cpu: set(m) for cpu, m in FARGATE_SIZES.items()} == FARGATE_TASK_SIZES


@freeze_time("2026-03-10 06:30:00")  # 23:30 in Los Angeles (PDT, UTC-7)
def test_a_quota_rule_waits_until_midnight_in_its_zone_and_not_longer() -> None:
    def retry_at(backoff: float) -> datetime:
        rule = RetryRule(
            "quota",
            code="LimitExceeded",
            base_seconds=backoff,
            jitter="none",
            wait_until="00:00 America/Los_Angeles",
        )  # type: ignore[arg-type]
        verdict, governed = judge(
            stored=None, names=ErrorFacts(("ClientError",), "quota", "LimitExceeded"),
            job=RetryPolicy(rules=(rule,)), fallback=FALLBACK, attempt=1, attempt_floor=0,
            first_failed_at=None, cap_override=None, has_trigger=True, now=datetime.now(UTC),
            rng=random.Random(1),
        )  # fmt: skip
        assert isinstance(verdict, RetryAt)
        assert governed.rule == "quota"
        return verdict.at

    assert retry_at(60) == datetime(2026, 3, 10, 7, 0, tzinfo=UTC)  # midnight there
    # A backoff that ends after midnight wins: the later of the two.
    assert retry_at(3600) == datetime(2026, 3, 10, 7, 30, tzinfo=UTC)
    assert str(WaitUntil.parse("w", "00:00 America/Los_Angeles")) == "00:00 America/Los_Angeles"
    with pytest.raises(InvalidInput, match="names no known time zone"):
        WaitUntil.parse("retry rule 'q'.wait_until", "00:00 Mars/Olympus")


def test_a_quarantine_rule_is_never_retried_and_names_itself() -> None:
    verdict, governed = judge(
        stored=None, names=facts(client_error("AccessDeniedException")), job=AWS,
        fallback=FALLBACK, attempt=1, attempt_floor=0, first_failed_at=None, cap_override=None,
        has_trigger=True, now=datetime(2026, 1, 1, tzinfo=UTC), rng=random.Random(1),
    )  # fmt: skip
    assert verdict == Exhaust("quarantined")
    assert (governed.rule, governed.why) == ("denied", 'rule "denied": quarantined, never retried')
    with pytest.raises(InvalidInput, match="quarantine: retries nothing"):
        RetryRule("q", errors=("E",), quarantine=True, wait_until="00:00 UTC")  # type: ignore[arg-type]


def test_new_fields_survive_the_stored_form() -> None:
    rule = RetryRule.from_dict(
        {"name": "oom", "errors": ["RuntimeError"], "message": "oom", "code": ["137"],
         "overrides": OOM, "wait_until": "02:30 Europe/Paris"}
    )  # fmt: skip
    again = RetryRule.from_dict(rule.to_dict())
    assert again == rule
    assert again.to_dict()["overrides"]["ecs"]["memory"] == "x2"


def test_policy_test_reads_the_code_it_is_given() -> None:
    spec = parse_error("ClientError: Rate exceeded", "ThrottlingException")
    assert spec.facts() == ErrorFacts(("ClientError",), "Rate exceeded", "ThrottlingException")
    with pytest.raises(ValueError, match=r"^--code 'not a code': expected 1 to 64 of"):
        parse_error("ClientError: x", "not a code")
