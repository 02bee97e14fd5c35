"""Misspelt REMEDIATOR_* variables are named, with the closest real one (doctor)."""

from __future__ import annotations

import re
from pathlib import Path

from remediator.alerts.settings import AlertSettings
from remediator.settings import RemediatorSettings
from remediator.stack.doctor import FAIL, variables
from remediator.stack.variables import known_variables, unknown_variables

KNOWN = known_variables(RemediatorSettings, AlertSettings)


def test_every_documented_setting_is_known():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    documented = set(re.findall(r"\bREMEDIATOR_[A-Z_]*[A-Z]\b", readme))
    assert len(documented) > 20
    assert documented - KNOWN == set()
    assert {"REMEDIATOR_MAX_ATTEMPTS", "REMEDIATOR_SLACK_WEBHOOK_URL"} <= KNOWN
    assert "REMEDIATOR_REGION" not in KNOWN  # the region is AWS_REGION


def test_unknown_names_get_the_closest_known_one():
    names = ["REMEDIATOR_MAX_ATEMPTS", "REMEDIATOR_TABLE_NAME", "REMEDIATOR_XYZZY", "HOME"]
    assert unknown_variables(names, KNOWN) == [
        ("REMEDIATOR_MAX_ATEMPTS", "REMEDIATOR_MAX_ATTEMPTS"),
        ("REMEDIATOR_XYZZY", None),
    ]


def test_doctor_fails_on_a_misspelt_variable_from_the_environment_or_dot_env(tmp_path: Path):
    env_file = tmp_path / ".env"
    env_file.write_text("REMEDIATOR_BACKOF_BASE_SECONDS=5\nREMEDIATOR_TTL_DAYS=3\n")
    found = variables({"REMEDIATOR_MAX_ATEMPTS": "5", "PATH": "/bin"}, env_file)
    assert [(f.check, f.status) for f in found] == [("variables", FAIL)] * 2
    assert "REMEDIATOR_BACKOF_BASE_SECONDS is not a setting" in found[0].detail
    assert found[0].fix == "rename it to REMEDIATOR_BACKOFF_BASE_SECONDS"
    assert "did you mean REMEDIATOR_MAX_ATTEMPTS?" in found[1].detail
    assert variables({"REMEDIATOR_TABLE_NAME": "t"}, tmp_path / "missing") == []
