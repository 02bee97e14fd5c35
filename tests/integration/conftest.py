from __future__ import annotations

import pytest

from tests.strict.checker import StrictAws


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(autouse=True)
def _strict_aws(strict_aws: StrictAws) -> StrictAws:
    """On by default: every request of these tests is checked as strictly as AWS would."""
    return strict_aws
