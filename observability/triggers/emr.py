"""The EMR Serverless trigger: StartJobRun of a Spark or Hive job, with a clientToken.

The batch reaches the job as configuration, not as arguments a user's driver would have to
parse: a Spark driver gets PIPELINE_* environment variables (`spark-defaults`
`spark.emr-serverless.driverEnv.*`), a Hive job `hive-site` properties of the same names
(`${hiveconf:PIPELINE_JOB_ID}`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from observability.errors import InvalidInput
from observability.triggers.base import Trigger, _required, _shaped
from observability.triggers.variables import pipeline_variables

__all__ = ["EmrServerlessTrigger", "emr_configuration"]

# StartJobRun's applicationId and executionRoleArn (the botocore model's patterns).
_APPLICATION_ID = re.compile(r"[0-9a-z]{1,64}")
_ROLE_ARN = re.compile(
    r"arn:(aws[a-zA-Z0-9-]*):iam::([0-9]{12}):(role((/)|(/[\u0021-\u007f]+/))[\w+=,.@-]+)"
)
# Each driver's members and their limits (characters; items for entryPointArguments).
_DRIVERS: dict[str, dict[str, tuple[type, int]]] = {
    "sparkSubmit": {
        "entryPoint": (str, 4096),
        "entryPointArguments": (list, 1024),
        "sparkSubmitParameters": (str, 102_400),
    },
    "hive": {"query": (str, 10_280), "initQueryFile": (str, 256), "parameters": (str, 102_400)},
}
_REQUIRED = {"sparkSubmit": "entryPoint", "hive": "query"}
_DRIVER_ENV = "spark.emr-serverless.driverEnv."


def _check_driver(job_driver: Mapping[str, Any]) -> None:
    if len(job_driver) != 1 or next(iter(job_driver), None) not in _DRIVERS:
        raise InvalidInput(
            "trigger.job_driver",
            f"must name one driver, sparkSubmit or hive; got {sorted(job_driver)}",
        )
    ((kind, driver),) = job_driver.items()
    where = f"trigger.job_driver.{kind}"
    if not isinstance(driver, dict):
        raise InvalidInput(where, f"must be a mapping, got {type(driver).__name__}")
    unknown = set(driver) - set(_DRIVERS[kind])
    if unknown:
        raise InvalidInput(where, f"has unknown members {sorted(unknown)}")
    if not driver.get(_REQUIRED[kind]):
        raise InvalidInput(f"{where}.{_REQUIRED[kind]}", "is required")
    for name, value in driver.items():
        kind_of, limit = _DRIVERS[kind][name]
        if kind_of is list:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise InvalidInput(f"{where}.{name}", "must be a list of strings")
            size, unit = len(value), "items"
        else:
            if not isinstance(value, str) or not value.strip():
                raise InvalidInput(f"{where}.{name}", "must be a string, not blank")
            size, unit = len(value), "characters"
        if size > limit:
            raise InvalidInput(f"{where}.{name}", f"is {size} {unit}; the limit is {limit}")


@dataclass(frozen=True)
class EmrServerlessTrigger(Trigger):
    """StartJobRun on an application, with clientToken from `job#batch#attempt`."""

    kind: ClassVar[str] = "emrserverless"
    payload_field: ClassVar[str] = "job_driver"
    application_id: str = ""
    execution_role_arn: str = ""
    job_driver: dict[str, Any] = field(default_factory=dict)

    def _validate(self) -> None:
        _required("trigger.application_id", self.application_id)
        _shaped(
            "trigger.application_id",
            self.application_id,
            _APPLICATION_ID,
            "1-64 lower-case letters and digits (an EMR Serverless application id)",
        )
        _required("trigger.execution_role_arn", self.execution_role_arn)
        _shaped(
            "trigger.execution_role_arn",
            self.execution_role_arn,
            _ROLE_ARN,
            "an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)",
        )
        _check_driver(self.job_driver)


def emr_configuration(
    spec: EmrServerlessTrigger,
    batch: Mapping[str, Any],
    trace_id: str | None,
    traceparent: str | None = None,
) -> dict[str, Any]:
    """StartJobRun's configurationOverrides for one run: the batch, as the driver sees it."""
    variables = pipeline_variables(batch, trace_id, traceparent)
    if "sparkSubmit" in spec.job_driver:
        properties = {f"{_DRIVER_ENV}{name}": value for name, value in variables.items()}
        classification = "spark-defaults"
    else:
        properties, classification = variables, "hive-site"
    return {
        "applicationConfiguration": [{"classification": classification, "properties": properties}]
    }
