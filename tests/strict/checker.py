"""Checks every AWS request a process makes, and every EMF document it writes.

It wraps `BaseClient._make_api_call` (so it sees each call's parameters exactly as the code
passed them, before any event handler, a test's included, changes them),
`observability.telemetry.metrics.emf_record` and `emf_line`. The wrappers only look: the call itself
is botocore's.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.validate import ParamValidationDecorator

from tests.strict.engines import ENGINE_RULES
from tests.strict.limits import EMF_RULES, REQUEST_RULES, Rule
from tests.strict.model import botocore_checks, check_request, model_source

__all__ = ["REPORT_ENV", "StrictAws", "StrictAwsViolation", "Violation"]

# Subprocesses started with this variable set append what they find, one JSON line each.
REPORT_ENV = "STRICT_AWS_REPORT"


class StrictAwsViolation(Exception):
    """A request AWS would refuse (or an EMF document CloudWatch would drop)."""


@dataclass(frozen=True)
class Violation:
    rule: str
    where: str
    problem: str
    source: str

    def __str__(self) -> str:
        return f"{self.where}: {self.problem} [rule {self.rule}: {self.source}]"


class StrictAws:
    """Collects violations; `raise_on_violation` also stops the offending call at once."""

    def __init__(self, *, raise_on_violation: bool = True, report: str | None = None) -> None:
        self.violations: list[Violation] = []
        self.requests = 0
        self.documents = 0
        self._raise = raise_on_violation
        self._report = report
        # Where subprocesses started under this checker write theirs (read by `take`).
        self.subprocess_report: str | None = None
        self._lock = threading.Lock()

    def take(self) -> list[Violation]:
        """The violations so far, this process's and its subprocesses', forgotten (a test
        that breaks a rule on purpose takes them)."""
        with self._lock:
            found, self.violations = self.violations, []
        if self.subprocess_report and os.path.exists(self.subprocess_report):
            with open(self.subprocess_report, encoding="utf-8") as lines:
                found += [Violation(**json.loads(line)) for line in lines if line.strip()]
            os.remove(self.subprocess_report)
        return found

    def _found(self, violations: list[Violation]) -> None:
        if not violations:
            return
        with self._lock:
            self.violations.extend(violations)
        if self._report:
            lines = "".join(json.dumps(v.__dict__) + "\n" for v in violations)
            with open(self._report, "a", encoding="utf-8") as out:
                out.write(lines)
        if self._raise:
            raise StrictAwsViolation("; ".join(str(v) for v in violations))

    def check_request(self, client: Any, operation_name: str, params: dict[str, Any]) -> None:
        model = client.meta.service_model
        operation = model.operation_model(operation_name)
        where = f"{model.service_name}.{operation_name}"
        problems = check_request(operation, params)
        if not isinstance(client._serializer, ParamValidationDecorator):
            # A client configured without botocore's validation (required members, types,
            # minima): it is run here instead.
            problems += botocore_checks(operation, params)
        found = [
            Violation("botocore-model", p.path, p.message, model_source(operation))
            for p in problems
        ]
        key = (model.service_name, operation_name)
        rules = [r for r in (*REQUEST_RULES, *ENGINE_RULES) if key in r.applies]
        found += self._apply(rules, params, where)
        with self._lock:
            self.requests += 1
        self._found(found)

    def check_emf(self, record: dict[str, Any]) -> None:
        with self._lock:
            self.documents += 1
        self._found(self._apply(EMF_RULES, record, "EMF document"))

    @staticmethod
    def _apply(rules: list[Rule], subject: dict[str, Any], where: str) -> list[Violation]:
        return [
            Violation(rule.name, where, problem, rule.source)
            for rule in rules
            for problem in rule.check(subject)
        ]

    # -- installing ---------------------------------------------------------------------------

    def wrap_api_call(self, original: Callable[..., Any]) -> Callable[..., Any]:
        checker = self

        def _make_api_call(client: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
            checker.check_request(client, operation_name, api_params)
            return original(client, operation_name, api_params)

        _make_api_call.__wrapped__ = original  # type: ignore[attr-defined]
        return _make_api_call

    def wrap_emf(self, original: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        checker = self

        def emf_record(*args: Any, **kwargs: Any) -> dict[str, Any]:
            record = original(*args, **kwargs)
            checker.check_emf(record)
            return record

        emf_record.__wrapped__ = original  # type: ignore[attr-defined]
        return emf_record

    def wrap_emf_line(self, original: Callable[..., str]) -> Callable[..., str]:
        """The line `Metrics.emit` writes (built without `emf_record`), checked as parsed."""
        checker = self

        def emf_line(*args: Any, **kwargs: Any) -> str:
            line = original(*args, **kwargs)
            checker.check_emf(json.loads(line))
            return line

        emf_line.__wrapped__ = original  # type: ignore[attr-defined]
        return emf_line
