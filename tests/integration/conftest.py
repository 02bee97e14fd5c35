from __future__ import annotations

from collections.abc import Iterator

import pytest

from observability.telemetry import tracing
from tests.integration.harness import Spans
from tests.strict.checker import StrictAws


@pytest.fixture
def spans() -> Iterator[Spans]:
    """The OpenTelemetry SDK on, for this library only, with an in-memory exporter."""
    recorded = Spans()
    with tracing.use_provider(recorded.provider):
        yield recorded


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(autouse=True)
def _strict_aws(strict_aws: StrictAws) -> StrictAws:
    """On by default: every request of these tests is checked as strictly as AWS would."""
    return strict_aws
