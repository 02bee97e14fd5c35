"""Plan accepts exactly the settings the remediator accepts (modules/remediator/settings.tf).

Both sides are asked the same question for many values, boundaries included: Terraform's
preconditions (evaluated by hcl_eval) and RemediatorSettings, loaded from the very
environment the task definition would give the container.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from observability.envconfig import SettingsError
from remediator.settings import RemediatorSettings
from tests.infra.terraform import TF_DIR, TFVARS_EXAMPLE, Terraform, parse

EXAMPLE = {
    **parse(TFVARS_EXAMPLE),
    "alerts_lambda_package": str(TF_DIR / "README.md"),
}
# variable -> (lowest, highest) the settings allow alone; None: no bound on that side.
BOUNDS: dict[str, tuple[float | None, float | None]] = {
    "max_attempts": (1, 100),
    "backoff_base_seconds": (0, 86_400),
    "backoff_max_seconds": (0, 7 * 86_400),
    "heartbeat_seconds": (0, 86_400),
    "stale_after_seconds": (1, 7 * 86_400),
    "ttl_days": (1, 3650),
    "retry_shards": (1, 64),
    "lease_seconds": (5, 3600),
    "sweep_interval_seconds": (0, 3600),
    "budget_per_minute": (0, 1_000_000),
    "breaker_failures": (0, 10_000),
    "breaker_window_seconds": (1, None),
    "breaker_pause_seconds": (1, None),
    "trigger_attempts": (1, 20),
    "trigger_refusals": (1, 100),
    "policy_cache_seconds": (0, 3600),
    "pause_refresh_seconds": (0, 300),
    "trigger_timeout_seconds": (0, 600),
}
# Refused at plan although the settings take them, on purpose: the 30 s stopTimeout needs
# the margin, and the container's health check needs the endpoint.
STRICTER = {"shutdown_grace_seconds": [21, 60, 120], "health_port": [0]}


@pytest.fixture(scope="module")
def tf() -> Terraform:
    return Terraform.load()


def container_accepts(tf: Terraform, values: dict[str, Any]) -> bool:
    container = tf.resolve(tf.locals["remediator_container"], variables=values)
    fields = {
        e["name"].removeprefix("REMEDIATOR_").lower(): e["value"]
        for e in container["environment"]
        if e["name"].startswith("REMEDIATOR_") and "${" not in e["value"]
    }
    try:
        RemediatorSettings(**fields, _env_file=None)
    except SettingsError:
        return False
    return True


def agree(tf: Terraform, overrides: dict[str, Any]) -> None:
    values = {**EXAMPLE, **overrides}
    refused = tf.rejections(values)
    assert (not refused) == container_accepts(tf, values), (overrides, refused)


def boundary_values(low: float | None, high: float | None) -> list[float]:
    found: list[float] = [0.5, 7, 1_000_000_000]
    for bound in (low, high):
        if bound is not None:
            found += [bound - 1, bound - 0.5, bound, bound + 0.5, bound + 1]
    return found


GRID = [
    (name, value) for name, (low, high) in BOUNDS.items() for value in boundary_values(low, high)
]


@pytest.mark.parametrize(("name", "value"), GRID, ids=[f"{n}={v:g}" for n, v in GRID])
def test_each_setting_alone_at_and_around_its_bounds(tf: Terraform, name: str, value: float):
    agree(tf, {name: value})


RELATED = st.fixed_dictionaries(
    {
        "ttl_days": st.sampled_from([1, 2, 3, 7, 8, 9, 15, 90]),
        "backoff_base_seconds": st.sampled_from([0, 60, 3600, 86_400, 86_401]),
        "backoff_max_seconds": st.sampled_from([0, 59, 60, 3600, 86_400, 604_800, 604_801]),
        "heartbeat_seconds": st.sampled_from([0, 1, 30, 60, 90, 1800, 86_400]),
        "stale_after_seconds": st.sampled_from([0, 1, 59, 60, 119, 120, 180, 3600, 604_800]),
        "lease_seconds": st.sampled_from([4, 5, 59, 60, 61, 180, 1200, 3600]),
        "trigger_timeout_seconds": st.sampled_from([0, 0.5, 30, 30.5, 90, 100, 600, 601]),
    }
)


@settings(max_examples=300, deadline=None)
@given(overrides=RELATED)
def test_settings_that_constrain_each_other(overrides: dict[str, Any]):
    """ttl vs backoff + stale window, stale window vs heartbeat, backoff order, lease vs
    trigger timeout, together."""
    agree(Terraform.load(), overrides)


@pytest.mark.parametrize(
    "overrides",
    [
        {"trigger_timeout_seconds": 100},  # with the default 180 s lease
        {"retry_shards": 100},
        {"ttl_days": 1},  # with the default backoff and stale window
    ],
)
def test_the_combinations_that_crash_looped_are_refused_naming_the_variable(
    tf: Terraform, overrides: dict[str, Any]
):
    [refusal] = tf.rejections({**EXAMPLE, **overrides})
    [name] = overrides
    assert f"{name} ({overrides[name]})" in refusal
    assert not container_accepts(tf, {**EXAMPLE, **overrides})


@pytest.mark.parametrize(
    ("name", "value"), [(n, v) for n, values in STRICTER.items() for v in values]
)
def test_stricter_on_purpose_only_where_said(tf: Terraform, name: str, value: int):
    assert tf.rejections({**EXAMPLE, name: value})
    assert container_accepts(tf, {**EXAMPLE, name: value})
