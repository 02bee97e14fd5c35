"""Fixtures of the fault suite: a fault proxy in front of moto, and the service as a process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Clock
from tests.fault.helpers import Services
from tests.integration.harness import Stack
from tests.proxy import FaultProxy
from tests.strict.checker import StrictAws


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/fault/" in str(item.fspath):
            item.add_marker(pytest.mark.fault)


@pytest.fixture
def proxy(moto_endpoint: str) -> Iterator[FaultProxy]:
    proxy = FaultProxy(moto_endpoint).start()
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture
def stack(settings_kwargs: dict[str, Any], clients: Any, moto_endpoint: str, clock: Clock) -> Stack:
    return Stack(settings_kwargs, clients, moto_endpoint, clock)


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    running = Services(tmp_path)
    try:
        yield running
    finally:
        running.kill_all()


@pytest.fixture(autouse=True)
def _strict_aws(strict_aws: StrictAws) -> StrictAws:
    """On by default: every request of these tests is checked as strictly as AWS would."""
    return strict_aws
