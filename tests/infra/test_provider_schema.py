"""infra/terraform against the hashicorp/aws provider's own schema (see provider_schema.py).

`terraform validate` needs the provider binary, which cannot be downloaded here; the schema
HashiCorp publishes for the CDK for Terraform gives the same answer for names: every
argument and block must exist in the provider version that versions.tf pins.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.infra.provider_schema import Problem, SchemaMissing, check, load_digest
from tests.infra.terraform import EXAMPLE_DIR, ROOT, TF_DIR, parse, scratch_copy


@pytest.fixture(scope="module")
def digest() -> dict[str, Any]:
    try:
        return load_digest()
    except SchemaMissing as exc:
        pytest.fail(str(exc))


def _version(text: str) -> tuple[int, ...]:
    parts = [int(part) for part in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def test_every_argument_and_block_exists_in_the_pinned_provider(digest: dict[str, Any]):
    problems = check(TF_DIR, digest) + check(EXAMPLE_DIR, digest)
    assert problems == [], "\n".join(str(p) for p in problems)


def pin_problems(directory: Path, digest: dict[str, Any]) -> list[str]:
    """versions.tf admits no older release than the one checked (it may lack an argument used
    here), and no next major (it may remove one)."""
    [terraform] = parse(directory / "versions.tf")["terraform"]
    [providers] = terraform["required_providers"]
    constraint = providers["aws"]["version"]
    bounds = {op: _version(v) for op, v in re.findall(r"(>=|<)\s*([0-9.]+)", constraint)}
    checked = _version(digest["provider_version"])
    problems = []
    if bounds.get(">=") != checked:
        problems.append(f"{constraint!r}: the floor must be {digest['provider_version']}")
    if bounds.get("<") != (checked[0] + 1, 0, 0):
        problems.append(f"{constraint!r}: must stay below {checked[0] + 1}.0.0")
    if not set(re.sub(r"(>=|<)\s*[0-9.]+", "", constraint)) <= {",", " "}:
        problems.append(f"{constraint!r}: only >= and < bounds")
    return problems


def test_versions_tf_pins_the_provider_to_the_schema_checked_against(
    tmp_path: Path, digest: dict[str, Any]
):
    assert pin_problems(TF_DIR, digest) == []
    assert pin_problems(EXAMPLE_DIR, digest) == []
    # As it was: 5.31 lacks aws_lambda_function's logging_config (added in 5.32).
    old = scratch_copy(tmp_path, {"versions.tf": [('">= 6.25.0, < 7.0.0"', '">= 5.31, < 7.0"')]})
    assert pin_problems(old, digest) == ["'>= 5.31, < 7.0': the floor must be 6.25.0"]


def test_the_schema_is_the_one_the_lock_installs(digest: dict[str, Any]):
    lock = (ROOT / "locks" / "tfschema.txt").read_text()
    pinned = re.search(r"^cdktf-cdktf-provider-aws==(\S+)", lock, re.M)
    assert pinned, "locks/tfschema.txt pins the schema package"
    assert digest["package_version"] == pinned.group(1)
    assert len(digest["resource"]) > 1000, "the assembly was read whole"
    assert "aws_lambda_function" in digest["resource"]
    assert "aws_iam_policy_document" in digest["data"]


def _problems(
    tmp_path: Path, digest: dict[str, Any], edits: dict[str, list[tuple[str, str]]]
) -> list[str]:
    return [str(p) for p in check(scratch_copy(tmp_path, edits), digest)]


def test_a_misspelt_argument_is_named_with_file_resource_and_argument(
    tmp_path: Path, digest: dict[str, Any]
):
    problems = _problems(
        tmp_path,
        digest,
        {"messaging.tf": [("  receive_wait_time_seconds  =", "  receive_wait_time_second   =")]},
    )
    assert problems == [
        "messaging.tf: resource aws_sqs_queue.signals: receive_wait_time_second: "
        f"no such argument in hashicorp/aws {digest['provider_version']}"
    ]


def test_a_misspelt_nested_block_and_arguments_inside_blocks_are_caught(
    tmp_path: Path, digest: dict[str, Any]
):
    problems = _problems(
        tmp_path,
        digest,
        {
            "dynamodb.tf": [
                ("point_in_time_recovery {", "point_in_time_recovry {"),
                ('projection_type    = "INCLUDE"', 'projection_typ = "INCLUDE"'),
            ],
            "iam.tf": [('dynamic "condition" {', 'dynamic "conditon" {')],
            "ecs.tf": [("runtime_platform {", "runtime_platfrom {")],
        },
    )
    version = digest["provider_version"]
    assert sorted(problems) == sorted(
        [
            "dynamodb.tf: resource aws_dynamodb_table.audit: point_in_time_recovry: "
            f"no such block in hashicorp/aws {version}",
            "dynamodb.tf: resource aws_dynamodb_table.audit: "
            f"global_secondary_index.projection_typ: no such argument in hashicorp/aws {version}",
            "dynamodb.tf: resource aws_dynamodb_table.audit: "
            "global_secondary_index.projection_type: required argument missing",
            "iam.tf: data aws_iam_policy_document.task: statement.dynamic.conditon: "
            f"no such block in hashicorp/aws {version}",
            "ecs.tf: resource aws_ecs_task_definition.remediator: runtime_platfrom: "
            f"no such block in hashicorp/aws {version}",
        ]
    )


def test_blocks_and_arguments_are_not_interchangeable_and_required_ones_are_there(
    tmp_path: Path, digest: dict[str, Any]
):
    problems = _problems(
        tmp_path,
        digest,
        {
            "dynamodb.tf": [("  ttl {\n", "  ttl = {\n")],
            "messaging.tf": [("  queue_url = aws_sqs_queue.signals.id\n  policy", "  policy")],
            "kms.tf": [('resource "aws_kms_alias"', 'resource "aws_kms_aliases"')],
        },
    )
    assert sorted(problems) == sorted(
        [
            "dynamodb.tf: resource aws_dynamodb_table.audit: ttl: is a block, written as an "
            "argument: write `ttl { ... }`",
            "messaging.tf: resource aws_sqs_queue_policy.signals: queue_url: "
            "required argument missing",
            "kms.tf: resource aws_kms_aliases.main: no such resource type in hashicorp/aws "
            f"{digest['provider_version']}",
        ]
    )


def test_problem_text_names_file_block_and_path():
    problem = Problem("a.tf", "resource aws_x.y", "b.c", "no such argument")
    assert str(problem) == "a.tf: resource aws_x.y: b.c: no such argument"
