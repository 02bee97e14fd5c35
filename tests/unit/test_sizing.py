"""Item sizes by DynamoDB's rules (observability/transitions/sizing.py)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from observability.models.values import av
from observability.transitions.sizing import plain_size, value_size

_SCALARS = st.one_of(
    st.text(max_size=40),  # any code point, surrogates and astral planes included
    st.integers(min_value=-(10**30), max_value=10**30),
    st.booleans(),
    st.none(),
)
PLAIN = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=6),
        st.dictionaries(st.text(min_size=1, max_size=12), inner, max_size=6),
    ),
    max_leaves=40,
)


@given(PLAIN)
def test_a_plain_value_has_the_size_of_its_attribute_value(value: Any) -> None:
    assert plain_size(value) == value_size(av(value))


def test_sizes_by_the_published_rules() -> None:
    assert plain_size("héllo") == 6  # UTF-8 bytes
    assert plain_size(12345) == 4  # 5 significant digits: 3 bytes, plus 1
    assert plain_size({"a": [True, None]}) == 3 + (1 + 1 + (3 + 2 + 2))


def test_what_cannot_be_stored_is_refused() -> None:
    with pytest.raises(TypeError, match="cannot store a float"):
        plain_size(1.5)
