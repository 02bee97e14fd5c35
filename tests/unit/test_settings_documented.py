"""Every REMEDIATOR_* setting is in the README's configuration tables and, where the
deployment sets it, in the Terraform module (a variable passed to the task)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from remediator.alerts.settings import AlertSettings
from remediator.settings import RemediatorSettings
from remediator.stack.variables import known_variables

ROOT = Path(__file__).resolve().parents[2]
MODULE = ROOT / "infra" / "terraform" / "modules" / "remediator"
# Not set by the deployment, on purpose: each task's own name (host-pid), and the health
# listener's address (the container's loopback, where its health check runs).
PER_PROCESS = {"REMEDIATOR_REPLICA_ID", "REMEDIATOR_HEALTH_HOST"}
# Left at the code's default by the module: it has none to give (see below).
NOT_YET_IN_TERRAFORM = {
    # No default (None: no age limit): a job's policy sets it where a job needs one.
    "REMEDIATOR_MAX_AGE_SECONDS",
}


def _configuration_rows() -> str:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## Configuration")
    section = readme[start : readme.index("\n## ", start + 1)]
    return "\n".join(line for line in section.splitlines() if line.startswith("| "))


@pytest.mark.parametrize("name", sorted(known_variables(RemediatorSettings, AlertSettings)))
def test_every_setting_is_in_the_readme_table(name: str):
    assert re.search(rf"\b{name}\b", _configuration_rows()), f"{name} is not in the table"


@pytest.mark.parametrize(
    "name", sorted(known_variables(RemediatorSettings) - PER_PROCESS - NOT_YET_IN_TERRAFORM)
)
def test_every_deployment_setting_is_given_to_the_task_by_terraform(name: str):
    ecs = (MODULE / "ecs.tf").read_text()
    assert f'name = "{name}"' in ecs, f"{name} is not in the task's environment (ecs.tf)"


def test_the_exceptions_are_settings():
    known = known_variables(RemediatorSettings)
    assert known >= PER_PROCESS | NOT_YET_IN_TERRAFORM
