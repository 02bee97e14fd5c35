"""Pauses, pure: which batches a pause holds, and until when (remediator.guards.pauses)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from observability.models import av, iso
from remediator.guards.pauses import JOB, TARGET, Pause, PauseSet
from remediator.triggers.names import target_key, target_keys

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)
QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/work"
SQS = {"kind": "sqs", "queue_url": QUEUE, "body": {}}
LAMBDA = {"kind": "lambda", "function_name": "reload"}
ECS = {"kind": "ecs", "cluster": "arn:aws:ecs:us-east-1:123456789012:cluster/etl",
       "task_definition": "worker"}  # fmt: skip


def pause(scope: str, name: str, **kw: str) -> Pause:
    return Pause(
        scope=scope, name=name, reason="r", actor="arn:aws:iam::1:user/a", at=iso(NOW), **kw
    )


def pauses(*found: Pause) -> PauseSet:
    return PauseSet.from_item({p.attribute: av(p.value()) for p in found})


def test_a_queue_is_the_same_target_by_url_arn_or_name() -> None:
    keys = target_keys(SQS)
    for name in (QUEUE, "arn:aws:sqs:us-east-1:123456789012:work", "work"):
        assert target_key(name) in keys
    assert target_key("arn:aws:sqs:us-east-1:999999999999:work") not in keys


def test_functions_and_clusters_match_by_name_or_arn() -> None:
    assert target_key("arn:aws:lambda:us-east-1:1:function:reload:live") in target_keys(LAMBDA)
    assert target_key("etl") in target_keys(ECS)
    assert target_key("reload") not in target_keys(ECS)


def test_a_target_pause_holds_only_batches_that_fire_at_it() -> None:
    held = pauses(pause(TARGET, "work"))
    assert held.holding("any-job", SQS, NOW) is not None
    assert held.holding("any-job", LAMBDA, NOW) is None


def test_a_pause_ends_at_its_until_or_its_resume() -> None:
    until = pause(JOB, "j", until=iso(NOW + timedelta(hours=1)))
    assert pauses(until).job("j", NOW) is not None
    assert pauses(until).job("j", NOW + timedelta(hours=1)) is None
    resumed = pause(JOB, "j", resumed_at=iso(NOW), resumed_by="arn:aws:iam::1:user/b")
    assert pauses(resumed).job("j", NOW) is None
    assert pauses(until).job("other", NOW) is None


def test_entries_this_version_does_not_know_are_ignored() -> None:
    item = {"JOB#x": av({"scope": "galaxy", "name": "x"}), "pk": av("TABLE")}
    assert PauseSet.from_item(item).pauses == {}
