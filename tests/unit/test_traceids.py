"""Trace ids: W3C validity, traceparent, the X-Ray form and back, the batch's anchor id."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from observability.models.traceids import (
    anchor_span_id,
    format_traceparent,
    from_xray,
    is_span_id,
    is_trace_id,
    parse_traceparent,
    to_xray,
)

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"
hex32 = st.text("0123456789abcdef", min_size=32, max_size=32).filter(lambda t: t != "0" * 32)


def test_trace_ids_are_32_lowercase_hex_not_all_zero():
    assert is_trace_id(TRACE)
    assert is_trace_id(uuid.uuid4().hex)  # what the trail stored before traces existed
    for bad in ("0" * 32, TRACE.upper(), TRACE[:-1], TRACE + "0", "trace-1", None, 42):
        assert not is_trace_id(bad), bad
    assert is_span_id(SPAN)
    assert not is_span_id("0" * 16)
    assert not is_span_id(SPAN[:-1])


def test_xray_form_splits_after_the_first_eight_digits():
    assert to_xray(TRACE) == "1-4bf92f35-77b34da6a3ce929d0e0e4736"
    assert from_xray("1-4bf92f35-77b34da6a3ce929d0e0e4736") == TRACE
    assert from_xray(" 1-4BF92F35-77B34DA6A3CE929D0E0E4736 ") == TRACE  # pasted from a console


@given(hex32)
def test_xray_conversion_round_trips(trace_id: str):
    assert from_xray(to_xray(trace_id)) == trace_id


@pytest.mark.parametrize(
    "bad",
    ["2-4bf92f35-77b34da6a3ce929d0e0e4736", "1-4bf92f35-77b34da6", "1-00000000-" + "0" * 24, ""],
)
def test_from_xray_refuses_what_is_not_an_xray_id(bad: str):
    with pytest.raises(ValueError, match="X-Ray"):
        from_xray(bad)


def test_to_xray_refuses_what_is_not_a_trace_id():
    with pytest.raises(ValueError, match="32 lowercase hex"):
        to_xray("trace-1")


def test_traceparent_round_trips_and_carries_the_sampled_flag():
    text = format_traceparent(TRACE, SPAN)
    assert text == f"00-{TRACE}-{SPAN}-01"
    assert parse_traceparent(text) == (TRACE, SPAN, True)
    assert parse_traceparent(format_traceparent(TRACE, SPAN, sampled=False)) == (TRACE, SPAN, False)


@pytest.mark.parametrize(
    "bad",
    [
        f"ff-{TRACE}-{SPAN}-01",  # version ff is forbidden
        f"00-{TRACE}-{SPAN}-01-extra",  # version 00 has exactly four fields
        f"00-{'0' * 32}-{SPAN}-01",
        f"00-{TRACE}-{'0' * 16}-01",
        f"00-{TRACE.upper()}-{SPAN}-01",
        f"00-{TRACE}-{SPAN}",
        "x" * 600,
        None,
        17,
    ],
)
def test_invalid_traceparents_are_ignored(bad: object):
    assert parse_traceparent(bad) is None


def test_a_later_version_may_carry_more_fields():
    assert parse_traceparent(f"01-{TRACE}-{SPAN}-01-more") == (TRACE, SPAN, True)


def test_anchor_is_a_valid_span_id_derived_from_the_trace_id_alone():
    first = anchor_span_id(TRACE)
    assert is_span_id(first)
    assert anchor_span_id(TRACE) == first
    assert anchor_span_id(uuid.uuid4().hex) != first
    with pytest.raises(ValueError, match="32 lowercase hex"):
        anchor_span_id("trace-1")
