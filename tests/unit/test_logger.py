"""Structured JSON logs and bound fields (observability/logger.py)."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from observability.logger import JsonFormatter, bind, bound, configure_logging, get_logger


@pytest.fixture
def capture() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.unit.logger")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_one_json_object_with_the_standard_fields(
    capture: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = capture
    logger.warning("batch %s failed after %d ms", "2024-05", 250)
    (line,) = lines(stream)
    assert set(line) == {"ts", "level", "logger", "message"}
    assert line["level"] == "WARNING"
    assert line["logger"] == "tests.unit.logger"
    assert line["message"] == "batch 2024-05 failed after 250 ms"
    stamp = datetime.fromisoformat(line["ts"])
    assert stamp.utcoffset() is not None
    assert stamp.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert line["ts"].endswith("+00:00")
    assert len(line["ts"].split("T")[1].split("+")[0]) == len("12:00:00.000")


def test_bound_fields_appear_on_every_line_inside_the_block(
    capture: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = capture
    with bind(job_id="job", batch_id="b", attempt=2):
        logger.info("one")
        logger.info("two")
    logger.info("after")
    first, second, after = lines(stream)
    for line in (first, second):
        assert (line["job_id"], line["batch_id"], line["attempt"]) == ("job", "b", 2)
    assert "job_id" not in after


def test_bind_nests_and_restores() -> None:
    assert bound() == {}
    with bind(job_id="job", attempt=1):
        with bind(attempt=2, trace_id="t"):
            assert bound() == {"job_id": "job", "attempt": 2, "trace_id": "t"}
        assert bound() == {"job_id": "job", "attempt": 1}
    assert bound() == {}


def test_bind_restores_after_an_exception() -> None:
    with pytest.raises(RuntimeError), bind(job_id="job"):
        raise RuntimeError("boom")
    assert bound() == {}


def test_bound_returns_a_copy() -> None:
    with bind(job_id="job"):
        bound()["job_id"] = "changed"
        assert bound() == {"job_id": "job"}


def test_other_threads_do_not_see_this_contexts_fields() -> None:
    seen: list[dict[str, Any]] = []
    with bind(job_id="main"):
        thread = threading.Thread(target=lambda: seen.append(bound()))
        thread.start()
        thread.join()
    assert seen == [{}]


def test_extras_are_fields(capture: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = capture
    with bind(job_id="job"):
        logger.info("claimed", extra={"claim_ms": 12, "owner": "r-1", "when": datetime})
    (line,) = lines(stream)
    assert (line["job_id"], line["claim_ms"], line["owner"]) == ("job", 12, "r-1")
    assert line["when"] == str(datetime)  # not JSON: logged as its str()


def test_extras_override_bound_fields(capture: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = capture
    with bind(attempt=1):
        logger.info("x", extra={"attempt": 2})
    assert lines(stream)[0]["attempt"] == 2


def test_exception_text_is_included_on_one_line(
    capture: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = capture
    try:
        raise ValueError("bad row 17")
    except ValueError:
        logger.exception("batch failed")
    assert stream.getvalue().count("\n") == 1
    (line,) = lines(stream)
    assert line["level"] == "ERROR"
    assert line["exception"].startswith("Traceback (most recent call last):")
    assert "ValueError: bad row 17" in line["exception"]


def test_unicode_is_written_as_is(capture: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = capture
    logger.info("échec ✗")
    assert "échec ✗" in stream.getvalue()
    assert lines(stream)[0]["message"] == "échec ✗"


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield root
    root.handlers[:] = handlers
    root.setLevel(level)


def test_configure_logging_installs_one_json_handler(root_logger: logging.Logger) -> None:
    stream = io.StringIO()
    configure_logging("DEBUG", stream=io.StringIO())
    configure_logging("WARNING", stream=stream)  # replaces, not adds
    ours = [h for h in root_logger.handlers if getattr(h, "_observability", False)]
    assert len(ours) == 1
    assert isinstance(ours[0].formatter, JsonFormatter)
    assert root_logger.level == logging.WARNING
    get_logger("tests.unit.configure").warning("hello")
    get_logger("tests.unit.configure").info("filtered")
    assert [line["message"] for line in lines(stream)] == ["hello"]


def test_configure_logging_can_replace_a_runtime_handler(root_logger: logging.Logger) -> None:
    runtime = logging.StreamHandler(io.StringIO())  # as AWS Lambda's runtime installs one
    root_logger.addHandler(runtime)
    configure_logging(stream=io.StringIO())
    assert runtime in root_logger.handlers  # kept by default: the application's own
    configure_logging(stream=io.StringIO(), replace=True)
    assert runtime not in root_logger.handlers
    assert [getattr(h, "_observability", False) for h in root_logger.handlers] == [True]


def test_the_aws_sdk_info_chatter_is_quiet_unless_debugging(root_logger: logging.Logger) -> None:
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    logging.getLogger("botocore.credentials").info("Found credentials in environment variables.")
    logging.getLogger("botocore.hooks").warning("a real warning")
    assert [line["message"] for line in lines(stream)] == ["a real warning"]
    configure_logging("DEBUG", stream=stream)
    logging.getLogger("botocore.credentials").info("shown when debugging")
    assert lines(stream)[-1]["message"] == "shown when debugging"
    configure_logging("INFO", stream=io.StringIO())
