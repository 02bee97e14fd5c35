"""Every write is a single-item conditional write: no DynamoDB transaction anywhere in the
library or the remediator (a transaction costs twice the write units and fails in ways
botocore does not retry)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("package", ["observability", "remediator"])
def test_no_transaction_is_written(package: str) -> None:
    sources = sorted((ROOT / package).rglob("*.py"))
    assert sources
    found = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in sources
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "transact_write_items" in line or "TransactWriteItems" in line
    ]
    assert found == []
