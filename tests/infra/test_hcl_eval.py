"""The offline evaluator behaves as Terraform does on the forms the checks rely on."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.hcl_eval import EvalError, Unknown, Unresolvable, evaluate, known

VARS: dict[str, Any] = {"n": 3, "s": "pipeline.audit", "none": None, "xs": ["a", "", "b"]}


def ev(text: str) -> Any:
    def lookup(kind: str, name: str) -> Any:
        if kind == "var":
            return VARS[name]
        return {"env": [{"name": "A", "value": ""}, {"name": "B", "value": "1"}]}[name]

    return evaluate(text, lookup)


def test_validations_regex_can_and_comparisons():
    assert ev('can(regex("^[A-Za-z0-9_-]{1,43}$", var.s))') is False
    assert ev('can(regex("^[A-Za-z0-9_.-]{3,255}$", var.s))') is True
    assert ev("var.n >= 1 && var.n <= 2") is False
    assert ev('var.none == null || can(regex("x", var.none))') is True
    assert ev('contains(["X86_64", "ARM64"], "ARM64")') is True
    assert ev("floor(7 / 2) * 2") == 6


def test_logical_operators_do_not_short_circuit_like_terraform():
    with pytest.raises(EvalError):
        ev("var.none == null || var.none >= 2")
    assert ev("var.none == null || try(var.none >= 2, false)") is True


def test_conditionals_for_expressions_and_templates():
    assert ev('var.none == null ? "unset" : "${var.none}-x"') == "unset"
    assert ev('[for e in local.env : e.name if e.value != ""]') == ["B"]
    assert ev("{for k, v in {a = 1, b = 2} : k => v * 10 if v > 1}") == {"b": 20}
    assert ev('join(",", [for x in var.xs : x if x != ""])') == "a,b"
    assert ev('"${var.n}-${upper("q")}"') == "3-Q"


def test_plan_time_values_stay_unknown_and_keep_their_text():
    value = ev('{ arn = aws_sqs_queue.signals.arn, name = "x" }')
    assert isinstance(value["arn"], Unknown)
    assert known(value) == {"arn": "${aws_sqs_queue.signals.arn}", "name": "x"}
    assert ev('aws_sqs_queue.signals.arn != ""') is True
    with pytest.raises(Unresolvable):
        ev("aws_sqs_queue.signals.visibility_timeout_seconds * 2")
