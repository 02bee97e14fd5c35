"""Who may write through the console: its own page, on its own host, with its token."""

from __future__ import annotations

import pytest

from remediator.console.links import aws_links
from remediator.console.security import Guard, Refusal

GOOD = {"host": "127.0.0.1:8765", "origin": "http://127.0.0.1:8765"}


def test_a_post_from_the_console_page_passes() -> None:
    guard = Guard(port=8765)
    guard.check_post(GOOD, {"csrf": guard.token})
    guard.check_post({"host": "localhost:8765", "origin": "http://localhost:8765"},
                     {"csrf": guard.token})  # fmt: skip
    # No Origin (an older browser): its Referer names the page instead.
    guard.check_post({"host": GOOD["host"], "referer": "http://127.0.0.1:8765/jobs/x"},
                     {"csrf": guard.token})  # fmt: skip


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({**GOOD, "origin": "http://evil.example"}, "not from this console"),
        ({**GOOD, "origin": "https://127.0.0.1:8765"}, "not from this console"),
        ({**GOOD, "origin": "http://127.0.0.1:9999"}, "not from this console"),
        ({"host": GOOD["host"]}, "comes from 'nowhere'"),
        ({**GOOD, "origin": "null"}, "comes from 'nowhere'"),
        ({**GOOD, "host": "evil.example:8765"}, "is not this console's"),
        ({"host": "127.0.0.1:8765", "referer": "http://evil.example/"}, "not from this console"),
    ],
)
def test_a_post_from_elsewhere_is_refused(headers: dict[str, str], why: str) -> None:
    guard = Guard(port=8765)
    with pytest.raises(Refusal, match=why):
        guard.check_post(headers, {"csrf": guard.token})


def test_the_token_is_needed_and_is_the_process_own() -> None:
    guard, other = Guard(port=8765), Guard(port=8765)
    assert guard.token != other.token
    for form in ({}, {"csrf": ""}, {"csrf": other.token}):
        with pytest.raises(Refusal, match="token is missing or wrong"):
            guard.check_post(GOOD, form)


def test_read_only_refuses_everything() -> None:
    guard = Guard(port=8765, read_only=True)
    with pytest.raises(Refusal, match="read-only"):
        guard.check_post(GOOD, {"csrf": guard.token})


def test_a_console_on_every_address_answers_to_loopback_names_only() -> None:
    guard = Guard(port=8765, host="0.0.0.0")
    assert "127.0.0.1:8765" in guard.hosts()
    with pytest.raises(Refusal):
        guard.check_post({"host": "10.0.0.5:8765", "origin": "http://10.0.0.5:8765"},
                         {"csrf": guard.token})  # fmt: skip


def test_links_name_the_trigger_target_the_trace_and_the_logs() -> None:
    queue = "https://sqs.eu-west-1.amazonaws.com/123456789012/work"
    links = dict(aws_links({"kind": "sqs", "queue_url": queue},
                           "0af7651916cd43dd8448eb211c80319c", "eu-west-1"))  # fmt: skip
    assert links["queue work"].startswith("https://eu-west-1.console.aws.amazon.com/sqs/v3/")
    assert "https%3A%2F%2Fsqs.eu-west-1" in links["queue work"]
    assert links["X-Ray trace 1-0af76519-16cd43dd8448eb211c80319c"].endswith(
        "#xray:traces/1-0af76519-16cd43dd8448eb211c80319c"
    )
    assert "the remediator's log groups" in links
    machine = "arn:aws:states:eu-west-1:123456789012:stateMachine:etl"
    [(text, _), _] = aws_links({"kind": "stepfunctions", "state_machine_arn": machine},
                               None, "eu-west-1")  # fmt: skip
    assert text == "state machine etl"


def test_the_run_the_latest_trigger_started_is_linked_first() -> None:
    machine = "arn:aws:states:eu-west-1:123456789012:stateMachine:etl"
    execution = "arn:aws:states:eu-west-1:123456789012:execution:etl:nightly--a2-1f2e"
    sfn = {"kind": "stepfunctions", "state_machine_arn": machine}
    (text, url), (target, _), _ = aws_links(sfn, None, "eu-west-1", execution)
    assert (text, target) == ("execution nightly--a2-1f2e", "state machine etl")
    assert url.endswith(f"states/home?region=eu-west-1#/v2/executions/details/{execution}")
    task = "arn:aws:ecs:eu-west-1:123456789012:task/etl-cluster/0f1e2d3c4b5a"
    ecs = {"kind": "ecs", "cluster": "etl-cluster", "task_definition": "etl:3"}
    (text, url), (target, _), _ = aws_links(ecs, None, "eu-west-1", task)
    assert (text, target) == ("task 0f1e2d3c4b5a", "cluster etl-cluster")
    assert url.endswith("/ecs/v2/clusters/etl-cluster/tasks/0f1e2d3c4b5a?region=eu-west-1")
    # An SQS message id, or no run recorded: nothing more than the target.
    queue = {"kind": "sqs", "queue_url": "https://sqs.eu-west-1.amazonaws.com/1/work"}
    assert len(aws_links(queue, None, "eu-west-1", "5fea7756-0ea4")) == 2
    assert len(aws_links(sfn, None, "eu-west-1", None)) == 2
