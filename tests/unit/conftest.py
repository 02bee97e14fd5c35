"""Unit tests: pure logic only. Hypothesis keeps no example database (nothing written to disk)."""

from __future__ import annotations

from hypothesis import settings

settings.register_profile("unit", database=None, deadline=None, max_examples=100)
settings.load_profile("unit")
