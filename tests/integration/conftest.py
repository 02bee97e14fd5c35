from __future__ import annotations

from collections.abc import Iterator

import pytest

from observability import tracing
from tests.integration.harness import Spans


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
