"""EMF records and the emitter (observability/telemetry/metrics.py)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from observability.telemetry.metrics import (
    COUNT,
    MILLISECONDS,
    SECONDS,
    Metrics,
    emf_line,
    emf_record,
)

T0 = datetime(2024, 5, 1, 12, 0, 0, 123_000, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def test_emf_record_structure() -> None:
    record = emf_record(
        "Pipelines",
        {"JobFailureCount": 1, "JobDurationMs": 250.5},
        {"JobId": "ingest-sales"},
        T0,
        {"trace_id": "t-1"},
    )
    assert record == {
        "_aws": {
            "Timestamp": 1714564800123,
            "CloudWatchMetrics": [
                {
                    "Namespace": "Pipelines",
                    "Dimensions": [["JobId"]],
                    "Metrics": [
                        {"Name": "JobFailureCount", "Unit": "Count"},
                        {"Name": "JobDurationMs", "Unit": "Milliseconds"},
                    ],
                }
            ],
        },
        "JobId": "ingest-sales",
        "JobFailureCount": 1,
        "JobDurationMs": 250.5,
        "trace_id": "t-1",
    }


_NAMES = st.sampled_from(["JobStarted", "JobSuccess", "JobDurationMs", "X", "_aws", "job_id"])
_VALUES = st.one_of(st.integers(-5, 10**12), st.floats(allow_nan=True), st.text(max_size=5))


@given(
    st.text(max_size=10),
    st.dictionaries(_NAMES, st.one_of(st.integers(0, 10**6), st.floats()), max_size=4),
    st.dictionaries(st.sampled_from(["JobId", "Env", "X"]), st.text(max_size=5), max_size=3),
    st.dictionaries(_NAMES, _VALUES, max_size=3),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)),  # noqa: DTZ001
)
def test_emf_line_is_the_record_as_compact_json(
    namespace: str,
    values: dict[str, float],
    dims: dict[str, str],
    properties: dict[str, object],
    naive: datetime,
) -> None:
    """The line emitted (its fixed part serialised once) is emf_record's document exactly:
    member order, overrides by later members, non-ASCII and NaN included."""
    moment = naive.replace(tzinfo=UTC)
    expected = json.dumps(
        emf_record(namespace, values, dims, moment, properties), separators=(",", ":"), default=str
    )
    assert emf_line(namespace, values, dims, moment, properties) == expected


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)))  # noqa: DTZ001
def test_timestamp_is_integer_milliseconds_since_epoch(naive: datetime) -> None:
    moment = naive.replace(tzinfo=UTC)
    stamp = emf_record("N", {"X": 1}, {}, moment)["_aws"]["Timestamp"]
    assert isinstance(stamp, int)
    assert stamp == (moment - EPOCH) // timedelta(milliseconds=1)


def test_timestamp_of_a_non_utc_moment_is_the_same_instant() -> None:
    local = T0.astimezone(timezone(timedelta(hours=-7)))
    assert emf_record("N", {"X": 1}, {}, local)["_aws"]["Timestamp"] == 1714564800123


@pytest.mark.parametrize(
    ("name", "unit"),
    [
        ("JobStarted", COUNT),
        ("JobSuccess", COUNT),
        ("JobFailureCount", COUNT),
        ("JobDurationMs", MILLISECONDS),
        ("RemediationTriggered", COUNT),
        ("RemediationExhausted", COUNT),
        ("ClaimConflicts", COUNT),
        ("TimeToRecoverySeconds", SECONDS),
        ("SomethingNew", COUNT),
    ],
)
def test_metric_units(name: str, unit: str) -> None:
    (metric,) = emf_record("N", {name: 1}, {}, T0)["_aws"]["CloudWatchMetrics"][0]["Metrics"]
    assert metric == {"Name": name, "Unit": unit}


def test_every_dimension_and_metric_is_a_root_member() -> None:
    """The spec: each referenced dimension is a string, each metric a number, at the root."""
    record = emf_record("N", {"A": 1, "B": 2.5}, {"JobId": "j", "Stage": "load"}, T0)
    directive = record["_aws"]["CloudWatchMetrics"][0]
    for dimension_set in directive["Dimensions"]:
        assert len(dimension_set) <= 30
        for name in dimension_set:
            assert isinstance(record[name], str)
    for metric in directive["Metrics"]:
        assert isinstance(record[metric["Name"]], int | float)
    assert directive["Dimensions"] == [["JobId", "Stage"]]


def test_no_dimensions_gives_one_empty_dimension_set() -> None:
    directive = emf_record("N", {"A": 1}, {}, T0)["_aws"]["CloudWatchMetrics"][0]
    assert directive["Dimensions"] == [[]]


def test_values_and_dimensions_win_over_same_named_properties() -> None:
    record = emf_record("N", {"A": 1}, {"JobId": "j"}, T0, {"A": "prop", "JobId": "x"})
    assert (record["A"], record["JobId"]) == (1, "j")


def _metrics(**kwargs: object) -> tuple[Metrics, io.StringIO]:
    stream = io.StringIO()
    return Metrics("Ns", stream=stream, clock=lambda: T0, **kwargs), stream  # type: ignore[arg-type]


def test_emit_writes_one_json_line() -> None:
    metrics, stream = _metrics()
    metrics.emit("ingest-sales", {"JobStarted": 1}, batch_id="2024-05")
    text = stream.getvalue()
    assert text.endswith("\n")
    assert text.count("\n") == 1
    record = json.loads(text)
    assert record == emf_record(
        "Ns", {"JobStarted": 1}, {"JobId": "ingest-sales"}, T0, {"batch_id": "2024-05"}
    )


def test_emit_keeps_batch_ids_out_of_the_dimensions() -> None:
    metrics, stream = _metrics()
    metrics.emit("j", {"JobStarted": 1}, batch_id="b")
    record = json.loads(stream.getvalue())
    assert record["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["JobId"]]


def test_emit_without_a_job_has_no_dimension() -> None:
    metrics, stream = _metrics()
    metrics.emit(None, {"ClaimConflicts": 2})
    record = json.loads(stream.getvalue())
    assert record["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [[]]
    assert "JobId" not in record


def test_emit_serialises_odd_properties_as_strings() -> None:
    metrics, stream = _metrics()
    metrics.emit("j", {"JobStarted": 1}, at=T0)
    assert json.loads(stream.getvalue())["at"] == str(T0)


def test_each_emit_is_its_own_line() -> None:
    metrics, stream = _metrics()
    for n in range(3):
        metrics.emit("j", {"JobStarted": n})
    lines = stream.getvalue().splitlines()
    assert [json.loads(line)["JobStarted"] for line in lines] == [0, 1, 2]


@pytest.mark.parametrize(("enabled", "values"), [(False, {"JobStarted": 1}), (True, {})])
def test_emit_does_nothing_when_disabled_or_empty(enabled: bool, values: dict[str, float]) -> None:
    metrics, stream = _metrics(enabled=enabled)
    metrics.emit("j", values)
    assert stream.getvalue() == ""


def test_default_stream_is_stdout_looked_up_at_write_time(
    capsys: pytest.CaptureFixture[str],
) -> None:
    Metrics(clock=lambda: T0).emit("j", {"JobSuccess": 1})
    record = json.loads(capsys.readouterr().out)
    assert record["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "SelfHealingPipelines"
    assert record["JobSuccess"] == 1


# -- the JobId dimension: any job id, a value CloudWatch keeps --------------------------------

VALID_IDS = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cc", "Cs"], exclude_characters="#"),
    min_size=1,
    max_size=60,
).filter(lambda t: t.strip() and len(t.encode()) <= 200)


def cloudwatch_keeps(value: str) -> bool:
    """Dimension values: 1 to 1024 ASCII characters, at least one not whitespace."""
    return 1 <= len(value) <= 1024 and value.isascii() and bool(value.strip())


def emitted(job_id: str) -> dict[str, object]:
    stream = io.StringIO()
    Metrics(stream=stream, clock=lambda: T0).emit(job_id, {"JobSuccess": 1})
    return dict(json.loads(stream.getvalue()))


def test_a_unicode_job_id_becomes_an_ascii_dimension_and_stays_in_the_record() -> None:
    record = emitted("ventes-été")
    dimension = str(record["JobId"])
    assert cloudwatch_keeps(dimension)
    assert dimension.startswith("ventes-ete")
    assert dimension != emitted("ventes-ete")["JobId"]  # never merged with another job
    assert record["job_id"] == "ventes-été"  # the real id, searchable in the logs


def test_an_ascii_job_id_is_its_own_dimension() -> None:
    record = emitted("ingest-sales")
    assert record["JobId"] == "ingest-sales"
    assert "job_id" not in record


@given(VALID_IDS)
def test_every_job_id_gives_a_dimension_cloudwatch_keeps_and_always_the_same(job_id: str) -> None:
    first, second = emitted(job_id)["JobId"], emitted(job_id)["JobId"]
    assert isinstance(first, str)
    assert cloudwatch_keeps(first)
    assert first == second


@given(VALID_IDS, VALID_IDS)
def test_different_job_ids_get_different_dimensions(a: str, b: str) -> None:
    if a != b:
        assert emitted(a)["JobId"] != emitted(b)["JobId"]
